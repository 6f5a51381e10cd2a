"""Demo target registers: ``targets/<partnership_code>.yaml`` beside the demo region, three SMART targets each.

The baselines are read from the demo warehouse's marts, so the registers pass ``csp-audit targets
check`` against it; call :func:`write_demo_targets` after the demo's audit build, then recompute
``audit.target_progress``. A register looks like this::

    partnership: E22990002
    name: Kestlebury community safety targets
    targets:
      - id: KES-VIOLENCE
        title: Reduce police-recorded violence and sexual offences in Kestlebury by 10% by 2025/26 (rate ...)
        metric:
          mart: area_rates
          column: rate_per_1000
          where: {area_type: partnership, dataset: police_uk_street, category: Violence and sexual offences}
        area: E22990002
        baseline: {period: 2021/22, value: 36.944}
        target: {relative_change: -10%}
        deadline: 2025/26
        milestones:
        - {period: 2023/24, value: 35.097}
        - {period: 2024/25, value: 34.173}
        owner: Neighbourhood Policing Inspector, Kestlebury (police)

And a target that is not SMART (in ``E22990001.yaml``), with what ``targets check`` says about it::

      - id: ASB-1
        title: Tackle anti-social behaviour
        metric: {mart: area_rates, column: incidents, where: {dataset: police_uk_street}}
        area: E22990001
        baseline: {period: 2021/22, value: 2760}
        target: {relative_change: -80%}
        milestones: [{period: 2026/27, value: 600}, {period: 2025/26, value: 1000}]

    $ csp-audit targets check --targets E22990001.yaml --warehouse demo-output/warehouse.duckdb  # exit 2
    E22990001.yaml: ASB-1: A (warning): the target moves the figure by -80% of the baseline (beyond +-50%): ...
    E22990001.yaml: ASB-1: S: title 'Tackle anti-social behaviour' is vague: say what changes, by how much ...
    E22990001.yaml: ASB-1: S: no owner: name the role or organisation accountable for the target
    E22990001.yaml: ASB-1: S: filters {"dataset": "police_uk_street"} leave 15 rows per audit year of
                    audit.area_rates for area E22990001; add filters on category
    E22990001.yaml: ASB-1: T: no deadline (an audit year like 2025/26 or a date)
    E22990001.yaml: ASB-1: T: milestones out of order: 2025/26 comes after 2026/27
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import yaml

_HEADER = (
    "# SMART target register of a demo partnership (fictional). Format and rules: docs/strategy.md;\n"
    "# check with: csp-audit targets check --targets {folder} --warehouse <warehouse.duckdb>\n"
)
_ROTATION = (  # the partnership-wide crime target of each demo partnership, in code order
    ("BURGLARY", "Burglary", "police-recorded burglary"),
    ("VIOLENCE", "Violence and sexual offences", "police-recorded violence and sexual offences"),
    ("VEHICLE", "Vehicle crime", "police-recorded vehicle crime"),
    ("DAMAGE", "Criminal damage and arson", "police-recorded criminal damage and arson"),
    ("BURGLARY", "Burglary", "police-recorded burglary"),
)
_POLICE = "police_uk_street"


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> Any:
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise ValueError(f"the demo warehouse has no figure for {params}")
    return row


def _prefix(name: str) -> str:
    letters = "".join(c for c in name.upper() if c.isalpha())
    return letters[:3] or "CSP"


def _later(label: str, years: int) -> str:
    start = int(label[:4]) + years
    return f"{start}/{(start + 1) % 100:02d}" if "/" in label else str(start)


def _targets_for(con: duckdb.DuckDBPyConnection, index: int, code: str, name: str, first: str) -> list[dict]:
    prefix = _prefix(name)
    key, category, words = _ROTATION[index % len(_ROTATION)]
    deadline = _later(first, 4)
    rate = _one(
        con,
        "select rate_per_1000 from audit.area_rates where area_type = 'partnership' and area_code = ? "
        "and dataset = ? and category = ? and audit_year = ?",
        [code, _POLICE, category, first],
    )[0]
    target_rate = rate * 0.9
    crime = {
        "id": f"{prefix}-{key}",
        "title": f"Reduce {words} in {name} by 10% by {deadline} (rate per 1,000 residents)",
        "metric": {
            "mart": "area_rates",
            "column": "rate_per_1000",
            "where": {"area_type": "partnership", "dataset": _POLICE, "category": category},
        },
        "area": code,
        "baseline": {"period": first, "value": rate},
        "target": {"relative_change": "-10%"},
        "deadline": deadline,
        "milestones": [
            {"period": _later(first, 2), "value": round(rate + (target_rate - rate) * 2 / 4, 3)},
            {"period": _later(first, 3), "value": round(rate + (target_rate - rate) * 3 / 4, 3)},
        ],
        "owner": f"Neighbourhood Policing Inspector, {name} (police)",
    }
    ward, ward_name, asb = _one(
        con,
        "select area_code, area_name, incidents from audit.area_rates where area_type = 'ward' "
        "and partnership_code = ? and dataset = ? and category = 'Anti-social behaviour' and audit_year = ? "
        "order by incidents desc, area_code limit 1",
        [code, _POLICE, first],
    )
    asb_deadline = _later(first, 2)
    hotspot = {
        "id": f"{prefix}-ASB-HOTSPOT",
        "title": f"Cut anti-social behaviour incidents in {ward_name} ward by 15% by {asb_deadline}",
        "metric": {
            "mart": "area_rates",
            "column": "incidents",
            "where": {"area_type": "ward", "dataset": _POLICE, "category": "Anti-social behaviour"},
        },
        "area": ward,
        "baseline": {"period": first, "value": asb},
        "target": {"value": round(asb * 0.85)},
        "deadline": asb_deadline,
        "milestones": [{"period": _later(first, 1), "value": round(asb * 0.93)}],
        "owner": f"Anti-social Behaviour Coordinator, {name} council",
    }
    if index % 2 == 0:
        share = _one(
            con,
            "select share_safe_night from audit.consultation_safety where partnership_code = ? and audit_year = ?",
            [code, first],
        )[0]
        public = {
            "id": f"{prefix}-SAFE-AT-NIGHT",
            "title": f"Raise the share of residents feeling safe after dark in {name} by 5 points by {deadline}",
            "metric": {"mart": "consultation_safety", "column": "share_safe_night", "where": {}},
            "area": code,
            "baseline": {"period": first, "value": share},
            "target": {"value": round(share + 0.05, 4)},
            "deadline": deadline,
            "owner": f"Community Safety Partnership Manager, {name}",
        }
    else:
        share = _one(
            con,
            "select share_naming from audit.consultation_concerns where partnership_code = ? and audit_year = ? "
            "and concern = 'anti-social behaviour'",
            [code, first],
        )[0]
        public = {
            "id": f"{prefix}-ASB-CONCERN",
            "title": f"Lower the share of residents naming anti-social behaviour as a top-3 concern by 5 points "
            f"by {deadline}",
            "metric": {
                "mart": "consultation_concerns",
                "column": "share_naming",
                "where": {"concern": "anti-social behaviour"},
            },
            "area": code,
            "baseline": {"period": first, "value": share},
            "target": {"value": round(share - 0.05, 4)},
            "deadline": deadline,
            "owner": f"Community Safety Partnership Manager, {name}",
        }
    return [crime, hotspot, public]


def write_demo_targets(
    region_dir: str | Path, *, warehouse: str | Path | None = None, out_dir: str | Path | None = None
) -> list[Path]:
    """Write ``targets/<partnership_code>.yaml`` for every partnership of the demo warehouse; return the paths.

    ``warehouse`` defaults to ``<region_dir>/warehouse.duckdb`` (built by the demo), ``out_dir`` to
    ``<region_dir>/targets``. Baselines are the first whole audit year of police.uk data.
    """
    region_dir = Path(region_dir)
    warehouse = Path(warehouse) if warehouse else region_dir / "warehouse.duckdb"
    out = Path(out_dir) if out_dir else region_dir / "targets"
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        partnerships = con.execute(
            "select distinct partnership_code, partnership_name from audit.area_rates "
            "where area_type = 'partnership' order by partnership_code"
        ).fetchall()
        (first,) = _one(
            con,
            "select min(audit_year) from audit.area_rates where area_type = 'partnership' and dataset = ? "
            "and category = 'All' and months_covered = 12",
            [_POLICE],
        )
        written = []
        for index, (code, name) in enumerate(partnerships):
            register = {
                "partnership": code,
                "name": f"{name} community safety targets",
                "targets": _targets_for(con, index, code, name, first),
            }
            path = out / f"{code}.yaml"
            body = yaml.safe_dump(
                register, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None
            )
            path.write_text(_HEADER.format(folder=out.name) + body, encoding="utf-8")
            written.append(path)
    finally:
        con.close()
    return written
