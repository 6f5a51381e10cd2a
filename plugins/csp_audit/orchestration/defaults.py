"""What every DAG of the project shares: the warehouse pool, retries, start date, params.

DuckDB allows one writer per file, so every task that opens the warehouse runs in the one-slot pool
``duckdb_warehouse`` (created by ``csp-audit``, ``make airflow`` and the compose stack's init). Tasks
are idempotent, so a retry is safe; the CLI sets ``CSP_AUDIT_TASK_RETRIES=0`` so a deterministic
failure surfaces at once instead of after the retry delay. A task that fails for good alerts the
engineers, and none runs longer than its timeout (:mod:`csp_audit.orchestration.alerts`).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param

from csp_audit.orchestration import alerts
from csp_audit.orchestration.pool import POOL
from csp_audit.orchestration.settings import ENVIRONMENT

__all__ = ["POOL", "START_DATE", "TAGS", "dag_kwargs", "default_args", "params"]
START_DATE = datetime(2024, 1, 1)
TAGS = ["csp-audit"]


def default_args(*, pool: bool = True) -> dict[str, Any]:
    args: dict[str, Any] = {
        "retries": int(os.environ.get("CSP_AUDIT_TASK_RETRIES", "1")),
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": alerts.task_timeout(),
        "on_failure_callback": alerts.task_failed,
    }
    return args | ({"pool": POOL} if pool else {})


_PARAM_HELP = {
    "plan": "Data plan YAML (or leave empty and give a region)",
    "region": "Region YAML: police.uk street data only (its one-dataset plan)",
    "warehouse": "DuckDB warehouse file",
    "out_root": "Publish root (default: publish/ beside the warehouse)",
}


def params(*names: str) -> dict[str, Param]:
    """Params shown in the trigger form, defaulted from the environment (read when the DAG is parsed)."""
    return {
        name: Param(os.environ.get(ENVIRONMENT[name], ""), type="string", description=_PARAM_HELP[name])
        for name in names
    }


def dag_kwargs(**overrides: Any) -> dict[str, Any]:
    """Arguments every project DAG takes."""
    return {"start_date": START_DATE, "catchup": False, "max_active_runs": 1} | overrides
