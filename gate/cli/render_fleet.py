"""Table and Markdown for `gate fleet rescan` (affected and failing images first)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from gate.cli.console import escape_control, make_console

if TYPE_CHECKING:
    from gate.fleet import ImageResult

MAX_IDS = 5
VERDICTS = ("fail", "unverified", "pass")


def render_fleet_table(results: list[ImageResult]) -> None:
    table = Table(title=_summary(results), title_justify="left")
    for column in ("verdict", "image", "digest", "signed", "new findings", "known exploited", "reason"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(
            r.verdict.upper(),
            r.reference,
            (r.digest or "-")[:19],
            r.signed_verdict or "-",
            _ids(r.new_findings),
            _ids(r.known_exploited),
            r.reason,
        )
    make_console().print(table)


def render_fleet_markdown(results: list[ImageResult]) -> None:
    lines = [
        f"**{_summary(results)}**",
        "",
        "| verdict | image | digest | signed | new findings | known exploited | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = (
            r.verdict,
            r.reference,
            f"`{r.digest}`" if r.digest else "-",
            r.signed_verdict or "-",
            _ids(r.new_findings),
            _ids(r.known_exploited),
            r.reason,
        )
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    typer.echo("\n".join(lines))


def _summary(results: list[ImageResult]) -> str:
    counts = [f"{sum(r.verdict == verdict for r in results)} {verdict}" for verdict in VERDICTS]
    return f"{len(results)} images: {', '.join(counts)}"


def _ids(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:MAX_IDS])
    return f"{shown} (+{len(ids) - MAX_IDS})" if len(ids) > MAX_IDS else shown or "-"


def _cell(text: str) -> str:
    return escape_control(text).replace("|", "\\|")
