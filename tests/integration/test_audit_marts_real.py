"""The yearly audit marts of the real police.uk extracts in ../shared against figures recomputed here.

Split from ``test_audit_marts.py`` so the session's real-data run (conftest's ``real_run``) and the
demo run are made on different test workers. The expected figures come from the raw files and the
ONS lookups alone, with the counting rules of ``test_audit_marts.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_audit_marts import (
    ALPHA,
    CITY_OF_LONDON,
    REAL_PFAS,
    counted_incidents,
    pearson,
    pooled_dispersion,
    query,
    read_geography,
    verdict,
    with_all,
)

pytestmark = pytest.mark.integration


# -------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real(real_run: Path, shared_realdata: Path) -> dict:
    """The session's real-data run (tests/conftest.py), read back with an independent geography."""
    geo = shared_realdata / "geography"
    out = real_run
    geography = read_geography(
        geo / "LSOA11_WD19_LAD19_lookup_EW.csv", geo / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv", REAL_PFAS
    )
    return {
        "warehouse": out / "warehouse.duckdb",
        "geography": geography[geography["in_region"]],
        "records": counted_incidents(shared_realdata / "police", geography),
    }


@pytest.mark.realdata
def test_real_data_marts_cover_every_partnership(real: dict) -> None:
    partnerships = set(real["geography"]["csp"])
    assert len(partnerships) == 22  # 21 Welsh CSPs + City of London
    marts = ["area_rates", "area_monthly", "trends", "seasonality", "hotspots", "concentration",
             "hotspot_persistence", "repeat_locations", "harm", "comparisons", "caveats", "themes"]  # fmt: skip
    for mart in marts:
        got = query(real["warehouse"], f"select distinct partnership_code from audit.{mart}")  # noqa: S608
        assert set(got["partnership_code"]) == partnerships, mart


@pytest.mark.realdata
def test_real_data_spot_figures(real: dict) -> None:
    records, geo = real["records"], real["geography"]
    # the Welsh partnership with most incidents: five months (Oct 2018 - Feb 2019) of 2018/19
    welsh = records[records["csp"].str.startswith("W14")].groupby("csp").size().idxmax()
    spots = [(welsh, "2018/19", 5), (CITY_OF_LONDON, "2018/19", 12), (CITY_OF_LONDON, "2021/22", 9)]
    categories = sorted(records["category"].unique())
    for csp, year, months in spots:
        mine = records[(records["csp"] == csp) & (records["audit_year"] == year)]
        assert mine["month"].nunique() == months
        got = query(
            real["warehouse"],
            "select category, incidents, months_covered, rate_per_1000 from audit.area_rates "
            "where dataset = 'police_uk_street' and area_type = 'partnership' and area_code = ? and audit_year = ?",
            [csp, year],
        ).set_index("category")
        expected = dict.fromkeys([*categories, "All"], 0) | with_all(mine.groupby("category").size())
        assert {c: int(n) for c, n in got["incidents"].items()} == expected, (csp, year)
        assert set(got["months_covered"]) == {months}
        assert got["rate_per_1000"].isna().all()  # the real region has no population file

    caveat = query(
        real["warehouse"],
        "select months_covered, caveat from audit.caveats where dataset = 'police_uk_street' "
        "and partnership_code = ? and audit_year = '2018/19'",
        [welsh],
    ).iloc[0]
    assert caveat.months_covered == 5
    assert "Part year: 5 of 12 months" in caveat.caveat and "No population" in caveat.caveat

    # City of London, 2019/20 against 2018/19: whole years, so the (quasi-Poisson) test applies
    city = records[records["csp"] == CITY_OF_LONDON]
    for category in ("All", "Theft from the person"):
        subset = city if category == "All" else city[city["category"] == category]
        n1, n2 = ((subset["audit_year"] == y).sum() for y in ("2018/19", "2019/20"))
        chi = []
        for y in ("2018/19", "2019/20"):
            months = sorted(city.loc[city["audit_year"] == y, "month"].unique())
            monthly = subset[subset["audit_year"] == y].groupby("month").size().reindex(months, fill_value=0)
            chi.append(pearson([float(x) for x in monthly]))
        phi = pooled_dispersion(*chi)
        p, word = verdict(int(n1), int(n2), phi)
        row = query(
            real["warehouse"],
            "select p_value, q_value, dispersion, verdict from audit.trends where dataset = 'police_uk_street' "
            "and partnership_code = ? and category = ? "
            "and audit_year = '2019/20'",
            [CITY_OF_LONDON, category],
        ).iloc[0]
        assert row.dispersion == pytest.approx(phi, rel=1e-9)
        assert row.p_value == pytest.approx(p, rel=1e-6, abs=1e-12)
        assert row.q_value >= row.p_value
        assert row.verdict == (word if row.q_value < ALPHA else "no significant change")

    # concentration in the Welsh partnership, LSOAs without incidents included
    lsoas = geo.loc[geo["csp"] == welsh, "lsoa"]
    mine = records[(records["csp"] == welsh) & (records["audit_year"] == "2018/19")]
    per_lsoa = mine.groupby("lsoa").size().reindex(lsoas, fill_value=0).sort_values(ascending=False)
    top = math.ceil(0.1 * len(per_lsoa))
    row = query(
        real["warehouse"],
        "select lsoas, top_lsoas, share_in_top_10_percent from audit.concentration "
        "where dataset = 'police_uk_street' and partnership_code = ? and audit_year = '2018/19' and category = 'All'",
        [welsh],
    ).iloc[0]
    assert (row.lsoas, row.top_lsoas) == (len(lsoas), top)
    assert row.share_in_top_10_percent == pytest.approx(per_lsoa.iloc[:top].sum() / per_lsoa.sum(), abs=1e-4)
