"""England and Wales and the most similar group beside the region (issue 17, item 5).

The demo ships its own "published" figures for a fictional England and Wales and two
characteristics per partnership. The national rate and each most similar group are recomputed
here from those files alone (numpy, not the warehouse) and compared with the marts.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from csp_audit.geography.comparators import ComparatorFileError, partnership_rates


def _query(run: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(run / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def _files(run: Path) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    config = yaml.safe_load((run / "region.yaml").read_text())["comparators"]
    rates = pd.read_csv(run / config["partnership_rates"], dtype={"period_start": str})
    features = pd.read_csv(run / config["characteristics"])
    return rates, features, int(config["group_size"])


def test_national_and_most_similar_group_rows_recomputed_from_the_published_files(demo_run: Path) -> None:
    rates, features, size = _files(demo_run)
    comparisons = _query(
        demo_run,
        "select partnership_code, category, strftime(period_start, '%Y-%m-%d') as period_start, comparator_type, "
        "comparator_partnerships, comparator_rate_per_1000, coverage_matches, months_covered "
        "from audit.comparisons where dataset = 'police_uk_street' and comparator_type in ('national', 'most_similar_group')",
    )
    partnerships = set(_query(demo_run, "select partnership_code from audit.area_rates")["partnership_code"])
    for kind in ("national", "most_similar_group"):
        assert (
            set(comparisons.loc[comparisons["comparator_type"] == kind, "partnership_code"]) == partnerships
        )
    assert (comparisons["coverage_matches"] == (comparisons["months_covered"] == 12)).all()

    # national: every partnership's published incidents over their residents
    totals = rates.groupby(["category", "period_start"])[["incidents", "population"]].sum()
    national = comparisons[comparisons["comparator_type"] == "national"]
    for r in national.itertuples():
        expected = (
            1000
            * totals.loc[(r.category, r.period_start), "incidents"]
            / totals.loc[(r.category, r.period_start), "population"]
        )
        assert r.comparator_rate_per_1000 == pytest.approx(round(expected, 3), abs=1e-9)
        assert r.comparator_partnerships == rates["partnership_code"].nunique()

    # the groups: nearest neighbours on z-scores (population standard deviation), ties by code
    values = features.set_index("partnership_code")[["imd_mean_rank", "residents_per_hectare"]]
    z = (values - values.mean()) / values.std(ddof=0)
    groups = _query(
        demo_run, "select * from audit.most_similar_groups order by partnership_code, member_rank"
    )
    assert set(groups["partnership_code"]) == partnerships
    for code, members in groups.groupby("partnership_code"):
        others = z.drop(index=code)
        distance = np.sqrt(((others - z.loc[code]) ** 2).sum(axis=1))
        nearest = sorted(distance.items(), key=lambda item: (item[1], item[0]))[:size]
        assert list(members["member_code"]) == [m for m, _ in nearest]
        assert list(members["distance"]) == pytest.approx([round(d, 4) for _, d in nearest], abs=1e-9)
        assert set(members["method"]) == {
            "nearest neighbours on standardised imd_mean_rank, residents_per_hectare"
        }
        # the group's rate: its members' published incidents over their residents
        own = rates[rates["partnership_code"].isin(members["member_code"])]
        pooled = own.groupby(["category", "period_start"])[["incidents", "population"]].sum()
        rows = comparisons[
            (comparisons["comparator_type"] == "most_similar_group")
            & (comparisons["partnership_code"] == code)
        ]
        assert len(rows)
        for r in rows.itertuples():
            cell = pooled.loc[(r.category, r.period_start)]
            assert r.comparator_rate_per_1000 == pytest.approx(
                round(1000 * cell["incidents"] / cell["population"], 3), abs=1e-9
            )
            assert r.comparator_partnerships == size


def test_a_bad_comparator_file_is_refused_naming_file_line_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text(
        "partnership_code,partnership_name,dataset,category,period_start,incidents,population\n"
        "E22000001,A,police_uk_street,All,2021-04-01,10,1000\n"
        "E22000002,B,police_uk_street,All,2021-04-01,-3,1000\n"
    )
    with pytest.raises(
        ComparatorFileError, match=r"rates\.csv, line 3: rule incidents_is_a_number_of_0_or_more"
    ):
        partnership_rates(path)
    path.write_text("partnership_code,dataset\nE22000001,x\n")
    with pytest.raises(ComparatorFileError, match=r"line 1: rule header: missing column 'partnership_name'"):
        partnership_rates(path)
