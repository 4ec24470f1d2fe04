"""The one way accelbench sets up a terminal console: colours on a TTY; piped output without
colour codes and wide enough that tables do not fold every cell."""

from __future__ import annotations

from rich.console import Console

PIPED_WIDTH = 160


def make_console(*, soft_wrap: bool = False, stderr: bool = False):
    """A rich Console on stdout, or on stderr (``stderr``: messages beside machine output on stdout)."""
    console = Console(highlight=False, soft_wrap=soft_wrap, stderr=stderr)
    if not console.is_terminal:
        console = Console(highlight=False, no_color=True, width=PIPED_WIDTH, soft_wrap=soft_wrap, stderr=stderr)
    return console
