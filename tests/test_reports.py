"""Every report format from one real gate run over an image whose names are hostile.

SARIF and the GitLab report validate against their published schemas (tests/fixtures/schemas);
JUnit is parsed and its counts checked against the decision; fingerprints and GitLab ids stay
the same across runs and digests; no report carries the planted secret, a raw tag from a
package name, or a forged line.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from gate.report.files import (
    CYCLONEDX_FILE,
    DECISION_FILE,
    DOTENV_FILE,
    GITLAB_FILE,
    HTML_FILE,
    JUNIT_FILE,
    MARKDOWN_FILE,
    SARIF_FILE,
    SCAN_FILE,
    SPDX_FILE,
)
from gate.report.gitlab import gitlab_report
from gate.report.junit import junit_report
from gate.report.markdown import MAX_BYTES, markdown_summary
from gate.report.model import RunReport
from gate.report.sarif import sarif_report
from gate.run import run_report
from gate.vulndb import import_paths
from tests.report_image import (
    BASE_ADVISORY,
    HOSTILE_DIR,
    HOSTILE_NAME,
    HOSTILE_NPM,
    NPM_ADVISORY,
    HostileRun,
    hostile_run,
)
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_run import SAMPLE_ADVISORIES, WAIVED, gate_run, push_sample
from tests.test_sign import COSIGN_KEY

SCHEMAS = Path(__file__).parent / "fixtures" / "schemas"
ALL_FILES = {
    SARIF_FILE,
    GITLAB_FILE,
    JUNIT_FILE,
    MARKDOWN_FILE,
    HTML_FILE,
    DOTENV_FILE,
    DECISION_FILE,
    SCAN_FILE,
    CYCLONEDX_FILE,
    SPDX_FILE,
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    return hostile_run(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def report(hostile: HostileRun) -> RunReport:
    return run_report(hostile.result)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_failing_run_writes_every_report_under_its_fixed_name(hostile: HostileRun) -> None:
    assert not hostile.result.passed
    assert {path.name for path in hostile.reports.iterdir()} == ALL_FILES
    assert {path.name for path in hostile.result.reports} == ALL_FILES


def test_no_report_holds_the_secret_or_a_raw_hostile_name(hostile: HostileRun) -> None:
    for path in hostile.reports.iterdir():
        text = path.read_text()
        assert hostile.secret not in text, path.name
        assert hostile.secret[:12] not in text, path.name  # more than the redacted prefix
    for name in (MARKDOWN_FILE, HTML_FILE):
        text = (hostile.reports / name).read_text()
        for raw in (HOSTILE_NAME, HOSTILE_NPM, "<script>window", "<svg", "</table><script>"):
            assert raw not in text, (name, raw)


def test_sarif_validates_and_has_a_rule_per_vulnerability_and_policy_rule(hostile: HostileRun) -> None:
    schema = read_json(SCHEMAS / "sarif-2.1.0" / "sarif-schema-2.1.0.json")
    sarif = read_json(hostile.reports / SARIF_FILE)
    jsonschema.validate(sarif, schema)
    [run] = sarif["runs"]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert {NPM_ADVISORY, BASE_ADVISORY, "secret/github-token", "config/root-user"} <= set(rules)
    assert {"policy/no-high-vulnerabilities", "policy/no-secrets", "policy/configuration"} <= set(rules)
    assert rules[NPM_ADVISORY]["properties"]["security-severity"] == "9.1"  # its CVSS score
    assert rules["policy/no-secrets"]["defaultConfiguration"]["level"] == "error"
    results = run["results"]
    for result in results:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"]["gate/v1"]
    by_rule = {result["ruleId"]: result for result in results}
    npm = by_rule[NPM_ADVISORY]
    names = [(loc["kind"], loc["name"]) for loc in npm["locations"][0]["logicalLocations"]]
    assert names[0][0] == "module" and names[1] == ("namespace", "layer 1")
    assert names[2] == ("resource", "/app/node_modules/evil/package.json")
    assert by_rule["policy/no-secrets"]["level"] == "error"
    assert by_rule["policy/configuration"]["level"] == "warning"  # a warn rule
    assert "policy/no-high-vulnerabilities" in by_rule
    secret = by_rule["secret/github-token"]
    assert secret["locations"][0]["logicalLocations"][2]["name"] == f"/{HOSTILE_DIR}/settings.py"


def _fingerprints(report: RunReport) -> dict[tuple[str, str], str]:
    [run] = sarif_report(report)["runs"]
    return {(r["ruleId"], r["message"]["text"]): r["partialFingerprints"]["gate/v1"] for r in run["results"]}


def test_fingerprints_and_gitlab_ids_are_stable_across_runs_and_builds(
    hostile: HostileRun, report: RunReport, tmp_path: Path
) -> None:
    base = tmp_path / "again"
    again = hostile_run(base)
    # the same image decided again at another place: only the repository differs
    moved = run_report(again.result)
    assert _fingerprints(moved).keys() == _fingerprints(report).keys()
    assert set(_fingerprints(moved).values()).isdisjoint(_fingerprints(report).values())
    # the same repository again: a second run (new times, new database build) gives the same ids
    shutil.rmtree(base)
    second = run_report(hostile_run(base).result)
    assert second.started >= moved.started
    assert _fingerprints(second) == _fingerprints(moved)
    ids = [v["id"] for v in gitlab_report(second)["vulnerabilities"]]
    assert ids == [v["id"] for v in gitlab_report(moved)["vulnerabilities"]]
    assert len(set(ids)) == len(ids) == 2
    # the next build of the same repository: new digests, same alerts
    rebuilt = dataclasses.replace(
        second,
        digest="sha256:" + "1" * 64,
        platforms=tuple(dataclasses.replace(p, digest="sha256:" + "2" * 64) for p in second.platforms),
    )
    assert _fingerprints(rebuilt) == _fingerprints(second)
    assert [v["id"] for v in gitlab_report(rebuilt)["vulnerabilities"]] == ids


def test_gitlab_report_validates_against_schema_15(hostile: HostileRun) -> None:
    schema = read_json(SCHEMAS / "gitlab-security-reports" / "container-scanning-report-format.json")
    data = read_json(hostile.reports / GITLAB_FILE)
    jsonschema.validate(data, schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    assert data["version"] == schema["self"]["version"]
    scan = data["scan"]
    assert scan["type"] == "container_scanning" and scan["status"] == "success"
    assert "verdict fail" in scan["messages"][0]["value"]
    by_id = {v["identifiers"][0]["value"]: v for v in data["vulnerabilities"]}
    npm = by_id[NPM_ADVISORY]
    assert npm["identifiers"][0]["type"] == "ghsa" and npm["identifiers"][1]["value"] == "CVE-2099-1111"
    assert npm["location"]["dependency"] == {"package": {"name": HOSTILE_NPM}, "version": "1.0.0"}
    assert npm["severity"] == "Critical" and npm["solution"].endswith("1.0.1")
    assert by_id[BASE_ADVISORY]["location"]["operating_system"].startswith("Debian")
    assert npm["location"]["image"].endswith("@" + hostile.result.subject.digest)


def _text(element: ET.Element | None) -> str:
    assert element is not None and element.text is not None
    return element.text


def _count(element: ET.Element, name: str) -> int:
    return int(element.get(name, "-1"))


def test_junit_has_a_case_per_rule_and_failures_carry_the_blocking_findings(hostile: HostileRun) -> None:
    root = ET.parse(hostile.reports / JUNIT_FILE).getroot()  # noqa: S314 - gate's own output
    decision = hostile.result.platforms[0].ruling.decision
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [o.rule_id for o in decision.outcomes]
    assert _count(root, "tests") == _count(suite, "tests") == len(decision.outcomes)
    failed = [case for case in cases if case.find("failure") is not None]
    assert [case.get("name") for case in failed] == [o.rule_id for o in decision.blocking]
    assert _count(root, "failures") == len(decision.blocking) == 2
    text = {case.get("name"): _text(case.find("failure")) for case in failed}
    listed = set(re.findall(r"\] (\S+):", text["no-high-vulnerabilities"]))
    assert listed == {BASE_ADVISORY, NPM_ADVISORY}
    assert HOSTILE_NPM in text["no-high-vulnerabilities"]  # XML escaping round-trips the name
    assert "github-token" in text["no-secrets"]
    warned = next(case for case in cases if case.get("name") == "configuration")
    assert warned.find("failure") is None and "root-user" in _text(warned.find("system-out"))


def test_junit_survives_control_characters(report: RunReport) -> None:
    platform = report.platforms[0]
    decision = platform.decision
    assert decision is not None
    outcome = decision.outcomes[0]
    violation = dataclasses.replace(outcome.violations[0], message="bell\x07 and nul\x00")
    bad = dataclasses.replace(decision, outcomes=(dataclasses.replace(outcome, violations=(violation,)),))
    data = junit_report(dataclasses.replace(report, platforms=(dataclasses.replace(platform, decision=bad),)))
    failure = ET.fromstring(data).find("testsuite/testcase/failure")  # noqa: S314 - gate's own output
    assert "bell\\x07 and nul\\x00" in _text(failure)


def test_markdown_summary_escapes_and_states_verdict_counts_and_signing(hostile: HostileRun) -> None:
    text = (hostile.reports / MARKDOWN_FILE).read_text()
    assert text.startswith("## gate: ❌ FAIL")
    assert "| image | 2 | 0 | 0 | 0 | 0 | 0 | 1 | 4 | 3 |" in text
    assert "&lt;img src=x onerror=window\\.pwned=2&gt;" not in text  # dots are not escaped
    assert "&lt;img src=x onerror=window.pwned=2&gt;" in text
    assert "not signed: the gate is closed" in text
    assert "\r" not in text and "\n::error" not in text
    for table in re.split(r"\n(?!\|)", text):  # blocks of consecutive table lines
        widths = {len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines() if line.startswith("|")}
        assert len(widths) <= 1, table  # no value added or removed a cell


def test_markdown_summary_stays_under_a_mebibyte_and_says_what_it_left_out(report: RunReport) -> None:
    platform = report.platforms[0]
    decision = platform.decision
    assert decision is not None
    outcome = next(o for o in decision.outcomes if o.rule_id == "no-high-vulnerabilities")
    many = tuple(
        dataclasses.replace(outcome.violations[0], id=f"CVE-2099-{n}", message="x" * 5000)
        for n in range(3000)
    )
    big = dataclasses.replace(outcome, violations=many)
    outcomes = tuple(big if o is outcome else o for o in decision.outcomes)
    platforms = tuple(
        dataclasses.replace(
            platform, platform=f"linux/arch{n}", decision=dataclasses.replace(decision, outcomes=outcomes)
        )
        for n in range(40)
    )
    text = markdown_summary(dataclasses.replace(report, platforms=platforms))
    assert len(text.encode()) <= MAX_BYTES
    assert "and 2951 more blocking findings" in text  # 3000 + the secret, 50 shown


def test_dotenv_has_one_safe_line_per_variable(hostile: HostileRun) -> None:
    lines = (hostile.reports / DOTENV_FILE).read_text().splitlines()
    variables = dict(line.split("=", 1) for line in lines)
    assert variables["GATE_VERDICT"] == "fail"
    assert variables["GATE_DIGEST"] == hostile.result.subject.digest
    assert variables["GATE_SIGNED"] == "false" and variables["GATE_BLOCKING"] == "3"
    assert all(name.startswith("GATE_") for name in variables)


def test_report_dir_works_with_dry_run_from_the_command_line(hostile: HostileRun, tmp_path: Path) -> None:
    base = hostile.reports.parent
    out = tmp_path / "dry"
    result = run_gate(
        "run",
        hostile.reference,
        "--policy",
        str(base / "policy.yaml"),
        "--db",
        str(base / "vulns.db"),
        "--allow-stale-db",
        "--dry-run",
        "--report-dir",
        str(out),
    )
    assert result.returncode == 2, result.stderr
    assert {path.name for path in out.iterdir()} == ALL_FILES
    assert read_json(out / DECISION_FILE)["verdict"] == "fail"


def test_a_passing_signed_run_reports_what_it_published(registry: RegistryServer, tmp_path: Path) -> None:
    import_paths(tmp_path / "vulns.db", [SAMPLE_ADVISORIES])
    (tmp_path / "waived.yaml").write_text(WAIVED)
    _, reference, digest = push_sample(registry)
    reports = tmp_path / "reports"
    result = gate_run(reference, tmp_path, "waived.yaml", "--key", COSIGN_KEY, "--report-dir", str(reports))
    assert result.returncode == 0, result.stderr
    variables = dict(line.split("=", 1) for line in (reports / DOTENV_FILE).read_text().splitlines())
    assert variables["GATE_VERDICT"] == "pass" and variables["GATE_SIGNED"] == "true"
    assert variables["GATE_DIGEST"] == digest
    summary = (reports / MARKDOWN_FILE).read_text()
    assert summary.startswith("## gate: ✅ PASS")
    assert f"sha256-{digest.removeprefix('sha256:')}.sig" in summary  # the cosign signature tag
    assert "PYSEC\\-2023\\-62" not in summary and "PYSEC-2023-62" in summary  # listed among waivers
    junit = ET.parse(reports / JUNIT_FILE).getroot()  # noqa: S314 - gate's own output
    assert _count(junit, "failures") == 0 and _count(junit, "tests") == 1  # the one rule, passed


def _run_in_ci(hostile: HostileRun, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    base = hostile.reports.parent
    args = ("run", hostile.reference, "--policy", str(base / "policy.yaml"), "--db", str(base / "vulns.db"))
    return run_gate(*args, "--allow-stale-db", "--no-sign", *extra, env=env)


def test_on_github_actions_a_run_writes_outputs_summary_annotations_groups_and_masks(
    hostile: HostileRun, tmp_path: Path
) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GATE_PASSWORD": "not-used-but-read-from-here",
    }
    result = _run_in_ci(hostile, env, "--report-dir", str(tmp_path / "reports"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "::add-mask::not-used-but-read-from-here"
    groups = [line for line in lines if line.startswith("::group::")]
    assert len(groups) >= 4 and len(groups) == lines.count("::endgroup::")
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 3 and errors[0].startswith("::error title=gate%3A no-high-vulnerabilities::")
    assert not any(line.startswith("::error title=forged") for line in lines)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["verdict"] == "fail" and outputs["digest"] == hostile.result.subject.digest
    assert outputs["sarif-path"] == str(tmp_path / "reports" / SARIF_FILE)
    assert Path(outputs["report-path"]).name == HTML_FILE and Path(outputs["sbom-path"]).is_file()
    assert summary.read_text().startswith("## gate: ❌ FAIL")


def test_on_gitlab_ci_reports_go_to_the_project_dir_and_stages_fold(
    hostile: HostileRun, tmp_path: Path
) -> None:
    env = {"GITLAB_CI": "true", "CI_PROJECT_DIR": str(tmp_path)}
    result = _run_in_ci(hostile, env)
    assert result.returncode == 2, result.stderr
    assert {path.name for path in tmp_path.iterdir()} >= ALL_FILES
    # (text mode reads the markers' \r as a line end)
    starts = re.findall(r"\x1b\[0Ksection_start:\d+:(gate_[\w.-]+)\[collapsed=true\]\n", result.stderr)
    ends = re.findall(r"\x1b\[0Ksection_end:\d+:(gate_[\w.-]+)\n", result.stderr)
    assert starts and starts == ends
    assert "::group::" not in result.stderr


def _decide_args(hostile: HostileRun) -> tuple[str, ...]:
    base = hostile.reports.parent
    return ("--policy", str(base / "policy.yaml"), "--db", str(base / "vulns.db"), "--allow-stale-db")


def test_scan_and_policy_check_write_each_report_format(hostile: HostileRun, tmp_path: Path) -> None:
    sarif_schema = read_json(SCHEMAS / "sarif-2.1.0" / "sarif-schema-2.1.0.json")
    gitlab_schema = read_json(SCHEMAS / "gitlab-security-reports" / "container-scanning-report-format.json")
    sarif = run_gate("scan", hostile.reference, *_decide_args(hostile), "--format", "sarif")
    assert sarif.returncode == 2, sarif.stderr  # the policy still closes the gate
    jsonschema.validate(json.loads(sarif.stdout), sarif_schema)
    assert "policy/no-secrets" in sarif.stdout
    out = tmp_path / "gl.json"
    gitlab = run_gate(
        "policy", "check", hostile.reference, *_decide_args(hostile), "--format", "gitlab", "-o", str(out)
    )
    assert gitlab.returncode == 2, gitlab.stderr
    jsonschema.validate(read_json(out), gitlab_schema)
    junit = run_gate("scan", hostile.reference, *_decide_args(hostile), "--format", "junit")
    suite = ET.fromstring(junit.stdout).find("testsuite")  # noqa: S314 - gate's own output
    assert suite is not None and _count(suite, "failures") == 2
    markdown = run_gate("scan", hostile.reference, *_decide_args(hostile), "--format", "markdown")
    assert markdown.stdout.startswith("## gate: ❌ FAIL")
    plain = run_gate(
        "scan",
        hostile.reference,
        "--db",
        str(hostile.reports.parent / "vulns.db"),
        "--allow-stale-db",
        "--format",
        "html",
    )
    assert plain.returncode == 0 and 'class="verdict none">SCANNED<' in plain.stdout


def test_formats_that_need_what_is_missing_are_refused(hostile: HostileRun) -> None:
    junit = run_gate("scan", hostile.reference, "--format", "junit")
    assert junit.returncode == 1 and "one test case per policy rule" in junit.stderr
    saved = hostile.reports / SCAN_FILE
    html = run_gate("policy", "check", "--report", str(saved), *_decide_args(hostile)[:2], "--format", "html")
    assert html.returncode == 1 and "needs the findings" in html.stderr
    sarif = run_gate(
        "policy", "check", "--report", str(saved), *_decide_args(hostile)[:2], "--format", "sarif"
    )
    assert sarif.returncode == 2, sarif.stderr
    [run] = json.loads(sarif.stdout)["runs"]
    assert {result["ruleId"] for result in run["results"]} == {
        "policy/no-high-vulnerabilities",
        "policy/no-secrets",
        "policy/configuration",
    }
