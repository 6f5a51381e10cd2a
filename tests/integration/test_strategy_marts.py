"""The strategy marts (consultation_concerns, consultation_safety, concern_vs_recorded, priority_scores) and the
demo's SMART target registers, on the demo region built once per session by conftest's ``demo_run``.

The demo warehouse is copied and the strategy seeds and marts are (re)built on the copy with the project's own
``dbt_build``. Expected figures are recomputed here: the survey shares from the landed survey CSVs and the ONS
and postcode-district lookups alone (pandas, no warehouse table), and every priority score from the published
marts it is documented to use (area_rates, harm) plus the seeds, with the banding and the formula written out
again, and the trend test redone with scipy.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from independent import lsoa_to_csp

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "dbt_project" / "seeds" / "strategy"
STRATEGY = "path:seeds/strategy path:models/marts/strategy"
DEMO_CSPS = ["E22990001", "E22990002", "E22990003", "E22990004", "E22990005"]


@pytest.fixture(scope="module")
def strategy_warehouse(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from csp_audit.config import load_region
    from csp_audit.steps.build import dbt_variables
    from csp_audit.warehouse.dbt_runner import dbt_build

    copy = tmp_path_factory.mktemp("strategy") / "warehouse.duckdb"
    shutil.copyfile(demo_run / "warehouse.duckdb", copy)
    summary = dbt_build(copy, dbt_variables(load_region(demo_run / "region.yaml")), select=STRATEGY)
    assert summary.passed > 0 and summary.warned == 0
    return copy


def query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


# ------------------------------------------------------------------------------ survey, independently


def audit_year(day: str) -> tuple[str, str]:
    year, month = int(day[:4]), int(day[5:7])
    start = year if month >= 4 else year - 1
    return f"{start}/{(start + 1) % 100:02d}", f"{start}-04-01"


@pytest.fixture(scope="module")
def survey_shares(demo_run: Path) -> pd.DataFrame:
    """Per partnership, audit year and concern: fractional respondents and the share naming the concern,
    from the landed CSVs, the postcode-district address weights and the LSOA -> CSP lookups."""
    lookups = demo_run / "lookups"
    csp_of = lsoa_to_csp(
        lookups / "LSOA11_WD19_LAD19_lookup_EW.csv", lookups / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"
    )
    with (lookups / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv").open(encoding="utf-8-sig", newline="") as f:
        region = {r["CSP19CD"] for r in csv.DictReader(f) if r["PFA19CD"] in ("E23990001", "E23990002")}
    weights = pd.read_csv(lookups / "PCDS_LSOA11_address_weights.csv", dtype={"addresses": float})
    weights["share"] = weights["addresses"] / weights.groupby("PCDS")["addresses"].transform("sum")
    weights["csp"] = weights["LSOA11CD"].map(csp_of)
    weights = weights[weights["csp"].isin(region) & (weights["share"] > 0)]
    district = weights.groupby(["PCDS", "csp"], as_index=False)["share"].sum()

    files = sorted((demo_run / "landing" / "community_safety_survey" / "consultation_survey").rglob("*.csv"))
    assert files, "the demo landed no survey"
    survey = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)
    survey["year"] = survey["response_date"].map(lambda d: audit_year(d)[0])
    placed = survey.merge(
        district, left_on=survey["respondent_area"].str.strip().str.upper(), right_on="PCDS"
    )
    totals = placed.groupby(["csp", "year"])["share"].sum().rename("respondents")
    mentions = []
    for _, r in placed.iterrows():
        named = {r[c].strip().lower() for c in ("top_concern_1", "top_concern_2", "top_concern_3")} - {""}
        mentions += [(r["csp"], r["year"], concern, r["share"]) for concern in named]
    naming = pd.DataFrame(mentions, columns=["csp", "year", "concern", "share"])
    per_concern = naming.groupby(["csp", "year", "concern"])["share"].sum().rename("naming").reset_index()
    grid = (
        per_concern[["year", "concern"]].drop_duplicates().merge(totals.reset_index(), on="year", how="inner")
    )
    out = grid.merge(per_concern, on=["csp", "year", "concern"], how="left").fillna({"naming": 0.0})
    out["share_naming"] = out["naming"] / out["respondents"]
    return out


def test_consultation_shares_recomputed_from_the_survey_files(
    strategy_warehouse: Path, survey_shares: pd.DataFrame
) -> None:
    mart = query(
        strategy_warehouse,
        "select partnership_code as csp, audit_year as year, concern, respondents, respondents_naming, "
        "share_naming, concern_rank from audit.consultation_concerns",
    )
    assert sorted(mart["csp"].unique()) == DEMO_CSPS
    both = mart.merge(survey_shares, on=["csp", "year", "concern"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"].head()
    assert (both["respondents_x"] - both["respondents_y"]).abs().max() < 1e-3
    assert (both["respondents_naming"] - both["naming"]).abs().max() < 1e-3
    assert (both["share_naming_x"] - both["share_naming_y"]).abs().max() < 1e-4 + 1e-9
    # rank 1 is the most named concern of each partnership and year
    top = both[both["concern_rank"] == 1]
    best = both.groupby(["csp", "year"])["share_naming_y"].max()
    for _, r in top.iterrows():
        assert math.isclose(r["share_naming_y"], best[(r["csp"], r["year"])], abs_tol=1e-4)


def test_consultation_safety_shares_are_consistent(strategy_warehouse: Path) -> None:
    safety = query(strategy_warehouse, "select * from audit.consultation_safety")
    assert len(safety) == len(DEMO_CSPS) * 3
    assert ((safety["share_safe_day"] + safety["share_unsafe_day"]) <= 1 + 1e-9).all()
    assert (
        safety["share_safe_night"] < safety["share_safe_day"]
    ).all()  # the demo makes nights feel less safe
    concerns = query(
        strategy_warehouse,
        "select distinct partnership_code, audit_year, respondents from audit.consultation_concerns",
    )
    merged = safety.merge(concerns, on=["partnership_code", "audit_year"])
    assert (
        len(merged) == len(safety) and (merged["respondents_x"] - merged["respondents_y"]).abs().max() < 1e-9
    )


def test_concern_vs_recorded_ranks(strategy_warehouse: Path) -> None:
    cvr = query(strategy_warehouse, "select * from audit.concern_vs_recorded")
    assert set(cvr.loc[cvr["concern"].isin(["speeding traffic", "litter"]), "mismatch"]) == {
        "no recorded data"
    }
    # a recorded figure from an incomplete year is left out of the ranks, and says so
    short = cvr[cvr["mismatch"] == "incomplete data"]
    assert len(short) and short["recorded_rank"].isna().all() and short["incomplete_data"].notna().all()
    ranked = cvr[cvr["recorded_rate_per_1000"].notna() & (cvr["mismatch"] != "incomplete data")]
    for _, group in ranked.groupby(["partnership_code", "audit_year"]):
        n = len(group)
        assert sorted(group["recorded_rank"]) == list(range(1, n + 1))
        expected = group["recorded_rate_per_1000"].rank(ascending=False, method="min").astype(int)
        assert (expected == group["recorded_rank"]).all()
    gap = ranked["recorded_rank"] - ranked["public_rank_compared"]
    flagged = ranked.assign(gap=gap)
    assert (flagged.loc[flagged["gap"] >= 2, "mismatch"] == "public concern higher than recorded").all()
    assert (flagged.loc[flagged["gap"] <= -2, "mismatch"] == "recorded higher than concern").all()
    assert (flagged.loc[flagged["gap"].abs() < 2, "mismatch"] == "in line").all()
    burglary = cvr[cvr["concern"] == "burglary"].iloc[0]
    rate = query(
        strategy_warehouse,
        f"select rate_per_1000 from audit.area_rates where area_type = 'partnership' and category = 'Burglary' "  # noqa: S608
        f"and dataset = 'police_uk_street' and partnership_code = '{burglary['partnership_code']}' "
        f"and audit_year = '{burglary['audit_year']}'",
    ).iloc[0, 0]
    assert burglary["recorded_rate_per_1000"] == pytest.approx(rate, abs=1e-3)


# ------------------------------------------------------------------------ priority scores, independently


def like(pattern: str, text: str) -> bool:
    if pattern == "All" or text == "All":
        return pattern == text
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, flags=re.IGNORECASE) is not None


def quintile(values: pd.Series) -> pd.Series:
    """1 + floor(5 x percent_rank) capped at 5, over the non-null values, ties sharing the lowest rank."""
    present = values.dropna().round(9)
    n = len(present)
    ranks = present.rank(method="min")
    bands = ((ranks - 1) / (n - 1) if n > 1 else ranks * 0).map(lambda p: min(5, 1 + math.floor(5 * p)))
    return bands.reindex(values.index)


def weighted_mean(parts: list[tuple[float, float | None]]) -> float:
    used = [(w, s) for w, s in parts if s is not None and not pd.isna(s)]
    total = sum(w for w, _ in used)
    return sum(w * s for w, s in used) / total if total else 3.0


def point_or_lsoa_datasets(demo_run: Path) -> set[str]:
    """Datasets placed at point or LSOA level, from the demo's data plan (police.uk is at snap points)."""
    import yaml

    plan = yaml.safe_load((demo_run / "plan.yaml").read_text())
    return {"police_uk_street"} | {
        name for name, spec in plan["datasets"].items() if (spec.get("geography") or {}).get("type") == "lsoa"
    }


