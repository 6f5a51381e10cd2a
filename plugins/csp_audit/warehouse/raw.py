"""The raw layer: the delivery register, the gate's verdicts and every dataset's rows, as delivered.

One set of tables serves every dataset of the plan, police.uk included:

- ``raw.deliveries``: one row per loaded delivery (content hash) with its dataset, agency and period;
- ``raw.delivery_validations`` / ``raw.delivery_row_failures``: the gate's verdict per delivery and the
  rows it held back, with the rule;
- ``raw.ds__<dataset>``: the rows of each dataset, text exactly as delivered (empty is null), with
  lineage (``_sha256``, ``_source_file``, ``_row_number``, ``_loaded_at``).

- ``raw.landing_scans`` / ``raw.landing_seen``: every ingest's view of its source (which files, by
  content hash, were there), so the order deliveries arrived in is known without trusting file
  modification times.

Every write is one transaction, so a killed task leaves either the whole delivery or none of it.
Deliveries are identified by content hash: loading the same bytes twice adds nothing. A corrected
re-delivery is stored beside the one it corrects; which one is current is decided in dbt by one rule
for every dataset (``int_deliveries``: of the files in the source at the latest scan, the one that
arrived last for the dataset, agency and period), so nothing here is updated in place and a re-run
cannot change history.
"""

from __future__ import annotations

from typing import Any

import duckdb

from csp_audit.warehouse.connection import now, quote_ident

RAW_DDL = """
create schema if not exists raw;
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
    outcome varchar not null,          -- accepted | rejected
    rows_read bigint,
    rule varchar,
    line bigint,
    detail varchar,
    warnings varchar,                  -- 'rule (n rows); ...'
    validated_at timestamp not null
);
create table if not exists raw.delivery_row_failures (
    sha256 varchar not null,
    row_number bigint not null,
    rule varchar not null
);
create sequence if not exists raw.landing_scan_ids;
create table if not exists raw.landing_scans (
    dataset varchar not null,
    scan_id bigint not null,
    scanned_at timestamp not null
);
create table if not exists raw.landing_seen (
    dataset varchar not null,
    scan_id bigint not null,
    sha256 varchar not null,
    agency varchar not null,
    period varchar not null,
    source_file varchar not null
);
"""

# What the targets step writes (csp_audit.targets.progress) and dbt publishes as audit.target_progress
# and audit.target_checks; created empty so the audit build works before any register exists.
TARGET_PROGRESS_COLUMNS: dict[str, str] = {
    "partnership_code": "VARCHAR",
    "target_id": "VARCHAR",
    "title": "VARCHAR",
    "owner": "VARCHAR",
    "register_file": "VARCHAR",
    "register_sha256": "VARCHAR",
    "metric_mart": "VARCHAR",
    "metric_column": "VARCHAR",
    "metric_where": "VARCHAR",
    "area_code": "VARCHAR",
    "direction": "VARCHAR",
    "baseline_period": "VARCHAR",
    "baseline_value": "DOUBLE",
    "baseline_months_covered": "INTEGER",
    "target_value": "DOUBLE",
    "deadline_period": "VARCHAR",
    "current_period": "VARCHAR",
    "current_value": "DOUBLE",
    "current_months_covered": "INTEGER",
    "latest_period": "VARCHAR",
    "latest_months_covered": "INTEGER",
    "comparison": "VARCHAR",
    "years_elapsed": "INTEGER",
    "years_to_deadline": "INTEGER",
    "expected_value": "DOUBLE",
    "milestone_period": "VARCHAR",
    "milestone_value": "DOUBLE",
    "milestone_met": "BOOLEAN",
    "change_from_baseline": "DOUBLE",
    "pct_change_from_baseline": "DOUBLE",
    "significance_test": "VARCHAR",
    "p_value": "DOUBLE",
    "status": "VARCHAR",
    "status_rule": "VARCHAR",
}
TARGET_CHECK_COLUMNS: dict[str, str] = {
    "partnership_code": "VARCHAR",
    "register_file": "VARCHAR",
    "register_sha256": "VARCHAR",
    "target_id": "VARCHAR",
    "check_result": "VARCHAR",  # 'pass', 'pass with warnings' or 'rejected'
    "rejections": "INTEGER",
    "warnings": "INTEGER",
    "problems": "VARCHAR",  # one '<letter>: <reason>' per line ('<letter> (warning): ...' for warnings)
}
TARGET_TABLES = {"target_progress": TARGET_PROGRESS_COLUMNS, "target_checks": TARGET_CHECK_COLUMNS}
LINEAGE = ("_sha256", "_source_file", "_row_number", "_loaded_at")
LEGACY_POLICE_TABLES = (
    "police_street_rows",
    "police_row_failures",
    "police_file_validations",
    "police_deliveries",
)


