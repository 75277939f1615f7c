"""Throughput of ``gate.versions`` keys per scheme, against the ``univers`` library.

    .venv/bin/pip install univers           # the peer; not a gate dependency
    .venv/bin/python benchmarks/versions.py  # --count 10000 --runs 3

For each scheme it parses ``--count`` distinct, realistic version strings into keys (cold
cache), sorts them by key, and does the same with univers' class for that ecosystem (whose
objects parse lazily, so its sort column is the fair comparison). Times are process CPU
seconds (the machine is shared), best of ``--runs``. Real versions come first where this
machine has them (the dpkg status file, the OSV records in /work/shared/data);
deterministic synthetic ones fill up to ``--count``. Target: every scheme keys 10,000
versions in under 0.25 s. A measurement, not a test: the exit status is 0 whatever the
numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import json
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from gate.versions import InvalidVersion, scheme_named

SHARED = Path("/work/shared/data")
TARGET_SECONDS_PER_10K = 0.25
UNIVERS_CLASSES = {
    "deb": "DebianVersion",
    "apk": "AlpineLinuxVersion",
    "rpm": "RpmVersion",
    "pep440": "PypiVersion",
    "semver": "SemverVersion",
    "go": "GolangVersion",
    "maven": "MavenVersion",
    "rubygems": "RubygemsVersion",
    "composer": "ComposerVersion",
    "nuget": "NugetVersion",
}


def osv_versions(pattern: str) -> list[str]:
    """Every version named in the OSV records matching ``pattern`` (events and lists)."""
    found: dict[str, None] = {}
    for path in sorted(glob.glob(str(SHARED / pattern), recursive=True)):
        text = Path(path).read_text()
        record = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
        for affected in record.get("affected", []):
            for version in affected.get("versions", []):
                found[version] = None
            for span in affected.get("ranges", []):
                for event in span.get("events", []):
                    for value in event.values():
                        if value != "0":
                            found[value] = None
    return list(found)


def dpkg_status_versions() -> list[str]:
    status = Path("/var/lib/dpkg/status")
    if not status.exists():
        return []
    return [
        line.split(":", 1)[1].strip()
        for line in status.read_text().splitlines()
        if line.startswith("Version:")
    ]


def _release(rng: random.Random, parts: int = 3) -> str:
    return ".".join(
        str(rng.choice([0, 0, 1, 1, 2, 3, 4, 5, 7, 9, 10, 12, 15, 21, 33, 104])) for _ in range(parts)
    )


def synthetic(name: str, rng: random.Random) -> str:
    """One realistic version for scheme ``name``."""
    release = _release(rng, rng.choice([2, 3, 3, 4]))
    n = rng.randint(1, 30)
    pick = rng.random()
    if name == "deb":
        epoch = rng.choice(["", "", "", "1:", "2:"])
        upstream = release + rng.choice(["", "", "+dfsg", "~rc1", "+ds1", "a"])
        revision = rng.choice(
            [f"{n}", f"{n}+deb12u{rng.randint(1, 9)}", f"{n}ubuntu0.22.04.{rng.randint(1, 5)}"]
        )
        return f"{epoch}{upstream}-{revision}"
    if name == "apk":
        return release + rng.choice(["", "", "_rc1", "_p2", "_git20240101", "a"]) + f"-r{rng.randint(0, 12)}"
    if name == "rpm":
        dist = f"el{rng.choice([8, 9])}{rng.choice(['', '_1', '_3.1'])}"
        return f"{rng.choice(['', '', '1:'])}{release}-{n}.{dist}"
    if name == "pep440":
        return release + rng.choice(["", "", "rc1", "a2", ".post1", ".dev3", "b1"])
    if name in ("semver", "go", "nuget"):
        prefix = "v" if name == "go" and pick < 0.5 else ""
        pre = rng.choice(["", "", "", "-rc.1", "-beta.2", "-alpha"])
        if name == "go" and pick > 0.8:
            pre = (
                f"-0.2023{rng.randint(10, 12)}{rng.randint(10, 28)}101010-abcdef{rng.randint(100000, 999999)}"
            )
        core = _release(rng, 4 if name == "nuget" and pick < 0.2 else 3)
        return prefix + core + pre
    if name == "maven":
        return release + rng.choice(["", "", ".Final", "-SNAPSHOT", "-RC1", ".RELEASE", "-jre", "-M2"])
    if name == "rubygems":
        return release + rng.choice(["", "", ".rc1", ".beta2", ".pre"])
    if name == "composer":
        return rng.choice(["", "v"]) + release + rng.choice(["", "", "-RC1", "-beta2", "-dev", "-p1"])
    raise ValueError(name)


def corpus(name: str, count: int, real: Iterable[str]) -> list[str]:
    """``count`` distinct versions: real ones first, then synthetic ones."""
    versions: dict[str, None] = dict.fromkeys(list(real)[:count])
    rng = random.Random(f"gate-versions-{name}")
    while len(versions) < count:
        versions[synthetic(name, rng)] = None
    return list(versions)


def real_versions() -> dict[str, list[str]]:
    return {
        "deb": dpkg_status_versions(),
        "rpm": osv_versions("osv-almalinux/**/*.json"),
        "pep440": osv_versions("osv-pypi/**/*.yaml"),
        "semver": osv_versions("osv-rustsec/**/*.json") + osv_versions("osv-bitnami/**/*.json"),
        "go": osv_versions("osv-go/**/*.json"),
    }


def best_of(runs: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def gate_keys(name: str, versions: list[str]) -> tuple[Callable[[], object], int]:
    scheme = scheme_named(name)

    def run() -> list:
        scheme._parse.cache_clear()  # cold: every version parsed
        keys = []
        for version in versions:
            with contextlib.suppress(InvalidVersion):
                keys.append(scheme.key(version))
        return keys

    return run, len(versions) - len(run())


def univers_keys(name: str, versions: list[str]) -> tuple[Callable[[], list] | None, int]:
    try:
        import univers.versions
    except ImportError:
        return None, 0
    cls = getattr(univers.versions, UNIVERS_CLASSES[name])

    def run() -> list:
        keys = []
        for version in versions:
            try:
                keys.append(cls(version))
            except Exception:  # noqa: S112 - univers raises assorted types for bad input
                continue
        return keys

    return run, len(versions) - len(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    real = real_versions()
    header = f"{'scheme':9} {'real':>6} {'invalid':>7} {'gate key s':>10} {'us/ver':>7} {'sort s':>7}"
    print(
        f"{args.count:,} distinct versions per scheme, CPU seconds, best of {args.runs} (univers sort: 1 run)"
    )
    print(f"{'':50}{'|------- univers -------|':>25} {'gate/univers':>15}")
    print(f"{header} {'univers s':>9} {'sort s':>7} {'invalid':>7} {'key':>7} {'sort':>7}")
    verdicts = []
    for name in UNIVERS_CLASSES:
        versions = corpus(name, args.count, real.get(name, []))
        run, invalid = gate_keys(name, versions)
        seconds = best_of(args.runs, run)
        keys = run()
        sort_seconds = best_of(args.runs, functools.partial(sorted, keys))
        peer, peer_invalid = univers_keys(name, versions)
        peer_seconds = peer_sort_seconds = float("nan")
        if peer:
            peer_seconds = best_of(args.runs, peer)
            peer_objects = peer()
            peer_sort_seconds = best_of(1, functools.partial(sorted, peer_objects))
        real_count = min(len(real.get(name, [])), args.count)
        print(
            f"{name:9} {real_count:>6} {invalid:>7} {seconds:>10.3f} {seconds / len(versions) * 1e6:>7.1f} "
            f"{sort_seconds:>7.3f} {peer_seconds:>9.3f} {peer_sort_seconds:>7.3f} {peer_invalid:>7} "
            f"{seconds / peer_seconds:>6.2f}x {sort_seconds / peer_sort_seconds:>6.2f}x"
        )
        verdicts.append(seconds * 10_000 / len(versions) <= TARGET_SECONDS_PER_10K)
    state = "PASS" if all(verdicts) else "FAIL"
    print(f"\ntarget: key() of 10,000 versions <= {TARGET_SECONDS_PER_10K} s for every scheme: {state}")


if __name__ == "__main__":
    main()
