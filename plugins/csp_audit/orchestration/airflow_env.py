"""Prepare a local Airflow for the CLI: home, DAG folder, metadata DB and the warehouse pool.

Airflow reads its configuration from the environment when first imported, so this module sets
the environment before anything imports Airflow, and keeps a user's own settings when present.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from csp_audit.orchestration.pool import POOL, POOL_DESCRIPTION
from csp_audit.paths import dags_dir


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


def prepare_metadata() -> None:
    """Create or upgrade the metadata DB and make sure the one-slot warehouse pool exists.

    Done in this process (Airflow is imported here once, and the CLI needs it next anyway: starting
    `airflow db migrate` and `airflow pools set` as commands cost each a fresh interpreter and import).
    Skipped when this home was already prepared by the same Airflow version.
    """
    import logging
    from importlib.metadata import version

    marker = Path(os.environ["AIRFLOW_HOME"]) / ".csp-audit-prepared"
    stamp = f"apache-airflow {version('apache-airflow')}"
    if marker.exists() and marker.read_text().strip() == stamp:
        return
    migration_log = logging.getLogger("alembic")
    level = migration_log.level
    migration_log.setLevel(logging.WARNING)  # one line per migration step is not the run's progress
    try:
        from airflow.models.pool import Pool
        from airflow.utils import db

        db.upgradedb()
        Pool.create_or_update_pool(POOL, 1, POOL_DESCRIPTION, include_deferred=False)
    except Exception as exc:  # the metadata DB on a full disk, an unreadable home: one line, the cause
        raise RuntimeError(
            f"preparing Airflow's metadata database failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        migration_log.setLevel(level)
    marker.write_text(stamp + "\n")
