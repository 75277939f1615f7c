"""Secrets + config analysis on the >= 100 MB benchmark image, and gate's rules against detect-secrets.

    .venv/bin/pip install detect-secrets          # the peer; not a gate dependency
    .venv/bin/python benchmarks/secrets.py         # or: --runs 5, --sample-mb 8

Two measurements, each the best of ``--runs`` in-process runs after a warm-up:

1. **Added cost in the same pass.** ``gate sbom``'s work (open the image, read its layers,
   catalog, encode CycloneDX) against the same plus ``analyze_image`` (secrets in every
   layer's files, config and history; config checks) on the filesystem already read.
   Target: the analyzers add <= 30 % to the SBOM pass.
2. **Peer.** The text files of the image (first ``--sample-mb`` MB of them, written to a
   temp dir) scanned by gate's secret rules (``dir:`` source, secrets only) and by Yelp's
   detect-secrets (``SecretsCollection.scan_files``, default plugins, one process).

The image is benchmarks/layered_fs.py's cached image (built once from host trees).
A measurement, not a test: exit status 0 whatever the numbers, non-zero only on errors.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
# this file is named like the stdlib's `secrets`: keep its directory off sys.path so that an
# `import secrets` anywhere in the process gets the stdlib module, not this script
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from benchmarks import layered_fs
from gate.analyze import AnalysisOptions, analyze_image
from gate.analyze.secrets import looks_binary
from gate.catalog import catalog_image
from gate.image import open_image
from gate.sbom import SbomFormat, encode

TARGET_ADDED = 0.30
MB = 1_000_000


def best_of(runs: int, measure: Callable[[], float]) -> float:
    measure()  # warm-up
    return min(measure() for _ in range(runs))


def sbom_pass(reference: str, options: AnalysisOptions | None) -> tuple[float, float]:
    """Wall and CPU seconds of one pass (CPU time is steadier on a shared machine)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    with open_image(reference) as image, image.filesystem() as fs:
        catalog = catalog_image(image, fs)
        encode(catalog, SbomFormat.CYCLONEDX_JSON)
        if options is not None:
            analyze_image(image, fs, options, catalog=catalog)
    return time.perf_counter() - started, time.process_time() - cpu_started


def write_text_sample(reference: str, limit: int, out: Path) -> tuple[int, int]:
    """Copy text files of every layer (as the analyzer sees them) into ``out``, up to ``limit`` bytes."""
    files = total = 0
    with open_image(reference) as image, image.filesystem() as fs:
        for entry, _visible in fs.all_layer_files():
            if total >= limit or not entry.size or entry.size > 2 * 1024 * 1024:
                continue
            data = fs.read_bytes(entry)
            if looks_binary(data[:8192]):
                continue
            target = out / f"{files:06d}-{entry.path.replace('/', '_')[-80:]}"
            target.write_bytes(data)
            files, total = files + 1, total + len(data)
    return files, total


def time_gate_dir(root: Path) -> float:
    started = time.perf_counter()
    with open_image(f"dir:{root}") as image, image.filesystem() as fs:
        result = analyze_image(image, fs, AnalysisOptions(config=False))
    elapsed = time.perf_counter() - started
    print(f"    gate: {len(result.secrets)} finding(s)", flush=True)
    return elapsed


def time_detect_secrets(root: Path) -> float | None:
    try:
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings
    except ImportError:
        return None
    paths = sorted(str(p) for p in root.iterdir())
    started = time.perf_counter()
    collection = SecretsCollection()
    with default_settings():
        collection.scan_files(*paths, num_processors=1)
    elapsed = time.perf_counter() - started
    print(f"    detect-secrets: {sum(len(v) for _, v in collection.data.items())} finding(s)", flush=True)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample-mb", type=float, default=8.0)
    args = parser.parse_args(argv)

    layout, stats = layered_fs.ensure_image(layered_fs.DEFAULT_CACHE, rebuild=False)
    reference = f"oci:{layout}:{layered_fs.TAG}"
    print(f"image: {layout} ({stats.uncompressed_bytes / MB:.0f} MB uncompressed, {stats.files:,} files)")

    passes = {"sbom": None, "secrets": AnalysisOptions(config=False), "both": AnalysisOptions()}
    sbom_pass(reference, None)  # warm-up: page cache, imports
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in passes}
    for _ in range(args.runs):  # interleaved, so load from other processes hits every pass alike
        for name, options in passes.items():
            timings[name].append(sbom_pass(reference, options))
    wall = {name: min(t[0] for t in runs) for name, runs in timings.items()}
    cpu = {name: min(t[1] for t in runs) for name, runs in timings.items()}
    print(f"\n| pass (best of {args.runs}) | wall s | vs sbom | CPU s | vs sbom |")
    print("|---|---|---|---|---|")
    labels = {
        "sbom": "sbom (read + catalog + CycloneDX)",
        "secrets": "sbom + secrets",
        "both": "sbom + secrets + config",
    }
    for name, label in labels.items():
        print(
            f"| {label} | {wall[name]:.2f} | {wall[name] / wall['sbom']:.2f}x "
            f"| {cpu[name]:.2f} | {cpu[name] / cpu['sbom']:.2f}x |"
        )
    for what, measured in (("wall", wall), ("CPU", cpu)):
        added = (measured["both"] - measured["sbom"]) / measured["sbom"]
        verdict = "PASS" if added <= TARGET_ADDED else "FAIL"
        print(f"analyzers add {added:.0%} ({what}) to the sbom pass; target <= {TARGET_ADDED:.0%}: {verdict}")

    with tempfile.TemporaryDirectory(prefix="gate-secrets-bench-") as tmp:
        sample = Path(tmp)
        files, size = write_text_sample(reference, int(args.sample_mb * MB), sample)
        print(f"\npeer sample: {files:,} text files, {size / MB:.1f} MB (one process each)")
        gate_seconds = best_of(args.runs, lambda: time_gate_dir(sample))
        peer = time_detect_secrets(sample)  # once: it is slow
        print("\n| scanner | seconds | MB/s | vs gate |")
        print("|---|---|---|---|")
        print(f"| gate secret rules | {gate_seconds:.2f} | {size / MB / gate_seconds:.1f} | 1.00x |")
        if peer is None:
            print("| detect-secrets | not installed (`.venv/bin/pip install detect-secrets`) | | |")
        else:
            ratio = peer / gate_seconds
            print(f"| detect-secrets 1.x | {peer:.2f} | {size / MB / peer:.1f} | {ratio:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
