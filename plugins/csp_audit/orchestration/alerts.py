"""Telling the data engineers when a task fails for good, and bounding how long a task may run.

A task that fails after its retries calls :func:`task_failed` (every project DAG's
``on_failure_callback``): one line in ``csp-audit-alerts.log`` in the Airflow home (so a failure is
on record even without mail), and, when ``$CSP_AUDIT_ALERT_EMAIL`` names recipients, one message
through Airflow's SmtpNotifier over the ``$CSP_AUDIT_SMTP_CONN_ID`` connection (default
``smtp_default``): DAG, task, run, try, the one-line cause and the log's address. An alert that
cannot be sent is logged, never raised: it must not hide the failure it reports.

Every task gets ``execution_timeout`` = ``$CSP_AUDIT_TASK_TIMEOUT_MINUTES`` (default 180): a hung
transfer or a runaway query fails (and alerts) instead of holding the warehouse pool for ever.
"""

from __future__ import annotations

import html
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ALERT_TO_ENV = "CSP_AUDIT_ALERT_EMAIL"
TIMEOUT_ENV = "CSP_AUDIT_TASK_TIMEOUT_MINUTES"
DEFAULT_TIMEOUT_MINUTES = 180
ALERTS_LOG = "csp-audit-alerts.log"


def task_timeout() -> timedelta:
    return timedelta(minutes=float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_MINUTES))


def recipients() -> list[str]:
    return [a.strip() for a in os.environ.get(ALERT_TO_ENV, "").replace(";", ",").split(",") if a.strip()]


def _cause(context: dict[str, Any]) -> str:
    exc = context.get("exception")
    if exc is None:
        return "failed (no exception recorded)"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:600]


def alert_text(context: dict[str, Any]) -> tuple[str, str]:
    """(subject, one-line summary) of a failed task."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", "?")
    tries = getattr(ti, "try_number", "?")
    subject = f"csp-audit: {dag_id}.{task_id} failed"
    return subject, f"{dag_id}.{task_id} (run {run_id}, try {tries}) failed: {_cause(context)}"


def _log_file() -> Path:
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / ALERTS_LOG


def task_failed(context: dict[str, Any]) -> None:
    """``on_failure_callback`` of every project task (see the module docstring)."""
    subject, summary = alert_text(context)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with _log_file().open("a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {summary}\n")
    except OSError as exc:
        log.warning("could not record the alert in %s: %s", _log_file(), exc)
    to = recipients()
    if not to:
        return
    from csp_audit.packs.deliver import DEFAULT_SMTP_CONN, SMTP_CONN_ENV, smtp_configured

    conn_id = os.environ.get(SMTP_CONN_ENV) or DEFAULT_SMTP_CONN
    try:
        if not smtp_configured(conn_id):
            log.warning("alert not sent: no SMTP connection %r (%s)", conn_id, summary)
            return
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        ti = context.get("ti") or context.get("task_instance")
        url = getattr(ti, "log_url", "") or ""
        body = f"<p>{html.escape(summary)}</p>" + (
            f'<p><a href="{html.escape(url)}">Task log</a></p>' if url else ""
        )
        SmtpNotifier(to=to, subject=subject, html_content=body, smtp_conn_id=conn_id)(dict(context))
    except Exception as exc:  # an alert must never hide the failure it reports
        log.warning("alert not sent (%s: %s): %s", type(exc).__name__, exc, summary)
