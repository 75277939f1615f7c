"""Matching per the OSV schema on real records of every ecosystem (tests/fixtures/osv-upstream) and on
Debian/Alpine records written from real advisories (see tests/fixtures/osv/NOTICE.md)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gate.match import Matcher, evaluate, lookup_for
from gate.model import Package
from gate.severity import Severity, rate, score_vector
from gate.vulndb import VulnDB, import_paths

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
SHARED = Path(__file__).parent / "fixtures" / "osv-upstream"  # real records, see its NOTICE.md


def pkg(
    name: str, version: str, type_: str, *, ecosystem: str = "", source: str = "", source_version: str = "",
    metadata: tuple[tuple[str, str], ...] = (),
) -> Package:  # fmt: skip
    return Package(
        name, version, type_, f"pkg:{type_}/{name}@{version}", "test", (), ecosystem=ecosystem,
        source_name=source, source_version=source_version, metadata=metadata,
    )  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("match") / "v.db"
    report = import_paths(path, [FIXTURES])
    assert report.invalid[0][1].startswith("affected[0].ranges[0] has no introduced")  # the schema fixture
    with VulnDB.open(path) as opened:
        yield opened


def ids(db: VulnDB, *packages: Package) -> list[tuple[str, str]]:
    result = Matcher(db).match(packages)
    return [(finding.package.name, finding.id) for finding in result.findings]


def test_debian_matches_by_source_package_and_source_version(db) -> None:
    # libc6 is built from glibc; DSA-5514-1 fixed it in 2.36-9+deb12u3.
    vulnerable = pkg("libc6", "2.36-9+deb12u2", "deb", ecosystem="Debian:12", source="glibc")
    fixed = pkg("libc-bin", "2.36-9+deb12u3", "deb", ecosystem="Debian:12", source="glibc")
    # a binNMU: the binary version differs, the source version decides
    binnmu = pkg("libcurl4", "7.88.1-10+deb12u3+b1", "deb", ecosystem="Debian:12", source="curl",
                 source_version="7.88.1-10+deb12u3")  # fmt: skip
    other_release = pkg("libc6", "2.31-13", "deb", ecosystem="Debian:11", source="glibc")
    assert ids(db, vulnerable, fixed, binnmu, other_release) == [
        ("libc6", "DSA-5514-1"),
        ("libcurl4", "DSA-5523-1"),
    ]
    finding = Matcher(db).match([vulnerable]).findings[0]
    assert finding.fixed_versions == ("2.36-9+deb12u3",) and finding.fix_available
    assert finding.related == ("CVE-2023-4911",)
    assert finding.evidence[0].range == {
        "type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]
    }  # fmt: skip


def test_alpine_matches_by_origin(db) -> None:
    libcrypto = pkg("libcrypto3", "3.1.3-r0", "apk", ecosystem="Alpine:v3.18", source="openssl")
    patched = pkg("libssl3", "3.1.4-r0", "apk", ecosystem="Alpine:v3.18", source="openssl")
    older_branch = pkg("libcrypto3", "3.1.3-r0", "apk", ecosystem="Alpine:v3.17", source="openssl")
    assert ids(db, libcrypto, patched, older_branch) == [("libcrypto3", "ALPINE-CVE-2023-5363")]


def test_almalinux_epoch_versions_and_severity_from_summary(db) -> None:
    before = pkg("openssl-libs", "1:3.0.1-38.el9_0", "rpm", ecosystem="AlmaLinux:9")
    after = pkg("openssl", "1:3.0.1-41.el9_0", "rpm", ecosystem="AlmaLinux:9")
    [finding] = Matcher(db).match([before, after]).findings
    assert (finding.package.name, finding.id) == ("openssl-libs", "ALSA-2022:6224")
    assert finding.rating.severity is Severity.MEDIUM and finding.rating.source == "summary"
    assert "CVE-2022-1292" in finding.related


def test_go_semver_with_v_prefix(db) -> None:
    assert ids(db, pkg("github.com/gin-gonic/gin", "v1.5.0", "golang")) == [
        ("github.com/gin-gonic/gin", "GO-2020-0001")
    ]
    assert ids(db, pkg("github.com/gin-gonic/gin", "v1.6.0", "golang")) == []


def test_rustsec_prerelease_zero_and_cvss(db) -> None:
    [finding] = Matcher(db).match([pkg("cap-primitives", "3.4.0", "cargo")]).findings
    assert finding.id == "RUSTSEC-2024-0445"
    assert set(finding.aliases) == {"CVE-2024-51756", "GHSA-hxf5-99xg-86hw"}
    assert finding.rating.source == "CVSS_V4" and finding.rating.score == 2.3
    assert finding.rating.severity is Severity.LOW
    assert ids(db, pkg("cap-primitives", "3.4.1", "cargo")) == []
    [openssl] = Matcher(db).match([pkg("openssl", "0.8.3", "cargo")]).findings
    assert openssl.rating.severity is Severity.HIGH and openssl.rating.score == 8.1


def test_bitnami_last_affected_is_inclusive(db) -> None:
    assert ids(db, pkg("activemq", "5.15.12", "bitnami", ecosystem="Bitnami")) == [
        ("activemq", "BIT-activemq-2020-11998")
    ]
    assert ids(db, pkg("activemq", "5.15.13", "bitnami", ecosystem="Bitnami")) == []
    assert ids(db, pkg("activemq", "5.15.11", "bitnami", ecosystem="Bitnami")) == []


def test_git_only_records_never_match_by_version(db) -> None:
    # PSF-2007-1 has only a GIT range on cpython and no package: it is stored, never indexed.
    assert db.record("PSF-2007-1") is not None
    assert ids(db, pkg("python", "2.5.1", "pypi")) == []
    entry = {"package": {"ecosystem": "PyPI", "name": "x"},
             "ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "0"}]}]}  # fmt: skip
    assert evaluate(entry, "PyPI", "1.0") is None
    assert evaluate({**entry, "versions": ["1.0"]}, "PyPI", "1.0") is not None


def test_pypi_names_are_normalised_and_owned_packages_skipped(db) -> None:
    assert ids(db, pkg("Access_Control", "4.2", "pypi")) == []  # different project
    assert ids(db, pkg("AccessControl", "4.2", "pypi")) == [("AccessControl", "PYSEC-2021-335")]
    owned = pkg("AccessControl", "4.2", "pypi", metadata=(("owned-by", "python3-accesscontrol"),))
    assert ids(db, owned) == [] and lookup_for(owned) is None


@pytest.mark.parametrize(
    ("events", "affected", "not_affected"),
    [
        ([{"introduced": "1.0"}, {"fixed": "2.0"}], ["1.0", "1.5"], ["0.9", "2.0", "3.0"]),
        ([{"introduced": "0"}, {"last_affected": "2.0"}], ["0.1", "2.0"], ["2.0.1"]),
        ([{"introduced": "1.0"}, {"limit": "1.5"}], ["1.0", "1.4.9"], ["1.5", "2.0", "0.5"]),
        ([{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}], ["1.1", "2.0", "9.0"],
         ["1.2", "1.9"]),
        # Bitnami-style adjacent ranges: "fixed X" then "introduced X" keep X affected (record order)
        ([{"introduced": "4.0.0"}, {"fixed": "4.0.1"}, {"introduced": "4.0.1"}, {"fixed": "4.0.2"}],
         ["4.0.0", "4.0.1"], ["4.0.2"]),
    ],
)  # fmt: skip
def test_range_events(events, affected, not_affected) -> None:
    entry = {
        "package": {"ecosystem": "PyPI", "name": "x"},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
    }
    assert [v for v in affected if evaluate(entry, "PyPI", v) is None] == []
    assert [v for v in not_affected if evaluate(entry, "PyPI", v) is not None] == []


def test_aliases_merge_records_into_one_finding(tmp_path: Path) -> None:
    base = json.loads((FIXTURES / "rustsec" / "RUSTSEC-2024-0445.json").read_text())
    ghsa = {**base, "id": "GHSA-hxf5-99xg-86hw", "aliases": ["CVE-2024-51756"], "severity": [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}  # fmt: skip
    (tmp_path / "ghsa.json").write_text(json.dumps(ghsa))
    import_paths(tmp_path / "v.db", [FIXTURES / "rustsec", tmp_path / "ghsa.json"])
    with VulnDB.open(tmp_path / "v.db") as opened:
        [finding] = Matcher(opened).match([pkg("cap-primitives", "3.0.0", "cargo")]).findings
    assert finding.id == "GHSA-hxf5-99xg-86hw"
    assert set(finding.aliases) == {"CVE-2024-51756", "RUSTSEC-2024-0445"}
    assert {e.record_id for e in finding.evidence} == {"GHSA-hxf5-99xg-86hw", "RUSTSEC-2024-0445"}
    assert finding.rating.severity is Severity.CRITICAL  # the worst of the merged records


def test_upstream_ids_merge_language_records_and_never_make_notices(tmp_path: Path) -> None:
    """OSV 1.7 ``upstream``: a record derived from CVE-2024-51756 is that vulnerability. For a
    language package it merges with its twin (notices, which become advisories, are a distro
    practice: see tests/test_distro_advisories.py)."""
    base = json.loads((FIXTURES / "rustsec" / "RUSTSEC-2024-0445.json").read_text())
    derived = {**base, "id": "GHSA-hxf5-99xg-86hw", "aliases": [], "upstream": ["CVE-2024-51756"]}
    (tmp_path / "ghsa.json").write_text(json.dumps(derived))
    import_paths(tmp_path / "v.db", [FIXTURES / "rustsec", tmp_path / "ghsa.json"])
    with VulnDB.open(tmp_path / "v.db") as opened:
        [finding] = Matcher(opened).match([pkg("cap-primitives", "3.0.0", "cargo")]).findings
    assert set(finding.aliases) == {"CVE-2024-51756", "RUSTSEC-2024-0445"} and finding.advisories == ()
    assert {e.record_id for e in finding.evidence} == {"GHSA-hxf5-99xg-86hw", "RUSTSEC-2024-0445"}


def test_unparsable_versions_are_reported_not_passed(db) -> None:
    result = Matcher(db).match([pkg("AccessControl", "not-a-version", "pypi")])
    assert result.findings == ()
    [item] = result.unverified
    assert item.record_id == "PYSEC-2021-335" and "invalid pep440 version" in item.reason


def test_bitnami_severities_are_scored_from_their_vectors() -> None:
    """Every Bitnami CVSS vector scores, and its band agrees with the record's own severity word."""
    data = SHARED / "osv-bitnami" / "data"
    if not data.is_dir():
        pytest.fail(f"{data} is missing: tests/fixtures/osv-upstream is required")
    agree = disagree = 0
    for path in sorted(data.rglob("*.json")):
        record = json.loads(path.read_text())
        word = str(record.get("database_specific", {}).get("severity", "")).upper()
        for entry in record.get("affected", []):
            for item in entry.get("severity", []):
                rating = score_vector(item["type"], item["score"])
                assert rating is not None, (path.name, item)
                if word in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
                    if rating.severity.name == word:
                        agree += 1
                    else:
                        disagree += 1
    assert agree > 250 and disagree / (agree + disagree) < 0.02


