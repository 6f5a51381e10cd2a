"""A new Airflow home starts from a migrated copy of the metadata DB instead of migrating again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PREPARE = (
    "from pathlib import Path; import os\n"
    "from csp_audit.orchestration import airflow_env\n"
    "airflow_env.configure(Path(os.environ['AIRFLOW_HOME']))\n"
    "airflow_env.prepare_metadata()\n"
    "print(airflow_env.template_file(open(Path(os.environ['AIRFLOW_HOME']) / '.csp-audit-prepared').read().strip()))\n"
)


def _prepare(home: Path, cache: Path, **extra: str) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), CSP_AUDIT_CACHE=str(cache), **extra)
    proc = subprocess.run(
        [sys.executable, "-c", PREPARE], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(proc.stdout.strip().splitlines()[-1])


def _rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def test_a_new_home_copies_the_migrated_db_and_a_users_own_db_is_left_alone(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    template = _prepare(tmp_path / "first", cache)
    assert template.is_file() and template.parent == cache
    first = tmp_path / "first" / "airflow.db"
    head = _rows(first, "select version_num from alembic_version")
    assert _rows(template, "select version_num from alembic_version") == head
    # mark the template: a home made from it carries the mark, a migrated one could not
    with sqlite3.connect(template) as con:
        con.execute("update slot_pool set description = 'from the template' where pool = 'duckdb_warehouse'")
    assert _prepare(tmp_path / "second", cache) == template
    second = tmp_path / "second" / "airflow.db"
    assert _rows(second, "select description from slot_pool where pool = 'duckdb_warehouse'") == [
        ("from the template",)
    ]
    assert _rows(second, "select version_num from alembic_version") == head
    # a home already prepared is not touched again, and a user's own DB is migrated, never copied over
    own = tmp_path / "own.db"
    _prepare(tmp_path / "third", cache, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{own}")
    assert not (tmp_path / "third" / "airflow.db").exists()
    assert _rows(own, "select description from slot_pool where pool = 'duckdb_warehouse'") != [
        ("from the template",)
    ]
