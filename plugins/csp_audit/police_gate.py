"""The Great Expectations gate for police.uk street files, batched for speed.

Great Expectations costs about 0.6 s of fixed work per validation whatever the batch size, so one
validation per file spent most of a national year (516 files) on overhead. The gate therefore
validates the rows of many files in one batch and attributes each failure back to its file through
the ``_file`` column of the unexpected rows:

- each file is parsed strictly (in parallel worker processes) into a Parquet copy, which the load
  step reads later;
- row rules (suite ``police_uk_street``) run in DuckDB through GX's SQL path (see
  :mod:`csp_audit.gx_duckdb`), once per chunk of files (bounded by bytes, so memory stays flat);
  the chunk's table is built in SQL from the Parquet copies, and what used to be a per-file
  parameter is a column: ``_file_month`` (the file's month) and ``_lsoa_in_force_area`` (whether
  the row's LSOA lies in the publishing force's area);
- file rules (suite ``police_uk_file``: share of rows located, rows against the force's trailing
  months) run once per validation on a small table with one row per file.

Every file still gets its own verdict (accepted or rejected, with the rule), its own warnings and
its own quarantined rows, exactly as if it had been validated alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from csp_audit import data_docs, gx_duckdb, warehouse
from csp_audit.config import load_region
from csp_audit.police_uk import HEADER, FileRejected, PoliceFile, read_delivery
from csp_audit.progress import progress

ROW_SUITE = "police_uk_street"
FILE_SUITE = "police_uk_file"
TRAILING_MONTHS = 6
# Bytes of CSV validated in one batch: a national month (43 files, about 110 MB) is one batch.
CHUNK_BYTES = int(os.environ.get("CSP_AUDIT_GATE_BATCH_MB", "128")) * 1024 * 1024
PARALLEL_FROM = 16  # files; below this the parse stays in-process


def fingerprint() -> str:
    """One fingerprint for both suites: a change to either re-validates every file."""
    from csp_audit import quality

    return quality.suite_fingerprint(ROW_SUITE)[:8] + quality.suite_fingerprint(FILE_SUITE)[:8]


def parsed_copy(warehouse_file: str, sha256: str) -> Path:
    """Where the gate keeps a parsed file for the load step (Parquet, keyed by content hash)."""
    return Path(warehouse_file).parent / "parsed" / f"{sha256}.parquet"


def keep_parsed(frame: pd.DataFrame, path: Path) -> None:
    """Write the parsed rows atomically, so a killed task never leaves a partial copy to load."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    duckdb.from_df(frame.drop(columns=[c for c in frame.columns if c.startswith("_")])).write_parquet(
        str(partial)
    )
    os.replace(partial, path)


def trailing_median(history: dict[str, int], period: str) -> float | None:
    """Median rows of the force's trailing six months before ``period``, once three are known."""
    earlier = sorted(p for p in history if p < period)[-TRAILING_MONTHS:]
    if len(earlier) < 3:
        return None
    counts = sorted(history[p] for p in earlier)
    middle = len(counts) // 2
    return float(counts[middle] if len(counts) % 2 else (counts[middle - 1] + counts[middle]) / 2)


@dataclass
class FileCheck:
    """What the gate found for one file."""

    item: PoliceFile
    rows: int | None = None
    located: int = 0
    rejected: FileRejected | None = None
    critical: list[Any] = field(default_factory=list)
    warnings: list[Any] = field(default_factory=list)
    quarantined: dict[int, list[str]] = field(default_factory=dict)

    def verdict(self, suite_fingerprint: str) -> dict[str, Any]:
        item = self.item
        verdict: dict[str, Any] = {"sha256": item.sha256, "source_file": item.source_file, "suite": ROW_SUITE,
                                   "fingerprint": suite_fingerprint, "received_at": item.received_at}  # fmt: skip
        if self.rejected is not None:
            exc = self.rejected
            verdict.update(outcome="rejected", rows_read=None, rule=exc.rule, line=exc.line,
                           detail=exc.detail, warnings=None, row_failures=[])  # fmt: skip
            return verdict
        first = self.critical[0] if self.critical else None
        verdict.update(
            outcome="rejected" if first else "accepted",
            rows_read=self.rows,
            rule=first.rule if first else None,
            line=1 if first else None,
            detail=first.detail if first else None,
            warnings="; ".join(
                f"{w.rule} ({w.unexpected_count} rows)" for w in sorted(self.warnings, key=_rule)
            )
            or None,
            row_failures=[
                (row, rule) for row, rules in sorted(self.quarantined.items()) for rule in sorted(rules)
            ],
        )
        return verdict


