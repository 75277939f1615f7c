"""The one place that makes rich consoles (rich honours NO_COLOR and non-TTY output).

Everything gate prints for people passes through :func:`escape_control`: package names,
versions, paths, references and messages come from images and registries, and an ESC sequence
or a bidi override in one of them must not reach the terminal. Consoles made here escape every
string they render (table cells, tree labels, printed lines), and so do log lines
(:class:`EscapingFormatter`); plain ``typer.echo`` lines that carry such values call
:func:`escape_control` themselves.

Markup is off by default for the same reason: a package named ``[link=...]`` would become an OSC 8
hyperlink and one named ``[/b]`` a MarkupError. A line that styles itself passes ``markup=True``
and runs every value through ``rich.markup.escape``.
"""

from __future__ import annotations

import logging
import re
from typing import IO, Any

from rich.console import Console
from rich.text import Text

LOG_WIDTH = 200  # CI logs and files: never wrap digests and ids at a default 80 columns

# C0 and C1 controls and DEL; Unicode bidi embeddings, overrides and isolates (they reorder
# what the terminal shows); tab is kept, newline only where the caller allows it.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_KEEP_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_control(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters written as escapes (``\\x1b``, ``\\u202e``)."""
    pattern = _CONTROL_KEEP_LINES if keep_newlines else _CONTROL
    return pattern.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class EscapingFormatter(logging.Formatter):
    """Log lines (which quote paths and names from images) with control characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return escape_control(super().format(record), keep_newlines=True)


class EscapingConsole(Console):
    """A rich console that escapes control characters in every string it renders."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(escape_control(text, keep_newlines=True), **kwargs)


def make_console(file: IO[str] | None = None) -> Console:
    """A console for stdout (or ``file``); wide and colourless when not a terminal; no markup."""
    console = EscapingConsole(file=file, no_color=file is not None, markup=False)
    if not console.is_terminal:
        console.width = LOG_WIDTH
    return console
