"""The Markdown summary (``summary.md``): what a person reads first, in a CI step summary.

Verdict, counts by severity, the top blocking findings, warnings, waivers and what was signed.
GitHub refuses a step summary over 1 MiB, so tables are capped (saying how many rows were left
out) and every cell is cut to a bounded length; the whole text stays under :data:`MAX_BYTES`.
Every value is escaped: package names and advisory texts come from the image and the database.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from gate.report.model import PlatformReport, RunReport, blocking_violations, severity_label
from gate.severity import Severity

MAX_BYTES = 1024 * 1024 - 64 * 1024  # GitHub's cap is 1 MiB; leave room for what follows ours
MAX_BLOCKING_ROWS = 50
MAX_WARNING_ROWS = 20
MAX_WAIVER_ROWS = 30
MAX_SIGNED_ROWS = 30
MAX_CELL = 300
_LEVELS = tuple(reversed(Severity))  # critical first
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # values never start a line: block markers are inert
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ICON = {"pass": "✅ PASS", "fail": "❌ FAIL", "none": "🔎 SCANNED"}


def markdown_summary(report: RunReport) -> str:
    lines = [f"## gate: {_ICON[report.verdict]} `{_code(report.reference)}`", ""]
    lines += _facts(report)
    lines += _severity_table(report)
    for platform in report.platforms:
        lines += _platform_sections(report, platform)
    lines += _signing(report)
    text = "\n".join(lines) + "\n"
    if len(text.encode()) > MAX_BYTES:
        cut = text.encode()[: MAX_BYTES - 200].decode(errors="ignore")
        text = cut.rsplit("\n", 1)[0] + "\n\n_(summary cut at 1 MiB: see report.html and decision.json)_\n"
    return text


def escape(text: object) -> str:
    """A value as inert Markdown text on one line: no markup, no HTML, bounded length."""
    value = _CONTROL.sub(" ", str(text))
    if len(value) > MAX_CELL:
        value = value[: MAX_CELL - 1] + "…"
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", value)


def _code(text: str) -> str:
    """Text inside a code span: backticks cannot be escaped there, so they are replaced."""
    return _CONTROL.sub(" ", text).replace("`", "'").replace("|", "\\|")[:MAX_CELL]


def _facts(report: RunReport) -> list[str]:
    lines = [f"- **digest**: `{_code(report.digest)}`"]
    decisions = [p.decision for p in report.platforms if p.decision is not None]
    if decisions:
        first = decisions[0]
        lines.append(f"- **policy**: {escape(first.policy_name)} (`{_code(first.policy_digest)}`)")
        reasons = [d.reason() for d in decisions if not d.passed]
        if reasons:
            lines.append(f"- **why**: {escape('; '.join(reasons))}")
    database = next((p.database for p in report.platforms if p.database is not None), None)
    if database is not None:
        lines.append(
            f"- **vulnerability database**: `{_code(database.digest)}` built {escape(database.built_at)}"
        )
    if report.missing_platforms:
        lines.append(f"- **missing required platforms**: {escape(', '.join(report.missing_platforms))}")
    return [*lines, ""]


def _severity_table(report: RunReport) -> list[str]:
    header = ["platform", *(level.label for level in _LEVELS), "secrets", "config", "packages"]
    rows = []
    for platform in report.platforms:
        counts = Counter(finding.rating.severity for finding in platform.findings)
        rows.append(
            [
                escape(platform.label),
                *(str(counts.get(level, 0)) for level in _LEVELS),
                str(len(platform.secrets)),
                str(len(platform.config)),
                str(len(platform.catalog.packages)),
            ]
        )
    return ["### Findings by severity", "", *_table(header, rows), ""]


def _platform_sections(report: RunReport, platform: PlatformReport) -> list[str]:
    decision = platform.decision
    if decision is None:
        return []
    where = f" ({escape(platform.platform)})" if platform.platform else ""
    lines: list[str] = []
    blocking = blocking_violations(decision)
    failed_without_findings = [o for o in decision.blocking if not o.violations]
    if blocking or failed_without_findings:
        rows = [
            [escape(outcome.rule_id), escape(severity_label(v.severity)), escape(v.id), escape(v.message)]
            for outcome, v in blocking[:MAX_BLOCKING_ROWS]
        ]
        rows += [[escape(o.rule_id), "", "", escape(o.reason or "failed")] for o in failed_without_findings]
        lines += [
            f"### Blocking findings{where}",
            "",
            *_table(["rule", "severity", "finding", "detail"], rows),
        ]
        lines += _more(len(blocking), MAX_BLOCKING_ROWS, "blocking findings")
    warnings = [(o, v) for o in decision.outcomes if o.status == "warned" for v in o.violations]
    if warnings:
        rows = [
            [escape(o.rule_id), escape(severity_label(v.severity)), escape(v.id), escape(v.message)]
            for o, v in warnings[:MAX_WARNING_ROWS]
        ]
        lines += [f"### Warnings{where}", "", *_table(["rule", "severity", "finding", "detail"], rows)]
        lines += _more(len(warnings), MAX_WARNING_ROWS, "warnings")
    waived = [(o, item) for o in decision.outcomes for item in o.waived]
    if waived or decision.waivers_expired:
        rows = [
            [
                escape(item.violation.id),
                escape(o.rule_id),
                escape(item.waiver.reason),
                escape(item.waiver.owner),
                escape(item.waiver.expires.isoformat()),
            ]
            for o, item in waived[:MAX_WAIVER_ROWS]
        ]
        lines += [f"### Waivers{where}", "", *_table(["finding", "rule", "reason", "owner", "expires"], rows)]
        lines += _more(len(waived), MAX_WAIVER_ROWS, "waived findings")
        for use in decision.waivers_expired:
            lines.append(
                f"- expired waiver {escape(use.waiver.scope)} ({escape(use.waiver.expires.isoformat())})"
            )
        lines.append("")
    return lines


def _scope(scope: dict[str, str]) -> str:
    return ", ".join(f"{key} {value}" for key, value in scope.items())


def _signing(report: RunReport) -> list[str]:
    lines = ["### Signing", ""]
    if report.signed:
        rows = [
            [escape(item.kind), f"`{_code(item.reference)}`", f"`{_code(item.digest)}`"]
            for item in report.signed
        ]
        lines += _table(["kind", "reference", "digest"], rows[:MAX_SIGNED_ROWS])
        lines += _more(len(rows), MAX_SIGNED_ROWS, "published items")
    elif report.would_sign:
        lines.append(
            f"Dry run: a real run would publish {len(report.would_sign)} item(s); nothing was signed."
        )
    else:
        lines.append(f"Signing: {escape(report.signing or 'nothing was signed')}.")
    return [*lines, ""]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _more(total: int, shown: int, what: str) -> list[str]:
    return (
        ["", f"_… and {total - shown} more {what} (see report.html and decision.json)_", ""]
        if total > shown
        else [""]
    )
