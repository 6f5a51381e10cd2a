"""Prepare a local Airflow for the CLI: home, DAG folder, metadata DB and the warehouse pool.

Airflow reads its configuration from the environment when first imported, so this module sets
the environment before anything imports Airflow, and keeps a user's own settings when present.
"""

from __future__ import annotations

import hashlib
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


def _default_sqlite(home: Path) -> Path | None:
    """The metadata DB file when Airflow uses its default SQLite DB in ``home`` (None: the user's own DB)."""
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or os.environ.get(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"
    ):
        return None
    return home / "airflow.db"


def cache_root() -> Path:
    """The machine's cache for csp-audit: ``$CSP_AUDIT_CACHE``, else ``$XDG_CACHE_HOME/csp-audit``, else
    ``~/.cache/csp-audit``."""
    return Path(
        os.environ.get("CSP_AUDIT_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "csp-audit"
    )


def template_file(stamp: str) -> Path:
    """A migrated, empty metadata DB kept for this Airflow version and pool, shared by new homes.

    Creating Airflow's schema runs a few hundred migrations (about 9 s of CPU, far more on a busy
    machine), and every new warehouse folder has a new Airflow home: copying a migrated copy costs a
    file copy. The cache is ``$CSP_AUDIT_CACHE``, else ``$XDG_CACHE_HOME/csp-audit``, else
    ``~/.cache/csp-audit``; its name carries a hash of everything the schema depends on.
    """
    root = cache_root()
    key = hashlib.sha256(f"{stamp}|{POOL}|{POOL_DESCRIPTION}|{sys.version_info[:2]}".encode()).hexdigest()[
        :16
    ]
    return Path(root) / f"airflow-metadata-{key}.sqlite"


def _copy_atomically(src: Path, dst: Path) -> None:
    """Copy a SQLite DB with SQLite's backup API (Airflow runs it in WAL mode, so the file alone may
    not hold the latest pages), to a partial file renamed into place: a reader never sees half a DB."""
    import sqlite3

    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.name}.{os.getpid()}.partial")
    try:
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(partial)
            try:
                source.backup(target)
            finally:
                target.close()
        finally:
            source.close()
        os.replace(partial, dst)
    except sqlite3.Error as exc:
        raise OSError(f"copying {src} to {dst}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def prepare_metadata() -> None:
    """Create or upgrade the metadata DB and make sure the one-slot warehouse pool exists.

    Done in this process (Airflow is imported here once, and the CLI needs it next anyway: starting
    `airflow db migrate` and `airflow pools set` as commands cost each a fresh interpreter and import).
    Skipped when this home was already prepared by the same Airflow version; a new home on the default
    SQLite DB starts from a migrated copy (:func:`template_file`) when one exists.
    """
    import logging
    from importlib.metadata import version

    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".csp-audit-prepared"
    stamp = f"apache-airflow {version('apache-airflow')}"
    if marker.exists() and marker.read_text().strip() == stamp:
        return
    sqlite = _default_sqlite(home)
    template = template_file(stamp)
    if sqlite is not None and not sqlite.exists() and template.is_file():
        try:
            _copy_atomically(template, sqlite)
            marker.write_text(stamp + "\n")
            return
        except OSError as exc:
            sqlite.unlink(missing_ok=True)
            raise RuntimeError(
                f"preparing Airflow's metadata database failed: {type(exc).__name__}: {exc}"
            ) from exc
    migration_log = logging.getLogger("alembic")
    level = migration_log.level
    migration_log.setLevel(logging.WARNING)  # one line per migration step is not the run's progress
    try:
        from airflow.models.pool import Pool
        from airflow.utils import db

        fresh = sqlite is not None and not sqlite.exists()
        db.upgradedb()
        Pool.create_or_update_pool(POOL, 1, POOL_DESCRIPTION, include_deferred=False)
    except Exception as exc:  # the metadata DB on a full disk, an unreadable home: one line, the cause
        raise RuntimeError(
            f"preparing Airflow's metadata database failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        migration_log.setLevel(level)
    marker.write_text(stamp + "\n")
    if fresh:
        try:  # only a DB created here from nothing is a clean template (no runs, no user's objects)
            _copy_atomically(sqlite, template)
        except OSError:
            pass  # no cache (read-only home, full disk): the next new home migrates again
