"""Progress for long stages: a bar on a terminal, one line per stage in CI logs (stderr)."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stage(name: str, *, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Report a stage; the yielded callback advances it (by steps of ``total``)."""
    started = time.monotonic()
    if sys.stderr.isatty() and total:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(name, total=total)
            yield lambda _step: bar.advance(task)
    else:
        yield lambda _step: None
    print(f"gate: {name} ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)
