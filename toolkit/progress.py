"""Progress for long work: a rich bar on a terminal, nothing when output is piped or in tests.

Deep code (the importers' graph walk) reports through `steps()`; only the command line decides
whether anyone is watching, by entering `shown()` around the work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

# Graphs smaller than this build in well under a second: a bar would only flicker.
MINIMUM_STEPS = 200

_active_progress: ContextVar = ContextVar("toolkit_progress", default=None)


@contextlib.contextmanager
def shown(stderr: bool = True, force_terminal: bool | None = None) -> Iterator[None]:
    """Show bars for the work inside the block, when stderr is a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=stderr, force_terminal=force_terminal)
    if not console.is_terminal:
        yield
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        token = _active_progress.set(progress)
        try:
            yield
        finally:
            _active_progress.reset(token)


@contextlib.contextmanager
def steps(description: str, total: int) -> Iterator[callable]:
    """An `advance()` callable for `total` steps; a no-op unless a bar is being shown."""
    progress = _active_progress.get()
    if progress is None or total < MINIMUM_STEPS:
        yield lambda: None
        return
    task = progress.add_task(description, total=total)
    try:
        yield lambda: progress.advance(task)
    finally:
        progress.remove_task(task)


@contextlib.contextmanager
def activity(description: str) -> Iterator[None]:
    """A pulsing bar for work with no countable steps (an exporter run, a parity check)."""
    progress = _active_progress.get()
    if progress is None:
        yield
        return
    task = progress.add_task(description, total=None)
    try:
        yield
    finally:
        progress.remove_task(task)
