"""Progress lines of the pipeline's steps, and the console they go to.

A run prints the project's own progress; everything libraries say (Airflow task logs, Great
Expectations, dbt, pandas warnings) goes to a run log file instead (:mod:`csp_audit.cli.quiet`
points file descriptors 1 and 2 at it). :func:`progress` writes each line to the console kept aside
for it, and to the run log too, so the log alone tells the whole story.
"""

from __future__ import annotations

import sys
from typing import TextIO

_console: TextIO | None = None
_console_err: TextIO | None = None


def set_console(out: TextIO | None, err: TextIO | None = None) -> None:
    """Where progress and errors go while stdout and stderr are the run log (None: back to them)."""
    global _console, _console_err
    _console, _console_err = out, err


def _both(line: str, console: TextIO | None, log: TextIO) -> None:
    if console is not None:
        print(line, file=console, flush=True)
    try:
        print(line, file=log, flush=True)
    except OSError:  # the run log's disk is full: the console line is what counts
        if console is None:
            raise


def progress(message: str) -> None:
    """One progress line. Airflow captures a task's stdout into its log, and ``dag.test()`` (the
    CLI) runs tasks in this process, so one print serves both."""
    _both(f"[csp-audit] {message}", _console, sys.stdout)


def error(line: str) -> None:
    """One error line, on the console's stderr (and in the run log)."""
    _both(line, _console_err, sys.stderr)
