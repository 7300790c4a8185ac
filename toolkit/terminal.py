"""One rich Console setup: tables stay readable when output goes to a pipe or a CI log."""

from __future__ import annotations

# rich falls back to 80 columns without a terminal, which folds every table cell.
PIPE_WIDTH = 160


def console(stderr: bool = False):
    from rich.console import Console

    terminal = Console(stderr=stderr)
    return terminal if terminal.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)
