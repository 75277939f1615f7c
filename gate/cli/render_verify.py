"""Tables for `gate verify`, `gate promote` and `gate doctor` (rich honours NO_COLOR and non-TTY output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from gate.cli.console import make_console

if TYPE_CHECKING:
    from gate.doctor import Probe
    from gate.promote import Promotion
    from gate.verify import Verification


def render_verification_table(result: Verification) -> None:
    console = make_console()
    verdict = "[green]VERIFIED[/green]" if result.verified else "[red]NOT VERIFIED[/red]"
    console.print(f"{verdict} {escape(result.reference)}", highlight=False, markup=True)
    console.print(f"  digest  {result.digest}\n  trust   {result.trust}", highlight=False)
    table = Table(title="checks", title_justify="left")
    for column in ("check", "result", "detail"):
        table.add_column(column, overflow="fold")
    for check in result.checks:
        table.add_row(check.name, "ok" if check.passed else "FAILED", check.detail)
    console.print(table)
    if result.evidence.attestations:
        found = Table(title="attestations found", title_justify="left")
        for column in ("predicate type", "where", "signed by / why not"):
            found.add_column(column, overflow="fold")
        for item in result.evidence.attestations:
            found.add_row(
                item.predicate_type or "?",
                f"{item.where} {item.reference[:19]}",
                item.signer if item.accepted and item.signer else f"rejected: {item.rejected}",
            )
        console.print(found)


def render_promotion_table(promotion: Promotion) -> None:
    console = make_console()
    console.print(
        f"{promotion.source} -> {promotion.destination}  ({promotion.digest})",
        highlight=False,
    )
    table = Table(title="would copy" if promotion.dry_run else "copied", title_justify="left")
    for column in ("kind", "reference", "size", "how"):
        table.add_column(column, overflow="fold")
    for item in promotion.copied:
        table.add_row(item.kind, item.reference, str(item.size), item.how)
    console.print(table)
    for published in promotion.published:
        console.print(f"promotion attestation: {published.kind} {published.reference}", highlight=False)


def render_doctor_table(registry: str, probes: list[Probe]) -> None:
    table = Table(title=f"what {registry} supports", title_justify="left")
    for column in ("feature", "supported", "detail"):
        table.add_column(column, overflow="fold")
    for probe in probes:
        answer = "unknown" if probe.supported is None else ("yes" if probe.supported else "NO")
        table.add_row(probe.feature, answer, probe.detail)
    make_console().print(table)
