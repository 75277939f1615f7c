"""CISA's Known Exploited Vulnerabilities catalog: import, validation, matching through aliases,
the report and the schema upgrade (`gate db update` fetching it: tests/test_vulndb_update.py).

Data: the real catalog (tests/fixtures/kev-cisa, CC0, 1,404 entries) and real PyPI records
(tests/fixtures/osv-upstream/osv-pypi). PYSEC-2022-236 (pyspark) has id PYSEC and aliases
CVE-2022-33891 (listed by CISA on 2023-03-07) and a GHSA id: it is known-exploited only through
an alias.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from gate.match import Matcher
from gate.model import Package
from gate.vulndb import SCHEMA_VERSION, VulnDB, VulnDBError, import_paths
from gate.vulndb.kev import KnownExploited, load_kev, parse_kev
from tests.test_cli import run_gate
from tests.test_scan import _sbom, _validate_against_documented_schema

KEV = Path(__file__).parent / "fixtures" / "kev-cisa" / "known_exploited_vulnerabilities.json"
PYSPARK = Path(__file__).parent / "fixtures" / "osv-upstream" / "osv-pypi" / "vulns" / "pyspark"
SPARK_KEV = KnownExploited(
    "CVE-2022-33891", "2023-03-07", "2023-03-28", "Unknown", "Apache Spark Command Injection Vulnerability"
)


def _pyspark(version: str) -> Package:
    return Package("pyspark", version, "pypi", f"pkg:pypi/pyspark@{version}", "test", ())


def _findings(db_path: Path, version: str) -> dict[str, KnownExploited | None]:
    with VulnDB.open(db_path) as db:
        return {
            finding.id: finding.known_exploited for finding in Matcher(db).match([_pyspark(version)]).findings
        }


def test_the_real_catalog_parses_whole() -> None:
    catalog = load_kev(KEV)
    assert catalog.version == "2025.08.25" and len(catalog.entries) == 1404
    assert {entry.ransomware for entry in catalog.entries} == {"Known", "Unknown"}
    assert SPARK_KEV in catalog.entries


def test_findings_are_known_exploited_through_an_alias(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    import_paths(db_path, [PYSPARK])
    before = _findings(db_path, "3.1.2")
    assert before["PYSEC-2022-236"] is None  # no catalog yet: nothing can be marked
    report = import_paths(db_path, [], kev=KEV)
    assert (report.kev_version, report.kev_entries) == ("2025.08.25", 1404)
    after = _findings(db_path, "3.1.2")
    assert after.keys() == before.keys() and len(after) > 1
    assert after["PYSEC-2022-236"] == SPARK_KEV
    # the other pyspark advisories matching 3.1.2 are not in the catalog
    assert [record for record, entry in after.items() if entry is not None] == ["PYSEC-2022-236"]
    assert "PYSEC-2022-236" not in _findings(db_path, "3.2.2")  # the fixed version: no finding at all


def test_known_exploited_in_the_json_report_and_the_table(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    result = run_gate("db", "import", "--db", str(db_path), str(PYSPARK), "--kev", str(KEV))
    assert result.returncode == 0, result.stderr
    assert "KEV catalog 2025.08.25: 1404 known exploited vulnerabilities" in result.stdout
    sbom = _sbom(tmp_path, [_pyspark("3.1.2")])
    scanned = run_gate("scan", "--sbom", str(sbom), "--db", str(db_path), "--format", "json")
    assert scanned.returncode == 0, scanned.stderr
    report = json.loads(scanned.stdout)
    _validate_against_documented_schema(report)
    assert report["database"]["kev_version"] == "2025.08.25"
    assert report["summary"]["known_exploited"] == 1
    by_id = {finding["id"]: finding for finding in report["findings"]}
    assert by_id["PYSEC-2022-236"]["known_exploited"] == {
        "cve": "CVE-2022-33891", "date_added": "2023-03-07", "due_date": "2023-03-28",
        "ransomware": "Unknown", "vulnerability_name": "Apache Spark Command Injection Vulnerability",
    }  # fmt: skip
    assert all(f["known_exploited"] is None for key, f in by_id.items() if key != "PYSEC-2022-236")
    table = run_gate("scan", "--sbom", str(sbom), "--db", str(db_path))
    [row] = [line for line in table.stdout.splitlines() if "PYSEC-2022-236" in line]
    assert "KEV 2023-03-07" in row
    status = json.loads(run_gate("db", "status", "--db", str(db_path), "--format", "json").stdout)
    assert (status["kev_version"], status["kev_entries"]) == ("2025.08.25", 1404)


def test_the_catalog_is_part_of_the_database_identity(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    import_paths(db_path, [PYSPARK])
    with VulnDB.open(db_path) as db:
        without = db.digest
    import_paths(db_path, [], kev=KEV)
    with VulnDB.open(db_path) as db:
        with_kev = db.digest
    smaller = json.loads(KEV.read_bytes())
    smaller["vulnerabilities"] = smaller["vulnerabilities"][1:]
    smaller["count"] -= 1
    (tmp_path / "kev.json").write_text(json.dumps(smaller))
    import_paths(db_path, [], kev=tmp_path / "kev.json")  # a catalog replaces the stored one whole
    with VulnDB.open(db_path) as db:
        assert db.kev_summary() == ("2025.08.25", 1403)
        assert len({without, with_kev, db.digest}) == 3


def _mutated(change) -> bytes:
    data = json.loads(KEV.read_bytes())
    change(data)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[1, 2]", "the top level is not an object"),
        (b"{not json", "not valid JSON"),
        (_mutated(lambda d: d.pop("vulnerabilities")), "vulnerabilities is missing or not a list"),
        (_mutated(lambda d: d["vulnerabilities"][3].pop("cveID")), "vulnerabilities[3].cveID: missing"),
        (_mutated(lambda d: d["vulnerabilities"][0].update(cveID="GHSA-1")), "is not a CVE id"),
        (_mutated(lambda d: d["vulnerabilities"][7].update(dateAdded="08/25/2025")), "[7].dateAdded: '08/25"),
        (_mutated(lambda d: d["vulnerabilities"][1].update(dueDate=20250825)), "[1].dueDate: not a string"),
        (_mutated(lambda d: d.update(count=5)), "count: 5 does not match the 1404"),
        (_mutated(lambda d: d["vulnerabilities"].__setitem__(2, "CVE-2020-1")), "vulnerabilities[2]: not an"),
    ],
)
def test_a_kev_file_of_the_wrong_shape_is_refused(content: bytes, message: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad-kev.json"
    bad.write_bytes(content)
    with pytest.raises(VulnDBError, match=r"bad-kev\.json: ") as error:
        parse_kev(content, str(bad))
    assert message in str(error.value)
    db_path = tmp_path / "v.db"
    import_paths(db_path, [PYSPARK], kev=KEV)
    before = db_path.read_bytes()
    result = run_gate("db", "import", "--db", str(db_path), "--kev", str(bad))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"gate: error: {bad}: ") and message in result.stderr
    assert db_path.read_bytes() == before  # nothing imported


def test_import_needs_something_to_import(tmp_path: Path) -> None:
    result = run_gate("db", "import", "--db", str(tmp_path / "v.db"))
    assert result.returncode == 1 and "nothing to import" in result.stderr
    assert not (tmp_path / "v.db").exists()


def test_a_schema_2_database_is_upgraded_in_place(tmp_path: Path) -> None:
    """Schema 3 added the ``kev`` table and ``upstream`` in the stored facts. A schema 2 file
    (made here by undoing both) is refused for reading with a hint, and upgraded by an import."""
    ubuntu = Path(__file__).parent / "fixtures" / "osv-ubuntu" / "osv" / "cve" / "2024"
    fresh = tmp_path / "fresh.db"
    import_paths(fresh, [PYSPARK, ubuntu], kev=KEV)
    old = tmp_path / "old.db"
    import_paths(old, [PYSPARK, ubuntu])
    with sqlite3.connect(old) as connection:
        connection.execute("DROP TABLE kev")
        for record_id, facts in connection.execute("SELECT id, facts FROM records").fetchall():
            stripped = {key: value for key, value in json.loads(facts).items() if key != "upstream"}
            connection.execute("UPDATE records SET facts = ? WHERE id = ?", (json.dumps(stripped), record_id))
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(VulnDBError, match=f"schema version 2, this gate reads {SCHEMA_VERSION}") as error:
        VulnDB.open(old)
    assert "`gate db import` upgrades a version 2 database in place" in error.value.diagnostics()
    import_paths(old, [], kev=KEV)
    with VulnDB.open(old) as upgraded, VulnDB.open(fresh) as rebuilt:
        assert upgraded.digest == rebuilt.digest
        assert upgraded.facts_of(["UBUNTU-CVE-2024-0727"]) == rebuilt.facts_of(["UBUNTU-CVE-2024-0727"])
        assert rebuilt.facts_of(["UBUNTU-CVE-2024-0727"])["UBUNTU-CVE-2024-0727"][1]["upstream"] == [
            "CVE-2024-0727"
        ]
