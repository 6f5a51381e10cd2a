"""Progress lines of the pipeline's steps."""

from __future__ import annotations


def progress(message: str) -> None:
    """One progress line. Airflow captures a task's stdout into its log, and ``dag.test()`` (the
    CLI) shows it on the console, so one print serves both."""
    print(f"[csp-audit] {message}", flush=True)
