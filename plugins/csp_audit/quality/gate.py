"""The gate every delivery passes, police.uk and agency alike: DuckDB reads, Great Expectations checks.

For each dataset, the deliveries not yet validated with the current suite are taken in batches (one
period at a time, at most :data:`BATCH_BYTES` of CSV each) and, per batch:

1. DuckDB reads the files strictly (:mod:`csp_audit.quality.strict_csv`); a structurally broken file
   is rejected whole, naming the line and the rule, and nothing of it goes further;
2. the batch table the suite expects is built in SQL (:mod:`csp_audit.quality.batch`);
3. the dataset's suite (:mod:`csp_audit.quality.suites`) runs on Great Expectations' SQL path in the
   same scratch DuckDB file (:mod:`csp_audit.quality.gx_duckdb`), and each failed rule is attributed
   to the files its failing rows came from (:mod:`csp_audit.quality.findings`);
4. the rows of every file that passed are written once, as Parquet keyed by content hash, for the load.

A dataset's file suite (police.uk's share of rows located and rows against the agency's trailing
months) then runs on one summary row per file. Every file gets its own verdict, warnings (counted in
its own rows) and quarantined rows, stored in ``raw.delivery_validations`` and
``raw.delivery_row_failures``, exactly as if it had been validated alone.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csp_audit import warehouse
from csp_audit.config import load_region
from csp_audit.plan.model import DataPlan, Dataset
from csp_audit.plan.periods import CADENCE_MONTHS, Month
from csp_audit.progress import Bar, progress
from csp_audit.quality import batch as batches
from csp_audit.quality import data_docs, gx_duckdb, suites
from csp_audit.quality.contract_suites import (
    BATCH_FILE,
    area_column,
    fallback_area_column,
    period_column,
    period_regex,
)
from csp_audit.quality.findings import FileFindings, Finding, attribute
from csp_audit.quality.strict_csv import CsvFile, FileRejected, quote_ident, read_files
from csp_audit.sources import police_uk
from csp_audit.sources.delivery import Delivery

# Bytes of CSV validated in one batch: a national month of police.uk files (43, about 110 MB) is one.
BATCH_BYTES = int(os.environ.get("CSP_AUDIT_GATE_BATCH_MB", "128")) * 1024 * 1024
TRAILING_MONTHS = 6
SHARE_LOCATED = "share_located"


def parsed_copy(warehouse_file: str, sha256: str) -> Path:
    """Where the gate keeps an accepted delivery's rows for the load (Parquet, keyed by content hash)."""
    return Path(warehouse_file).parent / "parsed" / f"{sha256}.parquet"


@dataclass
class _Check:
    """What the gate found for one delivery."""

    delivery: Delivery
    rows: int | None = None
    located: int = 0
    rejected: FileRejected | None = None
    found: FileFindings = field(default_factory=FileFindings)

    @property
    def failed(self) -> bool:
        return self.rejected is not None or bool(self.found.critical)

    def verdict(self, fingerprint: str) -> dict[str, Any]:
        d = self.delivery
        out: dict[str, Any] = {"sha256": d.sha256, "dataset": d.dataset, "agency": d.agency, "period": d.period,
                               "source_file": d.source_file, "received_at": d.received_at,
                               "suite_fingerprint": fingerprint}  # fmt: skip
        if self.rejected is not None:
            r = self.rejected
            return out | {"outcome": "rejected", "rows_read": None, "rule": r.rule, "line": r.line,
                          "detail": r.detail, "warnings": None, "row_failures": []}  # fmt: skip
        first = self.found.critical[0] if self.found.critical else None
        return out | {
            "outcome": "rejected" if first else "accepted",
            "rows_read": self.rows,
            "rule": first.rule if first else None,
            "line": 1 if first else None,
            "detail": first.detail if first else None,
            "warnings": self.found.warning_text(),
            "row_failures": self.found.row_failures(),
        }


def trailing_median(history: dict[str, int], period: str) -> float | None:
    """Median rows of the agency's trailing six periods before ``period``, once three are known."""
    earlier = sorted(p for p in history if p < period)[-TRAILING_MONTHS:]
    if len(earlier) < 3:
        return None
    counts = sorted(history[p] for p in earlier)
    middle = len(counts) // 2
    return float(counts[middle] if len(counts) % 2 else (counts[middle - 1] + counts[middle]) / 2)


