"""`gate policy check | lint | vex` and `gate scan --policy` end to end, on images built here,
a real vulnerability database (tests/fixtures OSV records, the real CISA KEV catalog) and a real
Debian 12 root (debootstrap) as the base image for layer attribution.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gate.cli import main
from gate.image.build import LayerBuilder, build_image, layer_from_directory
from gate.image.layout import OciLayout
from gate.model import Package
from tests.debian import Debootstrapped
from tests.fixtures.analyze.material import Material
from tests.test_cli import run_gate
from tests.test_kev import KEV, PYSPARK
from tests.test_scan import DPKG_STATUS, FIXTURES, OS_RELEASE, _sbom, _validate_against_documented_schema

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "policies" / "default.yaml"
STRICT = ROOT / "policies" / "strict.yaml"
EXAMPLES = ROOT / "policies" / "examples"
DECISION_SCHEMA = json.loads((ROOT / "docs" / "decision.schema.json").read_text())
CLEAN_STATUS = b"""Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u5
Description: Debian base system miscellaneous files

"""


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "v.db"
    result = run_gate(
        "db", "import", "--db", str(path), str(FIXTURES / "debian"), str(FIXTURES / "pypi"), str(PYSPARK),
        "--kev", str(KEV),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return path


def _image(tmp_path: Path, name: str, status: bytes, extra: dict[str, bytes] | None = None) -> str:
    layer = LayerBuilder().add_file("etc/os-release", OS_RELEASE).add_file("var/lib/dpkg/status", status)
    for path, data in (extra or {}).items():
        layer.add_file(path, data)
    layout = tmp_path / name
    build_image([layer.build()], config={"User": "app"}).push(OciLayout.create(layout), tag="v1")
    return f"oci:{layout}:v1"


def _decision(stdout: str) -> dict:
    document = json.loads(stdout)
    jsonschema.validate(document, DECISION_SCHEMA)
    return document


def _outcome(document: dict, rule_id: str) -> dict:
    [outcome] = [rule for rule in document["rules"] if rule["id"] == rule_id]
    return outcome


def test_default_policy_on_clean_secret_and_vulnerable_images(db_path: Path, tmp_path: Path) -> None:
    clean = _image(tmp_path, "clean", CLEAN_STATUS)
    token = Material().github_token()
    secret = _image(tmp_path, "secret", CLEAN_STATUS, {"app/.env": f"GITHUB_TOKEN={token}\n".encode()})
    vulnerable = _image(tmp_path, "vulnerable", DPKG_STATUS)  # libc6 2.36-9+deb12u2: DSA-5514-1
    args = ("--policy", str(DEFAULT), "--db", str(db_path))

    ok = run_gate("scan", clean, *args)
    assert ok.returncode == 0, ok.stderr
    assert "verdict: PASS" in ok.stdout

    closed = run_gate("scan", secret, *args)
    assert closed.returncode == 2, closed.stderr
    assert "gate: closed: policy default blocked by no-secrets (1)" in closed.stderr
    assert token not in closed.stdout + closed.stderr  # only the redacted match is shown
    first_row = next(line for line in closed.stdout.splitlines() if "BLOCK" in line or "warn" in line)
    assert "BLOCK" in first_row and "no-secrets" in first_row  # blocking findings come first

    vulnerable_run = run_gate("scan", vulnerable, *args, "--format", "json")
    assert vulnerable_run.returncode == 2, vulnerable_run.stderr
    report = json.loads(vulnerable_run.stdout)
    _validate_against_documented_schema(report)
    decision = report["decision"]
    jsonschema.validate(decision, DECISION_SCHEMA)
    assert [v["id"] for v in _outcome(decision, "fixable-critical-high")["violations"]] == ["DSA-5514-1"]
    assert decision["database"]["digest"] == report["database"]["digest"]


def test_policy_check_image_report_and_sbom(db_path: Path, tmp_path: Path) -> None:
    vulnerable = _image(tmp_path, "vulnerable", DPKG_STATUS)
    scan = run_gate(
        "scan", vulnerable, "--db", str(db_path), "--format", "json", "-o", str(tmp_path / "scan.json")
    )
    assert scan.returncode == 0, scan.stderr  # no policy: a report, no verdict

    from_image = run_gate(
        "policy", "check", vulnerable, "--policy", str(DEFAULT), "--db", str(db_path), "-f", "json"
    )
    report = ("--report", str(tmp_path / "scan.json"), "--policy", str(DEFAULT))
    from_report = run_gate("policy", "check", *report, "-f", "json")
    assert (from_image.returncode, from_report.returncode) == (2, 2), from_report.stderr
    image_decision, report_decision = _decision(from_image.stdout), _decision(from_report.stdout)
    for rule_id in ("fixable-critical-high", "no-secrets", "runs-as-root"):
        assert _outcome(image_decision, rule_id) == _outcome(report_decision, rule_id)
    # a report has no package list: the package-wide rules are skipped, not passed
    assert _outcome(report_decision, "sbom-complete")["status"] == "skipped"
    assert _outcome(image_decision, "sbom-complete")["status"] == "passed"

    # waive the finding from a file: the gate opens, and the waiver is reported as applied
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "apiVersion: gate/v1\nkind: Waivers\nwaivers:\n"
        "  - {vulnerability: CVE-2023-4911, reason: not reachable, owner: me@example.com,\n"
        "     expires: 2099-01-01}\n"
    )
    waived = run_gate("policy", "check", *report, "--waivers", str(waivers))
    assert waived.returncode == 2  # DSA-5514-1 is not CVE-2023-4911 (that one is only related)
    waivers.write_text(waivers.read_text().replace("CVE-2023-4911", "DSA-5514-1"))
    waived = run_gate("policy", "check", *report, "--waivers", str(waivers))
    assert waived.returncode == 0, waived.stdout + waived.stderr
    assert "waiver applied: vulnerability=DSA-5514-1 (1 finding(s))" in waived.stdout

    # `gate policy vex` writes that waiver as OpenVEX, which suppresses the finding without the waiver
    vex = run_gate("policy", "vex", *report, "--waivers", str(waivers), "-o", str(tmp_path / "vex.json"))
    assert vex.returncode == 0, vex.stderr
    [statement] = json.loads((tmp_path / "vex.json").read_text())["statements"]
    assert statement["vulnerability"]["name"] == "DSA-5514-1"
    again = run_gate("policy", "check", *report, "--vex", str(tmp_path / "vex.json"), "-f", "json")
    assert again.returncode == 0, again.stdout
    assert _decision(again.stdout)["summary"]["suppressed_by_vex"] == 1


def test_known_exploited_through_an_alias_blocks(db_path: Path, tmp_path: Path) -> None:
    """PYSEC-2022-236 is in CISA's catalog only as its alias CVE-2022-33891."""
    pyspark = Package("pyspark", "3.1.2", "pypi", "pkg:pypi/pyspark@3.1.2", "test", (), ecosystem="PyPI")
    sbom = _sbom(tmp_path, [pyspark])
    result = run_gate("policy", "check", "--sbom", str(sbom), "--policy", str(DEFAULT), "--db", str(db_path),
                      "-f", "json")  # fmt: skip
    assert result.returncode == 2, result.stderr
    decision = _decision(result.stdout)
    assert [v["id"] for v in _outcome(decision, "known-exploited")["violations"]] == ["PYSEC-2022-236"]
    assert _outcome(decision, "no-secrets")["status"] == "skipped"  # an SBOM holds no files


