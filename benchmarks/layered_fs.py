"""Read every file of a >= 100 MB image through gate's layered filesystem, against ``gzip -dc``.

    .venv/bin/python benchmarks/layered_fs.py            # or: make bench
    .venv/bin/python benchmarks/layered_fs.py --runs 5 --profile

The first run builds a realistic image from real files on this machine (shared libraries,
executables, the Python installation, /usr/share) with gate's own image builder, gzip-compressed,
into an OCI layout under ``benchmarks/.cache/``; later runs reuse it while the selected host
files are unchanged. Each measurement is the best of ``--runs`` wall-clock times:

* ``gzip -dc`` of every layer blob to /dev/null (the floor: decompression only);
* gate: ``open_image("oci:...")``, ``image.filesystem()`` (decompress, verify both digests,
  spool and index every layer), ``fs.read_bytes(entry)`` for every regular file, ``close()``.

It prints a table and whether gate is within the target (<= 1.5x ``gzip -dc``). It is a
measurement, not a test: the exit status is 0 whatever the ratio, non-zero only on errors.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import glob
import hashlib
import io
import json
import os
import pstats
import shutil
import stat
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from gate.image.build import LayerBuilder, build_image
from gate.image.image import Image, open_image
from gate.image.layout import OciLayout

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"
TAG = "bench"
TARGET_RATIO = 1.5
MIN_IMAGE_BYTES = 100 * 1_000_000
MB = 1_000_000
MiB = 1 << 20
FORMAT_VERSION = 1  # bump when the way the image is built changes, to invalidate caches

T = TypeVar("T")


@dataclass(frozen=True)
class LayerSpec:
    """One image layer: host trees (glob patterns) copied until ``cap_mib`` of file content."""

    created_by: str
    roots: tuple[str, ...]
    cap_mib: int


# Roughly the shape of a Python application image: a base with libraries and tools, the
# interpreter, installed packages, data. Sizes are file content before tar and gzip.
LAYERS = (
    LayerSpec("COPY shared libraries", ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"), 64),
    LayerSpec("COPY executables", ("/usr/bin", "/usr/sbin"), 32),
    LayerSpec("COPY python", ("/usr/lib/python3*",), 64),
    LayerSpec("COPY /usr/share (first half)", ("/usr/share/[a-l]*",), 40),
    LayerSpec("COPY /usr/share (second half)", ("/usr/share/[m-z]*",), 40),
)


@dataclass(frozen=True)
class HostEntry:
    """A host path selected for a layer, as it will appear in the image."""

    path: str  # image path, root-relative
    kind: str  # "file" | "dir" | "symlink" | "hardlink"
    source: str  # host path (file, dir) or link target (symlink, hardlink)
    mode: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ImageStats:
    layers: int
    compressed_bytes: int
    uncompressed_bytes: int  # the layer tars
    files: int  # regular files, hardlinks included
    content_bytes: int


# -- selecting and building the image ----------------------------------------------------------------


def _walk(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every path below ``root`` (root excluded), sorted; symlinked directories are not entered."""
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            path = os.path.join(directory, name)
            try:
                yield path, os.lstat(path)
            except OSError:
                continue


