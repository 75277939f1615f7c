"""The one place that makes rich consoles (rich honours NO_COLOR and non-TTY output)."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

LOG_WIDTH = 200  # CI logs and files: never wrap digests and ids at a default 80 columns


def make_console(file: IO[str] | None = None) -> Console:
    """A console for stdout (or ``file``); wide and colourless when not a terminal."""
    from rich.console import Console

    console = Console(file=file, no_color=file is not None)
    if not console.is_terminal:
        console.width = LOG_WIDTH
    return console
