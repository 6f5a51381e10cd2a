"""Opening the warehouse file and writing whole tables.

DuckDB allows one writer per file, across processes, and a reader blocks a writer: every task opens
the file for as long as it works and closes it promptly (Airflow's one-slot pool ``duckdb_warehouse``
queues the tasks that do).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB: names from the data plan never reach SQL unquoted."""
    return '"' + name.replace('"', '""') + '"'


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@contextmanager
def connect(warehouse: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (creating the raw layer when writing) and always close it, releasing the lock."""
    from csp_audit.warehouse.raw import ensure_raw_layer

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=read_only)
    try:
        if not read_only:
            ensure_raw_layer(con)
        yield con
    finally:
        con.close()


def replace_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Replace whole raw tables from frames in one transaction (the region's geography, the plan)."""
    con.execute("begin transaction")
    try:
        for name, frame in tables.items():
            con.register("_frame", frame)
            con.execute(f"create or replace table raw.{quote_ident(name)} as select * from _frame")  # noqa: S608
            con.unregister("_frame")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
