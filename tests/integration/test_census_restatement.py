"""Counts delivered on 2001 LSOA codes are placed on the region's 2011 LSOAs by dbt (census change lookup).

Starts from the demo's warehouse (the session's `demo_run`, shared with the other integration tests, so
this module adds ~30 s): a copy of the demo region gets an ``area_type: lsoa, vintage: 2001`` apportionment
entry whose lookup is a small ONS-format LSOA01 -> LSOA11 change file over the demo's LSOAs (U, S, M and X
cases), the housing dataset's rows are moved onto the 2001 codes, the build's prepare_geography writes
raw.geo_apportionment, and dbt rebuilds the intermediate models with their tests, including
assert_apportionment_conserves_incidents.

The plan validator accepts LSOA vintages 2011 and 2021 only, and the agency gate checks LSOA codes against
the region's 2011 lookup, so the housing dataset is switched to ``lsoa_2001`` in raw.plan_datasets directly
instead of through the plan and its delivered files.
"""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from csp_audit.geography import read_lsoa_lookup, read_population
from csp_audit.steps import build as steps
from csp_audit.warehouse.dbt_runner import dbt_build

pytestmark = pytest.mark.integration

HEADER = ["LSOA01CD", "LSOA01NM", "LSOA11CD", "LSOA11NM", "CHGIND", "LAD11CD", "LAD11NM", "LAD11NMW", "FID"]


def _change_rows(new_codes: list[str]) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """(old, new, CHGIND) rows over the demo's LSOAs and, per new LSOA, the old code its counts move to."""
    olds = (f"E0198{n:04d}" for n in range(1, 10_000))
    rows: list[tuple[str, str, str]] = []
    moved: dict[str, str] = {}
    split = next(olds)  # one 2001 LSOA split into the first three 2011 LSOAs
    for new in new_codes[0:3]:
        rows.append((split, new, "S"))
        moved[new] = split
    merged = [next(olds), next(olds)]  # two 2001 LSOAs merged into the fourth
    rows += [(old, new_codes[3], "M") for old in merged]
    moved[new_codes[3]] = merged[0]
    irregular = next(olds)  # an irregular change: one 2001 LSOA redrawn as the fifth
    rows.append((irregular, new_codes[4], "X"))
    moved[new_codes[4]] = irregular
    for new in new_codes[5:]:
        old = next(olds)
        rows.append((old, new, "U"))
        moved[new] = old
    return rows, moved