def test_severity_fallbacks() -> None:
    assert rate({"database_specific": {"severity": "Moderate"}}).severity is Severity.MEDIUM
    assert rate({"severity": [{"type": "Ubuntu", "score": "high"}]}).severity is Severity.HIGH
    assert rate({"summary": "Important: kernel update"}).severity is Severity.HIGH
    assert rate({}).severity is Severity.UNKNOWN
    assert score_vector("CVSS_V3", "CVSS:3.1/AV:X") is None
    entry = {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}]}
    record = {"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}
    assert rate(record, entry).score == 5.3  # the affected entry's own vector comes first


def _record(modified: str, fixed: str, *, withdrawn: str = "") -> dict:
    record = {
        "id": "PYSEC-2099-7", "modified": modified,
        "affected": [{"package": {"ecosystem": "PyPI", "name": "foo"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
    }  # fmt: skip
    return {**record, "withdrawn": withdrawn} if withdrawn else record


def test_imports_into_an_existing_database_recompile_what_they_touch(tmp_path: Path) -> None:
    """Matching reads the compiled packages table: a later copy, a withdrawal and a new package
    imported into an existing file must all show, and untouched packages must stay matched."""
    db_path = tmp_path / "v.db"
    import_paths(db_path, [FIXTURES / "rustsec"])
    steps = [
        (_record("2024-01-01T00:00:00Z", "2.0"), ["foo"]),  # 2.5 is past the fix
        (_record("2024-02-01T00:00:00Z", "3.0"), ["foo", "foo"]),  # the later copy moves the fix
        (_record("2024-03-01T00:00:00Z", "3.0", withdrawn="2024-03-01T00:00:00Z"), []),
    ]
    for number, (record, _) in enumerate(steps):
        (tmp_path / f"{number}.json").write_text(json.dumps(record))
    for number, (_, expected) in enumerate(steps):
        import_paths(db_path, [tmp_path / f"{number}.json"])
        with VulnDB.open(db_path) as opened:
            found = Matcher(opened).match(
                [
                    pkg("foo", "1.0", "pypi"),
                    pkg("foo", "2.5", "pypi"),
                    pkg("cap-primitives", "3.4.0", "cargo"),
                ]
            )
        assert sorted(f.package.name for f in found.findings) == sorted([*expected, "cap-primitives"])


def _findings_json(result) -> list:
    return [
        (f.package.purl, f.id, f.aliases, f.fixed_versions, f.rating, [e.to_json() for e in f.evidence])
        for f in result.findings
    ] + [(u.package.purl, u.record_id, u.reason) for u in result.unverified]


def test_ranks_from_other_version_schemes_are_not_trusted(tmp_path: Path) -> None:
    """The compiled ranks come from the importing gate's version schemes. When the stored scheme
    fingerprint differs, the matcher compiles again from the stored entries: here the compiled
    rows are even replaced by nonsense, and every finding must still be the same."""
    db_path = tmp_path / "v.db"
    import_paths(db_path, [FIXTURES])
    packages = [
        pkg("libc6", "2.36-9+deb12u2", "deb", ecosystem="Debian:12", source="glibc"),
        pkg("libcrypto3", "3.1.3-r0", "apk", ecosystem="Alpine:v3.18", source="openssl"),
        pkg("openssl-libs", "1:3.0.1-38.el9_0", "rpm", ecosystem="AlmaLinux:9"),
        pkg("github.com/gin-gonic/gin", "v1.5.0", "golang"),
        pkg("cap-primitives", "3.4.0", "cargo"),
        pkg("activemq", "5.15.12", "bitnami", ecosystem="Bitnami"),
        pkg("AccessControl", "4.2", "pypi"),
        pkg("AccessControl", "not-a-version", "pypi"),
    ]
    with VulnDB.open(db_path) as opened:
        assert opened.ranks_are_current
        expected = _findings_json(Matcher(opened).match(packages))
    assert len(expected) == 8  # seven findings and one unverifiable version
    nonsense = json.dumps({"rungs": [], "affected": [], "listed": [], "check": []})
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE meta SET value = 'other' WHERE key = 'scheme_fingerprint'")
        connection.execute("UPDATE packages SET summary = ?, entries = '{}'", (nonsense,))
    with VulnDB.open(db_path) as opened:
        assert not opened.ranks_are_current
        assert _findings_json(Matcher(opened).match(packages)) == expected
    import_paths(db_path, [FIXTURES / "go"])  # an import recompiles every package, not only its own
    with VulnDB.open(db_path) as opened:
        assert opened.ranks_are_current
        assert _findings_json(Matcher(opened).match(packages)) == expected
