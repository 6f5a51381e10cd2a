"""The yearly audit marts (schema audit) against figures recomputed here from the raw files.

The demo region is built once per session by conftest's ``demo_run`` (the real CLI in a child
process: Airflow ``dag.test()``, Great Expectations, DuckDB, dbt). Every expected figure below is
computed in this file from the police.uk CSVs and the ONS lookups alone, with the project's
counting rules written out again in pandas; the warehouse is read only for the marts under test,
never for its intermediate tables. The significance test is recomputed with scipy's exact
binomial test (or, without scipy, an exact sum written here).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from html import unescape
from pathlib import Path

import duckdb
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

POLICE_FILE = re.compile(r"^(\d{4}-\d{2})-(.+)-street\.csv$")
UNINFORMATIVE = {"", "Status update unavailable"}
DEMO_PFAS = ["E23990001", "E23990002"]
REAL_PFAS = ["W15000001", "W15000002", "W15000003", "W15000004", "E23000034"]  # Wales + City of London
CITY_OF_LONDON = "E22000180"
ALPHA = 0.05
MIN_INCIDENTS = 6  # with 5 or fewer in the two years together no split reaches p < 0.05


# ------------------------------------------------------------------------------ independent reading


def _column(frame: pd.DataFrame, pattern: str) -> str:
    hits = [c for c in frame.columns if re.fullmatch(pattern, c.strip().lstrip("\ufeff"), re.IGNORECASE)]
    assert len(hits) == 1, (pattern, list(frame.columns))
    return hits[0]


def read_geography(lsoa_lookup: Path, partnership_lookup: Path, pfas: Iterable[str]) -> pd.DataFrame:
    """One row per LSOA with its ward and partnership (None where the LAD straddles partnerships)
    and whether the partnership is in the region (its PFA is one of ``pfas``)."""
    lads = pd.read_csv(partnership_lookup, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lad, csp, pfa = (_column(lads, rf"{p}\d\dcd") for p in ("lad", "csp", "pfa"))
    region = set(lads.loc[lads[pfa].isin(list(pfas)), csp])
    per_lad = lads.groupby(lad)[csp].agg(lambda s: s.iloc[0] if s.nunique() == 1 else None)
    lsoas = pd.read_csv(lsoa_lookup, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    out = pd.DataFrame(
        {
            "lsoa": lsoas[_column(lsoas, r"lsoa\d\dcd")].str.strip(),
            "ward": lsoas[_column(lsoas, r"wd\d\dcd")].str.strip(),
            "csp": lsoas[_column(lsoas, r"lad\d\dcd")].map(per_lad),
        }
    ).drop_duplicates("lsoa")
    out["in_region"] = out["csp"].isin(region)
    return out


def audit_year(month: str) -> str:
    """April-March audit year label of a YYYY-MM month: 2019-02 -> 2018/19."""
    year, mon = int(month[:4]), int(month[5:7])
    start = year if mon >= 4 else year - 1
    return f"{start}/{(start + 1) % 100:02d}"


def counted_incidents(police_root: Path, geography: pd.DataFrame) -> pd.DataFrame:
    """The counted police.uk incidents of the region, one row each, by the documented rules:
    rows whose LSOA code the lookup does not know are quarantined; among rows sharing a (force,
    Crime ID) the one with an LSOA, then an informative outcome, then the latest month, then the
    first file and row is kept; rows without a Crime ID are one incident each; rows without an
    LSOA are unlocated; the partnership comes from the LSOA and must be in the region."""
    frames = []
    for path in sorted(police_root.rglob("*-street.csv")):
        match = POLICE_FILE.match(path.name)
        assert match, path
        frame = pd.read_csv(path, dtype=str, keep_default_na=False).apply(lambda s: s.str.strip())
        frame["force"] = match[2]
        frame["file"] = path.relative_to(police_root).as_posix()
        frame["row"] = range(1, len(frame) + 1)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    lsoa = rows["LSOA code"]
    rows = rows[(lsoa == "") | lsoa.isin(set(geography["lsoa"]))]  # unknown LSOA: quarantined

    has_id = rows["Crime ID"] != ""
    ranked = rows[has_id].assign(
        no_lsoa=lambda f: f["LSOA code"] == "",
        uninformative=lambda f: f["Last outcome category"].isin(UNINFORMATIVE),
    )
    ranked = ranked.sort_values(
        ["force", "Crime ID", "no_lsoa", "uninformative", "Month", "file", "row"],
        ascending=[True, True, True, True, False, True, True],
    )
    kept = pd.concat([ranked.drop_duplicates(["force", "Crime ID"]), rows[~has_id]])
    located = kept[kept["LSOA code"] != ""].merge(geography, left_on="LSOA code", right_on="lsoa")
    counted = located[located["in_region"]].copy()
    counted["audit_year"] = counted["Month"].map(audit_year)

    def key(lon: str, lat: str) -> str | None:
        return f"{float(lon):.6f},{float(lat):.6f}" if lon and lat else None

    counted["location"] = [key(a, b) for a, b in zip(counted["Longitude"], counted["Latitude"], strict=True)]
    return counted.rename(columns={"Month": "month", "Crime type": "category"})[
        ["force", "month", "audit_year", "category", "lsoa", "ward", "csp", "location"]
    ]


def poisson_change_p(n1: int, n2: int) -> float:
    """Two-sided exact conditional binomial test: n2 ~ Binomial(n1 + n2, 0.5) if nothing changed."""
    try:
        from scipy.stats import binomtest
    except ImportError:  # exact, in log space, without scipy
        n, k = n1 + n2, min(n1, n2)
        terms = [
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
            for i in range(k + 1)
        ]
        top = max(terms)
        return min(1.0, 2 * math.exp(top) * sum(math.exp(t - top) for t in terms))
    return float(binomtest(n2, n1 + n2, 0.5).pvalue)


def verdict(n1: int | None, n2: int, dispersion: float = 1.0) -> tuple[float | None, str]:
    """p-value of the quasi-Poisson test (the exact test on the counts divided by the dispersion) and
    the verdict that p alone would give (the marts read theirs from the false-discovery-rate q)."""
    if n1 is None:
        return None, "insufficient data"
    e1, e2 = round(n1 / dispersion), round(n2 / dispersion)
    if e1 + e2 < MIN_INCIDENTS:
        return None, "insufficient data"
    p = poisson_change_p(e1, e2)
    if p >= ALPHA:
        return p, "no significant change"
    return p, "significant increase" if n2 > n1 else "significant decrease"


def pearson(monthly: list[float]) -> tuple[float, int]:
    """Pearson chi-square of monthly counts about their mean, and its degrees of freedom."""
    mean = sum(monthly) / len(monthly)
    if mean <= 0:
        return 0.0, 0
    return sum((x - mean) ** 2 for x in monthly) / mean, len(monthly) - 1


def pooled_dispersion(a: tuple[float, int], b: tuple[float, int]) -> float:
    df = a[1] + b[1]
    return max(1.0, (a[0] + b[0]) / df) if df else 1.0


def benjamini_hochberg(p: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, written out (step-up, running minimum from the largest p)."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = min(1.0, running)
    return q


def query(warehouse: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


def with_all(counts: pd.Series) -> dict[str, int]:
    """Counts per category plus 'All'."""
    out = {str(k): int(v) for k, v in counts.items()}
    out["All"] = sum(out.values())
    return out


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def demo(demo_run: Path) -> dict:
    lookups = demo_run / "lookups"
    geography = read_geography(
        lookups / "LSOA11_WD19_LAD19_lookup_EW.csv",
        lookups / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv",
        DEMO_PFAS,
    )
    population = pd.read_csv(lookups / "lsoa_population.csv", dtype={"LSOA11CD": str})
    geography = geography.merge(population.rename(columns={"LSOA11CD": "lsoa"}), on="lsoa", how="left")
    return {
        "warehouse": demo_run / "warehouse.duckdb",
        "geography": geography[geography["in_region"]],
        "records": counted_incidents(demo_run / "police", geography),
    }


# ------------------------------------------------------------------------------------------- demo


def test_rates_per_1000_for_partnership_wards_and_lsoas(demo: dict) -> None:
    csp, year = "E22990003", "2022/23"
    geo, records = demo["geography"], demo["records"]
    mine = records[(records["csp"] == csp) & (records["audit_year"] == year)]
    categories = sorted(records["category"].unique())
    expected = dict.fromkeys([*categories, "All"], 0) | with_all(mine.groupby("category").size())
    population = int(geo.loc[geo["csp"] == csp, "population"].sum())

    got = query(
        demo["warehouse"],
        "select category, incidents, population, rate_per_1000, months_covered, period_start, period_end "
        "from audit.area_rates where dataset = 'police_uk_street' and area_type = 'partnership' "
        "and area_code = ? and audit_year = ?",
        [csp, year],
    ).set_index("category")
    assert {c: int(n) for c, n in got["incidents"].items()} == expected
    assert set(got["population"]) == {population}
    assert set(got["months_covered"]) == {12}
    assert str(got["period_start"].iloc[0])[:10] == "2022-04-01"
    assert str(got["period_end"].iloc[0])[:10] == "2023-03-31"
    for category, n in expected.items():
        assert got.loc[category, "rate_per_1000"] == pytest.approx(1000 * n / population, abs=5e-4)

    # every LSOA and ward of the partnership, those with no incident included
    for area_type, column in (("lsoa", "lsoa"), ("ward", "ward")):
        for category in ("All", "Possession of weapons"):
            subset = mine if category == "All" else mine[mine["category"] == category]
            areas = geo[geo["csp"] == csp].groupby(column)["population"].sum()
            counts = subset.groupby(column).size().reindex(areas.index, fill_value=0)
            rows = query(
                demo["warehouse"],
                "select area_code, incidents, population, rate_per_1000 from audit.area_rates "
                "where dataset = 'police_uk_street' and area_type = ? and partnership_code = ? and audit_year = ? "
                "and category = ?",
                [area_type, csp, year, category],
            ).set_index("area_code")
            assert {a: int(n) for a, n in rows["incidents"].items()} == counts.to_dict()
            assert {a: int(p) for a, p in rows["population"].items()} == areas.to_dict()
            for area, n in counts.items():
                assert rows.loc[area, "rate_per_1000"] == pytest.approx(1000 * n / areas[area], abs=5e-4)
            if area_type == "lsoa" and category != "All":
                assert (counts == 0).any(), "the sparse category should leave some LSOA at zero"


def test_trend_verdicts_match_an_independent_poisson_test(demo: dict) -> None:
    records = demo["records"]
    years = sorted(records["audit_year"].unique())
    assert years == ["2021/22", "2022/23", "2023/24"]
    assert records.groupby(["csp", "audit_year"])["month"].nunique().eq(12).all()
    counts: dict[tuple[str, str, str], int] = {}
    chi: dict[tuple[str, str, str], tuple[float, int]] = {}
    categories = list(records["category"].unique())
    for (csp, year), frame in records.groupby(["csp", "audit_year"]):
        by_category = dict.fromkeys(categories, 0) | with_all(frame.groupby("category").size())
        counts |= {(csp, category, year): n for category, n in by_category.items()}
        months = sorted(frame["month"].unique())
        for category in [*categories, "All"]:
            subset = frame if category == "All" else frame[frame["category"] == category]
            monthly = subset.groupby("month").size().reindex(months, fill_value=0)
            chi[(csp, category, year)] = pearson([float(x) for x in monthly])

    trends = query(
        demo["warehouse"],
        "select partnership_code, category, audit_year, incidents, previous_year_incidents, change, "
        "p_value, q_value, dispersion, verdict, three_year_base_incidents, three_year_p_value, three_year_q_value, "
        "three_year_dispersion, three_year_verdict from audit.trends where dataset = 'police_uk_street'",
    )
    assert len(trends) == len(counts)
    for row in trends.itertuples():
        i = years.index(row.audit_year)
        key = (row.partnership_code, row.category, row.audit_year)
        n = counts[key]
        prev = counts[(row.partnership_code, row.category, years[i - 1])] if i >= 1 else None
        base = counts[(row.partnership_code, row.category, years[i - 2])] if i >= 2 else None
        assert row.incidents == n
        if prev is not None:
            phi = pooled_dispersion(chi[(row.partnership_code, row.category, years[i - 1])], chi[key])
            assert row.dispersion == pytest.approx(phi, rel=1e-9), row
            assert row.dispersion >= 1
        p, word = verdict(prev, n, row.dispersion if prev is not None else 1.0)
        if p is None:
            assert math.isnan(row.p_value), row
            assert row.verdict == "insufficient data", row
        else:
            assert row.p_value == pytest.approx(p, rel=1e-6, abs=1e-12), row
            expected = "no significant change" if row.q_value >= ALPHA else word
            assert row.verdict == expected, row
        if prev is not None:
            assert (row.previous_year_incidents, row.change) == (prev, n - prev)
        if base is not None:
            phi3 = pooled_dispersion(chi[(row.partnership_code, row.category, years[i - 2])], chi[key])
            assert row.three_year_dispersion == pytest.approx(phi3, rel=1e-9), row
        p3, word3 = verdict(base, n, row.three_year_dispersion if base is not None else 1.0)
        if p3 is not None:
            assert row.three_year_p_value == pytest.approx(p3, rel=1e-6, abs=1e-12)
            assert row.three_year_verdict == (
                "no significant change" if row.three_year_q_value >= ALPHA else word3
            )
        else:
            assert row.three_year_verdict == "insufficient data"
    # the demo's growth and noise exercise the verdicts, not only 'insufficient data'
    assert {"no significant change", "insufficient data"} <= set(trends["verdict"])
    assert (trends["dispersion"] > 1).any(), "the demo's monthly noise should show some overdispersion"


def test_trend_q_values_are_benjamini_hochberg_per_partnership_year(demo: dict) -> None:
    """q_value is the Benjamini-Hochberg adjustment of p_value across every trend test of one
    partnership's audit year (its pack), recomputed here from the mart's p-values; verdicts are read
    from q, so every significant verdict has q < 0.05, and q >= p everywhere."""
    trends = query(
        demo["warehouse"],
        "select partnership_code, period_start, dataset, category, p_value, q_value, verdict, "
        "three_year_p_value, three_year_q_value, three_year_verdict from audit.trends",
    )
    assert "q_value" in trends.columns and trends["q_value"].notna().any()
    for prefix in ("", "three_year_"):
        p_col, q_col, v_col = f"{prefix}p_value", f"{prefix}q_value", f"{prefix}verdict"
        assert (trends[p_col].isna() == trends[q_col].isna()).all()
        tested = trends[trends[p_col].notna()]
        assert (tested[q_col] >= tested[p_col] - 1e-15).all(), "q < p somewhere"
        assert (tested[q_col] <= 1).all()
        significant = trends[trends[v_col].str.startswith("significant")]
        assert (significant[q_col] < ALPHA).all(), significant
        assert (trends.loc[trends[q_col] < ALPHA, v_col].str.startswith("significant")).all()
        for _, family in tested.groupby(["partnership_code", "period_start"]):
            expected = benjamini_hochberg(list(family[p_col]))
            for got, want in zip(family[q_col], expected, strict=True):
                assert got == pytest.approx(want, rel=1e-9, abs=1e-300)
    # the adjustment matters on the demo: some change significant on p alone does not survive
    survives = trends[trends["p_value"] < ALPHA]
    assert len(survives) and (survives["q_value"] >= ALPHA).any()


def test_concentration_counts_lsoas_without_incidents(demo: dict) -> None:
    geo, records = demo["geography"], demo["records"]
    year = "2022/23"
    got = query(
        demo["warehouse"],
        "select partnership_code, category, lsoas, lsoas_with_incidents, top_lsoas, incidents, "
        "top_lsoa_incidents, share_in_top_10_percent from audit.concentration "
        "where dataset = 'police_uk_street' and audit_year = ?",
        [year],
    ).set_index(["partnership_code", "category"])
    checked_zero_lsoas = False
    for csp in sorted(geo["csp"].unique()):
        lsoas = geo.loc[geo["csp"] == csp, "lsoa"]
        for category in ("All", "Robbery"):
            mine = records[(records["csp"] == csp) & (records["audit_year"] == year)]
            if category != "All":
                mine = mine[mine["category"] == category]
            per_lsoa = mine.groupby("lsoa").size().reindex(lsoas, fill_value=0).sort_values(ascending=False)
            top = math.ceil(0.1 * len(per_lsoa))
            row = got.loc[(csp, category)]
            assert (row.lsoas, row.lsoas_with_incidents, row.top_lsoas) == (
                len(lsoas),
                (per_lsoa > 0).sum(),
                top,
            )
            assert (row.incidents, row.top_lsoa_incidents) == (per_lsoa.sum(), per_lsoa.iloc[:top].sum())
            assert row.share_in_top_10_percent == pytest.approx(
                per_lsoa.iloc[:top].sum() / per_lsoa.sum(), abs=1e-4
            )
            checked_zero_lsoas |= bool((per_lsoa == 0).any())
    assert checked_zero_lsoas, "no partnership had an LSOA without robbery: the zero case went untested"


def test_repeat_location_share(demo: dict) -> None:
    records = demo["records"]
    csp, year = "E22990002", "2022/23"
    got = query(
        demo["warehouse"],
        "select category, incidents, locations, repeat_locations, incidents_at_repeat_locations, "
        "share_at_repeat_locations from audit.repeat_locations "
        "where dataset = 'police_uk_street' and partnership_code = ? and audit_year = ?",
        [csp, year],
    ).set_index("category")
    mine = records[(records["csp"] == csp) & (records["audit_year"] == year) & records["location"].notna()]
    for category in ("All", "Burglary", "Robbery"):
        subset = mine if category == "All" else mine[mine["category"] == category]
        per_location = subset.groupby("location").size()
        repeats = per_location[per_location >= 2]
        row = got.loc[category]
        assert (row.locations, row.repeat_locations) == (len(per_location), len(repeats))
        assert row.incidents_at_repeat_locations == repeats.sum()
        assert row.share_at_repeat_locations == pytest.approx(repeats.sum() / per_location.sum(), abs=1e-4)


def test_harm_and_comparisons_follow_the_seeds(demo: dict) -> None:
    seeds = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
    weights = pd.read_csv(seeds / "crime_severity_weights.csv").set_index("category")["weight"]
    peers = pd.read_csv(seeds / "peer_groups.csv").set_index("partnership_code")["peer_group"]
    geo, records = demo["geography"], demo["records"]
    year = "2023/24"
    mine = records[records["audit_year"] == year]
    population = geo.groupby("csp")["population"].sum()
    counts = mine.groupby(["csp", "category"]).size()
    assert set(mine["category"]) <= set(weights.index)

    harm = query(
        demo["warehouse"],
        "select partnership_code, severity_score, weighted_incidents_per_1000 from audit.harm "
        "where dataset = 'police_uk_street' and audit_year = ? and category = 'All'",
        [year],
    ).set_index("partnership_code")
    for csp in population.index:
        weighted = sum(n * weights[cat] for cat, n in counts[csp].items())
        assert harm.loc[csp, "severity_score"] == pytest.approx(weighted / population[csp], abs=1e-4)
        assert harm.loc[csp, "weighted_incidents_per_1000"] == pytest.approx(
            1000 * weighted / population[csp], abs=1e-3
        )

    category = "Violence and sexual offences"
    rate = {csp: 1000 * counts[(csp, category)] / population[csp] for csp in population.index}
    region_rate = 1000 * sum(counts[(c, category)] for c in population.index) / population.sum()
    got = query(
        demo["warehouse"],
        "select partnership_code, rank_in_region, comparator_type, comparator_code, comparator_rate_per_1000, "
        "rate_ratio from audit.comparisons "
        "where dataset = 'police_uk_street' and audit_year = ? and category = ? "
        "and comparator_type not in ('national', 'most_similar_group')",  # test_comparators recomputes these
        [year, category],
    )
    ranking = sorted(rate, key=rate.get, reverse=True)
    for row in got.itertuples():
        assert row.rank_in_region == ranking.index(row.partnership_code) + 1
        if row.comparator_type == "region":
            expected = region_rate
        elif row.comparator_type == "peer_group":
            others = [c for c in peers.index if peers[c] == row.comparator_code and c != row.partnership_code]
            expected = sum(rate[c] for c in others) / len(others)
        else:
            expected = rate[row.comparator_code]
        assert row.comparator_rate_per_1000 == pytest.approx(expected, abs=5e-4)
        assert row.rate_ratio == pytest.approx(rate[row.partnership_code] / expected, abs=5e-4)
    # 4 neighbours + 1 peer group + the region, for each of the 5 partnerships
    assert got.groupby("partnership_code")["comparator_type"].value_counts().unstack().to_dict("list") == {
        "partnership": [4] * 5, "peer_group": [1] * 5, "region": [1] * 5
    }  # fmt: skip


def test_area_ranks_only_for_datasets_placed_at_point_or_lsoa(demo: dict, demo_run: Path) -> None:
    """Hotspots, persistence and concentration are made only for datasets placed at point (police.uk) or
    LSOA level: the LSOA pattern of a count apportioned from wards or councils mirrors its weights."""
    import yaml

    plan = yaml.safe_load((demo_run / "plan.yaml").read_text())
    kinds = {name: (spec.get("geography") or {}).get("type") for name, spec in plan["datasets"].items()}
    placed = {"police_uk_street"} | {name for name, kind in kinds.items() if kind == "lsoa"}
    apportioned = set(kinds) - placed
    assert {"yot_first_time_entrants", "probation_caseload", "la_asb_reports"} <= apportioned
    # the council-level treatment and reoffending counts are apportioned like youth justice's
    assert {"substance_misuse_treatment", "proven_reoffending"} <= apportioned
    assert "domestic_abuse_incidents" in placed  # delivered on LSOAs
    rated = set(query(demo["warehouse"], "select distinct dataset from audit.area_rates")["dataset"])
    assert apportioned & rated, "the demo should deliver some apportioned dataset"
    assert {"substance_misuse_treatment", "proven_reoffending", "domestic_abuse_incidents"} <= rated
    for mart in ("hotspots", "hotspot_persistence", "concentration"):
        datasets = set(query(demo["warehouse"], f"select distinct dataset from audit.{mart}")["dataset"])  # noqa: S608
        assert not datasets & apportioned, (mart, datasets & apportioned)
        assert "police_uk_street" in datasets, mart
        assert "domestic_abuse_incidents" in datasets, mart
    # the apportioned data stays in area_rates and area_monthly at the level it was delivered
    for mart in ("area_rates", "area_monthly"):
        datasets = set(query(demo["warehouse"], f"select distinct dataset from audit.{mart}")["dataset"])  # noqa: S608
        assert apportioned & rated <= datasets, mart


def test_repeat_share_is_marked_not_meaningful_on_snap_points(demo: dict) -> None:
    got = query(
        demo["warehouse"],
        "select dataset, location_type, share_meaningful, share_at_repeat_locations from audit.repeat_locations",
    )
    police = got[got["dataset"] == "police_uk_street"]
    assert len(police) and (police["location_type"] == "police.uk snap point").all()
    assert not police["share_meaningful"].any()
    # other datasets carry no locations: nothing to call meaningful either
    assert not got.loc[got["share_at_repeat_locations"].isna(), "share_meaningful"].any()


def _points(report: str) -> list[str]:
    found = re.search(
        r"<h3>Points for the strategic assessment</h3>\s*<ul class=\"points\">(.*?)</ul>", report, re.S
    )
    assert found is not None
    items = re.findall(r"<li>(.*?)</li>", found.group(1), re.S)
    return [re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", li))).strip() for li in items]


def test_pack_points_name_only_changes_that_survive_the_false_discovery_rate(demo_run: Path) -> None:
    """A point for the strategic assessment is a change with q < 0.05 between two complete years; a
    change significant on p alone is not one, and the repeat share at police.uk snap points is not shown."""
    packs = sorted((demo_run / "publish").glob("E*/v0001"))
    assert packs
    dropped = 0
    for pack in packs:
        report = (pack / "report.html").read_text()
        points = _points(report)
        trends = pd.read_csv(pack / "csv" / "trends.csv", encoding="utf-8-sig", dtype={"category": str})
        year = trends["period_start"].max()
        this = trends[trends["period_start"] == year]
        change_points = [p for p in points if re.search(r"\((significant (increase|decrease))\)$", p)]
        for point in change_points:
            category = re.search(r" – (.*?): ", point).group(1)
            verdict_word = re.search(r"\((significant (?:increase|decrease))\)$", point).group(1)
            rows = this[(this["category"] == category) & (this["verdict"] == verdict_word)]
            assert len(rows), (pack, point)
            assert (pd.to_numeric(rows["q_value"], errors="coerce") < ALPHA).any(), (pack, point)
            assert rows["incomplete_data"].isna().any(), (pack, point)
        p = pd.to_numeric(this["p_value"], errors="coerce")
        q = pd.to_numeric(this["q_value"], errors="coerce")
        for _, row in this[(p < ALPHA) & (q >= ALPHA)].iterrows():
            dropped += 1
            assert not any(f" – {row['category']}: " in x and "significant" in x for x in change_points), row
        assert "located incidents happened at places with two or more incidents" not in report
    assert dropped, "the demo should have a change significant on p alone that the adjustment drops"


def test_populations_follow_the_mid_year_estimate_of_each_audit_year(demo: dict) -> None:
    """Denominators by year: 2021/22 and 2022/23 use their own mid-year estimates (which differ);
    2023/24 has none of its own, so it uses mid-2022's and says so."""
    rows = query(
        demo["warehouse"],
        "select partnership_code, audit_year, any_value(population) as population, "
        "any_value(population_year) as population_year, any_value(population_note) as note, "
        "count(distinct population) as populations "
        "from audit.area_rates where area_type = 'partnership' group by 1, 2 order by 1, 2",
    )
    assert (rows["populations"] == 1).all()  # one denominator per partnership and year, every dataset
    for _, years in rows.groupby("partnership_code"):
        by = years.set_index("audit_year")
        assert by.loc["2021/22", "population"] < by.loc["2022/23", "population"]
        assert by.loc["2023/24", "population"] == by.loc["2022/23", "population"]
        assert list(by["population_year"]) == [2021, 2022, 2022]
        assert pd.isna(by.loc["2021/22", "note"]) and pd.isna(by.loc["2022/23", "note"])
        assert by.loc["2023/24", "note"] == (
            "mid-2022 estimate, the nearest to this year (no estimate for mid-2023)"
        )