def _batches(todo: list[Delivery], *, by_period: bool) -> Iterator[list[int]]:
    """Positions in ``todo`` (sorted by period) in groups of at most BATCH_BYTES of CSV; with
    ``by_period``, a group never spans two periods (the suite has a per-period parameter)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(todo):
        groups[item.period if by_period else ""].append(index)
    for key in sorted(groups):
        chunk: list[int] = []
        size = 0
        for index in groups[key]:
            if chunk and size + todo[index].size > BATCH_BYTES:
                yield chunk
                chunk, size = [], 0
            chunk.append(index)
            size += todo[index].size
        if chunk:
            yield chunk


class _Gate:
    """One dataset's gate over one call: the suite, its parameters, the scratch database."""

    def __init__(self, plan: DataPlan, dataset: Dataset, warehouse_file: str) -> None:
        self.plan = plan
        self.dataset = dataset
        self.warehouse_file = warehouse_file
        self.region = load_region(plan.region)
        self.document = suites.suite_document(dataset)
        self.file_document = suites.file_suite_document(self.document)
        self.fingerprint = suites.fingerprint(dataset)
        self.police = dataset.id == police_uk.DATASET
        self.header = list(police_uk.HEADER) if self.police else [c.name for c in dataset.columns]
        self.rule_prefix = police_uk.FORMAT if self.police else "contract"
        self.area = area_column(dataset)
        self.fallback = fallback_area_column(dataset)  # places a row whose area column is blank
        # a suite of an earlier version checks dates against a per-batch parameter: one period per batch
        # (suites now read whether a row's date lies in its delivery's period from a column)
        self.per_period = '"$PARAMETER": "period_regex"' in json.dumps(self.document)
        self.batch_document = suites.for_batches(self.document)
        self.known_area = None if self.police else suites.checks_known_areas(self.document)
        self._known: tuple[list[str] | None] | None = None  # computed once: (codes or None,)

    # -------------------------------------------------------------------------------- parameters

    def parameters(self, box: Any, table: str, period: str) -> dict[str, Any]:
        """What the suite's ``$PARAMETER``s stand for in this batch (all its files share the period)."""
        if self.police:
            min_lon, min_lat, max_lon, max_lat = self.region.bounding_box
            return {"min_longitude": min_lon, "max_longitude": max_lon,
                    "min_latitude": min_lat, "max_latitude": max_lat}  # fmt: skip
        params: dict[str, Any] = {}
        if self.per_period:
            params["period_regex"] = self.period_regex(period)
        return params

    def period_regex(self, period: str) -> str | None:
        """A regex accepting exactly the dates of a delivery's period, in its date column's format."""
        when = period_column(self.dataset)
        return (
            period_regex(_period_months(self.dataset.cadence, period), when.type)
            if when is not None
            else None
        )

    def known_areas(self) -> list[str] | None:
        """Codes of the dataset's geography the region's lookups know; None if no lookup covers it."""
        if self._known is None:
            from csp_audit.geography.areas import known_area_codes

            self._known = (known_area_codes(self.region, self.dataset),)
        return self._known[0]

    # ------------------------------------------------------------------------------------ batches

    def prepare(self, box: Any) -> None:
        """Tables every batch of this dataset reads: for police.uk, each LSOA's police force area; for
        a dataset whose suite checks its area codes, ``known_areas``, the codes the lookups know."""
        if self.known_area is not None:
            known = self.known_areas()
            with box.connection() as con:
                con.execute("create or replace table known_areas (code varchar primary key)")
                if known:
                    con.execute("insert into known_areas select distinct unnest(?::varchar[])", [known])
        if not self.police:
            return
        from csp_audit.geography import place_region_lsoas

        placed = place_region_lsoas(self.region)[["lsoa_code", "pfa_code"]]
        with box.connection() as con:
            con.register("placed", placed)
            con.execute("create or replace table lsoa_pfa as select lsoa_code, pfa_code from placed")
            con.unregister("placed")

    def check_batch(
        self, box: Any, todo: list[Delivery], members: list[int], checks: dict[int, _Check]
    ) -> None:
        """Read, build and validate one batch; keep the rows of the files that passed."""
        table = box.new_table()
        records = f"{table}_records"
        files = [CsvFile(i, Path(todo[i].path), todo[i].source_file) for i in members]
        with box.connection() as con:
            refused = read_files(con, records, files, self.header, rule_prefix=self.rule_prefix)
            for index, rejection in refused.items():
                checks[index].rejected = rejection
            read = [i for i in members if i not in refused]
            con.execute(
                "create or replace table files (_file bigint, _file_month varchar, _period_regex varchar)"
            )
            con.executemany("insert into files values (?, ?, ?)", [[i, todo[i].period, self.period_regex(todo[i].period)]
                                                                   for i in read])  # fmt: skip
            # a row is located by its area code or, failing that, its fallback's (a blank code is none)
            codes = [] if self.area is None else [c for c in (self.area, self.fallback) if c is not None]
            blank_as_null = [f"nullif({quote_ident(c.name)}, '')" for c in codes]
            located = f"count(coalesce({', '.join(blank_as_null)}))" if codes else "0"
            for index, rows, with_area in con.execute(
                f"select _file, count(*), {located} from {records} group by _file"  # noqa: S608 - generated
            ).fetchall():
                checks[index].rows, checks[index].located = int(rows), int(with_area)
            for index in read:
                checks[index].rows = checks[index].rows or 0
            if self.police:
                con.execute(batches.police_batch_sql(table, records, self.header))
            else:
                con.execute(batches.contract_batch_sql(
                    table, records, self.dataset, self.header, in_period=not self.per_period,
                    known_area=self.known_area, lookup_known=self.known_areas() is not None))  # fmt: skip
        if read:
            suite = suites.build_suite(self.batch_document)
            result = box.validate_table(
                table, suite, self.parameters(box, table, todo[read[0]].period), [BATCH_FILE, "row_number"]
            )
            for index, found in attribute(result, read).items():
                checks[index].found = found
            period = todo[read[0]].period
            data_docs.record(self.warehouse_file, suite, result, period,
                             f"{self.dataset.id}-{len(read)}-files-{todo[min(read)].sha256[:12]}",
                             data_docs.describe(self.dataset.id, [todo[i] for i in read]))  # fmt: skip
        with box.connection() as con:
            for index in read:
                if not checks[index].failed:
                    self.keep_rows(con, records, index, todo[index])
            con.execute(f"drop table if exists {table}")
            con.execute(f"drop table if exists {records}")

    def keep_rows(self, con: Any, records: str, index: int, item: Delivery) -> None:
        """The delivery's rows as read (text, row_number), written once for the load; atomically."""
        target = parsed_copy(self.warehouse_file, item.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        columns = ", ".join(quote_ident(c) for c in self.header)
        con.execute(
            f"copy (select row_number, {columns} from {records} where _file = {int(index)} "  # noqa: S608
            f"order by row_number) to '{partial}' (format parquet)"
        )
        os.replace(partial, target)

    # --------------------------------------------------------------------------------- file rules

    def file_rules(self, box: Any, todo: list[Delivery], checks: dict[int, _Check]) -> None:
        """The file suite on one summary row per file, in (agency, period) order for trailing months."""
        if self.file_document is None:
            return
        with warehouse.connect(Path(self.warehouse_file), read_only=False) as con:
            history = warehouse.accepted_rows(con, self.dataset.id)
        summary: list[tuple[int, str, int, float | None, float | None]] = []
        for index in sorted(checks, key=lambda i: (todo[i].agency, todo[i].period)):
            check = checks[index]
            if check.failed or check.rows is None:
                continue
            item = todo[index]
            median = trailing_median(history.get(item.agency, {}), item.period)
            summary.append((index, item.source_file, check.rows,
                            check.located / check.rows if check.rows else None,
                            check.rows / median if median else None))  # fmt: skip
            history.setdefault(item.agency, {})[item.period] = check.rows
        if not summary:
            return
        table = box.new_table()
        with box.connection() as con:
            con.execute(
                f'create or replace table {table} (_file bigint, source_file varchar, "rows" bigint, '
                "located_share double, rows_to_trailing_median double)"
            )
            con.executemany(f"insert into {table} values (?, ?, ?, ?, ?)", [list(r) for r in summary])  # noqa: S608
        suite = suites.build_suite(self.file_document)
        result = box.validate_table(table, suite, {}, [BATCH_FILE])
        data_docs.record(
            self.warehouse_file,
            suite,
            result,
            "files",
            f"{self.dataset.id}-{len(summary)}-files",
            data_docs.describe(self.dataset.id, [todo[r[0]] for r in summary]),
        )
        for index, found in attribute(result, [r[0] for r in summary]).items():
            check = checks[index]
            assert check.rows is not None
            for w in found.warnings:  # a file rule fails on the file's summary row: count the file's rows
                w.unexpected_count = check.rows - check.located if w.rule == SHARE_LOCATED else check.rows
            check.found.critical += found.critical
            check.found.warnings += found.warnings
            if found.critical:
                parsed_copy(self.warehouse_file, check.delivery.sha256).unlink(missing_ok=True)


def _period_months(cadence: str, period: str) -> list[str]:
    """The months a delivery for ``period`` (its first month, YYYY-MM) covers."""
    step = {"monthly": 1, "quarterly": 3, "yearly": 12}[cadence]
    year, month = int(period[:4]), int(period[5:7])
    months = []
    for i in range(step):
        y, m = divmod(month - 1 + i, 12)
        months.append(f"{year + y:04d}-{m + 1:02d}")
    return months


PERIOD_NOT_IN_CADENCE = "period_not_in_cadence"


def cadence_refusal(plan: DataPlan, dataset: Dataset, delivery: Delivery) -> FileRejected | None:
    """A delivery in a period folder the plan's cadence does not expect, refused whole.

    Quarterly data put in ``2022-05/`` beside ``2022-04/`` would otherwise count as a second
    quarter's delivery and double its months; so a period must start a cadence step counted from
    the plan's cycle start (every month for monthly data).
    """
    step = CADENCE_MONTHS[dataset.cadence]
    try:
        month = Month.parse(delivery.period)
    except ValueError:
        return FileRejected(delivery.source_file, 0, PERIOD_NOT_IN_CADENCE,
                            f"period {delivery.period!r} is not a YYYY-MM period")  # fmt: skip
    if (month.index - plan.cycle.start.index) % step == 0:
        return None
    before = month.plus(-((month.index - plan.cycle.start.index) % step))
    return FileRejected(
        delivery.source_file, 0, PERIOD_NOT_IN_CADENCE,
        f"{dataset.id} is delivered {dataset.cadence}, in period folders {before}, {before.plus(step)}, ...; "
        f"{delivery.period} is not one of them (move the file to the folder of the period it covers)",
    )  # fmt: skip


def validate(
    plan: DataPlan, dataset: Dataset, warehouse_file: str, deliveries: list[Delivery]
) -> dict[str, Any]:
    """Gate every delivery not yet validated with the dataset's current suites; store the verdicts."""
    gate = _Gate(plan, dataset, warehouse_file)
    with warehouse.connect(Path(warehouse_file)) as con:
        done = warehouse.validated(con, dataset.id, gate.fingerprint)
    todo = sorted(
        (d for d in deliveries if d.sha256 not in done), key=lambda d: (d.period, d.agency, d.source_file)
    )
    todo = list({d.sha256: d for d in todo}.values())  # the same bytes twice: one verdict
    progress(f"validate {dataset.id}: {len(deliveries)} deliveries, {len(todo)} new to the gate "
             f"(suite {gate.document['name']} {gate.fingerprint})")  # fmt: skip
    if not todo:
        return {"validated": 0, "rejected": 0, "rows_quarantined": 0}
    refusals = {d.sha256: cadence_refusal(plan, dataset, d) for d in todo}
    refused = [_Check(d, rejected=refusals[d.sha256]) for d in todo if refusals[d.sha256] is not None]
    todo = [d for d in todo if refusals[d.sha256] is None]
    checks = {i: _Check(item) for i, item in enumerate(todo)}
    if todo:
        with gx_duckdb.scratch(Path(warehouse_file).parent / "gate") as box:
            gate.prepare(box)
            with Bar(f"validate {dataset.id}", len(todo), "deliveries checked") as bar:
                for members in _batches(todo, by_period=gate.per_period):
                    gate.check_batch(box, todo, members, checks)
                    bar.advance(len(members), Path(todo[members[-1]].source_file).name if members else "")
                gate.file_rules(box, todo, checks)
                bar.close()
    verdicts = [c.verdict(gate.fingerprint) for c in (*refused, *(checks[i] for i in range(len(todo))))]
    for v in verdicts:
        if v["outcome"] == "rejected":
            progress(f"validate {dataset.id}: REJECTED {v['source_file']}, line {v['line']}: "
                     f"rule {v['rule']}: {v['detail']}")  # fmt: skip
    with warehouse.connect(Path(warehouse_file)) as con:
        for v in verdicts:
            warehouse.record_validation(con, v)
    rejected = sum(v["outcome"] == "rejected" for v in verdicts)
    quarantined = sum(len({row for row, _ in v["row_failures"]}) for v in verdicts)
    progress(f"validate {dataset.id}: {len(verdicts) - rejected} accepted, {rejected} rejected, "
             f"{quarantined} rows quarantined")  # fmt: skip
    return {"validated": len(verdicts), "rejected": rejected, "rows_quarantined": quarantined}


__all__ = ["BATCH_BYTES", "Finding", "parsed_copy", "trailing_median", "validate"]
