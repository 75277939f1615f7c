"""The PyPI enumeration oracle: pypa/advisory-database records list every affected version.

For every package and every version enumerated anywhere in the set, the matcher's verdict per
record must equal the enumeration: each listed version is affected (100 %), and every version
the matcher flags beyond a record's list is justified by the record's own ECOSYSTEM range,
re-checked here with ``packaging`` (an independent PEP 440 implementation). Those extra
verdicts are enumeration gaps in the data (the lists were computed from git tags and stop at
the release current when the record was written), listed with their evidence. Separately, the
ranges alone must reproduce each list, except for the records judged inconsistent below.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

from gate.match import Matcher, evaluate
from gate.model import Package
from gate.vulndb import VulnDB, import_paths
from gate.vulndb.names import normalise_name
from gate.vulndb.sources import load_sources, parse_content

PYPI = Path(__file__).parent / "fixtures" / "osv-upstream" / "osv-pypi" / "vulns"

# Records whose ranges exclude versions their own list includes (range text, then list):
JUDGED_LIST_WIDER_THAN_RANGES = {
    # introduced "3.2"/"4.2" (finals); the git-tag enumeration also lists their pre-releases.
    ("PYSEC-2023-61", "3.2a1"), ("PYSEC-2023-61", "3.2b1"), ("PYSEC-2023-61", "3.2rc1"),
    ("PYSEC-2023-61", "4.2a1"), ("PYSEC-2023-61", "4.2b1"), ("PYSEC-2023-61", "4.2rc1"),
    # gevent: fixed "23.9.0", yet 23.9.0 and 23.9.0.post1 are listed as affected.
    ("PYSEC-2023-177", "23.9.0"), ("PYSEC-2023-177", "23.9.0.post1"),
    # wagtail: one range object holds two overlapping intervals (2.11 -> 2.11.7 and 0 -> 2.11.6);
    # the schema's sorted evaluation closes at 2.11.6, the list says 2.11.6 is affected.
    ("PYSEC-2021-114", "2.11.6"),
}  # fmt: skip


@pytest.fixture(scope="module")
def pypi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, dict]]]:
    if not PYPI.is_dir():
        pytest.fail(f"{PYPI} is missing: the oracle needs the copied PyPI advisory database")
    db_path = tmp_path_factory.mktemp("pypi") / "pypi.db"
    report = import_paths(db_path, [PYPI])
    assert report.invalid == [] and report.added == 2651 and report.withdrawn == 10
    entries = []
    for raw in load_sources([PYPI]):
        record: Any = parse_content(raw.origin, raw.content).data
        if record.get("withdrawn"):
            continue
        for entry in record.get("affected") or []:
            entries.append((record["id"], normalise_name("PyPI", entry["package"]["name"]), entry))
    return db_path, entries


def test_matcher_verdicts_equal_the_enumeration(pypi) -> None:
    db_path, entries = pypi
    listed: dict[str, dict[str, set[str]]] = collections.defaultdict(lambda: collections.defaultdict(set))
    enumerating: dict[str, dict] = {}
    for record_id, name, entry in entries:
        if entry.get("versions"):
            enumerating[record_id] = entry
            for version in entry["versions"]:
                listed[name][version].add(record_id)
    points = missed = 0
    beyond_list: list[tuple[str, str, str]] = []
    unverified: collections.Counter[str] = collections.Counter()
    with VulnDB.open(db_path) as db:
        matcher = Matcher(db)
        for name, versions in listed.items():
            for version, expected in versions.items():
                package = Package(name, version, "pypi", f"pkg:pypi/{name}@{version}", "test", ())
                findings, unverifiable = matcher.match_package(package)
                matched = {evidence.record_id for finding in findings for evidence in finding.evidence}
                points += 1
                missed += len(expected - matched)
                beyond_list += [(rid, name, version) for rid in matched - expected if rid in enumerating]
                unverified.update(item.reason for item in unverifiable)
    assert points > 30_000
    assert missed == 0  # every enumerated version is affected: 100 %
    unjustified = [hit for hit in beyond_list if not _range_covers(enumerating[hit[0]], hit[2])]
    assert unjustified == [], unjustified[:10]
    # Enumeration gaps (see module docstring), all confirmed above by the records' own ranges.
    assert len(beyond_list) == 1632
    assert {rid for rid, _, _ in beyond_list} >= {"PYSEC-2023-8", "PYSEC-2024-16", "PYSEC-2021-389"}
    # Only legacy (pre-PEP 440) versions such as buildbot's "0.7.10p1" and two unparsable
    # range bounds ("0.2.0-n653", "2019-09-12") cannot be compared: reported, never passed.
    assert unverified and all("invalid pep440 version" in reason for reason in unverified), unverified


def test_ranges_alone_reproduce_every_list(pypi) -> None:
    _db_path, entries = pypi
    disagreements = set()
    checked = 0
    for record_id, _name, entry in entries:
        ranges_only = {key: value for key, value in entry.items() if key != "versions"}
        if not any(r["type"] == "ECOSYSTEM" for r in entry.get("ranges", [])):
            continue
        for version in entry.get("versions") or []:
            try:
                Version(version)
            except InvalidVersion:
                continue  # legacy versions: no PEP 440 order to evaluate a range with
            checked += 1
            if evaluate(ranges_only, "PyPI", version) is None:
                disagreements.add((record_id, version))
    assert checked > 20_000
    assert disagreements == JUDGED_LIST_WIDER_THAN_RANGES


def _range_covers(entry: dict, version: str) -> bool:
    """Independent check with ``packaging``: an introduced at or below, no fix in between."""
    target = Version(version)
    for range_ in entry.get("ranges", []):
        if range_["type"] != "ECOSYSTEM":
            continue
        opened = None
        for event in range_["events"]:
            ((kind, value),) = event.items()
            bound = Version("0") if value == "0" else Version(value)
            if kind == "introduced":
                opened = bound
            elif opened is not None:
                closes = target >= bound if kind == "fixed" else target > bound
                if opened <= target and not closes:
                    return True
                opened = None
        if opened is not None and opened <= target:
            return True
    return False
