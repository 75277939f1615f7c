"""`gate fleet rescan` at scale: N signed images re-evaluated on the local pool and a 2-worker Dask cluster.

    .venv/bin/python benchmarks/fleet.py                 # 1,000 images, ~100 packages each
    .venv/bin/python benchmarks/fleet.py --images 200    # quicker

A real registry (CNCF distribution on 127.0.0.1) receives N images signed and attested with
gate's library (tests/fleet_images.py: one SBOM per family, padded to ~100 packages; one in ten
has the glibc that DSA-5514-1 hits). The database holds the real Debian advisories of
tests/fixtures/osv. Both executors must return the same result set; the table gives images per
second and the peak resident memory of the largest worker process. Target: 1,000 images in
<= 60 s on the local pool with 2 cores. No peer tool answers this from signed attestations.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[0] = str(HERE.parent)  # the repository root (benchmarks/secrets.py would shadow the stdlib)

from gate.fleet import RescanOptions, RescanSpec, TrustSpec, rescan
from gate.fleet.sources import images_from_lines
from gate.sign.keys import generate_signing_key
from gate.vulndb.oci import push_db
from tests.fleet_images import Cluster, signed_fleet
from tests.servers import running_registry

POLICY = HERE.parent / "policies" / "default.yaml"
ADVISORIES = HERE.parent / "tests" / "fixtures" / "osv" / "debian"


def settled(limit: float = 2.0, longest: float = 120.0) -> None:
    """Wait (up to ``longest`` s) for the 1-min load average to fall below ``limit``: the signing
    phase just before keeps it high for a minute, and the timing should not inherit that."""
    deadline = time.monotonic() + longest
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)


def timed(label: str, entries: list, spec: RescanSpec, options: RescanOptions) -> tuple[float, set[str]]:
    settled()
    before = os.getloadavg()[0]  # other work on the shared cores shows here, not in the timing
    started = time.monotonic()
    results = list(rescan(entries, spec, options))
    seconds = time.monotonic() - started
    failing = sum(r.verdict == "fail" for r in results)
    load = f"1-min load average {before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"{label}: {len(results)} images in {seconds:.1f}s ({failing} fail; {load})", flush=True)
    return seconds, {json.dumps(r.to_json(), sort_keys=True) for r in results}


def cluster_peak_mib(cluster: Cluster) -> float:
    import distributed

    with distributed.Client(cluster.address, timeout=30) as client:
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return max(peaks.values()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--packages", type=int, default=100, help="packages per SBOM (about)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-fleet-bench-") as scratch:
        work = Path(scratch)
        with running_registry(work / "registry") as registry:
            db = work / "vulns.db"
            subprocess.run([sys.executable, "-m", "gate", "db", "import", "--db", str(db), str(ADVISORIES)],
                           check=True, capture_output=True)  # fmt: skip
            key = generate_signing_key()
            started = time.monotonic()
            padding = max(0, args.packages - 2)
            references = signed_fleet(registry.host, key, args.images, extra_packages=padding)
            print(f"signed and pushed {args.images} images in {time.monotonic() - started:.0f}s", flush=True)
            trust = TrustSpec(keys=(key.public_key.pem(),))
            spec = RescanSpec(trust, POLICY.name, POLICY.read_bytes(), str(db))
            entries = images_from_lines(list(references))

            local_s, local = timed("local pool (2 workers)", entries, spec, RescanOptions(workers=2))
            local_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

            db_ref = "oci://" + push_db(db, f"{registry.host}/bench/vulndb:today")
            cluster = Cluster(work, workers=2)
            try:
                cluster_spec = RescanSpec(spec.trust, spec.policy_name, spec.policy_text, db_ref=db_ref)
                dask_s, remote = timed("dask (2 workers)", entries, cluster_spec,
                                       RescanOptions(scheduler=cluster.address))  # fmt: skip
                dask_peak = cluster_peak_mib(cluster)
            finally:
                cluster.stop()
            report(args, local == remote, (local_s, local_peak), (dask_s, dask_peak))
            # (removing the registry's thousands of files can take a while on a busy disk)


def report(
    args: argparse.Namespace, same: bool, local: tuple[float, float], dask: tuple[float, float]
) -> None:
    assert same, "the local pool and the cluster disagree"
    (local_s, local_peak), (dask_s, dask_peak) = local, dask
    n = args.images
    print(f"\n{n} signed images, ~{args.packages} packages each, 2 shared cores\n")
    print("| executor | seconds | images/s | peak RSS per worker (MiB) | vs local |")
    print("|---|---:|---:|---:|---:|")
    print(f"| local pool, 2 processes | {local_s:.1f} | {n / local_s:.0f} | {local_peak:.0f} | 1.00 |")
    print(f"| Dask, 2 workers | {dask_s:.1f} | {n / dask_s:.0f} | {dask_peak:.0f} | {dask_s / local_s:.2f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
