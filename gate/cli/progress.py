"""Progress for long stages: live on a terminal, one line per stage with elapsed time in CI logs."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def stage(name: str, *, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """Report a stage; the yielded callback advances it (by steps of ``total``).

    On a terminal a stage with a known ``total`` shows a bar and any other a spinner, both
    replaced by the stage's line when it ends; in a log only that line is written.
    """
    from gate.cli.console import escape_control

    name = escape_control(name)  # stage names quote references and paths
    started = time.monotonic()
    section = _open_section(name)
    try:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            columns = (
                (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"))
                if total
                else (SpinnerColumn(), TextColumn("{task.description}"))
            )
            with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task(name, total=total)
                yield lambda _step: bar.advance(task)
        else:
            yield lambda _step: None
        print(f"gate: {name} ({time.monotonic() - started:.1f}s)", file=sys.stderr, flush=True)
    finally:
        _close_section(section)


_open_sections: list[str] = []  # CI log sections do not nest: only the outermost stage opens one


def _open_section(name: str) -> str | None:
    """Fold the stage's log lines: a ``::group::`` on GitHub Actions, a section on GitLab CI."""
    from gate.report import github_actions, gitlab_ci

    if _open_sections:
        return None
    if github_actions.active(os.environ):
        print(github_actions.group_start(name), file=sys.stderr, flush=True)
    elif gitlab_ci.active(os.environ):
        print(gitlab_ci.section_start(gitlab_ci.section_name(name), name), file=sys.stderr, flush=True)
    else:
        return None
    _open_sections.append(name)
    return name


def _close_section(name: str | None) -> None:
    from gate.report import github_actions, gitlab_ci

    if name is None:
        return
    _open_sections.pop()
    if github_actions.active(os.environ):
        print(github_actions.group_end(), file=sys.stderr, flush=True)
    else:
        print(gitlab_ci.section_end(gitlab_ci.section_name(name)), file=sys.stderr, flush=True)


@contextlib.contextmanager
def counted(name: str, *, total: int) -> Iterator[Callable[[], None]]:
    """A stage of ``total`` items: a bar on a terminal, one line per 5 % in a log."""
    with stage(name, total=total) as step:
        yield (lambda: step(1)) if sys.stderr.isatty() else _percent_lines(name, total)


def _percent_lines(name: str, total: int) -> Callable[[], None]:
    from gate.cli.console import escape_control

    name = escape_control(name)
    started = time.monotonic()
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if done * 20 // max(total, 1) > (done - 1) * 20 // max(total, 1):  # crossed a 5 % mark
            elapsed = time.monotonic() - started
            percent = done * 100 // max(total, 1)
            print(f"gate: {name}: {done}/{total} ({percent}%, {elapsed:.1f}s)", file=sys.stderr, flush=True)

    return advance