def benjamini_hochberg(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q, running = [0.0] * m, 1.0
    for rank in range(m, 0, -1):
        running = min(running, p[order[rank - 1]] * m / rank)
        q[order[rank - 1]] = min(1.0, running)
    return q


def test_priority_scores_recomputed(
    demo_run: Path, strategy_warehouse: Path, survey_shares: pd.DataFrame
) -> None:
    stats = pytest.importorskip("scipy.stats")
    placed = point_or_lsoa_datasets(demo_run)
    monthly_all = query(
        strategy_warehouse, "select * from audit.area_monthly where area_type = 'partnership'"
    )
    candidates = pd.read_csv(SEEDS / "priority_candidates.csv", dtype=str, keep_default_na=False)
    weights = pd.read_csv(SEEDS / "priority_weights.csv").set_index("factor")["weight"].to_dict()
    capacity = pd.read_csv(SEEDS / "partnership_capacity.csv", dtype={"capacity": int})
    capacity = {(r.partnership_code, r.issue): r.capacity for r in capacity.itertuples()}
    rates = query(
        strategy_warehouse, "select * from audit.area_rates where area_type in ('partnership', 'lsoa')"
    )
    harm = query(strategy_warehouse, "select * from audit.harm where category <> 'All'")
    surveyed = set(zip(survey_shares["csp"], survey_shares["year"], strict=True))
    # a year with an agency-month missing, rejected or overdue is incomplete: no change to or from it is tested
    gaps = query(strategy_warehouse, "select partnership_code, dataset, month from audit.data_completeness "
                 "where not complete")  # fmt: skip
    incomplete = {
        (r.partnership_code, r.dataset, f"{r.month.year - (r.month.month < 4)}/{(r.month.year - (r.month.month < 4) + 1) % 100:02d}")
        for r in gaps.itertuples()
    }  # fmt: skip
    assert incomplete
    shares = {(r.csp, r.year, r.concern): round(r.share_naming, 4) for r in survey_shares.itertuples()}

    rows = []
    for c in candidates.itertuples():
        patterns = [p.strip() for p in c.categories.split("|")]
        mine = rates[
            (rates["dataset"] == c.dataset)
            & rates["category"].map(lambda x, ps=patterns: any(like(p, x) for p in ps))
        ]
        cats = set(mine["category"])
        monthly = (
            monthly_all[(monthly_all["dataset"] == c.dataset) & monthly_all["category"].isin(cats)]
            .groupby(["partnership_code", "audit_year", "month"])["incidents"]
            .sum()
        )

        def chi(csp: str, year: str, monthly: pd.Series = monthly) -> tuple[float, int]:
            x = monthly.loc[(csp, year)]
            mean = x.mean()
            return (float(((x - mean) ** 2).sum() / mean), len(x) - 1) if mean > 0 else (0.0, 0)

        part = mine[mine["area_type"] == "partnership"]
        yearly = part.groupby(["partnership_code", "audit_year"]).agg(
            incidents=("incidents", "sum"),
            population=("population", "first"),
            months=("months_covered", "first"),
        )
        lsoa = (
            mine[mine["area_type"] == "lsoa"]
            .groupby(["partnership_code", "audit_year", "area_code"])["incidents"]
            .sum()
        )
        h = harm[(harm["dataset"] == c.dataset) & harm["category"].isin(cats)]
        h = h.groupby(["partnership_code", "audit_year"]).agg(
            w=("weighted_incidents", "sum"), pop=("population", "first")
        )
        for (csp, year), y in yearly.iterrows():
            prev_year = f"{int(year[:4]) - 1}/{int(year[:4]) % 100:02d}"
            prev = yearly.loc[(csp, prev_year)] if (csp, prev_year) in yearly.index else None
            verdict, pct, p = "insufficient data", None, None
            short = {(csp, c.dataset, year), (csp, c.dataset, prev_year)} & incomplete
            if prev is not None and short:
                verdict = "incomplete data"
            elif prev is not None and prev["months"] == y["months"]:
                n, n_prev = round(y["incidents"]), round(prev["incidents"])
                pct = (
                    round(100 * (y["incidents"] - prev["incidents"]) / prev["incidents"], 1)
                    if prev["incidents"]
                    else None
                )
                (x1, d1), (x2, d2) = chi(csp, prev_year), chi(csp, year)
                phi = max(1.0, (x1 + x2) / (d1 + d2)) if d1 + d2 else 1.0  # quasi-Poisson dispersion
                e, e_prev = round(n / phi), round(n_prev / phi)
                if e + e_prev >= 6:
                    p = stats.binomtest(e, e + e_prev, 0.5).pvalue
                    verdict = "significant increase" if n > n_prev else "significant decrease"  # until q says
            counts = lsoa.loc[(csp, year)].sort_values(ascending=False)
            top = math.ceil(0.1 * len(counts))
            concentration = counts.iloc[:top].sum() / counts.sum() if counts.sum() else None
            if c.dataset not in placed:  # no LSOA concentration of counts apportioned from wards or councils
                concentration = None
            harm_rate = (
                1000 * h.loc[(csp, year), "w"] / h.loc[(csp, year), "pop"] if (csp, year) in h.index else None
            )
            concern = c.concern.strip().lower() or None
            share = None
            if concern and (csp, year) in surveyed:
                share = shares.get((csp, year, concern), 0.0)
            rows.append({
                "partnership_code": csp, "audit_year": year, "issue": c.issue,
                "my_rate": 1000 * y["incidents"] / y["population"],
                "my_concentration": concentration, "my_harm": harm_rate, "my_share": share,
                "my_capacity": capacity.get((csp, c.issue), 3), "my_verdict": verdict, "my_p": p,
                "my_pct": pct,
            })  # fmt: skip
    mine = pd.DataFrame(rows)
    # verdicts from the Benjamini-Hochberg q across the partnership's issues of the year
    mine["my_q"] = float("nan")
    for _, family in mine[mine["my_p"].notna()].groupby(["partnership_code", "audit_year"]):
        mine.loc[family.index, "my_q"] = benjamini_hochberg(list(family["my_p"]))
    mine.loc[mine["my_q"] >= 0.05, "my_verdict"] = "no significant change"
    mine.loc[mine["my_p"].notna() & mine["my_q"].isna(), "my_verdict"] = "no significant change"
    mine["my_trend"] = [
        5 if v == "significant increase" and pct is not None and not pd.isna(pct) and pct >= 20
        else 4 if v == "significant increase"
        else 1 if v == "significant decrease" and pct is not None and not pd.isna(pct) and pct <= -20
        else 2 if v == "significant decrease"
        else 3
        for v, pct in zip(mine["my_verdict"], mine["my_pct"], strict=True)
    ]  # fmt: skip
    for factor, name in (("rate", "volume"), ("concentration", "concentration"), ("harm", "harm"),
                         ("share", "public_concern")):  # fmt: skip
        mine[f"my_{name}_score"] = mine.groupby("audit_year")[f"my_{factor}"].transform(quintile)
    mine["my_likelihood"] = [
        weighted_mean([(weights["volume"], r.my_volume_score), (weights["trend"], r.my_trend),
                       (weights["concentration"], r.my_concentration_score)])
        for r in mine.itertuples()
    ]  # fmt: skip
    mine["my_impact"] = [
        weighted_mean(
            [(weights["harm"], r.my_harm_score), (weights["public_concern"], r.my_public_concern_score)]
        )
        for r in mine.itertuples()
    ]
    mine["my_score"] = (
        mine["my_likelihood"] * mine["my_impact"] * (1 + weights["capacity"] * (3 - mine["my_capacity"]) / 4)
    )

    mart = query(strategy_warehouse, "select * from audit.priority_scores")
    both = mart.merge(mine, on=["partnership_code", "audit_year", "issue"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), both[both["_merge"] != "both"][
        ["partnership_code", "audit_year", "issue"]
    ]
    assert len(both) == len(DEMO_CSPS) * 3 * len(candidates)
    assert (both["rate_per_1000"] - both["my_rate"]).abs().max() < 1e-3
    assert (both["trend_score"] == both["my_trend"]).all()
    assert (both["trend_verdict"] == both["my_verdict"]).all(), both.loc[
        both["trend_verdict"] != both["my_verdict"],
        ["partnership_code", "audit_year", "issue", "trend_verdict", "p_value", "my_p", "my_q"],
    ]
    tested = both["my_p"].notna()
    assert (both.loc[tested, "p_value"] - both.loc[tested, "my_p"]).abs().max() < 1e-9
    assert both.loc[~tested, "p_value"].isna().all()
    assert (both["trend_verdict"] == "incomplete data").any()  # the demo's overdue council month
    assert (both["capacity"] == both["my_capacity"]).all()
    for factor in ("volume", "concentration", "harm", "public_concern"):
        got, want = both[f"{factor}_score"].astype("Float64"), both[f"my_{factor}_score"].astype("Float64")
        same = (got == want).fillna(False) | (got.isna() & want.isna())
        assert same.all(), both.loc[~same, ["partnership_code", "audit_year", "issue", f"{factor}_score"]]
    assert (both["likelihood"] - both["my_likelihood"]).abs().max() < 1e-3
    assert (both["impact"] - both["my_impact"]).abs().max() < 1e-3
    assert (both["priority_score"] - both["my_score"]).abs().max() < 2e-3
    # ranks follow the scores within each partnership and year (ties share the best rank)
    expected_rank = both.groupby(["partnership_code", "audit_year"])["priority_score"].rank(
        ascending=False, method="min"
    )
    assert (expected_rank == both["priority_rank"]).all()
    # rank_change = last year's rank - this year's
    previous = both.set_index(["partnership_code", "issue", "audit_year"])["priority_rank"]
    assert both.loc[both["incomplete_data"].notna(), "rank_change"].isna().all()
    for r in both[both["rank_change"].notna()].itertuples():
        prev_year = f"{int(r.audit_year[:4]) - 1}/{int(r.audit_year[:4]) % 100:02d}"
        assert r.rank_change == previous[(r.partnership_code, r.issue, prev_year)] - r.priority_rank


# ------------------------------------------------------------------------------------ demo registers


def test_demo_targets_pass_the_check_and_get_a_status(
    demo_run: Path, strategy_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from csp_audit.cli.targets import add_targets_commands
    from csp_audit.targets import load_register, write_progress
    from csp_audit_demo.targets import write_demo_targets

    folder = tmp_path / "targets"
    paths = write_demo_targets(demo_run, warehouse=strategy_warehouse, out_dir=folder)
    assert [p.name for p in paths] == [f"{code}.yaml" for code in DEMO_CSPS]
    for path in paths:
        register = load_register(path)
        assert register.partnership == path.stem and 2 <= len(register.targets) <= 3

    parser = argparse.ArgumentParser(prog="csp-audit")
    add_targets_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["targets", "check", "--targets", str(folder), "--warehouse", str(strategy_warehouse)]
    )
    code = args.func(args)
    out = capsys.readouterr()
    assert code == 0, out.out
    assert all("(warning)" in line for line in out.out.splitlines())  # warnings only, never a rejection

    frame = write_progress(strategy_warehouse, folder)
    assert len(frame) == sum(len(load_register(p).targets) for p in paths)
    assert set(frame["status"]) <= {"green", "amber", "red"}
    assert frame["status_rule"].notna().all() and frame["current_period"].eq("2023/24").all()
    again = write_progress(strategy_warehouse, folder)
    pd.testing.assert_frame_equal(frame, again)
