"""GitHub Actions and GitLab CI awareness: escaping of workflow commands, masks, annotations,
step outputs and summary limits. The end-to-end runs under a simulated CI are in test_reports.py.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gate.report import github_actions, gitlab_ci
from gate.report.ci import MAX_ANNOTATIONS, MAX_SUMMARY_BYTES, append_summary, workflow_annotations
from gate.report.model import RunReport
from gate.run import run_report
from tests.report_image import HostileRun, hostile_run

GATE = Path(__file__).resolve().parent.parent / "gate"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    hostile: HostileRun = hostile_run(tmp_path_factory.mktemp("ci"))
    return run_report(hostile.result)


def runner_unescape(data: str) -> str:
    """What the Actions runner does to a command's data before using it."""
    return data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def test_a_message_cannot_add_a_line_or_a_command() -> None:
    message = "100% bad\r\n::error title=forged::pwned\n::add-mask::x"
    line = github_actions.command("error", message, title="gate: rule,with:colons")
    assert "\n" not in line and "\r" not in line
    assert line.startswith("::error title=gate%3A rule%2Cwith%3Acolons::")
    assert runner_unescape(line.split("::", 2)[2]) == message


def test_masks_cover_every_line_of_every_secret_variable_set() -> None:
    env = {
        "GATE_PASSWORD": "pa%ss\nsecond-line",
        "GITHUB_TOKEN": "ghs_token",
        "HOME": "/root",
        "CI_JOB_TOKEN": "",
    }
    assert github_actions.mask_commands(env) == [
        "::add-mask::pa%25ss",
        "::add-mask::second-line",
        "::add-mask::ghs_token",
    ]


def test_every_secret_variable_gate_reads_is_masked() -> None:
    """A new secret read from the environment must join SECRET_VARIABLES (or be masked nowhere)."""
    pattern = re.compile(r'"([A-Z][A-Z0-9_]*(?:PASSWORD|TOKEN|SECRET)[A-Z0-9_]*)"')
    read = {name for path in GATE.rglob("*.py") for name in pattern.findall(path.read_text())}
    assert read, "the scan found no variable names at all"
    assert read <= set(github_actions.SECRET_VARIABLES)


def test_annotations_are_worst_first_escaped_and_capped(report: RunReport) -> None:
    lines = workflow_annotations(report)
    errors = [line for line in lines if line.startswith("::error ")]
    assert len(errors) == 3 and all("\n" not in line for line in lines)
    assert "title=gate%3A no-high-vulnerabilities::" in errors[0]  # critical first
    assert "%0D%0A::error title=forged" not in "".join(lines)  # summaries are not messages here
    assert any(line.startswith("::warning title=gate%3A configuration::") for line in lines)
    platform = report.platforms[0]
    decision = platform.decision
    assert decision is not None
    outcome = decision.blocking[0]
    many = tuple(dataclasses.replace(outcome.violations[0], id=f"CVE-{n}") for n in range(25))
    outcomes = tuple(
        dataclasses.replace(o, violations=many) if o is outcome else o for o in decision.outcomes
    )
    bigger = dataclasses.replace(platform, decision=dataclasses.replace(decision, outcomes=outcomes))
    lines = workflow_annotations(dataclasses.replace(report, platforms=(bigger,)))
    assert sum(line.startswith("::error ") for line in lines) == MAX_ANNOTATIONS
    assert "::notice title=gate%3A errors::16 more errors" in "\n".join(lines)  # 25 + the secret - 10


def test_outputs_use_a_heredoc_for_multiline_values(tmp_path: Path) -> None:
    output = tmp_path / "output"
    output.write_text("earlier=1\n")
    github_actions.write_outputs(output, {"verdict": "fail", "notes": "a\nb"})
    text = output.read_text()
    assert text.startswith("earlier=1\nverdict=fail\nnotes<<gate_")
    delimiter = text.splitlines()[2].split("<<")[1]
    assert text.endswith(f"a\nb\n{delimiter}\n") and len(delimiter) > 30


def test_the_step_summary_never_passes_a_mebibyte(report: RunReport, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("x" * (MAX_SUMMARY_BYTES - 200))  # earlier steps' text
    append_summary(summary, report)
    assert summary.stat().st_size <= MAX_SUMMARY_BYTES
    assert summary.read_text().endswith("(the full summary did not fit: see summary.md)\n")
    fresh = tmp_path / "fresh.md"
    append_summary(fresh, report)
    assert fresh.read_text().startswith("## gate: ❌ FAIL")


def test_gitlab_sections_have_safe_names_and_headers() -> None:
    name = gitlab_ci.section_name("read 2 layer(s) of oci:/x y:z")
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name)
    start = gitlab_ci.section_start(name, "header\r\nsection_end:1:x")
    assert start.count("\r") == 1 and "\n" not in start
    assert re.fullmatch(
        rf"\x1b\[0Ksection_start:\d+:{name}\[collapsed=true\]\r\x1b\[0Kheader  section_end:1:x", start
    )
    assert re.fullmatch(rf"\x1b\[0Ksection_end:\d+:{name}\r\x1b\[0K", gitlab_ci.section_end(name))
