"""The audit build of a data plan: geography (with apportionment weights), arrival board, dbt build.

The build runs with whatever has arrived: the arrival board is written to the warehouse first so
the marts can flag a missing or rejected delivery instead of publishing it as zero.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from csp_audit import geography, pipeline, warehouse
from csp_audit.config import Region, load_region
from csp_audit.plan import load_plan
from csp_audit.plan.model import DataPlan
from csp_audit.progress import progress
from csp_audit.runs import reports_failure


@reports_failure
def prepare_geography(plan_file: str, warehouse_file: str) -> dict[str, Any]:
    """The region's LSOA geography plus every apportionment lookup and the plan's datasets."""
    plan = load_plan(plan_file)
    summary = pipeline.prepare_geography(str(plan.region), warehouse_file)
    region = load_region(plan.region)
    frame = _apportionment_weights(region)
    datasets = pd.DataFrame(
        [
            {
                "dataset": d.id,
                "geography": d.geography.type,
                "geography_vintage": d.geography.vintage,
                "geography_key": f"{d.geography.type}_{d.geography.vintage}"
                if d.geography.vintage
                else d.geography.type,
                "time_grain": d.time_grain,
                "cadence": d.cadence,
                "sharing_level": d.sharing.level,
                "min_cell_size": d.sharing.min_cell_size,
                "rounding": d.sharing.rounding,
            }
            for d in plan.datasets.values()
        ]
    )
    agencies = pd.DataFrame(
        [{"agency": a.id, "agency_name": a.name, "agency_type": a.type} for a in plan.agencies.values()]
    )
    with warehouse.connect(Path(warehouse_file)) as con:
        forces = sorted(
            r[0] for r in con.execute("select distinct force from raw.police_deliveries").fetchall()
        )
        police_agencies = pd.DataFrame(
            [{"force_slug": f, "agency": _police_agency(plan, f)} for f in forces],
            columns=["force_slug", "agency"],
        ).dropna()
        warehouse.replace_tables(
            con,
            {
                "plan_police_agencies": police_agencies,
                "geo_apportionment": frame,
                "plan_datasets": datasets,
                "plan_agencies": agencies,
                "plan_agency_partnerships": pd.DataFrame(
                    [
                        {"agency": a.id, "partnership_code": p}
                        for a in plan.agencies.values()
                        for p in a.serves
                    ],
                    columns=["agency", "partnership_code"],
                ),
            },
        )
    progress(f"geography: {len(region.apportionment)} apportionment lookups ({len(frame)} area-LSOA weights)")
    return summary | {"apportionment_rows": len(frame)}


APPORTIONMENT_COLUMNS = ["area_code", "lsoa_code", "weight", "geography", "basis", "like_for_like"]


def _apportionment_weights(region: Region) -> pd.DataFrame:
    """raw.geo_apportionment: every apportionment lookup's area -> LSOA weights, one frame.

    Area lookups (wards, postcode districts ...) come from read_apportionment and are like for like.  An
    ``area_type: lsoa`` entry is an ONS census change lookup (LSOA01 -> LSOA11 ...): read_lsoa_change gives
    the old code's share of each new LSOA (splits weighted by the region's population file when its LSOAs
    are the lookup's new vintage, equally otherwise) and like_for_like False for irregular (X) changes.
    """
    frames = []
    region_vintage: str | None = None
    population: pd.DataFrame | None = None
    for a in region.apportionment:
        if not a.census_change:
            frames.append(
                geography.read_apportionment(a.lookup, a.area_type, a.weight).assign(
                    geography=a.key, basis=a.weight, like_for_like=True
                )
            )
            continue
        if region_vintage is None:
            region_vintage = geography.read_lsoa_lookup(region.lsoa_lookup).vintages["lsoa"]
            if region.population is not None:
                population = geography.read_population(region.population)
        weighted = population if a.weight == "population" else None
        change = geography.read_lsoa_change(a.lookup, population=weighted)
        old, new = change.attrs["old_vintage"], change.attrs["new_vintage"]
        where = f"{a.lookup}: geography.apportionment {a.key}"
        if change.attrs["level"] != "lsoa":
            raise geography.GeographyError(
                f"{where}: this is an {change.attrs['level'].upper()} change lookup"
            )
        if old != f"{a.vintage % 100:02d}":
            raise geography.GeographyError(f"{where}: the lookup's old codes are LSOA{old}, not {a.vintage}")
        if region_vintage and new != region_vintage:
            raise geography.GeographyError(
                f"{where}: the lookup restates onto LSOA{new} codes but the region's LSOA lookup "
                f"{region.lsoa_lookup.name} is LSOA{region_vintage}; use a lookup from LSOA{old} to "
                f"LSOA{region_vintage}"
            )
        if weighted is not None and new != region_vintage:  # LSOA vintage unknown: population may not fit
            change = geography.read_lsoa_change(a.lookup)
        frames.append(
            change[["area_code", "lsoa_code", "weight", "basis", "like_for_like"]].assign(geography=a.key)
        )
    if not frames:
        return pd.DataFrame(
            {
                "area_code": pd.Series(dtype="str"),
                "lsoa_code": pd.Series(dtype="str"),
                "weight": pd.Series(dtype="float64"),
                "geography": pd.Series(dtype="str"),
                "basis": pd.Series(dtype="str"),
                "like_for_like": pd.Series(dtype="bool"),
            }
        )
    frame = pd.concat(frames, ignore_index=True)[APPORTIONMENT_COLUMNS]
    return frame.astype({"weight": "float64", "like_for_like": "bool"})


def _police_agency(plan: DataPlan, force_slug: str) -> str | None:
    """The plan agency that publishes a police.uk force's files (its name starts with the force)."""
    for agency in plan.agencies.values():
        if agency.type == "police" and re.sub(r"[^a-z0-9]+", "-", agency.name.lower()).startswith(force_slug):
            return agency.id
    return None


