"""
The consoles commands print tables and progress on.

On a terminal a console takes the terminal's width. Piped or redirected (``| grep``, ``> file``,
a CI log) it is as wide as a line needs (``PIPED_WIDTH``) unless ``COLUMNS`` says otherwise, so
an identifier (a step id, a path, a product code) is never wrapped onto two lines. A reader that
goes away early (``| head``) is not an error: the console raises ``BrokenPipeError``, which
``rollup.cli.main`` turns into exit 0, instead of Rich's own exit 1.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console

PIPED_WIDTH = 10_000
"""Columns of a console whose output is not a terminal: wider than any line rollup prints."""


class _Console(Console):
    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def console(*, stderr: bool = False, **options: Any) -> Console:
    """A console on stdout (or stderr), as wide as the module docstring says."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    width = PIPED_WIDTH if piped else None
    return _Console(highlight=False, width=width, stderr=stderr, **options)
