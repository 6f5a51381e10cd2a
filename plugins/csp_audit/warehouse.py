"""The DuckDB warehouse's raw layer: what Python writes before dbt takes over.

Every write is one transaction, so a killed task leaves either the whole delivery or none of it.
Deliveries are identified by content hash: loading the same bytes twice adds nothing, and a
corrected file under the same name supersedes the earlier one while both stay stored.
DuckDB allows one writer per file; callers open a connection per task and close it promptly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

RAW_DDL = """
create schema if not exists raw;
create table if not exists raw.police_deliveries (
    sha256 varchar primary key,
    source_file varchar not null,
    period varchar not null,
    force varchar not null,
    size_bytes bigint not null,
    rows_read bigint not null,
    loaded_at timestamp not null,
    superseded_by varchar
);
create table if not exists raw.police_street_rows (
    _sha256 varchar not null,
    _source_file varchar not null,
    _row_number bigint not null,
    _loaded_at timestamp not null,
    "Crime ID" varchar, "Month" varchar, "Reported by" varchar, "Falls within" varchar,
    "Longitude" varchar, "Latitude" varchar, "Location" varchar, "LSOA code" varchar,
    "LSOA name" varchar, "Crime type" varchar, "Last outcome category" varchar, "Context" varchar
);
create table if not exists raw.police_file_validations (
    sha256 varchar primary key,
    source_file varchar not null,
    suite varchar not null,
    suite_fingerprint varchar not null,
    outcome varchar not null,          -- accepted | rejected
    rows_read bigint,
    rule varchar,
    line bigint,
    detail varchar,
    warnings varchar,                  -- 'rule (n rows); ...'
    validated_at timestamp not null
);
alter table raw.police_file_validations add column if not exists received_at timestamp;
create table if not exists raw.police_row_failures (
    sha256 varchar not null,
    row_number bigint not null,
    rule varchar not null
);
-- every other dataset of the data plan: one delivery = one file for (dataset, agency, period)
create table if not exists raw.deliveries (
    sha256 varchar primary key,
    dataset varchar not null,
    agency varchar not null,
    period varchar not null,
    source_file varchar not null,
    size_bytes bigint not null,
    rows_read bigint not null,
    received_at timestamp not null,
    loaded_at timestamp not null
);
create table if not exists raw.delivery_validations (
    sha256 varchar primary key,
    dataset varchar not null,
    agency varchar not null,
    period varchar not null,
    source_file varchar not null,
    received_at timestamp not null,
    suite_fingerprint varchar not null,
    outcome varchar not null,
    rows_read bigint,
    rule varchar,
    line bigint,
    detail varchar,
    warnings varchar,
    validated_at timestamp not null
);
create table if not exists raw.delivery_row_failures (
    sha256 varchar not null,
    row_number bigint not null,
    rule varchar not null
);
"""


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB: names from the data plan never reach SQL unquoted."""
    return '"' + name.replace('"', '""') + '"'


def dataset_table(dataset_id: str) -> str:
    return f"raw.{quote_ident('ds__' + dataset_id)}"


def ensure_dataset_table(con: duckdb.DuckDBPyConnection, dataset_id: str, columns: list[str]) -> None:
    """Create the raw table of a plan dataset (lineage + the contract's columns, all text).

    An existing table whose columns differ from the contract is an error, not a silent reshape:
    the plan changed and the stored deliveries no longer match it.
    """
    wanted = ["_sha256", "_source_file", "_row_number", "_loaded_at", *columns]
    found = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position",
            ["ds__" + dataset_id],
        ).fetchall()
    ]
    if found and found != wanted:
        raise ValueError(
            f"raw table for dataset {dataset_id!r} has columns {found[4:]}, but the data plan now says {columns}; "
            "migrate or rename the dataset"
        )
    if not found:
        cols = ", ".join(f"{quote_ident(c)} varchar" for c in columns)
        con.execute(
            f"create table {dataset_table(dataset_id)} (_sha256 varchar not null, _source_file varchar not null, "
            f"_row_number bigint not null, _loaded_at timestamp not null, {cols})"
        )


