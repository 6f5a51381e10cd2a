"""The assessment's writer on a small partnership where a change survives (the demo has none that does).

The tables are real frames shaped like the pack's; every traced figure is recomputed from them, as the
integration test does from the pack's CSVs.
"""

from __future__ import annotations

import json
import re

import pandas as pd
from csp_audit.packs.assessment import Writer
from csp_audit.packs.figures import FORMATS, rows_matching

P = {"partnership_code": "E22990001", "partnership_name": "Vale"}
NOW, BEFORE = "2023-04-01", "2022-04-01"
KEYS = {
    "area_rates": ("area_type", "area_code", "dataset", "category", "period_start"),
    "trends": ("partnership_code", "dataset", "category", "period_start"),
    "area_monthly": ("area_code", "dataset", "category", "month"),
    "data_completeness": ("partnership_code", "month", "dataset"),
}


def _rates() -> pd.DataFrame:
    rows = []
    for start, year, scale in ((BEFORE, "2022/23", 1.0), (NOW, "2023/24", 1.5)):
        for category, n in (("All", 400), ("Burglary", 100), ("Robbery", 300)):
            rows.append({**P, "area_type": "partnership", "area_code": "E22990001", "area_name": "Vale",
                         "dataset": "police_uk_street", "category": category, "audit_year": year,
                         "period_start": start, "months_covered": 12, "incidents": n * scale,
                         "rate_per_1000": n * scale / 40})  # fmt: skip
        for ward, name, n in (("E05990001", "Beckside", 250), ("E05990002", "Hillcrest", 150)):
            rows.append({**P, "area_type": "ward", "area_code": ward, "area_name": name, "dataset": "police_uk_street",
                         "category": "All", "audit_year": year, "period_start": start, "months_covered": 12,
                         "incidents": n * (scale if ward == "E05990001" else 1.0) + (50 if scale > 1 and ward == "E05990001" else 0)})  # fmt: skip
    return pd.DataFrame(rows)


def _trends() -> pd.DataFrame:
    base = {
        **P,
        "dataset": "police_uk_street",
        "audit_year": "2023/24",
        "period_start": NOW,
        "previous_audit_year": "2022/23",
    }
    return pd.DataFrame([
        {**base, "category": "All", "incidents": 600.0, "previous_year_incidents": 400.0, "change": 200.0,
         "pct_change": 50.0, "q_value": 0.0004, "verdict": "significant increase"},
        {**base, "category": "Robbery", "incidents": 450.0, "previous_year_incidents": 300.0, "change": 150.0,
         "pct_change": 50.0, "q_value": 0.003, "verdict": "significant increase"},
        {**base, "category": "Burglary", "incidents": 150.0, "previous_year_incidents": 100.0, "change": 50.0,
         "pct_change": 50.0, "q_value": 0.2, "verdict": "no significant change"},
    ])  # fmt: skip


def _monthly() -> pd.DataFrame:
    months = pd.date_range("2022-04-01", periods=24, freq="MS")
    return pd.DataFrame([{**P, "area_type": "partnership", "area_code": "E22990001", "dataset": "police_uk_street",
                          "category": "All", "month": str(m.date()), "incidents": 30.0 + (20 if i == 14 else 0) + (i >= 12) * 10}
                         for i, m in enumerate(months)])  # fmt: skip


def _completeness() -> pd.DataFrame:
    return pd.DataFrame([{**P, "month": "2023-06-01", "dataset": "police_uk_street", "complete": False,
                          "missing_from": "northshire_police"},
                         {**P, "month": "2023-07-01", "dataset": "police_uk_street", "complete": True,
                          "missing_from": None}])  # fmt: skip


def test_a_surviving_change_is_a_finding_with_its_drivers_and_a_draft_recommendation() -> None:
    tables = {"area_rates": _rates(), "trends": _trends(), "area_monthly": _monthly(),
              "data_completeness": _completeness()}  # fmt: skip
    writer = Writer(tables, KEYS)
    sections = {s.id: s for s in writer.sections()}
    changes = " ".join(sections["changes"].items)
    assert "a large rise of" in changes and "very strong evidence" in changes and "Robbery" in changes
    assert "Burglary" not in changes  # not significant: no finding
    drivers = " ".join(sections["drivers"].items)
    assert "by category, most of it from Robbery" in drivers
    assert "by ward, Beckside" in drivers and 'by month, <span class="lit">2023-06</span>' in drivers
    assert "months with a delivery missing" in drivers and "northshire_police" in drivers
    assert "not a finding" not in drivers  # the headline change is itself a finding here
    recommendations = " ".join(sections["recommendations"].items)
    assert 'href="#change-police-uk-street-all"' in recommendations and "Examine the rise" in recommendations
    # every traced figure recomputed from the frames
    html = " ".join(str(x) for s in sections.values() for x in (*s.paragraphs, *s.items, *s.after))
    figures = re.findall(r'<span class="fig"([^>]*)>([^<]*)</span>', html)
    assert len(figures) > 15
    for attrs, text in figures:
        a = {k: json.loads(v.replace("&#34;", '"')) if k in ("key", "key2", "where") else v
             for k, v in re.findall(r'data-([a-z0-9]+)="([^"]*)"', attrs)}  # fmt: skip
        frame = tables[a["table"]]
        if a.get("op") == "count":
            frame = frame.assign(complete=frame["complete"].map({True: "true", False: "false"})) \
                if "complete" in frame else frame  # as the CSV writes it  # fmt: skip
            assert FORMATS["int"](len(rows_matching(frame, a["where"]))) == text, a
            continue
        (row,) = rows_matching(frame, a["key"]).to_dict("records")
        value = float(row[a["col"]])
        if a.get("op") == "diff":
            (other,) = rows_matching(frame, a["key2"]).to_dict("records")
            value -= float(other[a["col"]])
        assert FORMATS[a["fmt"]](value) == text.replace("&lt;", "<"), a
