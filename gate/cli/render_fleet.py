"""Table, Markdown and HTML for `gate fleet rescan` (affected and failing images first)."""

from __future__ import annotations

import html
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


# one self-contained page for CI artifacts: no script, no external request, every value escaped
HTML_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>gate fleet rescan</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px}
.fail{background:#fdd}.unverified{background:#ffd}</style></head><body>"""


def render_fleet_html(results: list[ImageResult]) -> None:
    header = ("verdict", "image", "digest", "signed", "new findings", "known exploited", "reason")
    rows = [
        f'<tr class="{html.escape(r.verdict)}">'
        + "".join(
            f"<td>{html.escape(escape_control(cell))}</td>"
            for cell in (
                r.verdict,
                r.reference,
                r.digest or "-",
                r.signed_verdict or "-",
                ", ".join(r.new_findings) or "-",
                ", ".join(r.known_exploited) or "-",
                r.reason,
            )
        )
        + "</tr>"
        for r in results
    ]
    typer.echo(
        "\n".join(
            [
                HTML_HEAD,
                f"<h1>{html.escape(_summary(results))}</h1>",
                "<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>",
                *rows,
                "</table></body></html>",
            ]
        )
    )


def _summary(results: list[ImageResult]) -> str:
    counts = [f"{sum(r.verdict == verdict for r in results)} {verdict}" for verdict in VERDICTS]
    return f"{len(results)} images: {', '.join(counts)}"


def _ids(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:MAX_IDS])
    return f"{shown} (+{len(ids) - MAX_IDS})" if len(ids) > MAX_IDS else shown or "-"


def _cell(text: str) -> str:
    return escape_control(text).replace("|", "\\|")