def select_layer(spec: LayerSpec) -> list[HostEntry]:
    """The entries of one layer: deterministic (sorted walk), capped by file content size."""
    budget = spec.cap_mib * MiB
    entries: list[HostEntry] = []
    parents: set[str] = set()
    inodes: dict[tuple[int, int], str] = {}

    def add_parents(path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent and parent not in parents:
            add_parents(parent)
            parents.add(parent)
            entries.append(HostEntry(parent, "dir", "/" + parent, 0o755, 0, 0))

    roots = sorted({root for pattern in spec.roots for root in glob.glob(pattern)})
    for root in roots:
        if not os.path.isdir(root) or os.path.islink(root):
            continue
        for host, st in _walk(root):
            path = host.lstrip("/")
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                add_parents(path)
                parents.add(path)
                entries.append(HostEntry(path, "dir", host, mode, 0, 0))
            elif stat.S_ISLNK(st.st_mode):
                add_parents(path)
                entries.append(HostEntry(path, "symlink", os.readlink(host), 0o777, 0, st.st_mtime_ns))
            elif stat.S_ISREG(st.st_mode) and os.access(host, os.R_OK):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in inodes:
                    add_parents(path)
                    entries.append(HostEntry(path, "hardlink", inodes[key], mode, 0, 0))
                elif st.st_size <= budget:
                    budget -= st.st_size
                    inodes[key] = path
                    add_parents(path)
                    entries.append(HostEntry(path, "file", host, mode, st.st_size, st.st_mtime_ns))
    return entries


def build_layer(entries: list[HostEntry]) -> bytes:
    layer = LayerBuilder()
    for entry in entries:
        if entry.kind == "dir":
            layer.add_dir(entry.path, mode=entry.mode)
        elif entry.kind == "symlink":
            layer.add_symlink(entry.path, entry.source)
        elif entry.kind == "hardlink":
            layer.add_hardlink(entry.path, entry.source)
        else:
            data = Path(entry.source).read_bytes()
            layer.add_file(entry.path, data[: entry.size], mode=entry.mode)  # a grown file stays capped
    return layer.build()


def cache_key(selection: list[list[HostEntry]]) -> str:
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, [asdict(s) for s in LAYERS]]).encode())
    for entries in selection:
        for entry in entries:
            digest.update(
                f"{entry.kind}\0{entry.path}\0{entry.source}\0{entry.size}\0{entry.mtime_ns}\n".encode()
            )
        digest.update(b"--layer--\n")
    return digest.hexdigest()[:16]


