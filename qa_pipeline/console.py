"""The CLI's rich consoles (``qa`` and ``qa analytics``): one width policy for every command."""

from __future__ import annotations

import os
import sys

from rich.console import Console

#: Columns for output that is not a terminal (a pipe, a cron or CI log) when COLUMNS is unset:
#: rich would use 80 and cut the batch table's cells ("dura…", "fail…").
LOG_COLUMNS = 160


def cli_console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width, ``COLUMNS``, else :data:`LOG_COLUMNS`."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty()) and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=LOG_COLUMNS if piped else None)


__all__ = ["LOG_COLUMNS", "cli_console"]