def ensure_raw_layer(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables (idempotent), and bring a warehouse of an earlier version up to date."""
    con.execute(RAW_DDL)
    for table, columns in TARGET_TABLES.items():
        defined = ", ".join(f"{name} {dtype}" for name, dtype in columns.items())
        con.execute(f"create table if not exists raw.{table} ({defined})")
    present = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}  # fmt: skip
    if "police_deliveries" in present:
        _migrate_police_tables(con, present)


def dataset_table(dataset_id: str) -> str:
    return f"raw.{quote_ident('ds__' + dataset_id)}"


def ensure_dataset_table(con: duckdb.DuckDBPyConnection, dataset_id: str, columns: list[str]) -> None:
    """Create the raw table of a dataset (lineage + the contract's columns, all text).

    An existing table whose columns differ from the contract is an error, not a silent reshape:
    the plan changed and the stored deliveries no longer match it.
    """
    wanted = [*LINEAGE, *columns]
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
            f"raw table for dataset {dataset_id!r} has columns {found[len(LINEAGE) :]}, but the data plan now "
            f"says {columns}; migrate or rename the dataset"
        )
    if not found:
        cols = ", ".join(f"{quote_ident(c)} varchar" for c in columns)
        con.execute(
            f"create table {dataset_table(dataset_id)} (_sha256 varchar not null, _source_file varchar not null, "
            f"_row_number bigint not null, _loaded_at timestamp not null, {cols})"
        )


def validated(con: duckdb.DuckDBPyConnection, dataset_id: str, fingerprint: str) -> set[str]:
    """Content hashes of the dataset's deliveries already validated with this version of its suites."""
    return {
        r[0]
        for r in con.execute(
            "select sha256 from raw.delivery_validations where dataset = ? and suite_fingerprint = ?",
            [dataset_id, fingerprint],
        ).fetchall()
    }


def accepted_rows(con: duckdb.DuckDBPyConnection, dataset_id: str) -> dict[str, dict[str, int]]:
    """agency -> period -> rows of the dataset's accepted deliveries (for rules on trailing periods)."""
    history: dict[str, dict[str, int]] = {}
    for agency, period, rows in con.execute(
        "select agency, period, rows_read from raw.delivery_validations "
        "where dataset = ? and outcome = 'accepted' and rows_read is not null order by validated_at",
        [dataset_id],
    ).fetchall():
        history.setdefault(agency, {})[period] = int(rows)
    return history


_VERDICT_COLUMNS = ("sha256", "dataset", "agency", "period", "source_file", "received_at", "suite_fingerprint",
                    "outcome", "rows_read", "rule", "line", "detail", "warnings")  # fmt: skip


def record_validation(con: duckdb.DuckDBPyConnection, verdict: dict[str, Any]) -> None:
    """Store a delivery's verdict and its held-back rows, replacing an earlier verdict atomically."""
    failures: list[tuple[int, str]] = verdict.get("row_failures") or []
    con.execute("begin transaction")
    try:
        con.execute("delete from raw.delivery_validations where sha256 = ?", [verdict["sha256"]])
        con.execute("delete from raw.delivery_row_failures where sha256 = ?", [verdict["sha256"]])
        con.execute(
            f"insert into raw.delivery_validations ({', '.join(_VERDICT_COLUMNS)}, validated_at) "  # noqa: S608
            f"values ({', '.join('?' for _ in _VERDICT_COLUMNS)}, ?)",
            [verdict[c] for c in _VERDICT_COLUMNS] + [now()],
        )
        if failures:
            con.execute(
                "insert into raw.delivery_row_failures select ?, unnest(?::bigint[]), unnest(?::varchar[])",
                [verdict["sha256"], [r for r, _ in failures], [rule for _, rule in failures]],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def record_scan(con: duckdb.DuckDBPyConnection, dataset: str, files: list[dict[str, Any]]) -> int:
    """Record what the dataset's source holds now (one transaction); returns the scan's number.

    The arrival of a delivery is the first scan that sees its bytes after one that did not, so a
    re-export, an in-place overwrite and an A -> B -> A restore are ordered as they happened, and a
    file taken away leaves the next build (``int_deliveries``).
    """
    con.execute("begin transaction")
    try:
        scan_id = con.execute("select nextval('raw.landing_scan_ids')").fetchone()[0]
        con.execute("insert into raw.landing_scans values (?, ?, ?)", [dataset, scan_id, now()])
        if files:
            con.execute(
                "insert into raw.landing_seen select ?, ?, unnest(?::varchar[]), unnest(?::varchar[]), "
                "unnest(?::varchar[]), unnest(?::varchar[])",
                [dataset, scan_id, [f["sha256"] for f in files], [f["agency"] for f in files],
                 [f["period"] for f in files], [f["source_file"] for f in files]],
            )  # fmt: skip
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return int(scan_id)


def loaded(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select sha256 from raw.deliveries").fetchall()}


def load_delivery(
    con: duckdb.DuckDBPyConnection,
    *,
    delivery: dict[str, Any],
    columns: list[str],
    rows: tuple[str, list[Any]],
    rows_read: int,
    pseudonymised: tuple[str, ...] = (),
    key_pads: tuple[bytes, bytes] | None = None,
) -> bool:
    """Insert one delivery's rows with lineage in a single transaction; False if these bytes are in already.

    ``rows`` is a relation of the delivery's rows as read (``row_number`` and the contract's columns)
    with its query parameters, e.g. the gate's Parquet copy; the ``pseudonymised`` columns are stored as
    keyed hashes computed in the same statement (:mod:`csp_audit.warehouse.pseudonymise`). A row count
    different from the gate's loads nothing.
    """
    from csp_audit.warehouse import pseudonymise

    if pseudonymised and key_pads is None:
        raise ValueError(
            f"{delivery['source_file']}: columns {list(pseudonymised)} need the pseudonymisation key"
        )
    sha256 = delivery["sha256"]
    loaded_at = now()
    values = [
        pseudonymise.sql(f"r.{quote_ident(c)}", "k.inner_pad", "k.outer_pad")
        if c in pseudonymised
        else f"r.{quote_ident(c)}"
        for c in columns
    ]
    relation, relation_params = rows
    inner, outer = key_pads or (b"", b"")
    con.execute("begin transaction")
    try:
        if con.execute("select 1 from raw.deliveries where sha256 = ?", [sha256]).fetchone():
            con.execute("rollback")
            return False
        con.execute(
            "insert into raw.deliveries values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [sha256, delivery["dataset"], delivery["agency"], delivery["period"], delivery["source_file"],
             delivery["size"], rows_read, delivery["received_at"], loaded_at],
        )  # fmt: skip
        inserted = con.execute(
            f"insert into {dataset_table(delivery['dataset'])} "  # noqa: S608 - names quoted
            f"select ?, ?, r.row_number, ?, {', '.join(values)} from {relation} as r "
            "cross join (select ?::blob as inner_pad, ?::blob as outer_pad) as k",
            [sha256, delivery["source_file"], loaded_at, *relation_params, inner, outer],
        ).fetchone()[0]
        if inserted != rows_read:
            raise RuntimeError(
                f"{delivery['source_file']}: {inserted} rows to load but the gate read {rows_read}; nothing loaded"
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return True


# --------------------------------------------------------------------------- earlier warehouses


def _migrate_police_tables(con: duckdb.DuckDBPyConnection, present: set[str]) -> None:
    """Move police.uk data from the tables of earlier versions (``raw.police_*``) into the shared ones.

    Nothing is lost: every delivery, verdict, held-back row and row moves, keyed by content hash as
    before; the force and period come from the file name. Then the old tables are dropped.
    """
    from csp_audit.sources import police_uk

    mapping = {r[0]: r[1] for r in con.execute(
        "select force_slug, agency from raw.plan_police_agencies").fetchall()} if "plan_police_agencies" in present else {}  # fmt: skip
    names = []
    for sha256, source_file in con.execute(
        "select sha256, source_file from raw.police_file_validations union "
        "select sha256, source_file from raw.police_deliveries"
    ).fetchall():
        parsed = police_uk.parse_file_name(source_file)
        if parsed is not None:
            names.append((sha256, parsed[0], mapping.get(parsed[1], parsed[1])))
    columns = ", ".join(quote_ident(c) for c in police_uk.HEADER)
    con.execute("begin transaction")
    try:
        ensure_dataset_table(con, police_uk.DATASET, list(police_uk.HEADER))
        con.execute("create temp table _legacy_names (sha256 varchar, period varchar, agency varchar)")
        if names:
            con.executemany("insert into _legacy_names values (?, ?, ?)", [list(n) for n in names])
        con.execute(
            "insert into raw.delivery_validations select v.sha256, 'police_uk_street', n.agency, n.period, "
            "v.source_file, coalesce(v.received_at, v.validated_at), v.suite_fingerprint, v.outcome, v.rows_read, "
            "v.rule, v.line, v.detail, v.warnings, v.validated_at from raw.police_file_validations v "
            "join _legacy_names n using (sha256) "
            "where v.sha256 not in (select sha256 from raw.delivery_validations)"
        )
        con.execute(
            "insert into raw.deliveries select d.sha256, 'police_uk_street', n.agency, n.period, d.source_file, "
            "d.size_bytes, d.rows_read, coalesce(v.received_at, d.loaded_at), d.loaded_at "
            "from raw.police_deliveries d join _legacy_names n using (sha256) "
            "left join raw.police_file_validations v using (sha256) "
            "where d.sha256 not in (select sha256 from raw.deliveries)"
        )
        con.execute(
            "insert into raw.delivery_row_failures select sha256, row_number, rule from raw.police_row_failures"
        )
        con.execute(
            f"insert into {dataset_table(police_uk.DATASET)} select _sha256, _source_file, _row_number, _loaded_at, "  # noqa: S608
            f"{', '.join(f'nullif({c}, {chr(39) * 2})' for c in columns.split(', '))} from raw.police_street_rows"
        )
        for table in (*LEGACY_POLICE_TABLES, "plan_police_agencies"):
            con.execute(f"drop table if exists raw.{table}")
        con.execute("drop table _legacy_names")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
