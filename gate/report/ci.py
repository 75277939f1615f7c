"""What a run tells the CI it runs in: GitHub Actions outputs, step summary and annotations;
the default report directory on GitLab CI (``$CI_PROJECT_DIR``, where GitLab looks for reports).

The CLI calls :func:`publish_to_ci` once a run is decided; it writes the files the CI reads and
returns the workflow-command lines for the CLI to print (the library never prints).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from gate.report import github_actions, gitlab_ci
from gate.report.files import (
    CYCLONEDX_FILE,
    DECISION_FILE,
    DOTENV_FILE,
    GITLAB_FILE,
    HTML_FILE,
    JUNIT_FILE,
    MARKDOWN_FILE,
    SARIF_FILE,
)
from gate.report.markdown import markdown_summary
from gate.report.model import RunReport, blocking_violations, rank

MAX_ANNOTATIONS = 10  # per type: GitHub shows no more for one step
MAX_SUMMARY_BYTES = 1024 * 1024  # GitHub refuses a larger step summary

OUTPUT_FILES = {
    "sarif-path": SARIF_FILE,
    "sbom-path": CYCLONEDX_FILE,
    "report-path": HTML_FILE,
    "summary-path": MARKDOWN_FILE,
    "junit-path": JUNIT_FILE,
    "gitlab-report-path": GITLAB_FILE,
    "dotenv-path": DOTENV_FILE,
    "decision-path": DECISION_FILE,
}
"""GitHub step outputs naming report files (the first one of that name: per-platform SBOMs
of an index sit in subdirectories)."""


def default_report_dir(env: Mapping[str, str]) -> Path | None:
    """On GitLab CI, reports go to ``$CI_PROJECT_DIR`` unless ``--report-dir`` says otherwise."""
    return gitlab_ci.project_dir(env) if gitlab_ci.active(env) else None


def step_outputs(report: RunReport, written: Sequence[Path]) -> dict[str, str]:
    outputs = {"verdict": report.verdict, "digest": report.digest, "reference": report.reference}
    for output, name in OUTPUT_FILES.items():
        path = next((str(path) for path in written if path.name == name), "")
        outputs[output] = path
    outputs["report-dir"] = str(written[0].parent) if written else ""
    return outputs


def publish_to_ci(report: RunReport, written: Sequence[Path], env: Mapping[str, str]) -> list[str]:
    """On GitHub Actions write the step outputs and summary; return the annotations to print."""
    if not github_actions.active(env):
        return []
    if output := env.get("GITHUB_OUTPUT"):
        github_actions.write_outputs(Path(output), step_outputs(report, written))
    if summary := env.get("GITHUB_STEP_SUMMARY"):
        append_summary(Path(summary), report)
    return workflow_annotations(report)


def workflow_annotations(report: RunReport) -> list[str]:
    """Blocking findings as errors and warned ones as warnings, worst first, capped."""
    errors, warnings = [], []
    for platform in report.platforms:
        decision = platform.decision
        if decision is None:
            continue
        where = f" ({platform.platform})" if platform.platform else ""
        for outcome, violation in blocking_violations(decision):
            errors.append((rank(violation.severity), f"gate: {outcome.rule_id}{where}", violation.message))
        for outcome in decision.blocking:
            if not outcome.violations:
                errors.append((rank(None), f"gate: {outcome.rule_id}{where}", outcome.reason or "failed"))
        for outcome in decision.outcomes:
            if outcome.status == "warned":
                title = f"gate: {outcome.rule_id}{where}"
                warnings += [(rank(v.severity), title, v.message) for v in outcome.violations]
    for name in report.missing_platforms:
        errors.append((rank(None), "gate: required platform", f"{name} is missing from the index"))
    lines = []
    for kind, found in (("error", errors), ("warning", warnings)):
        found.sort(key=lambda item: -item[0])
        lines += [
            github_actions.command(kind, message, title=title)
            for _, title, message in found[:MAX_ANNOTATIONS]
        ]
        if len(found) > MAX_ANNOTATIONS:
            more = f"{len(found) - MAX_ANNOTATIONS} more {kind}s: see the step summary and the reports"
            lines.append(github_actions.command("notice", more, title=f"gate: {kind}s"))
    return lines


def append_summary(path: Path, report: RunReport) -> None:
    """Add the Markdown summary to the step's, keeping the whole under GitHub's limit."""
    used = path.stat().st_size if path.exists() else 0
    text = markdown_summary(report)
    if used + len(text.encode()) > MAX_SUMMARY_BYTES:
        text = f"\n**gate: {report.verdict}** (the full summary did not fit: see summary.md)\n"
        if used + len(text.encode()) > MAX_SUMMARY_BYTES:
            return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)
