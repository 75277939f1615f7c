"""Twin records: PyPA's PYSEC records and their GitHub (GHSA) twins describe the same
vulnerabilities; with either or both in the database, a scan reports the same findings by CVE,
and with both every finding is rated wherever a twin is (PYSEC records mostly carry no
severity), with the worse of the twins' ratings. Real records: tests/fixtures/osv-upstream/osv-pypi
and tests/fixtures/osv-ghsa.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.match import Finding, Matcher
from gate.model import Package
from gate.severity import Rating, Severity
from gate.vulndb import VulnDB, import_paths

FIXTURES = Path(__file__).parent / "fixtures"
# Old releases of the PyPI packages whose GHSA twins are in tests/fixtures/osv-ghsa.
OLD = {
    "django": "2.2.0", "urllib3": "1.24.1", "werkzeug": "0.15.0", "pip": "19.0", "requests": "2.19.0",
    "jinja2": "2.10", "pyyaml": "5.1", "flask": "0.12", "certifi": "2019.11.28",
}  # fmt: skip
PYSEC = [FIXTURES / "osv-upstream" / "osv-pypi" / "vulns" / name for name in OLD]
GHSA = [FIXTURES / "osv-ghsa" / "advisories"]
Key = tuple[str, tuple[str, ...]]  # (package, the finding's CVE ids)


def _scan(tmp_path: Path, name: str, sources: list[Path]) -> dict[Key, Finding]:
    path = tmp_path / f"{name}.db"
    assert import_paths(path, sources).invalid == []
    packages = [
        Package(name, version, "pypi", f"pkg:pypi/{name}@{version}", "test", ())
        for name, version in OLD.items()
    ]
    with VulnDB.open(path) as db:
        findings = Matcher(db).match(packages).findings
    by_key = {(finding.package.name, finding.cve_ids): finding for finding in findings}
    assert len(by_key) == len(findings)  # one finding per vulnerability and package
    assert all(finding.cve_ids for finding in findings)
    return by_key


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[Key, Finding]]:
    work = tmp_path_factory.mktemp("twins")
    return {
        "pysec": _scan(work, "pysec", PYSEC),
        "ghsa": _scan(work, "ghsa", GHSA),
        "both": _scan(work, "both", PYSEC + GHSA),
    }


def test_the_same_findings_by_cve_with_either_or_both(scans: dict[str, dict[Key, Finding]]) -> None:
    pysec, ghsa, both = scans["pysec"].keys(), scans["ghsa"].keys(), scans["both"].keys()
    assert len(ghsa) > 40
    # Every GHSA finding is a PYSEC finding too; four PYSEC records have no twin in the sample
    # (their GHSA is not among the copied records, or they name none).
    assert ghsa <= pysec and len(pysec - ghsa) == 4
    assert both == pysec  # twins merged: nothing doubled, nothing lost
    for key in ghsa:
        merged = {evidence.record_id for evidence in scans["both"][key].evidence}
        assert merged == {
            *(evidence.record_id for evidence in scans["pysec"][key].evidence),
            *(evidence.record_id for evidence in scans["ghsa"][key].evidence),
        }


def _level(rating: Rating) -> tuple[Severity, float | None]:
    return rating.severity, rating.score


def _rank(level: tuple[Severity, float | None]) -> tuple[Severity, float]:
    return level[0], level[1] or 0.0


def test_with_both_each_finding_is_rated_where_its_twin_is(scans: dict[str, dict[Key, Finding]]) -> None:
    unrated_alone = [key for key in scans["ghsa"] if scans["pysec"][key].rating.severity is Severity.UNKNOWN]
    assert len(unrated_alone) > 40  # PYSEC records alone leave most findings unrated
    for key, twin in scans["ghsa"].items():
        assert twin.rating.severity is not Severity.UNKNOWN
        # the worse of the twins' ratings (a few PYSEC records carry a vector of their own)
        worse = max(_level(twin.rating), _level(scans["pysec"][key].rating), key=_rank)
        assert _level(scans["both"][key].rating) == worse, key
