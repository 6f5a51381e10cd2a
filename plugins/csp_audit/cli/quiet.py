"""Quiet by default: the console shows the project's progress; library output goes to a run log.

Airflow's task logs, Great Expectations, dbt and pandas all write to the process's standard output
and error (and dbt runs as a child process that inherits them). Rather than taming each library's
loggers, the run points file descriptors 1 and 2 at the run log for its duration and keeps a
duplicate of the console for :mod:`csp_audit.progress`. ``-v`` (or ``CSP_AUDIT_VERBOSE=1``) leaves
everything on the console, as before.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from csp_audit.progress import progress, set_console

LOG_NAME = "csp-audit.log"


def verbose_requested(flag: bool) -> bool:
    return flag or os.environ.get("CSP_AUDIT_VERBOSE", "").strip().lower() in ("1", "true", "yes")


class _Tolerant(io.TextIOBase):
    """stdout/stderr while they are the run log: a write the log's disk cannot take is dropped, so a
    full disk ends the run with its own one-line cause, not a traceback from a library's log line."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except OSError:
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except OSError:
            pass

    def fileno(self) -> int:
        return self._inner.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._inner.encoding


@contextmanager
def run_log(folder: Path, *, verbose: bool) -> Iterator[Path | None]:
    """Send library output to ``folder/csp-audit.log`` (appended) while the block runs."""
    if verbose:
        yield None
        return
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_NAME
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    console = os.fdopen(os.dup(saved_out), "w", encoding="utf-8", errors="replace", buffering=1)
    console_err = os.fdopen(os.dup(saved_err), "w", encoding="utf-8", errors="replace", buffering=1)
    streams = sys.stdout, sys.stderr
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        sys.stdout, sys.stderr = _Tolerant(sys.stdout), _Tolerant(sys.stderr)
        set_console(console, console_err)
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"\n===== csp-audit {' '.join(sys.argv[1:])} at {started} =====", flush=True)
        progress(f"library and task logs go to {path} (-v shows them here)")
        yield path
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
        set_console(None)
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        console.close()
        console_err.close()