@pytest.mark.parametrize("path", [DEFAULT, STRICT, *sorted(EXAMPLES.glob("*.yaml"))], ids=lambda p: p.name)
def test_every_shipped_policy_lints(path: Path) -> None:
    result = run_gate("policy", "lint", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: valid: ")


@pytest.mark.parametrize(
    ("policy", "expected", "rules"),
    [
        # images built here are dated 1970 (SOURCE_DATE_EPOCH): image-too-old is medium, which strict blocks
        (STRICT, 2, {"configuration": "failed", "sbom-complete": "passed", "base-image": "unknown"}),
        (EXAMPLES / "packages.yaml", 0, {"compromised-releases": "passed", "no-telnet": "passed"}),
        # dpkg lists no license here: unknown, which this policy blocks
        (EXAMPLES / "licenses.yaml", 2, {"permissive-only": "passed", "permissive-only.unknown": "failed"}),
        (EXAMPLES / "base-image.yaml", 2, {"approved-base": "failed"}),  # no base declared, on-unknown: block
        (EXAMPLES / "waivers.yaml", 0, {"fixable-critical-high": "passed"}),
        (EXAMPLES / "rego.yaml", 0, {"rego.deny": "passed", "rego.warn": "passed"}),
        (EXAMPLES / "fix-what-you-added.yaml", 2, {"own-fixable-high": "failed"}),
    ],
)
def test_shipped_policies_give_their_documented_verdict(
    db_path: Path, tmp_path: Path, policy: Path, expected: int, rules: dict[str, str]
) -> None:
    vulnerable = _image(tmp_path, "vulnerable", DPKG_STATUS)  # an unrated DSA with a fix, no base declared
    if policy.name in ("packages.yaml", "waivers.yaml", "rego.yaml"):
        vulnerable = _image(tmp_path, "clean", CLEAN_STATUS)
    args = ("--policy", str(policy), "--db", str(db_path), "--offline", "-f", "json")
    result = run_gate("policy", "check", vulnerable, *args)
    assert result.returncode == expected, result.stdout + result.stderr
    decision = _decision(result.stdout)
    assert {rule_id: _outcome(decision, rule_id)["status"] for rule_id in rules} == rules


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("policy", "check", "--report", "x.json"), "give --policy FILE (or --fail-on SEVERITY)"),
        (
            ("policy", "check", "--policy", str(DEFAULT)),
            "give exactly one of IMAGE, --report SCAN.json or --sbom",
        ),
        (("policy", "check", "--policy", "/no/such.yaml", "--report", "x.json"), "cannot read /no/such.yaml"),
        (
            ("policy", "check", "--policy", str(DEFAULT), "--fail-on", "high", "--report", "x.json"),
            "not both",
        ),
        (
            ("policy", "check", "--policy", str(DEFAULT), "--report", "/no/report.json"),
            "cannot read scan report",
        ),
        (("scan", "--sbom", "x.json", "--vex", "v.json"), "--waivers, --vex and --rego need --policy"),
        (("policy", "lint", str(ROOT / "pyproject.toml")), "not valid YAML"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args: tuple[str, ...], message: str) -> None:
    result = run_gate(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("gate: error:") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_a_policy_that_cannot_be_evaluated_is_an_error_never_a_pass(tmp_path: Path) -> None:
    (tmp_path / "boom.rego").write_text(
        "package gate\n\ndeny contains msg if {\n  some f in input.findings\n  msg := f.score / 0\n}\n"
    )
    policy = tmp_path / "p.yaml"
    policy.write_text("apiVersion: gate/v1\nkind: Policy\nrules: []\nrego: [boom.rego]\n")
    report = tmp_path / "scan.json"
    report.write_text(json.dumps({
        "schema_version": "1", "target": {"kind": "sbom", "path": "x"},
        "database": {"digest": "d", "built_at": "b"},
        "findings": [{"id": "X-1", "aliases": [], "severity": {"level": "high", "score": 7.5},
                      "fixed_versions": [], "package": {"name": "a", "version": "1", "type": "pypi",
                                                        "purl": "pkg:pypi/a@1"}}],
    }))  # fmt: skip
    result = run_gate("policy", "check", "--report", str(report), "--policy", str(policy))
    assert result.returncode == 1 and "Rego evaluation failed: divide by zero" in result.stderr


def test_main_twice_in_one_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A closed gate in one call does not turn a later usage error into exit 2 (no global state)."""
    report = tmp_path / "scan.json"
    report.write_text(json.dumps({
        "schema_version": "1", "target": {"kind": "sbom", "path": "x"},
        "database": {"digest": "d", "built_at": "b"},
        "findings": [{"id": "X-1", "aliases": [], "severity": {"level": "critical", "score": 9.8},
                      "fixed_versions": ["2"], "package": {"name": "a", "version": "1", "type": "pypi",
                                                           "purl": "pkg:pypi/a@1"}}],
    }))  # fmt: skip
    codes = []
    for argv in (
        ["policy", "check", "--report", str(report), "--policy", str(DEFAULT)],
        ["scan", "--no-such-option"],
        ["policy", "check", "--report", str(report), "--fail-on", "critical"],
        ["policy", "lint", str(DEFAULT)],
        ["policy", "check", "--report", str(report), "--fail-on", "hgh"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        codes.append(exited.value.code)
    assert codes == [2, 1, 2, 0, 1]
    assert (
        "gate: error: --fail-on: 'hgh' is not one of critical, high, medium, low, info"
        in capsys.readouterr().err
    )


def test_layers_own_against_a_real_base_image(
    debian_bookworm: Debootstrapped, db_path: Path, tmp_path: Path
) -> None:
    """A real Debian 12 base (debootstrap) and an application layer that adds a Python package:
    the base's packages are inherited, the application's own; `layers: own` blocks only the latter.

    Which Debian packages real advisories affect changes with the mirror every day, so the
    inherited finding comes from a minimal OSV record written here for glibc with no fix yet."""
    db = tmp_path / "layers.db"
    record = tmp_path / "osv" / "TEST-GLIBC-1.json"
    record.parent.mkdir()
    record.write_text(json.dumps({
        "id": "TEST-GLIBC-1", "modified": "2026-01-01T00:00:00Z", "published": "2026-01-01T00:00:00Z",
        "summary": "glibc issue for layer attribution", "database_specific": {"severity": "HIGH"},
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}],
    }))  # fmt: skip
    imported = run_gate("db", "import", "--db", str(db), str(record.parent), str(FIXTURES / "pypi"))
    assert imported.returncode == 0, imported.stderr
    app_layer = (
        LayerBuilder()
        .add_file(
            "usr/lib/python3/dist-packages/AccessControl-5.1.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: AccessControl\nVersion: 5.1\nLicense: ZPL-2.1\n",
        )
        .build()
    )
    layout = tmp_path / "app"
    build_image([layer_from_directory(debian_bookworm.root), app_layer], config={"User": "app"}).push(
        OciLayout.create(layout), tag="v1"
    )
    policy = EXAMPLES / "fix-what-you-added.yaml"
    args = ("policy", "check", f"oci:{layout}:v1", "--policy", str(policy), "--db", str(db), "-f", "json")
    result = run_gate(*args, "--base-image", debian_bookworm.reference)
    assert result.returncode == 2, result.stderr
    decision = _decision(result.stdout)
    own = _outcome(decision, "own-fixable-high")
    assert [v["id"] for v in own["violations"]] == ["PYSEC-2021-335"] and own["status"] == "failed"
    scan = json.loads(run_gate("scan", f"oci:{layout}:v1", "--db", str(db), "-f", "json",
                               "--base-image", debian_bookworm.reference).stdout)  # fmt: skip
    assert "TEST-GLIBC-1" in {f["id"] for f in scan["findings"]}  # the base's finding exists ...
    unfixed = tmp_path / "unfixed.yaml"
    unfixed.write_text(policy.read_text().replace("      fix: available\n", ""))
    by_layer = _decision(
        run_gate(*args[:4], str(unfixed), *args[5:], "--base-image", debian_bookworm.reference).stdout
    )
    # ... and is attributed to the base image: inherited, never own
    assert {v["id"] for v in _outcome(by_layer, "inherited-fixable-high")["violations"]} == {"TEST-GLIBC-1"}
    assert {v["id"] for v in _outcome(by_layer, "own-fixable-high")["violations"]} == {"PYSEC-2021-335"}
    # without the base image declared, attribution is unknown and a package counts as both
    unknown = _decision(run_gate(*args[:4], str(unfixed), *args[5:]).stdout)
    assert {v["id"] for v in _outcome(unknown, "own-fixable-high")["violations"]} == {
        "PYSEC-2021-335",
        "TEST-GLIBC-1",
    }
