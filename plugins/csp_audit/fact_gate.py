"""The gate between the harmonised fact and the audit marts.

Deliveries are gated as they land; this second gate checks what the marts are about to be built
from: the harmonised fact summed per dataset, partnership and month. A critical failure stops the
build before the marts, so the last good marts stay published (and the run says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csp_audit import warehouse
from csp_audit.quality import GateResult

SUITE = "harmonised_fact"
BATCH_DEFINITION = "per_build"


class FactGateFailed(RuntimeError):
    """The harmonised fact broke a critical rule; the audit marts were not refreshed."""


def _parameters(con: Any) -> dict[str, Any]:
    datasets = ["police_uk_street"]
    periods = [r[0] for r in con.execute("select period from raw.police_deliveries").fetchall()]
    if con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name = 'plan_datasets'"
    ).fetchone()[0]:
        datasets += [r[0] for r in con.execute("select dataset from raw.plan_datasets").fetchall()]
        periods += [r[0] for r in con.execute("select period from raw.deliveries").fetchall()]
    first = min(periods) if periods else "0000-01"
    last = max(periods) if periods else "9999-12"
    # a yearly delivery spans 12 months from its period
    year, month = divmod(int(last[:4]) * 12 + int(last[5:7]) - 1 + 11, 12)
    return {
        "datasets": sorted(set(datasets)),
        "first_month": f"{first}-01T00:00:00",
        "last_month": f"{year:04d}-{month + 1:02d}-01T00:00:00",
    }


def gate_fact(warehouse_file: str) -> GateResult:
    """Validate the fact summary; raise FactGateFailed on a critical failure."""
    from csp_audit.quality import validate_frame

    with warehouse.connect(Path(warehouse_file), read_only=True) as con:
        frame = con.execute(
            """
            select dataset, partnership_code, cast("month" as timestamp) as "month",
                   sum(incidents) as incidents, count(*) as "rows",
                   coalesce(sum(incidents) filter (where method <> 'exact') / nullif(sum(incidents), 0), 0)
                       as apportioned
            from intermediate.int_incidents_harmonised
            group by all
            order by all
            """
        ).df()
        parameters = _parameters(con)
    frame.insert(0, "row_number", range(1, len(frame) + 1))
    gate = validate_frame(SUITE, frame, parameters, BATCH_DEFINITION)
    if gate.critical:
        first = gate.critical[0]
        raise FactGateFailed(
            f"harmonised fact failed rule {first.rule}: {first.detail}; the audit marts were not refreshed "
            "and the last good ones stay published"
        )
    return gate