@pytest.fixture(scope="module")
def restated(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("census")
    for name in ("region.yaml", "plan.yaml", "warehouse.duckdb"):
        shutil.copy2(demo_run / name, out / name)
    shutil.copytree(demo_run / "lookups", out / "lookups")
    if (demo_run / "police").is_dir():
        (out / "police").symlink_to(demo_run / "police", target_is_directory=True)
    warehouse = out / "warehouse.duckdb"

    lsoas = read_lsoa_lookup(out / "lookups" / "LSOA11_WD19_LAD19_lookup_EW.csv").frame
    with duckdb.connect(str(warehouse), read_only=True) as con:
        used = {
            r[0]
            for r in con.execute("select distinct lsoa_code from raw.ds__housing_asb_complaints").fetchall()
        }
    # LSOAs with housing rows first, so that every case has counts
    new_codes = sorted(c for c in lsoas["lsoa_code"] if c in used) + sorted(
        c for c in lsoas["lsoa_code"] if c not in used
    )
    rows, moved = _change_rows(new_codes)
    with (out / "lookups" / "LSOA01_LSOA11_LAD11_lookup_EW.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n, (old, new, chgind) in enumerate(rows, 1):
            writer.writerow([old, f"old {old}", new, f"new {new}", chgind, "E07990001", "Demo", "", n])
    region = (out / "region.yaml").read_text()
    anchor = "  apportionment:\n"
    assert anchor in region
    (out / "region.yaml").write_text(
        region.replace(
            anchor,
            anchor
            + "    - {area_type: lsoa, vintage: 2001, lookup: lookups/LSOA01_LSOA11_LAD11_lookup_EW.csv}\n",
        )
    )
    with duckdb.connect(str(warehouse)) as con:
        con.register("moved", pd.DataFrame({"new": list(moved), "old": list(moved.values())}))
        con.execute(
            "update raw.ds__housing_asb_complaints set lsoa_code = moved.old from moved where lsoa_code = moved.new"
        )

    summary = steps.prepare_geography(str(out / "plan.yaml"), str(warehouse))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update raw.plan_datasets set geography_vintage = 2001, geography_key = 'lsoa_2001' "
            "where dataset = 'housing_asb_complaints'"
        )
    built = dbt_build(
        warehouse,
        {"audit_year_start_month": 4, "region_name": "demo-region"},
        select="int_apportionment_weights_normalised int_agency_rows_classified int_agency_counts_placed",
    )
    return {"out": out, "warehouse": warehouse, "rows": rows, "summary": summary, "built": built}


def _query(restated: dict[str, object], sql: str) -> pd.DataFrame:
    with duckdb.connect(str(restated["warehouse"]), read_only=True) as con:
        return con.execute(sql).df()


def test_change_lookup_is_written_with_like_for_like(restated: dict[str, object]) -> None:
    raw = _query(restated, "select * from raw.geo_apportionment")
    assert "like_for_like" in raw.columns
    assert raw.loc[raw["geography"] != "lsoa_2001", "like_for_like"].all()
    change = raw[raw["geography"] == "lsoa_2001"]
    assert len(change) == len(restated["rows"])
    irregular = {old for old, _, chgind in restated["rows"] if chgind == "X"}
    assert set(change.loc[~change["like_for_like"], "area_code"]) == irregular


def test_shares_methods_and_flags_by_change_indicator(restated: dict[str, object]) -> None:
    weights = _query(
        restated,
        "select area_code, lsoa_code, share, method, like_for_like, in_region "
        "from intermediate.int_apportionment_weights_normalised where geography_key = 'lsoa_2001'",
    )
    chgind = {(old, new): c for old, new, c in restated["rows"]}
    weights["chgind"] = [
        chgind[(a, b)] for a, b in zip(weights["area_code"], weights["lsoa_code"], strict=True)
    ]
    expected = {
        "U": ("exact", True),
        "M": ("exact", True),
        "S": ("apportioned", True),
        "X": ("apportioned", False),
    }
    for indicator, (method, like_for_like) in expected.items():
        rows = weights[weights["chgind"] == indicator]
        assert not rows.empty, indicator
        assert set(rows["method"]) == {method}, indicator
        assert set(rows["like_for_like"]) == {like_for_like}, indicator
    assert weights.groupby("area_code")["share"].sum().sub(1).abs().max() < 1e-12
    # the split follows the region's 2011 population
    population = read_population(restated["out"] / "lookups" / "lsoa_population.csv").set_index("lsoa_code")
    split = weights[weights["chgind"] == "S"].set_index("lsoa_code")
    pop = population.loc[split.index, "population"]
    assert split["share"].to_numpy() == pytest.approx((pop / pop.sum()).to_numpy(), rel=1e-12)
    others = _query(
        restated,
        "select distinct geography_key, like_for_like from intermediate.int_apportionment_weights_normalised "
        "where geography_key <> 'lsoa_2001'",
    )
    assert others["like_for_like"].all()


def test_housing_counts_on_2001_codes_are_placed_and_conserved(restated: dict[str, object]) -> None:
    status = _query(
        restated,
        "select row_status, sum(count_value) as n from intermediate.int_agency_rows_classified "
        "where dataset = 'housing_asb_complaints' group by all",
    ).set_index("row_status")["n"]
    assert "unlocated" not in status.index and "quarantined" not in status.index
    delivered = _query(
        restated,
        "select area_code, sum(count_value) as delivered from intermediate.int_agency_rows_classified "
        "where dataset = 'housing_asb_complaints' and row_status = 'counted' group by all",
    ).set_index("area_code")["delivered"]
    placed = _query(
        restated,
        "select area_code, lsoa_code, method, sum(incidents) as incidents "
        "from intermediate.int_agency_counts_placed where dataset = 'housing_asb_complaints' group by all",
    )
    assert placed["area_code"].str.startswith("E0198").all()  # every row arrived on a 2001 code
    by_old = placed.groupby("area_code")["incidents"].sum()
    assert by_old.to_numpy() == pytest.approx(delivered.loc[by_old.index].astype(float).to_numpy(), rel=1e-12)
    total = float(delivered.sum())
    assert abs(math.fsum(placed["incidents"]) - total) <= 1e-6 * total
    merged_new = next(new for _, new, c in restated["rows"] if c == "M")
    merged_rows = placed[placed["lsoa_code"] == merged_new]
    assert set(merged_rows["method"]) == {"exact"}


def test_dbt_tests_passed(restated: dict[str, object]) -> None:
    """The build ran the conservation test (a failure would have raised DbtFailed in the fixture)."""
    results = (restated["out"] / "warehouse.dbt-target" / "run_results.json").read_text()
    assert "assert_apportionment_conserves_incidents" in results
    assert restated["summary"]["apportionment_rows"] > len(restated["rows"])