@reports_failure
def arrival_board(plan_file: str, warehouse_file: str, as_of: str | None = None) -> dict[str, Any]:
    """Expected vs received deliveries for every cycle up to ``as_of``; stored and written as HTML."""
    from csp_audit.plan.status import Received, arrival_board, expected_deliveries, summary, write_board_html

    plan = load_plan(plan_file)
    today = date.fromisoformat(as_of) if as_of else date.today()
    received: list[Received] = []
    with warehouse.connect(Path(warehouse_file)) as con:
        for row in con.execute(
            "select agency, dataset, period, received_at, outcome, source_file from raw.delivery_validations"
        ).fetchall():
            received.append(Received(*row))
        for source_file, outcome, validated_at in con.execute(
            "select source_file, outcome, coalesce(received_at, validated_at) from raw.police_file_validations"
        ).fetchall():
            match = re.match(r"^(?:.*/)?(\d{4}-\d{2})-(.+)-street\.csv$", source_file)
            agency = _police_agency(plan, match[2]) if match else None
            if agency:
                received.append(
                    Received(agency, "police_uk_street", match[1], validated_at, outcome, source_file)
                )
    rows = []
    last = plan.cycle.containing(today)
    cycle = plan.cycle
    while cycle.start <= last.start:  # every cycle from the plan's first to the one `today` is in
        rows += arrival_board(expected_deliveries(plan, str(cycle.start), today), received, today)
        cycle = cycle.shifted(cycle.start.plus(cycle.months))
    frame = pd.DataFrame(
        [
            {
                "agency": r.agency,
                "agency_name": r.agency_name,
                "dataset": r.dataset,
                "period": r.period,
                "period_label": r.period_label,
                "due_date": r.due_date,
                "status": r.status,
                "received_at": r.received_at,
                "deliveries": r.deliveries,
                "source_file": r.source_file,
            }
            for r in rows
        ]
    )
    with warehouse.connect(Path(warehouse_file)) as con:
        warehouse.replace_tables(con, {"arrival_board": frame})
    path = Path(warehouse_file).parent / "arrival-board.html"
    write_board_html(rows, path, title=f"Data deliveries: {plan.name}", as_of=today)
    progress(f"arrival board as of {today}: {summary(rows)}; {path}")
    return {"rows": len(rows), "html": str(path)}


@reports_failure
def build_marts(plan_file: str, warehouse_file: str) -> dict[str, Any]:
    plan = load_plan(plan_file)
    region = load_region(plan.region)
    return pipeline.build_with_fact_gate(warehouse_file, pipeline.dbt_variables(region))


@reports_failure
def feedback(plan_file: str, warehouse_file: str) -> dict[str, Any]:
    """Per-agency data-quality feedback from the marts, with the plan's rules explained."""
    from csp_audit.contract_gate import suite_document
    from csp_audit.feedback import write_feedback

    plan = load_plan(plan_file)
    suites = [suite_document(d) for d in plan.datasets.values() if d.id != "police_uk_street"]
    out = Path(warehouse_file).parent / "feedback"
    written = write_feedback(warehouse_file, out, suites)
    from csp_audit import data_docs

    docs = data_docs.build(warehouse_file)
    progress(f"feedback: {len(written)} agency reports in {out}; GX Data Docs {docs}")
    return {"reports": len(written), "folder": str(out), "data_docs": str(docs) if docs else None}
