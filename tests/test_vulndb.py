"""The OSV store and its import: formats, later-wins, withdrawn, bad input, schema agreement."""

from __future__ import annotations

import json
import shutil
import sqlite3
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gate.vulndb import SCHEMA_VERSION, VulnDB, VulnDBError, import_paths
from gate.vulndb.osv import InvalidRecord, parse_record
from gate.vulndb.status import check_fresh, db_status, parse_age

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
SHARED = Path(__file__).parent / "fixtures" / "osv-upstream"  # real records, see its NOTICE.md
OSV_SCHEMA = SHARED / "osv-schema" / "schema.json"


def _zip(path: Path, files: list[Path]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.write(file, file.name)
    return path


def _record(record_id: str, modified: str, *, fixed: str = "2.0", withdrawn: str | None = None) -> dict:
    record = {
        "id": record_id,
        "modified": modified,
        "aliases": ["CVE-2099-0001"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Foo_Bar.baz"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }
    if withdrawn:
        record["withdrawn"] = withdrawn
    return record


def _write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_imports_json_yaml_directories_and_zips(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "all.zip", sorted((FIXTURES / "go").glob("*.json")))
    db_path = tmp_path / "v.db"
    report = import_paths(
        db_path, [FIXTURES / "pypi", FIXTURES / "rustsec" / "RUSTSEC-2016-0001.json", archive]
    )
    # pypi/: PYSEC-2021-335 live, PYSEC-2023-73 withdrawn; go zip: GO-2020-0001 live, GO-2024-2442 withdrawn
    assert (report.added, report.withdrawn, report.invalid) == (3, 2, [])
    with VulnDB.open(db_path) as db:
        assert db.record_counts() == (3, 2)
        assert db.counts_by_ecosystem() == {"Go": 1, "PyPI": 1, "crates.io": 1}
        [candidate] = db.candidates("PyPI", "AccessControl")  # PEP 503: stored as accesscontrol
        assert candidate.record_id == "PYSEC-2021-335"
        assert candidate.entry["versions"][:2] == ["4.0", "4.1"]  # YAML scalars stay strings
        assert db.candidates("Go", "github.com/gin-gonic/gin")[0].record_id == "GO-2020-0001"
        assert db.candidates("PyPI", "redis") == []  # withdrawn: never matched
        assert db.record("PYSEC-2023-73") is None
        sources = [source.location for source in db.sources()]
        assert str(archive.resolve()) in sources


def test_raw_record_is_kept_for_citation(tmp_path: Path) -> None:
    source = FIXTURES / "rustsec" / "RUSTSEC-2024-0445.json"
    import_paths(tmp_path / "v.db", [source])
    with VulnDB.open(tmp_path / "v.db") as db:
        stored = db.record("RUSTSEC-2024-0445")
    assert stored is not None
    assert stored.raw == json.loads(source.read_text())
    assert stored.modified.startswith(stored.raw["modified"][:19]) and stored.modified.endswith("Z")


def test_later_modified_wins_in_either_order(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.json", _record("PYSEC-2099-1", "2024-01-01T00:00:00Z", fixed="2.0"))
    new = _write(tmp_path / "new.json", _record("PYSEC-2099-1", "2024-01-01T00:00:00.5Z", fixed="3.0"))
    for order, name in (([old, new], "a.db"), ([new, old], "b.db")):
        report = import_paths(tmp_path / name, order)
        with VulnDB.open(tmp_path / name) as db:
            [candidate] = db.candidates("PyPI", "foo-bar-baz")
            assert candidate.entry["ranges"][0]["events"][1] == {"fixed": "3.0"}
        assert report.added == 1 and report.updated + report.unchanged == 1


def test_withdrawal_removes_a_record_and_older_copies_do_not_return(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    live = _write(tmp_path / "live.json", _record("PYSEC-2099-2", "2024-01-01T00:00:00Z"))
    gone = _write(
        tmp_path / "gone.json",
        _record("PYSEC-2099-2", "2024-02-01T00:00:00Z", withdrawn="2024-02-01T00:00:00Z"),
    )
    import_paths(db_path, [live])
    import_paths(db_path, [gone])
    import_paths(db_path, [live])  # an older mirror replays the live copy
    with VulnDB.open(db_path) as db:
        assert db.candidates("PyPI", "foo-bar-baz") == []
        assert db.record_counts() == (0, 1)


def test_digest_is_independent_of_import_order_and_changes_with_content(tmp_path: Path) -> None:
    files = [FIXTURES / "go", FIXTURES / "rustsec", FIXTURES / "pypi"]
    import_paths(tmp_path / "a.db", files)
    import_paths(tmp_path / "b.db", list(reversed(files)))
    import_paths(tmp_path / "c.db", files[:2])
    with (
        VulnDB.open(tmp_path / "a.db") as a,
        VulnDB.open(tmp_path / "b.db") as b,
        VulnDB.open(tmp_path / "c.db") as c,
    ):
        assert a.digest == b.digest != c.digest
        assert a.digest.startswith("sha256:") and len(a.digest) == 71


def test_invalid_records_are_reported_and_counted_and_import_continues(tmp_path: Path) -> None:
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"id": "X-1", ')
    unknown = _write(tmp_path / "unknown.json", {**_record("X-2", "2024-01-01T00:00:00Z")})
    unknown_data = json.loads(unknown.read_text())
    unknown_data["affected"][0]["package"]["ecosystem"] = "NoSuchEcosystem"
    unknown.write_text(json.dumps(unknown_data))
    bad_version = _write(
        tmp_path / "badversion.json", _record("X-3", "2024-01-01T00:00:00Z", fixed="not a version!")
    )
    no_modified = tmp_path / "nomodified.json"
    no_modified.write_text(json.dumps({"id": "X-4", "affected": []}))
    schema_dir = FIXTURES / "schema"
    report = import_paths(tmp_path / "v.db", [bad_json, unknown, bad_version, no_modified, schema_dir])
    reasons = dict(report.invalid)
    assert "not valid JSON" in reasons[str(bad_json)]
    assert "unknown ecosystem 'NoSuchEcosystem'" in reasons[str(unknown)]
    assert "modified" in reasons[str(no_modified)]
    assert "no introduced event" in reasons[str(schema_dir / "nointroduced-CVE-2023-41045.json")]
    assert len(report.invalid) == 4
    warnings = dict(report.warnings)
    # Kept, with a warning: an unparsable bound makes the matcher report "unverified", not pass.
    assert "'not a version!' is not a valid PyPI version" in warnings["X-3"]
    # osv-linter's distinct-events rule is a lint, not a schema rule; real records break it on purpose.
    assert "both introduces and ends" in warnings["CVE-2018-5407"]
    # The nopackage- fixture names a PyPI project that does not exist; only a registry lookup can
    # tell, which an offline import cannot do, so it imports like its valid twin.
    assert report.added == 4  # X-3, CVE-2023-41045, CVE-2018-5407 (both copies merge), GHSA-9v2f...


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(id=""), "missing or empty id"),
        (lambda r: r.update(modified="yesterday"), "RFC 3339"),
        (lambda r: r["affected"][0]["ranges"][0].update(type="SEMVERISH"), "unknown type"),
        (
            lambda r: r["affected"][0]["ranges"][0]["events"].append({"fixed": "3", "limit": "4"}),
            "exactly one",
        ),
        (lambda r: r["affected"][0]["ranges"][0]["events"].append({"last_affected": "1.5"}), "mixes fixed"),
        (lambda r: r["affected"][0]["package"].pop("name"), "needs an ecosystem and a name"),
        (lambda r: r.update(aliases="CVE-1"), "aliases is not a list"),
        (lambda r: r["affected"][0].update(versions=[1, 2]), "versions is not a list of strings"),
        (
            lambda r: r["affected"][0]["ranges"].append({"type": "GIT", "events": [{"introduced": "0"}]}),
            "repo",
        ),
    ],
)
def test_schema_rules(mutate, message: str) -> None:
    record = _record("PYSEC-2099-3", "2024-01-01T00:00:00Z")
    mutate(record)
    with pytest.raises(InvalidRecord, match=message):
        parse_record(record)


def test_validator_agrees_with_the_osv_json_schema() -> None:
    """Every record the official JSON schema rejects, gate rejects (and vice versa)."""
    if not OSV_SCHEMA.exists():
        pytest.fail(f"OSV schema not found at {OSV_SCHEMA}: tests/fixtures/osv-upstream is required")
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(OSV_SCHEMA.read_text()))
    files = sorted((SHARED / "osv-schema" / "tools").rglob("*.json"))
    files += sorted((SHARED / "osv-go" / "osv").glob("*.json"))[::40]
    files += sorted((SHARED / "osv-bitnami" / "data").rglob("*.json"))[::4]
    files += sorted((SHARED / "osv-almalinux" / "advisories").rglob("*.json"))
    checked = 0
    for file in files:
        data = json.loads(file.read_text())
        if "id" not in data:  # GHSA-format inputs of the converter tests, not OSV
            continue
        schema_ok = validator.is_valid(data)
        try:
            parse_record(data)
            gate_ok = True
        except InvalidRecord:
            gate_ok = False
        assert schema_ok == gate_ok, file
        checked += 1
    assert checked > 200


def test_truncated_zip_fails_and_leaves_the_database_untouched(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    import_paths(db_path, [FIXTURES / "pypi"])
    with VulnDB.open(db_path) as db:
        before = (db.digest, db.record_counts())
    archive = _zip(
        tmp_path / "all.zip",
        [*sorted((FIXTURES / "go").glob("*.json")), FIXTURES / "bitnami" / "BIT-activemq-2020-11998.json"],
    )
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(VulnDBError, match="not a readable zip archive"):
        import_paths(db_path, [FIXTURES / "rustsec", truncated])
    with VulnDB.open(db_path) as db:
        assert (db.digest, db.record_counts()) == before  # rustsec, imported first, rolled back too


def test_other_schema_versions_and_non_databases_are_refused(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    import_paths(db_path, [FIXTURES / "go"])
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(VulnDBError, match=f"schema version 99, this gate reads {SCHEMA_VERSION}"):
        VulnDB.open(db_path)
    not_db = tmp_path / "x.db"
    not_db.write_text("hello")
    with pytest.raises(VulnDBError, match="not a gate vulnerability database"):
        VulnDB.open(not_db)
    with pytest.raises(VulnDBError, match="no vulnerability database"):
        VulnDB.open(tmp_path / "absent.db")


def test_a_schema_1_database_must_be_rebuilt(tmp_path: Path) -> None:
    """Schema 1 had no compiled ``packages`` table: it is refused with a rebuild hint, not matched."""
    db_path = tmp_path / "v.db"
    import_paths(db_path, [FIXTURES / "go"])
    with sqlite3.connect(db_path) as connection:
        connection.execute("DROP TABLE packages")
        connection.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(VulnDBError, match=f"schema version 1, this gate reads {SCHEMA_VERSION}") as error:
        VulnDB.open(db_path)
    assert "rebuild it with `gate db update` or `gate db import`" in error.value.diagnostics()


def test_status_and_staleness(tmp_path: Path) -> None:
    db_path = tmp_path / "v.db"
    import_paths(db_path, [FIXTURES / "go", FIXTURES / "almalinux"])
    with VulnDB.open(db_path) as db:
        status = db_status(db)
        assert status.records == 2 and status.withdrawn == 1
        assert status.ecosystems == {"AlmaLinux:9": 1, "Go": 1}
        check_fresh(db, "5d", allow_stale=False)
        later = datetime.now(UTC) + timedelta(days=6)
        with pytest.raises(VulnDBError, match="more than --max-db-age 5d"):
            check_fresh(db, "5d", allow_stale=False, now=later)
        check_fresh(db, "5d", allow_stale=True, now=later)
    assert parse_age("12h") == timedelta(hours=12) and parse_age("2") == timedelta(days=2)
    with pytest.raises(VulnDBError, match="cannot read age"):
        parse_age("soon")


def test_import_into_a_copy_keeps_working(tmp_path: Path) -> None:
    """The DB is one self-contained file: copying it is a backup (the update path relies on this)."""
    import_paths(tmp_path / "v.db", [FIXTURES / "go"])
    shutil.copy(tmp_path / "v.db", tmp_path / "copy.db")
    with VulnDB.open(tmp_path / "copy.db") as db:
        assert db.record_counts() == (1, 1)


def test_packages_compiled_in_worker_processes_equal_the_serial_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = [FIXTURES / "go", FIXTURES / "rustsec", FIXTURES / "pypi", FIXTURES / "almalinux"]
    import_paths(tmp_path / "serial.db", sources, workers=1)
    monkeypatch.setattr("gate.vulndb.store._POOL_MINIMUM", 1)
    import_paths(tmp_path / "pool.db", sources, workers=2)
    tables = []
    for name in ("serial.db", "pool.db"):
        with sqlite3.connect(tmp_path / name) as connection:
            tables.append(connection.execute("SELECT * FROM packages ORDER BY ecosystem, name").fetchall())
    assert len(tables[0]) > 3 and tables[0] == tables[1]
