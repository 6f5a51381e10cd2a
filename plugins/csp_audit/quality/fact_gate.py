"""The gate between the harmonised fact and the audit marts, on the same engine as the delivery gate.

Deliveries are gated as they land; this second gate checks what the marts are about to be built from:
the harmonised fact summed per dataset, partnership and month, computed by DuckDB into a scratch
database and validated on Great Expectations' SQL path (suite ``harmonised_fact``). A critical failure
stops the build before the marts, so the last good marts stay published (and the run says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csp_audit.quality import gx_duckdb, suites
from csp_audit.quality.findings import FileFindings, attribute

SUITE = "harmonised_fact"


class FactGateFailed(RuntimeError):
    """The harmonised fact broke a critical rule; the audit marts were not refreshed."""


def _parameters(con: Any) -> dict[str, Any]:
    """The datasets of the plan and the months its deliveries can cover."""
    datasets = [r[0] for r in con.execute("select dataset from wh.raw.plan_datasets").fetchall()]
    first, last = con.execute("select min(period), max(period) from wh.raw.deliveries").fetchone()
    first, last = first or "0000-01", last or "9999-12"
    # a yearly delivery spans 12 months from its period
    year, month = divmod(int(last[:4]) * 12 + int(last[5:7]) - 1 + 11, 12)
    return {
        "datasets": sorted(set(datasets)),
        "first_month": f"{first}-01T00:00:00",
        "last_month": f"{year:04d}-{month + 1:02d}-01T00:00:00",
    }


def gate_fact(warehouse_file: str) -> FileFindings:
    """Validate the fact summary; raise FactGateFailed on a critical failure."""
    with gx_duckdb.scratch(Path(warehouse_file).parent / "gate") as box:
        with box.connection() as con:
            con.execute(f"attach '{Path(warehouse_file)}' as wh (read_only)")
            try:
                con.execute(
                    """
                    create or replace table fact as
                    select row_number() over (order by dataset, partnership_code, "month") as row_number, *
                    from (
                        select dataset, partnership_code, cast("month" as timestamp) as "month",
                               sum(incidents) as incidents, count(*) as "rows",
                               coalesce(sum(incidents) filter (where method <> 'exact')
                                        / nullif(sum(incidents), 0), 0) as apportioned
                        from wh.intermediate.int_incidents_harmonised
                        group by all
                    )
                    """
                )
                parameters = _parameters(con)
            finally:
                con.execute("detach wh")
        suite = suites.build_suite(suites.saved(SUITE))
        result = box.validate_table("fact", suite, parameters, ["row_number"])
    found = attribute(result, [0], key=None)[0]
    if found.critical:
        first = found.critical[0]
        raise FactGateFailed(
            f"harmonised fact failed rule {first.rule}: {first.detail}; the audit marts were not refreshed "
            "and the last good ones stay published"
        )
    return found
