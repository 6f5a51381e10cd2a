"""Steps of the audit build, for a data plan or a region's one-dataset plan alike.

geography (lookups, apportionment weights, the plan's datasets and agencies) -> arrival board (what
the plan expects against what arrived) -> dbt build with the harmonised-fact gate -> target progress ->
summary (feedback to agencies, Data Docs, the run report). The build runs with whatever has arrived:
the arrival board is written first so the marts can flag a missing or rejected delivery instead of
publishing it as zero.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from csp_audit import warehouse
from csp_audit.config import Region, load_region
from csp_audit.orchestration.runs import reports_failure
from csp_audit.paths import dbt_project_dir
from csp_audit.plan import load_run_plan
from csp_audit.plan.model import DataPlan
from csp_audit.progress import progress


@reports_failure
def prepare_geography(plan_file: str, warehouse_file: str) -> dict[str, Any]:
    """The region's LSOA geography, every apportionment lookup, and the plan's datasets and agencies."""
    from csp_audit.geography.apportionment import apportionment_weights
    from csp_audit.geography.region import region_tables

    plan = load_run_plan(plan_file)
    region = load_region(plan.region)
    tables = region_tables(region)
    weights = apportionment_weights(region)
    tables |= {"geo_apportionment": weights} | plan_tables(plan)
    with warehouse.connect(Path(warehouse_file)) as con:
        warehouse.replace_tables(con, tables)
    placed, members = tables["geo_lsoas"], tables["region_partnerships"]
    summary = {
        "partnerships": len(members),
        "lsoas_in_region": int(placed["in_region"].sum()),
        "lsoas_in_lookup": len(placed),
        "population_lsoas": len(tables["geo_populations"]),
        "apportionment_rows": len(weights),
    }
    progress(
        f"geography: {summary['partnerships']} partnerships, {summary['lsoas_in_region']} LSOAs in the region "
        f"(of {summary['lsoas_in_lookup']} in the lookup); {len(region.apportionment)} apportionment lookups "
        f"({len(weights)} area-LSOA weights)"
    )
    return summary


def plan_tables(plan: DataPlan) -> dict[str, pd.DataFrame]:
    """``plan_datasets``, ``plan_agencies`` and ``plan_agency_partnerships`` for the marts."""
    datasets = pd.DataFrame(
        [
            {
                "dataset": d.id,
                "geography": d.geography.type,
                "geography_vintage": d.geography.vintage,
                "geography_key": d.geography.key,
                # a row without its area code is placed by the fallback geography, flagged
                "fallback_geography_key": d.geography.fallback.key if d.geography.fallback else None,
                "time_grain": d.time_grain,
                "cadence": d.cadence,
                "sharing_level": d.sharing.level,
                "min_cell_size": d.sharing.min_cell_size,
                "rounding": d.sharing.rounding,
            }
            for d in plan.datasets.values()
        ]
    ).astype({"geography_vintage": "Int64", "min_cell_size": "Int64", "fallback_geography_key": "string"})
    agencies = pd.DataFrame(
        [{"agency": a.id, "agency_name": a.name, "agency_type": a.type} for a in plan.agencies.values()],
        columns=["agency", "agency_name", "agency_type"],
    )
    served = pd.DataFrame(
        [{"agency": a.id, "partnership_code": p} for a in plan.agencies.values() for p in a.serves],
        columns=["agency", "partnership_code"],
    )
    return {"plan_datasets": datasets, "plan_agencies": agencies, "plan_agency_partnerships": served}


@reports_failure
def arrival_board(plan_file: str, warehouse_file: str, as_of: str | None = None) -> dict[str, Any]:
    """Expected vs received deliveries for every cycle up to ``as_of``; stored and written as HTML."""
    from csp_audit.requests.arrivals import (
        BOARD_COLUMNS,
        Received,
        arrival_board,
        expected_deliveries,
        summary,
        write_board_html,
    )

    plan = load_run_plan(plan_file)
    today = date.fromisoformat(as_of) if as_of else date.today()
    with warehouse.connect(Path(warehouse_file)) as con:
        received = [
            Received(*row)
            for row in con.execute(
                "select agency, dataset, period, received_at, outcome, source_file from raw.delivery_validations"
            ).fetchall()
        ]
    rows = []
    if plan.agencies:  # a region without a plan agreed no deliveries: nothing is expected
        last = plan.cycle.containing(today)
        cycle = plan.cycle
        while cycle.start <= last.start:  # every cycle from the plan's first to the one `today` is in
            rows += arrival_board(expected_deliveries(plan, str(cycle.start), today), received, today)
            cycle = cycle.shifted(cycle.start.plus(cycle.months))
    frame = pd.DataFrame(
        [{c: getattr(r, c) for c in BOARD_COLUMNS} for r in rows], columns=list(BOARD_COLUMNS)
    )
    with warehouse.connect(Path(warehouse_file)) as con:
        warehouse.replace_tables(con, {"arrival_board": frame})
    path = Path(warehouse_file).parent / "arrival-board.html"
    write_board_html(rows, path, title=f"Data deliveries: {plan.name}", as_of=today)
    progress(f"arrival board as of {today}: {summary(rows)}; {path}")
    return {"rows": len(rows), "html": str(path)}


def dbt_variables(region: Region) -> dict[str, Any]:
    return {
        "audit_year_start_month": region.audit_year_start_month,
        "region_name": region.name,
        "sql_fingerprint": sql_fingerprint(),
    }


def sql_fingerprint() -> str:
    """A hash of the dbt project's SQL (models, macros, seeds): the marts built by month rebuild every
    month when it changes, since a changed macro can change any month's rows."""
    import hashlib

    root = dbt_project_dir()
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in (".sql", ".csv", ".yml"):
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@reports_failure
def build_marts(plan_file: str, warehouse_file: str) -> dict[str, Any]:
    """dbt build in two steps with the harmonised-fact gate between them.

    Staging and intermediate models (and the tests on them alone) first; then Great Expectations on
    the harmonised fact; only if it passes, the audit marts and their tests. All of it runs on a copy
    of the warehouse that replaces the live file only when every step passed
    (:mod:`csp_audit.warehouse.swap`): a failed test, a gate refusal or a kill leaves every table as
    it was.
    """
    from csp_audit.quality.fact_gate import gate_fact
    from csp_audit.warehouse.dbt_runner import dbt_build, target_dir
    from csp_audit.warehouse.swap import building_copy

    plan = load_run_plan(plan_file)
    variables = dbt_variables(load_region(plan.region))
    path = Path(warehouse_file)
    with warehouse.connect(
        path
    ):  # the raw layer of this version (a warehouse of an earlier one is brought up)
        pass
    with building_copy(path) as work:  # swapped in only if every step below passes
        progress("dbt: building staging and intermediate models with their tests")
        first = dbt_build(
            work,
            variables,
            # an intermediate model that reads a mart (int_area_ranks ranks area_rates) waits for the marts
            select="path:models/staging path:models/intermediate",
            exclude="path:models/marts+",
            indirect_selection="cautious",
            target=target_dir(path),
            label="dbt staging and intermediate",
        )
        gate = gate_fact(str(work))
        progress(
            "fact gate: harmonised fact passed"
            + (f" with warnings: {', '.join(w.rule for w in gate.warnings)}" if gate.warnings else "")
        )
        progress("dbt: building the audit marts with their tests")
        second = dbt_build(
            work,
            variables,
            select="path:models/marts+ path:seeds",
            target=target_dir(path),
            label="dbt audit marts",
        )
    passed, warned = first.passed + second.passed, first.warned + second.warned
    progress(
        f"dbt: {passed} nodes passed, {warned} warned, in {round(first.elapsed_s + second.elapsed_s, 2)} s"
    )
    return {"passed": passed, "warned": warned, "fact_gate_warnings": [w.rule for w in gate.warnings]}


