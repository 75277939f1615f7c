"""Vulnerability database benchmark: import every OSV record in ../shared/data (and the CISA KEV
catalog), match 10,000 packages.

    .venv/bin/python benchmarks/vulndb.py            # best of 3 runs
    .venv/bin/python benchmarks/vulndb.py --runs 1

No peer tool runs here (grype, trivy and osv-scanner need their own downloaded databases, and
nothing outside PyPI/npm/Debian is reachable), so the ratio column is against the target.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from gate.match import Matcher
from gate.model import Package
from gate.versions import InvalidVersion, Scheme, scheme_for_ecosystem
from gate.vulndb import VulnDB, import_paths

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
KEV = SHARED / "kev-cisa" / "known_exploited_vulnerabilities.json"  # marks findings while matching
SOURCES = ["osv-pypi", "osv-go", "osv-rustsec", "osv-almalinux", "osv-bitnami", "osv-psf-cpython"]
PURL_TYPES = {"PyPI": "pypi", "Go": "golang", "crates.io": "cargo", "Bitnami": "bitnami"}
IMPORT_TARGET_S = 30.0
MATCH_TARGET_S = 1.0
PACKAGES = 10_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gate-bench-vulndb-") as work:
        import_times, db_path, report = [], Path(work) / "v.db", None
        for _ in range(args.runs):
            db_path.unlink(missing_ok=True)
            started = time.perf_counter()
            report = import_paths(db_path, [SHARED / name for name in SOURCES], kev=KEV)
            import_times.append(time.perf_counter() - started)
        assert report is not None
        packages = sample_packages(db_path, PACKAGES)
        # Each run in a fresh interpreter: no cached package summaries, entries or version keys.
        context = multiprocessing.get_context("spawn")
        with context.Pool(1, maxtasksperchild=1) as pool:
            runs = [pool.apply(time_match, (db_path, packages)) for _ in range(args.runs)]
        match_times, match_cpu, findings = [r[0] for r in runs], [r[1] for r in runs], runs[0][2]
        size = db_path.stat().st_size
        records = report.added + report.updated + report.withdrawn
        print_table(min(import_times), records, len(report.invalid), min(match_times), findings, size)
        print(f"match CPU time: {min(match_cpu):.2f} s (wall time above includes waiting for a busy CPU)")


def time_match(db_path: Path, packages: list[Package]) -> tuple[float, float, int]:
    """(wall s, CPU s, findings) of one match of ``packages``."""
    with VulnDB.open(db_path) as db:
        started, cpu = time.perf_counter(), time.process_time()
        result = Matcher(db).match(packages)
        return time.perf_counter() - started, time.process_time() - cpu, len(result.findings)


def sample_packages(db_path: Path, count: int) -> list[Package]:
    """``count`` packages named in the DB. Like a real image, most are patched: 80 % carry the
    newest fixed version any advisory names for them, 20 % a random version from an advisory's
    events (often affected). Seeded, so every run scans the same packages."""
    rng = random.Random(20260829)
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT ecosystem, name, ranges FROM affected").fetchall()
    events: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for ecosystem, name, ranges in rows:
        events.setdefault((ecosystem, name), []).extend(_events(ranges))
    packages = []
    for ecosystem, name in rng.sample(sorted(events), count):
        package_events = events[(ecosystem, name)] or [("introduced", "1.0.0")]
        scheme = scheme_for_ecosystem(ecosystem)
        fixed = [value for kind, value in package_events if kind == "fixed" and _parses(scheme, value)]
        if fixed and scheme and rng.random() < 0.8:
            version = max(fixed, key=scheme.key)
        else:
            version = rng.choice([value for _kind, value in package_events if value != "0"] or ["1.0.0"])
        purl_type = "rpm" if ecosystem.startswith("AlmaLinux") else PURL_TYPES.get(ecosystem, "generic")
        purl = f"pkg:{purl_type}/{name}@{version}"
        packages.append(Package(name, version, purl_type, purl, "bench", (), ecosystem=ecosystem))
    return packages


def _parses(scheme: Scheme | None, version: str) -> bool:
    if scheme is None:
        return False
    try:
        scheme.key(version)
    except (InvalidVersion, AttributeError):
        return False
    return True


def _events(ranges_json: str | None) -> list[tuple[str, str]]:
    ranges = json.loads(ranges_json) if ranges_json else []
    return [
        next(iter(event.items()))
        for range_ in ranges
        if range_.get("type") != "GIT"
        for event in range_["events"]
    ]


def print_table(
    import_s: float, records: int, invalid: int, match_s: float, findings: int, size: int
) -> None:
    rows = [
        (
            "import all shared OSV records",
            f"{records} records ({invalid} invalid)",
            import_s,
            IMPORT_TARGET_S,
        ),
        (f"match {PACKAGES} packages", f"{findings} findings", match_s, MATCH_TARGET_S),
    ]
    print(f"{'task':34} {'work':28} {'seconds':>8} {'target':>7} {'ratio':>6}  verdict")
    for task, work, seconds, target in rows:
        verdict = "PASS" if seconds <= target else "FAIL"
        print(f"{task:34} {work:28} {seconds:8.2f} {target:7.1f} {seconds / target:6.2f}  {verdict}")
    print(f"database size: {size / 1e6:.1f} MB ({size / records / 1e3:.2f} kB per record)")


if __name__ == "__main__":
    main()
