"""The decision as a table: blocking rules and their findings first, then warnings, then the rest;
waivers and VEX statements below, the verdict last."""

from __future__ import annotations

import datetime

from rich.console import Console
from rich.table import Table

from gate.policy import Decision, RuleOutcome

_ORDER = {"failed": 0, "unknown": 1, "warned": 2, "skipped": 3, "passed": 4}
_LABEL = {"failed": "BLOCK", "unknown": "unknown", "warned": "warn", "skipped": "skipped", "passed": "pass"}
MAX_ROWS_PER_RULE = 50  # warnings can be many; blocking findings are always listed whole


def render_decision(console: Console, decision: Decision) -> None:
    table = Table(
        title=f"policy {decision.policy_name} ({decision.policy_digest[:19]}): {decision.verdict.upper()}",
        title_justify="left",
    )
    for column in ("status", "rule", "finding", "detail"):
        table.add_column(column, overflow="fold", no_wrap=column == "status")
    for outcome in sorted(decision.outcomes, key=lambda o: _ORDER[o.status]):
        _rows(table, outcome)
    console.print(table)
    for use in decision.waivers_applied:
        console.print(
            f"waiver applied: {_scope(use.waiver.scope)} ({len(use.violations)} finding(s)), "
            f"{use.waiver.owner} until {_last_day(use.waiver.expires)}: {use.waiver.reason}",
            highlight=False,
        )
    for use in decision.waivers_expired:
        console.print(
            f"waiver EXPIRED {use.waiver.expires.isoformat()}: {_scope(use.waiver.scope)} "
            f"({use.waiver.source}) would cover {len(use.violations)} finding(s)",
            highlight=False,
        )
    for waiver in decision.waivers_unused:
        console.print(
            f"waiver unused: {_scope(waiver.scope)} ({waiver.source}) matched nothing", highlight=False
        )
    for applied in decision.vex_applied:
        statement = applied.statement
        why = statement.justification or statement.impact_statement
        console.print(
            f"VEX {statement.status}: {statement.vulnerability} ({why}) suppressed "
            f"{len(applied.violations)} finding(s) [{statement.source}]",
            highlight=False,
        )
    console.print(f"verdict: {decision.verdict.upper()}", highlight=False)


def _rows(table: Table, outcome: RuleOutcome) -> None:
    label = _LABEL[outcome.status]
    if not outcome.violations:
        detail = outcome.reason or outcome.description
        if outcome.waived:
            detail += f" ({len(outcome.waived)} waived)"
        table.add_row(label, outcome.rule_id, "", detail)
        return
    shown = outcome.violations if outcome.status == "failed" else outcome.violations[:MAX_ROWS_PER_RULE]
    for violation in shown:
        table.add_row(label, outcome.rule_id, violation.id, violation.message)
    if len(shown) < len(outcome.violations):
        table.add_row(label, outcome.rule_id, "", f"... and {len(outcome.violations) - len(shown)} more")


def _scope(scope: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in scope.items())


def _last_day(expires: datetime.datetime) -> datetime.date:
    """The last day a waiver applies (``expires`` is the first instant it no longer does)."""
    return (expires - datetime.timedelta(microseconds=1)).date()
