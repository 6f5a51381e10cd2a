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


class Bar:
    """Progress of a long step (gate batches, dbt nodes, partnership packs).

    On a terminal the bar redraws one console line in place; anywhere else (a task log, a pipe, CI)
    it writes a plain progress line at each quarter, so logs stay short and readable. The run log
    gets the same plain lines either way.
    """

    WIDTH = 24

    def __init__(self, label: str, total: int, unit: str = "") -> None:
        self.label, self.total, self.unit = label, max(int(total), 0), unit
        self.done = 0
        self._quarter = 0
        self._drawn = False
        console = _console
        self._tty = bool(console is not None and getattr(console, "isatty", lambda: False)())

    def _text(self, note: str = "") -> str:
        unit = f" {self.unit}" if self.unit else ""
        tail = f"  {note}" if note else ""
        return f"{self.label}: {self.done}/{self.total}{unit}{tail}"

    def update(self, done: int, note: str = "") -> None:
        """Move the bar to ``done`` of ``total``; ``note`` names what was just finished."""
        self.done = min(max(int(done), 0), self.total) if self.total else int(done)
        if self._tty and _console is not None:
            filled = int(self.WIDTH * self.done / self.total) if self.total else self.WIDTH
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"[csp-audit] {self.label} [{bar}] {self.done}/{self.total} {note}"[:110]
            _console.write("\r" + line.ljust(110))
            _console.flush()
            self._drawn = True
        quarter = 4 * self.done // self.total if self.total else 4
        if quarter > self._quarter and self.done < self.total:
            self._quarter = quarter
            self._plain(self._text(note))

    def advance(self, step: int = 1, note: str = "") -> None:
        self.update(self.done + step, note)

    def _plain(self, text: str) -> None:
        # on a terminal the drawn bar is the console's copy; the run log always gets the line
        _both(f"[csp-audit] {text}", None if self._tty else _console, sys.stdout)

    def close(self, summary: str = "") -> None:
        """End the bar with one plain line (the bar's line is replaced on a terminal)."""
        if self._drawn and _console is not None:
            _console.write("\r" + " " * 110 + "\r")
            _console.flush()
            self._drawn = False
        self._tty = False
        progress(summary or self._text())

    def __enter__(self) -> Bar:
        return self

    def end(self) -> None:
        """Leave a drawn bar's line as it is and move the console to the next line."""
        if self._drawn and _console is not None:
            _console.write("\n")
            _console.flush()
            self._drawn = False

    def __exit__(self, *exc: object) -> None:
        self.end()