@reports_failure
def target_progress(plan_file: str, warehouse_file: str) -> dict[str, Any]:
    """Progress against the SMART targets in ``targets/`` beside the region YAML (after the marts)."""
    from csp_audit.targets.progress import STATUSES, write_progress

    plan = load_run_plan(plan_file)
    folder = Path(plan.region).parent / "targets"
    frame = write_progress(warehouse_file, folder if folder.is_dir() else None)
    counts = {s: int((frame["status"] == s).sum()) for s in STATUSES}
    shown = ", ".join(f"{n} {s}" for s, n in counts.items())
    progress(f"target progress: {len(frame)} target(s) from {folder}: {shown}")
    return {"targets": len(frame), "folder": str(folder), **counts}


def report_file(warehouse_file: str | Path) -> Path:
    path = Path(warehouse_file)
    return path.parent / f"{path.stem}.last-run.json"


@reports_failure
def summarise(plan_file: str, warehouse_file: str) -> dict[str, Any]:
    """Feedback to every agency, the GX Data Docs, and the run report beside the warehouse.

    The report (``<warehouse>.last-run.json``) lists the marts with their rows, the row accounting of
    every current delivery, and the deliveries rejected where no later delivery replaced them.
    """
    from csp_audit.quality import data_docs
    from csp_audit.quality.feedback import write_feedback
    from csp_audit.quality.suites import file_suite_document, suite_document

    plan = load_run_plan(plan_file)
    path = Path(warehouse_file)
    documents = [suite_document(d) for d in plan.datasets.values()]
    documents += [f for d in documents if (f := file_suite_document(d)) is not None]
    written = write_feedback(warehouse_file, path.parent / "feedback", documents)
    docs = data_docs.build(warehouse_file)
    with warehouse.connect(path, read_only=True) as con:
        marts = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'audit' order by 1").fetchall()]  # fmt: skip
        counts = {
            m: con.execute(f"select count(*) from audit.{warehouse.quote_ident(m)}").fetchone()[0]  # noqa: S608
            for m in marts
        }
        totals = con.execute(
            "select count(*), sum(rows_read), sum(rows_counted), sum(rows_duplicate), sum(rows_unlocated), "
            "sum(rows_outside_region), sum(rows_quarantined) from audit.reconciliation where outcome = 'loaded'"
        ).fetchone()
        rejected = con.execute(
            """
            select source_file, line, rule, detail from (
                select *, row_number() over (partition by dataset, agency, period
                                             order by received_at desc, validated_at desc, source_file desc) as latest
                from raw.delivery_validations
            ) where latest = 1 and outcome = 'rejected' order by source_file
            """
        ).fetchall()
    keys = ("files", "rows_read", "rows_counted", "rows_duplicate", "rows_unlocated", "rows_outside_region",
            "rows_quarantined")  # fmt: skip
    reconciliation = {k: int(v or 0) for k, v in zip(keys, totals, strict=True)}
    report = {
        "plan": plan.name,
        "region": load_region(plan.region).name,
        "warehouse": str(path),
        "marts": {f"audit.{m}": n for m, n in counts.items()},
        "reconciliation": reconciliation,
        "rejected_files": [
            {"source_file": f, "line": line, "rule": rule, "detail": detail}
            for f, line, rule, detail in rejected
        ],  # fmt: skip
        "feedback": [str(p) for p in written],
        "data_docs": str(docs) if docs else None,
    }
    report_file(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    progress(f"feedback: {len(written)} agency reports in {path.parent / 'feedback'}; GX Data Docs {docs}")
    progress(
        f"police.uk: {reconciliation['rows_read']} rows from {reconciliation['files']} files -> "
        f"{reconciliation['rows_counted']} counted, {reconciliation['rows_duplicate']} duplicate, "
        f"{reconciliation['rows_unlocated']} unlocated, {reconciliation['rows_outside_region']} outside region, "
        f"{reconciliation['rows_quarantined']} quarantined; {len(rejected)} deliveries rejected"
    )
    progress(f"marts in {path} (schema audit): " + ", ".join(f"{m} ({n} rows)" for m, n in counts.items()))
    return {k: v for k, v in report.items() if k != "marts"} | {"marts": len(counts)}