def _rule(finding: Any) -> str:
    return finding.rule


def _chunks(todo: list[PoliceFile], order: list[int]) -> Iterator[list[int]]:
    """Positions in ``todo``, in ``order``, grouped so each group holds at most CHUNK_BYTES of CSV."""
    chunk: list[int] = []
    size = 0
    for index in order:
        if chunk and size + todo[index].size > CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(index)
        size += todo[index].size
    if chunk:
        yield chunk


def _attribute(result: Any, checks: dict[int, FileCheck], in_batch: list[int]) -> None:
    """Spread one batch result over its files by the ``_file`` of each unexpected row."""
    from csp_audit import quality

    index_columns = ("_file", "row_number")
    for finding, per_file in quality.findings_by_key(result, "_file", index_columns):
        targets = per_file if per_file is not None else dict.fromkeys(in_batch)
        for index, entries in targets.items():
            check = checks[int(index)]
            local = finding if entries is None else finding.for_rows(entries, index_columns)
            if finding.severity == "critical":
                check.critical.append(local)
            elif finding.severity == "warning":
                check.warnings.append(local)
            else:
                for entry in entries or []:
                    if "row_number" in entry:
                        check.quarantined.setdefault(entry["row_number"], []).append(finding.rule)


def validate(region_file: str, warehouse_file: str, files: list[PoliceFile]) -> dict[str, Any]:
    """Run both suites on every file not yet validated with the current suites; store the verdicts."""

    region = load_region(region_file)
    min_lon, min_lat, max_lon, max_lat = region.bounding_box
    suite_fingerprint = fingerprint()
    with warehouse.connect(Path(warehouse_file)) as con:
        done = warehouse.validated(con, suite_fingerprint)
        history = warehouse.accepted_rows_by_force(con)
        lsoa_pfa = dict(con.execute("select lsoa_code, pfa_code from raw.geo_lsoas").fetchall())
    # oldest first per force, so each file's trailing months include the files validated before it
    todo = sorted((f for f in files if f.sha256 not in done), key=lambda f: (f.force, f.period))
    progress(f"validate: {len(files)} files, {len(todo)} new to the gate "
             f"(suites {ROW_SUITE} + {FILE_SUITE} {suite_fingerprint})")  # fmt: skip
    checks = {i: FileCheck(item) for i, item in enumerate(todo)}
    parameters = {"min_longitude": min_lon, "max_longitude": max_lon,
                  "min_latitude": min_lat, "max_latitude": max_lat}  # fmt: skip
    order = sorted(range(len(todo)), key=lambda i: (todo[i].period, todo[i].force))
    with gx_duckdb.scratch(Path(warehouse_file).parent / "gate") as box:
        _row_rules(box, todo, order, checks, parameters, lsoa_pfa, warehouse_file)
        _file_rules(box, todo, checks, history, warehouse_file)
    verdicts = [checks[i].verdict(suite_fingerprint) for i in range(len(todo))]
    for verdict in verdicts:
        if verdict["outcome"] == "rejected":
            progress(f"validate: REJECTED {verdict['source_file']}, line {verdict['line']}: "
                     f"rule {verdict['rule']}: {verdict['detail']}")  # fmt: skip
    with warehouse.connect(Path(warehouse_file)) as con:
        for verdict in verdicts:
            warehouse.record_validation(con, **verdict)
    rejected = sum(v["outcome"] == "rejected" for v in verdicts)
    quarantined = sum(len({r for r, _ in v["row_failures"]}) for v in verdicts)
    progress(
        f"validate: {len(verdicts) - rejected} accepted, {rejected} rejected, {quarantined} rows quarantined"
    )
    return {"validated": len(verdicts), "rejected": rejected, "rows_quarantined": quarantined}


