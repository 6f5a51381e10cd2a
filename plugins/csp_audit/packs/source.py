"""Read what a pack is made of from the warehouse: the audit marts, the sharing terms, the lineage.

The warehouse is opened read-only (the publish DAG reads the analyst snapshot, never the live file).
Dates become ISO strings (``YYYY-MM-DD``; timestamps ``YYYY-MM-DD HH:MM:SS``) so keys compare and
files serialise the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from csp_audit.packs.disclosure import Terms

MARTS = (
    "area_rates", "area_monthly", "trends", "seasonality", "hotspots", "concentration", "hotspot_persistence",
    "repeat_locations", "harm", "comparisons", "caveats", "themes", "coterminosity", "data_quality",
    "dataset_freshness", "data_completeness",
    # strategy: targets (written by csp_audit.targets.progress), priorities, consultation
    "target_progress", "target_checks", "priority_scores", "consultation_concerns", "consultation_safety",
    "concern_vs_recorded",
)  # fmt: skip


@dataclass
class Source:
    """Everything read from one warehouse for one refresh."""

    marts: dict[str, pd.DataFrame]
    terms: dict[str, Terms]
    region_name: str
    partnerships: dict[str, str]  # code -> name
    vintages: list[dict[str, Any]]
    deliveries: pd.DataFrame  # dataset, agency, period, source_file, sha256 (current deliveries only)
    agencies: pd.DataFrame  # agency, partnership_code (who serves whom; police forces by slug too)
    centroids: pd.DataFrame  # lsoa_code, lon, lat (from police.uk coordinates)
    areas: pd.DataFrame  # area_type, area_code, partnership_code (every ward and LSOA)
    extra: dict[str, Any] = field(default_factory=dict)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    return {r[0] for r in rows}


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    frame = con.execute(sql).df()
    for column in frame.columns:
        dtype = frame[column].dtype
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = frame[column]
            has_time = bool(((values.dt.hour != 0) | (values.dt.minute != 0) | (values.dt.second != 0)).any())
            fmt = "%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d"
            frame[column] = values.dt.strftime(fmt).astype(object).where(values.notna(), None)
        elif pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def plan_terms(plan_file: str | Path) -> dict[str, Terms]:
    from csp_audit.plan import load_plan

    plan = load_plan(plan_file)
    return {
        d.id: Terms(
            level=d.sharing.level,
            min_cell_size=d.sharing.min_cell_size,
            rounding=d.sharing.rounding,
            apportioned=d.geography.type != "lsoa",
        )
        for d in plan.datasets.values()
    }


# Marts built by month (or audit year) are appended to as they are rebuilt, so their rows are read in their
# model's order (a full build and a month-by-month refresh then give the same pack, byte for byte).
MART_ORDER = {
    "area_monthly": ' order by partnership_code, area_type, area_code, dataset, category, "month"',
    "area_rates": " order by partnership_code, area_type, area_code, dataset, category, period_start",
}


def read_source(warehouse_file: str | Path, *, plan_file: str | Path | None = None) -> Source:
    with duckdb.connect(str(warehouse_file), read_only=True) as con:
        present = _tables(con)
        missing = [m for m in ("area_rates", "area_monthly") if f"audit.{m}" not in present]
        if missing:
            raise FileNotFoundError(f"{warehouse_file}: no audit.{missing[0]}: run the audit build first")
        marts = {
            m: _frame(con, f"select * from audit.{m}{MART_ORDER.get(m, '')}")  # noqa: S608 - fixed names
            for m in MARTS
            if f"audit.{m}" in present
        }
        for seed in ("theme_definitions", "priority_candidates", "concern_categories"):
            if f"reference.{seed}" in present:
                marts[seed] = _frame(con, f"select * from reference.{seed}")  # noqa: S608 - fixed names
        if plan_file:
            terms = plan_terms(plan_file)
        elif "raw.plan_datasets" in present:
            terms = {
                r["dataset"]: Terms(
                    level=r["sharing_level"],
                    min_cell_size=int(r["min_cell_size"]) if pd.notna(r["min_cell_size"]) else None,
                    rounding=r["rounding"] or "none",
                    apportioned=r["geography"] != "lsoa",
                )
                for r in _frame(con, "select * from raw.plan_datasets").to_dict("records")
            }
        else:
            terms = {}
        vintages = (
            _frame(con, "select * from raw.geo_vintages order by all").to_dict("records")
            if "raw.geo_vintages" in present
            else []
        )
        deliveries = _deliveries(con, present)
        agencies = _agencies(con, present)
        centroids = _centroids(con, present)
    region_name = "region"
    comparisons = marts.get("comparisons")
    if comparisons is not None and (comparisons["comparator_type"] == "region").any():
        region_name = str(
            comparisons.loc[comparisons["comparator_type"] == "region", "comparator_code"].iloc[0]
        )
    area_rates = marts["area_rates"]
    names = area_rates[area_rates["area_type"] == "partnership"].drop_duplicates("partnership_code")
    partnerships = dict(zip(names["partnership_code"], names["partnership_name"], strict=True))
    areas = area_rates[area_rates["area_type"] != "partnership"][
        ["area_type", "area_code", "partnership_code"]
    ].drop_duplicates()
    return Source(
        marts=marts,
        terms=terms,
        region_name=region_name,
        partnerships=dict(sorted(partnerships.items())),
        vintages=vintages,
        deliveries=deliveries,
        agencies=agencies,
        centroids=centroids,
        areas=areas.reset_index(drop=True),
    )


def _deliveries(con: duckdb.DuckDBPyConnection, present: set[str]) -> pd.DataFrame:
    """The current delivery of every dataset, agency and period (dbt's one rule decides which is current)."""
    if "intermediate.int_deliveries" not in present:
        return pd.DataFrame(columns=["dataset", "agency", "period", "source_file", "sha256"])
    return _frame(
        con,
        "select dataset, agency, period, source_file, delivery_sha256 as sha256 "
        "from intermediate.int_deliveries where is_current order by dataset, agency, period, source_file",
    )


def _agencies(con: duckdb.DuckDBPyConnection, present: set[str]) -> pd.DataFrame:
    """Which agency of the plan serves which partnership."""
    if "raw.plan_agency_partnerships" not in present:
        return pd.DataFrame(columns=["agency", "partnership_code"])
    frame = _frame(con, "select agency, partnership_code from raw.plan_agency_partnerships")
    return frame.drop_duplicates().reset_index(drop=True)


def _centroids(con: duckdb.DuckDBPyConnection, present: set[str]) -> pd.DataFrame:
    """Mean police.uk snap-point coordinates per LSOA of the counted rows of current deliveries: a
    centroid for the map. Quarantined, duplicate and out-of-region rows do not move it (a quarantined
    row's coordinates may be the very error the gate caught)."""
    if "intermediate.int_police_street_rows_classified" not in present:
        return pd.DataFrame(columns=["lsoa_code", "lon", "lat", "points"])
    return _frame(
        con,
        """
        select lsoa_code,
               avg(longitude) as lon,
               avg(latitude) as lat,
               count(*) as points
        from intermediate.int_police_street_rows_classified
        where row_status = 'counted' and lsoa_code is not null
          and longitude is not null and latitude is not null
        group by 1
        order by 1
        """,
    )