def ensure_image(cache_dir: Path, *, rebuild: bool) -> tuple[Path, ImageStats]:
    """The OCI layout holding the benchmark image, built unless cached; and its sizes."""
    started = time.perf_counter()
    selection = [select_layer(spec) for spec in LAYERS]
    layout_dir = cache_dir / f"image-{cache_key(selection)}"
    stats_file = layout_dir / "bench-stats.json"
    if stats_file.is_file() and not rebuild:
        return layout_dir, ImageStats(**json.loads(stats_file.read_text()))

    if cache_dir.is_dir():  # one cached image at a time: they are hundreds of MB each
        for stale in cache_dir.glob("image-*"):
            shutil.rmtree(stale)
    print(f"building the benchmark image into {layout_dir} (once) ...", flush=True)
    tars = []
    for spec, entries in zip(LAYERS, selection, strict=True):
        tars.append(build_layer(entries))
        print(f"  {spec.created_by}: {len(entries):,} entries, {len(tars[-1]) / MB:.1f} MB tar", flush=True)
    built = build_image(
        tars,
        config={"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["python3"]},
        history=[spec.created_by for spec in LAYERS],
    )
    built.push(OciLayout.create(layout_dir), tag=TAG)
    files = [e for entries in selection for e in entries if e.kind in ("file", "hardlink")]
    sizes = {e.path: e.size for entries in selection for e in entries if e.kind == "file"}
    stats = ImageStats(
        layers=len(tars),
        compressed_bytes=sum(len(blob) for blob in built.layers),
        uncompressed_bytes=sum(len(tar) for tar in tars),
        files=len(files),
        content_bytes=sum(e.size if e.kind == "file" else sizes.get(e.source, 0) for e in files),
    )
    stats_file.write_text(json.dumps(asdict(stats)))
    print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
    return layout_dir, stats


def layer_blobs(layout_dir: Path) -> list[Path]:
    with open_image(f"oci:{layout_dir}:{TAG}") as image:
        assert isinstance(image, Image)
        layout = OciLayout.open(layout_dir)
        return [layout.blob_path(layer.digest) for layer in image.layers]


# -- measuring -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GateTiming:
    build: float  # open_image + image.filesystem()
    read: float  # read_bytes of every regular file
    close: float
    files: int
    content_bytes: int

    @property
    def total(self) -> float:
        return self.build + self.read + self.close


def run_gzip(blobs: list[Path]) -> float:
    started = time.perf_counter()
    subprocess.run(["gzip", "-dc", *map(str, blobs)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run_zlib(blobs: list[Path]) -> float:
    """In-process inflate only: what any Python reader pays before doing anything else."""
    started = time.perf_counter()
    for blob in blobs:
        decompressor = zlib.decompressobj(wbits=31)
        with blob.open("rb") as handle:
            while chunk := handle.read(MiB):
                decompressor.decompress(chunk)
    return time.perf_counter() - started


def run_gate(reference: str) -> GateTiming:
    started = time.perf_counter()
    with open_image(reference) as image:
        filesystem = image.filesystem()
        built = time.perf_counter()
        try:
            files = content = 0
            for entry in filesystem.files():
                content += len(filesystem.read_bytes(entry))
                files += 1
            read = time.perf_counter()
        finally:
            filesystem.close()
    closed = time.perf_counter()
    return GateTiming(built - started, read - built, closed - read, files, content)


def best_of(runs: int, measure: Callable[[], T], key: Callable[[T], float]) -> T:
    results = []
    for _ in range(runs):
        gc.collect()
        results.append(measure())
    return min(results, key=key)


def profile_gate(reference: str, top: int, output: Path) -> None:
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    run_gate(reference)
    profiler.disable()
    profiler.dump_stats(output)
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of one gate run, top {top} by own time (full profile: {output}):")
    print(stream.getvalue().split("\n", 4)[-1].rstrip())  # drop the pstats preamble


# -- reporting -------------------------------------------------------------------------------------


def report(stats: ImageStats, gzip_seconds: float, zlib_seconds: float, gate: GateTiming) -> None:
    def row(tool: str, seconds: float) -> str:
        rate = stats.uncompressed_bytes / MB / seconds
        return f"{tool:<32} {seconds:>9.3f} {rate:>9.1f} {seconds / gzip_seconds:>11.2f}x"

    print(f"\n{'tool':<32} {'seconds':>9} {'MB/s':>9} {'vs gzip -dc':>12}")
    print(row("gzip -dc (every layer blob)", gzip_seconds))
    print(row("python zlib inflate only", zlib_seconds))
    print(row("gate: open + read every file", gate.total))
    print(row("  open_image + filesystem()", gate.build))
    print(row("  read_bytes of every file", gate.read))
    print(row("  close", gate.close))
    print("(MB/s: uncompressed layer tar bytes / time; MB = 10^6 bytes)")
    ratio = gate.total / gzip_seconds
    print(f"\ntarget <= {TARGET_RATIO}x: {'PASS' if ratio <= TARGET_RATIO else 'FAIL'} ({ratio:.2f}x)")
    if (gate.files, gate.content_bytes) != (stats.files, stats.content_bytes):
        print(
            f"note: gate read {gate.files:,} files ({gate.content_bytes / MB:.1f} MB), the image has "
            f"{stats.files:,} ({stats.content_bytes / MB:.1f} MB)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=3, help="best of N wall-clock runs (default 3)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where the image is kept")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the image even if cached")
    parser.add_argument(
        "--profile",
        nargs="?",
        type=int,
        const=25,
        metavar="TOP",
        help="also profile one gate run with cProfile; print the TOP functions (25)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not shutil.which("gzip"):
        parser.error("gzip is not on PATH")

    layout_dir, stats = ensure_image(args.cache_dir.resolve(), rebuild=args.rebuild)
    reference = f"oci:{layout_dir}:{TAG}"
    blobs = layer_blobs(layout_dir)
    print(f"\nimage  {reference}")
    print(
        f"       {stats.layers} layers, {stats.compressed_bytes / MB:.1f} MB compressed (gzip), "
        f"{stats.uncompressed_bytes / MB:.1f} MB uncompressed, {stats.files:,} regular files "
        f"({stats.content_bytes / MB:.1f} MB of content)"
    )
    if stats.uncompressed_bytes < MIN_IMAGE_BYTES:
        print(
            f"warning: the image is under {MIN_IMAGE_BYTES // MB} MB uncompressed; "
            "this machine has too few files under the selected trees"
        )
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best of {args.runs} runs", flush=True)

    run_gzip(blobs)  # warm the page cache for both contenders
    gzip_seconds = best_of(args.runs, lambda: run_gzip(blobs), key=lambda s: s)
    zlib_seconds = best_of(args.runs, lambda: run_zlib(blobs), key=lambda s: s)
    gate = best_of(args.runs, lambda: run_gate(reference), key=lambda t: t.total)
    report(stats, gzip_seconds, zlib_seconds, gate)
    if args.profile:
        profile_gate(reference, args.profile, args.cache_dir.resolve() / "gate.prof")
    return 0


if __name__ == "__main__":
    sys.exit(main())
