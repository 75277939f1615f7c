"""`gate scan` and `gate db import|status` end to end, through the CLI as a subprocess."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gate.image.build import LayerBuilder, build_image
from gate.image.layout import OciLayout
from gate.model import Catalog, Distro, Package
from gate.sbom import SbomFormat, encode
from tests.test_cli import run_gate

FIXTURES = Path(__file__).parent / "fixtures" / "osv"
SHARED = Path(__file__).parent / "fixtures" / "osv-upstream"  # real records, see its NOTICE.md
DPKG_STATUS = b"""Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u2
Description: GNU C Library: Shared libraries

Package: libcurl4
Status: install ok installed
Architecture: amd64
Source: curl
Version: 7.88.1-10+deb12u4
Description: easy-to-use client-side URL transfer library

"""
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scan") / "v.db"
    result = run_gate("db", "import", "--db", str(path), str(FIXTURES / "debian"), str(FIXTURES / "rustsec"),
                      str(FIXTURES / "pypi"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "5 added, 0 updated, 0 unchanged, 1 withdrawn, 0 invalid" in result.stdout
    return path


def _sbom(tmp_path: Path, packages: list[Package], distro: Distro | None = None) -> Path:
    path = tmp_path / "sbom.json"
    path.write_bytes(encode(Catalog(tuple(packages), distro), SbomFormat("cyclonedx-json")))
    return path


def _package(name: str, version: str, type_: str, **extra: Any) -> Package:
    return Package(name, version, type_, f"pkg:{type_}/{name}@{version}", "test", (), **extra)


def test_scan_sbom_json_report(db_path: Path, tmp_path: Path) -> None:
    packages = [
        _package("cap-primitives", "3.0.0", "cargo"),
        _package("openssl", "0.10.0", "cargo"),
        _package("accesscontrol", "5.1", "pypi"),
    ]
    sbom = _sbom(tmp_path, packages)
    result = run_gate("scan", "--sbom", str(sbom), "--db", str(db_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    with sqlite3.connect(db_path) as connection:
        digest = connection.execute("SELECT value FROM meta WHERE key = 'digest'").fetchone()[0]
    assert report["schema_version"] == "1" and report["database"]["digest"] == digest
    assert report["summary"]["packages"] == 3 and report["summary"]["findings"] == 2
    by_id = {finding["id"]: finding for finding in report["findings"]}
    cap = by_id["RUSTSEC-2024-0445"]
    assert cap["package"]["purl"] == "pkg:cargo/cap-primitives@3.0.0"
    assert cap["aliases"] == ["CVE-2024-51756", "GHSA-hxf5-99xg-86hw"]
    vector = "CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N"
    assert cap["severity"] == {"level": "low", "source": "CVSS_V4", "score": 2.3, "vector": vector}
    assert cap["fixed_versions"] == ["3.4.1"] and cap["fix_available"] is True
    assert cap["matches"][0]["record"] == "RUSTSEC-2024-0445"
    assert cap["matches"][0]["matched"]["range"]["events"] == [{"introduced": "0.0.0-0"}, {"fixed": "3.4.1"}]
    access = by_id["PYSEC-2021-335"]
    assert access["matches"][0]["matched"]["range"]["type"] == "ECOSYSTEM"
    assert access["fixed_versions"] == ["5.2"]
    _validate_against_documented_schema(report)


def _validate_against_documented_schema(report: dict) -> None:
    from jsonschema import Draft202012Validator

    schema = json.loads((Path(__file__).parents[1] / "docs" / "scan-report.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    errors = list(Draft202012Validator(schema).iter_errors(report))
    assert errors == [], [error.message for error in errors[:3]]


def test_fail_on_closes_the_gate_with_exit_2(db_path: Path, tmp_path: Path) -> None:
    sbom = _sbom(tmp_path, [_package("openssl", "0.8.0", "cargo")])  # RUSTSEC-2016-0001: CVSS 8.1, high
    args = ("scan", "--sbom", str(sbom), "--db", str(db_path))
    closed = run_gate(*args, "--fail-on", "high")
    assert closed.returncode == 2
    assert "gate: closed: policy fail-on-high blocked by vulnerabilities (1)" in closed.stderr
    assert "RUSTSEC-2016-0001" in closed.stdout
    assert run_gate(*args, "--fail-on", "critical").returncode == 0
    clean = _sbom(tmp_path, [_package("openssl", "0.9.0", "cargo")])
    assert run_gate("scan", "--sbom", str(clean), "--db", str(db_path), "--fail-on", "low").returncode == 0
    bad = run_gate(*args, "--fail-on", "severe")
    assert bad.returncode == 1
    assert "--fail-on: 'severe' is not one of critical, high, medium, low, info" in bad.stderr


def test_unrated_findings_close_the_gate(db_path: Path, tmp_path: Path) -> None:
    sbom = _sbom(tmp_path, [_package("accesscontrol", "4.1", "pypi")])  # PYSEC record: no severity at all
    result = run_gate("scan", "--sbom", str(sbom), "--db", str(db_path), "--fail-on", "critical")
    assert result.returncode == 2


def test_scan_image_matches_debian_by_source_package(db_path: Path, tmp_path: Path) -> None:
    layer = (
        LayerBuilder()
        .add_file("etc/os-release", OS_RELEASE)
        .add_file("var/lib/dpkg/status", DPKG_STATUS)
        .build()
    )
    build_image([layer]).push(OciLayout.create(tmp_path / "layout"), tag="v1")
    output = tmp_path / "report.json"
    result = run_gate("scan", f"oci:{tmp_path / 'layout'}:v1", "--db", str(db_path), "--format", "json",
                      "--output", str(output))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(output.read_text())
    assert report["target"]["kind"] == "image" and report["target"]["digest"].startswith("sha256:")
    [finding] = report["findings"]
    assert (finding["id"], finding["package"]["name"]) == ("DSA-5514-1", "libc6")
    assert finding["package"]["source_name"] == "glibc"
    assert finding["related"] == ["CVE-2023-4911"]
    table = run_gate("scan", f"oci:{tmp_path / 'layout'}:v1", "--db", str(db_path))
    assert (
        "DSA-5514-1" in table.stdout and "2.36-9+deb12u3" in table.stdout and "DSA-5523-1" not in table.stdout
    )


def test_stale_database_is_an_error_unless_allowed(db_path: Path, tmp_path: Path) -> None:
    stale = tmp_path / "stale.db"
    stale.write_bytes(db_path.read_bytes())
    with sqlite3.connect(stale) as connection:
        connection.execute("UPDATE meta SET value = '2020-01-01T00:00:00Z' WHERE key = 'built_at'")
    sbom = _sbom(tmp_path, [_package("openssl", "0.8.0", "cargo")])
    result = run_gate("scan", "--sbom", str(sbom), "--db", str(stale), "--fail-on", "high")
    assert result.returncode == 1 and "more than --max-db-age 5d" in result.stderr
    assert "Traceback" not in result.stderr
    allowed = run_gate(
        "scan", "--sbom", str(sbom), "--db", str(stale), "--allow-stale-db", "--fail-on", "high"
    )
    assert allowed.returncode == 2
    status = run_gate("db", "status", "--db", str(stale), "--format", "json")
    assert status.returncode == 1 and json.loads(status.stdout)["built_at"] == "2020-01-01T00:00:00Z"
    ok = run_gate("db", "status", "--db", str(stale), "--max-db-age", "1000w", "--format", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ecosystems"]["Debian:12"] == 2


def test_db_path_from_environment_and_missing_db(tmp_path: Path) -> None:
    sbom = _sbom(tmp_path, [])
    missing = run_gate("scan", "--sbom", str(sbom), env={"GATE_DB": str(tmp_path / "none.db")})
    assert missing.returncode == 1
    assert f"no vulnerability database at {tmp_path / 'none.db'}" in missing.stderr
    assert "gate db update" in missing.stderr


def test_db_import_reports_invalid_records_per_record(tmp_path: Path) -> None:
    result = run_gate(
        "db", "import", "--db", str(tmp_path / "v.db"), str(FIXTURES / "schema"), "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [item["source"].rsplit("/", 1)[1] for item in report["invalid"]] == [
        "nointroduced-CVE-2023-41045.json"
    ]
    assert report["added"] == 3


def test_scan_needs_exactly_one_target(db_path: Path) -> None:
    result = run_gate("scan", "--db", str(db_path))
    assert result.returncode == 1 and "exactly one of IMAGE or --sbom" in result.stderr


def test_scan_image_runs_all_three_scanners_by_default(tmp_path: Path) -> None:
    """The sample image: Flask 2.0.0 (PYSEC-2023-62), no secrets, an old build date (config)."""
    from gate.sample import ADVISORIES, write_sample_layout

    image = write_sample_layout(tmp_path / "sample")
    db = tmp_path / "sample.db"
    assert run_gate("db", "import", "--db", str(db), str(ADVISORIES)).returncode == 0
    result = run_gate("scan", image, "--db", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [f["id"] for f in report["findings"]] == ["PYSEC-2023-62"]
    assert report["secrets"] == []
    assert "image-too-old" in {f["ruleId"] for f in report["config"]}
    assert report["analysis"]["problems"] == []
    _validate_against_documented_schema(report)

    # config findings close the gate like vulnerabilities do
    closed = run_gate("scan", image, "--db", str(db), "--fail-on", "medium", "--scanners", "config")
    assert closed.returncode == 2
    assert "gate: closed: policy fail-on-medium blocked by config (1)" in closed.stderr
    only_vulns = run_gate("scan", image, "--db", str(db), "--format", "json", "--scanners", "vuln")
    assert only_vulns.returncode == 0
    assert "secrets" not in json.loads(only_vulns.stdout) and "config" not in json.loads(only_vulns.stdout)
    no_db = run_gate(
        "scan",
        image,
        "--format",
        "json",
        "--scanners",
        "secret,config",
        env={"GATE_DB": str(tmp_path / "absent.db")},
    )
    assert no_db.returncode == 0, no_db.stderr
    assert json.loads(no_db.stdout)["database"] is None
    _validate_against_documented_schema(json.loads(no_db.stdout))


def test_scanner_choice_errors(tmp_path: Path) -> None:
    bad = run_gate("scan", "oci:x", "--scanners", "vuln,virus")
    assert bad.returncode == 1 and "unknown scanner(s) virus" in bad.stderr
    sbom = tmp_path / "s.json"
    sbom.write_text("{}")
    wrong = run_gate("scan", "--sbom", str(sbom), "--scanners", "secret")
    assert wrong.returncode == 1 and "--sbom scans for vulnerabilities only" in wrong.stderr