GEOGRAPHY_TABLES = ("geo_lsoas", "geo_populations", "region_partnerships", "geo_vintages")


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@contextmanager
def connect(warehouse: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (creating the raw schema) and always close it, releasing the file lock."""
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=read_only)
    try:
        if not read_only:
            con.execute(RAW_DDL)
        yield con
    finally:
        con.close()


def replace_tables(con: duckdb.DuckDBPyConnection, tables: dict[str, pd.DataFrame]) -> None:
    """Replace whole raw tables from frames in one transaction (used for the region's geography)."""
    con.execute("begin transaction")
    try:
        for name, frame in tables.items():
            con.register("_frame", frame)
            con.execute(f'create or replace table raw."{name}" as select * from _frame')  # noqa: S608 - fixed names
            con.unregister("_frame")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


_POLICE_SOURCE = re.compile(r"(?:^|/)(\d{4}-\d{2})-(.+)-street\.csv$")


def accepted_rows_by_force(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """force -> period -> rows of the accepted police files already validated (for the row-count rule)."""
    history: dict[str, dict[str, int]] = {}
    for source_file, rows in con.execute(
        "select source_file, rows_read from raw.police_file_validations where outcome = 'accepted'"
    ).fetchall():
        match = _POLICE_SOURCE.search(source_file)
        if match and rows is not None:
            history.setdefault(match[2], {})[match[1]] = int(rows)
    return history


def validated(con: duckdb.DuckDBPyConnection, fingerprint: str) -> dict[str, str]:
    """sha256 -> outcome for files already validated with this version of the suite."""
    rows = con.execute(
        "select sha256, outcome from raw.police_file_validations where suite_fingerprint = ?", [fingerprint]
    ).fetchall()
    return dict(rows)


def record_validation(
    con: duckdb.DuckDBPyConnection,
    *,
    sha256: str,
    source_file: str,
    suite: str,
    fingerprint: str,
    outcome: str,
    rows_read: int | None,
    rule: str | None,
    line: int | None,
    detail: str | None,
    warnings: str | None,
    row_failures: list[tuple[int, str]],
    received_at: str | None = None,
) -> None:
    """Store one file's verdict and its row-level failures, replacing any earlier verdict atomically."""
    con.execute("begin transaction")
    try:
        con.execute("delete from raw.police_file_validations where sha256 = ?", [sha256])
        con.execute("delete from raw.police_row_failures where sha256 = ?", [sha256])
        con.execute(
            "insert into raw.police_file_validations (sha256, source_file, suite, suite_fingerprint, outcome, "
            "rows_read, rule, line, detail, warnings, validated_at, received_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sha256,
                source_file,
                suite,
                fingerprint,
                outcome,
                rows_read,
                rule,
                line,
                detail,
                warnings,
                now(),
                received_at or None,
            ],  # fmt: skip
        )
        if row_failures:
            failures = pd.DataFrame(row_failures, columns=["row_number", "rule"])
            failures.insert(0, "sha256", sha256)
            con.register("_failures", failures)
            con.execute("insert into raw.police_row_failures select sha256, row_number, rule from _failures")
            con.unregister("_failures")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def loaded(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select sha256 from raw.police_deliveries").fetchall()}


def load_delivery(
    con: duckdb.DuckDBPyConnection,
    *,
    sha256: str,
    source_file: str,
    period: str,
    force: str,
    size_bytes: int,
    rows: pd.DataFrame | Path,
    rows_read: int,
) -> bool:
    """Insert one file's rows with lineage in a single transaction; False if these bytes are already in.

    ``rows`` is the parsed file, as a frame or as the Parquet copy the gate wrote when it parsed
    it (so the CSV is parsed once). A different delivery already stored under the same
    ``source_file`` is marked superseded by this one (its rows are kept, so earlier figures can
    still say where they came from).
    """
    loaded_at = now()
    con.execute("begin transaction")
    try:
        if con.execute("select 1 from raw.police_deliveries where sha256 = ?", [sha256]).fetchone():
            con.execute("rollback")
            return False
        con.execute(
            "update raw.police_deliveries set superseded_by = ? where source_file = ? and superseded_by is null",
            [sha256, source_file],
        )
        con.execute(
            "insert into raw.police_deliveries values (?, ?, ?, ?, ?, ?, ?, null)",
            [sha256, source_file, period, force, size_bytes, rows_read, loaded_at],
        )
        columns = (
            '"Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location", '
            '"LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context"'
        )
        if isinstance(rows, Path):
            relation, params = "read_parquet(?)", [str(rows)]
        else:
            con.register("_rows", rows)
            relation, params = "_rows", []
        inserted = con.execute(
            f"insert into raw.police_street_rows select ?, ?, row_number, ?, {columns} from {relation}",  # noqa: S608 - fixed names
            [sha256, source_file, loaded_at, *params],
        ).fetchone()[0]
        if not isinstance(rows, Path):
            con.unregister("_rows")
        if inserted != rows_read:
            raise RuntimeError(
                f"{source_file}: {inserted} rows to load but the gate read {rows_read}; nothing loaded"
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return True


def record_delivery_validation(
    con: duckdb.DuckDBPyConnection,
    *,
    verdict: dict[str, object],
    row_failures: list[tuple[int, str]],
) -> None:
    """Store a plan delivery's verdict and row-level failures, replacing an earlier verdict atomically."""
    columns = ("sha256", "dataset", "agency", "period", "source_file", "received_at", "suite_fingerprint",
               "outcome", "rows_read", "rule", "line", "detail", "warnings")  # fmt: skip
    con.execute("begin transaction")
    try:
        con.execute("delete from raw.delivery_validations where sha256 = ?", [verdict["sha256"]])
        con.execute("delete from raw.delivery_row_failures where sha256 = ?", [verdict["sha256"]])
        con.execute(
            f"insert into raw.delivery_validations ({', '.join(columns)}, validated_at) "  # noqa: S608 - fixed names
            f"values ({', '.join('?' for _ in columns)}, ?)",
            [verdict[c] for c in columns] + [now()],
        )
        if row_failures:
            failures = pd.DataFrame(row_failures, columns=["row_number", "rule"])
            failures.insert(0, "sha256", verdict["sha256"])
            con.register("_failures", failures)
            con.execute(
                "insert into raw.delivery_row_failures select sha256, row_number, rule from _failures"
            )
            con.unregister("_failures")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def load_dataset_delivery(
    con: duckdb.DuckDBPyConnection,
    *,
    dataset_id: str,
    delivery: dict[str, object],
    frame: pd.DataFrame,
    columns: list[str],
) -> bool:
    """Insert one plan delivery with lineage in a single transaction; False if these bytes are already in.

    Re-deliveries of a period are all kept; which one is current is derived in dbt (the latest
    received), so nothing here is updated in place and a re-run cannot change history.
    """
    loaded_at = now()
    con.execute("begin transaction")
    try:
        if con.execute("select 1 from raw.deliveries where sha256 = ?", [delivery["sha256"]]).fetchone():
            con.execute("rollback")
            return False
        con.execute(
            "insert into raw.deliveries values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [delivery["sha256"], dataset_id, delivery["agency"], delivery["period"], delivery["source_file"],
             delivery["size"], len(frame), delivery["received_at"], loaded_at],
        )  # fmt: skip
        con.register("_rows", frame)
        select = ", ".join(quote_ident(c) for c in columns)
        con.execute(
            f"insert into {dataset_table(dataset_id)} select ?, ?, row_number, ?, {select} from _rows",  # noqa: S608 - quoted
            [delivery["sha256"], delivery["source_file"], loaded_at],
        )
        con.unregister("_rows")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return True