def _parse(job: tuple[int, str, str, str]) -> tuple[int, int | None, int, tuple[int, str, str] | None]:
    """Parse one file strictly and keep it as Parquet: (index, rows, rows located, rejection).

    Runs in a worker process, so it returns plain values (the rejection as line, rule, detail).
    """
    index, path, source_file, parquet = job
    try:
        frame = read_delivery(Path(path), source_file)
    except FileRejected as exc:
        return index, None, 0, (exc.line, exc.rule, exc.detail)
    keep_parsed(frame, Path(parquet))
    return index, len(frame), int((frame["LSOA code"].fillna("") != "").sum()), None


def _parse_all(jobs: list[tuple[int, str, str, str]]) -> Iterator[tuple[int, int | None, int, Any]]:
    """Parse in parallel worker processes (the CSV parse is pure Python): one per core, at most 4.

    Workers are started fresh (forkserver) rather than forked, so they inherit no open DuckDB or
    Great Expectations state. Few files are parsed in-process: starting workers costs a second.
    """
    workers = int(os.environ.get("CSP_AUDIT_GATE_WORKERS", str(min(os.cpu_count() or 1, 4))))
    if workers <= 1 or len(jobs) < PARALLEL_FROM:
        yield from map(_parse, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        yield from pool.map(_parse, jobs, chunksize=4)


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _batch_sql(table: str, parquet_files: list[str]) -> str:
    """The batch GX sees, built in DuckDB from the files' Parquet copies (table ``files`` lists them).

    Empty strings are missing values; ``_file_month`` and ``_lsoa_in_force_area`` carry what used to
    be per-file parameters; the force's area is the PFA where most of the file's located rows fall.
    """
    quoted = [f'"{c}"' for c in HEADER]
    values = ",\n        ".join(f"nullif(p.{q}, '') as {q}" for q in quoted)
    return f"""
create or replace table {table} as
with p as (
    select f._file, f._file_month, r.*
    from read_parquet([{", ".join(map(_sql_text, parquet_files))}], filename = true) r
    join files f on f.parquet = r.filename
),
located as (
    select p._file, g.pfa_code, count(*) as n
    from p join lsoa_pfa g on g.lsoa_code = p."LSOA code"
    group by all
),
main_area as (
    select _file, pfa_code from located
    qualify row_number() over (partition by _file order by n desc, pfa_code) = 1
)
select
    p.row_number,
        {values},
    try_cast(nullif(p."Longitude", '') as double) as _longitude,
    try_cast(nullif(p."Latitude", '') as double) as _latitude,
    p._file,
    p._file_month,
    case
        when nullif(p."LSOA code", '') is null then null
        when m.pfa_code is null or g.pfa_code = m.pfa_code then 'yes'
        else 'no'
    end as _lsoa_in_force_area,
    case when nullif(p."Crime ID", '') is not null then p._file || ':' || p."Crime ID" end as _file_crime_id
from p
left join lsoa_pfa g on g.lsoa_code = p."LSOA code"
left join main_area m on m._file = p._file
order by p._file, p.row_number
"""  # noqa: S608 - names are generated here, values come from tables


def _row_rules(box: Any, todo: list[PoliceFile], order: list[int], checks: dict[int, FileCheck],
               parameters: dict[str, Any], lsoa_pfa: dict[str, str], warehouse_file: str) -> None:  # fmt: skip
    """Parse every file to Parquet, then validate the rows chunk by chunk, one batch per chunk."""
    from csp_audit import quality

    jobs = [
        (i, todo[i].path, todo[i].source_file, str(parsed_copy(warehouse_file, todo[i].sha256)))
        for i in order
    ]
    for index, rows, located, rejected in _parse_all(jobs):
        if rejected is not None:
            checks[index].rejected = FileRejected(todo[index].source_file, *rejected)
        else:
            checks[index].rows, checks[index].located = rows, located
    progress(f"validate: {len(todo)} files parsed")
    with box.connection() as con:
        con.register(
            "lsoa_pfa_frame", pd.DataFrame(list(lsoa_pfa.items()), columns=["lsoa_code", "pfa_code"])
        )
        con.execute("create or replace table lsoa_pfa as select * from lsoa_pfa_frame")
        con.unregister("lsoa_pfa_frame")
    checked = 0
    for chunk in _chunks(todo, order):
        parsed = [i for i in chunk if checks[i].rejected is None]
        checked += len(chunk)
        if not parsed:
            continue
        table = box.new_table()
        files = pd.DataFrame({
            "_file": parsed,
            "_file_month": [todo[i].period for i in parsed],
            "parquet": [str(parsed_copy(warehouse_file, todo[i].sha256)) for i in parsed],
        })  # fmt: skip
        with box.connection() as con:
            con.register("files_frame", files)
            con.execute("create or replace table files as select * from files_frame")
            con.unregister("files_frame")
            con.execute(_batch_sql(table, list(files["parquet"])))
        result = box.validate_table(table, quality.suite(ROW_SUITE), parameters, ["_file", "row_number"])
        with box.connection() as con:
            con.execute(f"drop table {table}")
        _attribute(result, checks, parsed)
        periods = sorted({todo[i].period for i in parsed})
        data_docs.record(warehouse_file, quality.suite(ROW_SUITE), result,
                         f"{periods[0]}..{periods[-1]}", f"{len(parsed)}-files-{todo[min(parsed)].sha256[:12]}")  # fmt: skip
        for i in parsed:
            if checks[i].critical:
                parsed_copy(warehouse_file, todo[i].sha256).unlink(missing_ok=True)
        progress(f"validate: {checked}/{len(todo)} files checked (row rules)")


def _file_rules(box: Any, todo: list[PoliceFile], checks: dict[int, FileCheck],
                history: dict[str, dict[str, int]], warehouse_file: str) -> None:  # fmt: skip
    """One batch with a row per parsed file, in (force, period) order for the trailing months."""
    from csp_audit import quality

    summary = []
    for i, item in enumerate(todo):
        check = checks[i]
        if check.rejected is not None or check.critical or check.rows is None:
            continue
        median = trailing_median(history.get(item.force, {}), item.period)
        summary.append({"_file": i, "source_file": item.source_file, "rows": check.rows,
                        "located_share": check.located / check.rows if check.rows else None,
                        "rows_to_trailing_median": check.rows / median if median else None})  # fmt: skip
        history.setdefault(item.force, {})[item.period] = check.rows
    if summary:
        frame = pd.DataFrame(summary).astype(
            {"located_share": "float64", "rows_to_trailing_median": "float64"}
        )
        result = box.validate(frame, quality.suite(FILE_SUITE), {}, ["_file"])
        _attribute(result, checks, [row["_file"] for row in summary])
        data_docs.record(warehouse_file, quality.suite(FILE_SUITE), result, "files", f"{len(summary)}-files")
        for check in checks.values():
            if check.critical and check.rejected is None:
                parsed_copy(warehouse_file, check.item.sha256).unlink(missing_ok=True)
        # a file rule fails on one summary row; report it in rows of the file: the unlocated rows
        # for the share located, all of the file's rows otherwise
        for row in summary:
            check = checks[row["_file"]]
            for w in check.warnings:
                w.unexpected_count = check.rows - check.located if w.rule == "share_located" else check.rows


__all__ = ["FILE_SUITE", "ROW_SUITE", "fingerprint", "parsed_copy", "validate"]
