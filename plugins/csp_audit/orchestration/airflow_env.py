"""Prepare a local Airflow for the CLI: home, DAG folder, metadata DB and the warehouse pool.

Airflow reads its configuration from the environment when first imported, so this module sets
the environment before anything imports Airflow, and keeps a user's own settings when present.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from csp_audit.orchestration.pool import POOL, POOL_DESCRIPTION
from csp_audit.paths import dags_dir


def airflow_executable() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def configure(home: Path) -> None:
    """Point Airflow at a home folder and the project's DAGs (unless the user already has)."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(dags_dir()))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")
    os.environ.setdefault("CSP_AUDIT_TASK_RETRIES", "0")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    # The venv's bin must be on PATH: Airflow starts some of its parts as plain `airflow ...`.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _airflow(*args: str) -> None:
    proc = subprocess.run([airflow_executable(), *args], capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        tail = " ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise RuntimeError(f"`airflow {' '.join(args)}` failed: {tail[:500]}")


def prepare_metadata() -> None:
    """Create or upgrade the metadata DB and make sure the one-slot warehouse pool exists.

    Skipped when this home was already prepared by the same Airflow version (it costs seconds).
    """
    from importlib.metadata import version

    marker = Path(os.environ["AIRFLOW_HOME"]) / ".csp-audit-prepared"
    stamp = f"apache-airflow {version('apache-airflow')}"
    if marker.exists() and marker.read_text().strip() == stamp:
        return
    _airflow("db", "migrate")
    _airflow("pools", "set", POOL, "1", POOL_DESCRIPTION)
    marker.write_text(stamp + "\n")
