"""SMART target registers: the validator's rejections (one test per S/M/A/R/T reason), the RAG rules on
constructed series, audit.target_progress and the ``csp-audit targets`` commands.

Each test builds a tiny DuckDB warehouse with only the mart tables a target needs (audit.area_rates,
audit.consultation_safety, audit.priority_scores, reference.priority_candidates), with figures written out
here, so every expected value can be read off the test.
"""

from __future__ import annotations

import argparse
import math
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from csp_audit.cli.targets import add_targets_commands
from csp_audit.targets import (
    Problem,
    RegisterError,
    check_register,
    judge,
    load_register,
    write_progress,
)
from csp_audit.targets.model import parse_period
from csp_audit.targets.progress import COLUMNS, poisson_change_p_value, proportion_p_value

P1, P2 = "E22000001", "E22000002"
WARD, OTHER_WARD, LSOA = "E05000001", "E05000009", "E01000001"
YEARS = {"2021/22": date(2021, 4, 1), "2022/23": date(2022, 4, 1), "2023/24": date(2023, 4, 1)}

# ------------------------------------------------------------------------------------ tiny warehouse


def build_warehouse(
    path: Path,
    burglary: dict[str, tuple[float, int]] | None = None,
    safety: dict[str, tuple[float, float]] | None = None,
    priority: tuple[int, int] | None = None,
) -> Path:
    """A warehouse with audit.area_rates for two partnerships (P1 with one ward and one LSOA), police.uk
    Burglary and Violence; ``burglary`` maps audit year -> (incidents, months_covered) for P1's Burglary
    (population 10,000, so rate_per_1000 = incidents / 10); ``safety`` year -> (share_safe_night,
    respondents) for audit.consultation_safety; ``priority`` (rank, issues) of P1's burglary in 2021/22."""
    burglary = burglary or {"2021/22": (200.0, 12), "2022/23": (180.0, 12)}
    con = duckdb.connect(str(path))
    con.execute("create schema audit")
    con.execute(
        "create table audit.area_rates (area_type varchar, area_code varchar, area_name varchar, "
        "partnership_code varchar, dataset varchar, category varchar, audit_year varchar, period_start date, "
        "months_covered integer, incidents double, population bigint, rate_per_1000 double)"
    )
    rows = []
    for year, (incidents, months) in burglary.items():
        start = YEARS[year]
        rows += [
            ("partnership", P1, "One", P1, "police_uk_street", "Burglary", year, start, months, incidents, 10000,
             round(incidents / 10, 3)),
            ("ward", WARD, "Ward one", P1, "police_uk_street", "Burglary", year, start, months, incidents / 2,
             5000, round(incidents / 10, 3)),
            ("lsoa", LSOA, "LSOA one", P1, "police_uk_street", "Burglary", year, start, months, incidents / 4,
             1500, None),
            ("partnership", P1, "One", P1, "police_uk_street", "Violence and sexual offences", year, start,
             months, 3 * incidents, 10000, round(3 * incidents / 10, 3)),
            ("partnership", P2, "Two", P2, "police_uk_street", "Burglary", year, start, months, 50.0, 8000,
             6.25),
            ("ward", OTHER_WARD, "Ward nine", P2, "police_uk_street", "Burglary", year, start, months, 50.0,
             8000, 6.25),
        ]  # fmt: skip
    con.executemany("insert into audit.area_rates values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    if safety:
        con.execute(
            "create table audit.consultation_safety (partnership_code varchar, audit_year varchar, "
            "period_start date, respondents double, respondents_answered_night double, share_safe_night double, "
            "note varchar)"
        )
        con.executemany(
            "insert into audit.consultation_safety values (?, ?, ?, ?, ?, ?, 'text')",
            [(P1, y, YEARS[y], n, n, share) for y, (share, n) in safety.items()],
        )
    if priority:
        con.execute("create schema reference")
        con.execute(
            "create table reference.priority_candidates (issue varchar, dataset varchar, categories varchar)"
        )
        con.execute(
            "insert into reference.priority_candidates values ('burglary', 'police_uk_street', 'Burglary'), "
            "('theft', 'police_uk_street', 'Shoplifting|Other theft')"
        )
        con.execute(
            "create table audit.priority_scores (partnership_code varchar, audit_year varchar, issue varchar, "
            "priority_rank integer, issues_ranked integer)"
        )
        con.execute(
            "insert into audit.priority_scores values (?, '2021/22', 'burglary', ?, ?)", [P1, *priority]
        )
    con.close()
    return path


def good_target(**changes: Any) -> dict[str, Any]:
    """A SMART target on P1's Burglary rate (baseline 2021/22 = 20.0)."""
    target = {
        "id": "BURG-1",
        "title": "Reduce burglary in One by 10% by 2024/25",
        "metric": {
            "mart": "area_rates",
            "column": "rate_per_1000",
            "where": {"area_type": "partnership", "dataset": "police_uk_street", "category": "Burglary"},
        },
        "area": P1,
        "baseline": {"period": "2021/22", "value": 20.0},
        "target": {"relative_change": "-10%"},
        "deadline": "2024/25",
        "milestones": [{"period": "2022/23", "value": 19.5}, {"period": "2023/24", "value": 19.0}],
        "owner": "Neighbourhood Policing Inspector, One",
    }
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return target


def write_register(folder: Path, *targets: dict[str, Any], partnership: str = P1, name: str = "reg") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"partnership": partnership, "targets": list(targets)}, sort_keys=False))
    return path


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return build_warehouse(tmp_path / "w.duckdb")


def problems_for(tmp_path: Path, warehouse: Path, *targets: dict[str, Any], **kw: Any) -> list[Problem]:
    return check_register(load_register(write_register(tmp_path, *targets, **kw)), warehouse)


def rejections(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.letter, p.reason) for p in problems if p.severity == "reject"]


def assert_rejected(problems: list[Problem], letter: str, fragment: str) -> None:
    found = rejections(problems)
    assert any(lt == letter and fragment in reason for lt, reason in found), found


# --------------------------------------------------------------------------------------- valid


def test_smart_target_passes(tmp_path: Path, warehouse: Path) -> None:
    assert problems_for(tmp_path, warehouse, good_target()) == []


def test_ward_target_and_value_target_pass(tmp_path: Path, warehouse: Path) -> None:
    ward = good_target(
        id="W-1",
        title="Cut burglary in Ward one by 20 incidents by 2023/24",
        metric={
            "mart": "area_rates",
            "column": "incidents",
            "where": {"area_type": "ward", "category": "Burglary"},
        },
        area=WARD,
        baseline={"period": "2021/22", "value": 100},
        target={"value": 80},
        deadline="2024-03-31",  # the last day of 2023/24: that year's figures
        milestones=None,
    )
    assert problems_for(tmp_path, warehouse, ward) == []


def test_baseline_within_half_a_percent_passes(tmp_path: Path, warehouse: Path) -> None:
    assert (
        problems_for(tmp_path, warehouse, good_target(baseline={"period": "2021/22", "value": 20.09})) == []
    )


# ------------------------------------------------------------------------------------------ S


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"title": "Tackle burglary"}, "is vague"),
        ({"title": "Reduce burglary across the whole partnership"}, "is vague"),  # no number
        ({"title": None}, "no title"),
        ({"owner": None}, "no owner"),
        ({"owner": "  "}, "no owner"),
        ({"id": None}, "no id"),
        ({"colour": "blue"}, "unknown keys ['colour']"),
        (
            {"metric": {"mart": "area_ratez", "column": "rate_per_1000"}},
            "'area_ratez' is not a table of schema audit",
        ),
        ({"metric": {"mart": "area_rates", "column": "rate"}}, "has no column 'rate'"),
        ({"metric": {"mart": "area_rates", "column": "incidents", "where": {"crime": "x"}}}, "does not have"),
        (
            {"metric": {"mart": "area_rates", "column": "incidents", "where": {"category": "Arson"}}},
            "match no rows",
        ),
        ({"metric": {"mart": "area_rates", "column": "incidents", "where": {}}}, "add filters on category"),
        ({"metric": "area_rates.rate_per_1000"}, "metric must be a mapping"),
        ({"area": OTHER_WARD}, f"area {OTHER_WARD} is not in partnership {P1}"),
        ({"area": None}, "no area"),
    ],
)
def test_not_specific(tmp_path: Path, warehouse: Path, changes: dict[str, Any], fragment: str) -> None:
    assert_rejected(problems_for(tmp_path, warehouse, good_target(**changes)), "S", fragment)


def test_area_must_be_the_partnership_on_partnership_marts(tmp_path: Path) -> None:
    wh = build_warehouse(tmp_path / "w.duckdb", safety={"2021/22": (0.5, 400.0)})
    target = good_target(
        metric={"mart": "consultation_safety", "column": "share_safe_night"},
        area=WARD,
        baseline={"period": "2021/22", "value": 0.5},
        target={"value": 0.55},
        milestones=None,
    )
    assert_rejected(problems_for(tmp_path, wh, target), "S", "partnership figures only")


def test_duplicate_ids_and_unknown_partnership(tmp_path: Path, warehouse: Path) -> None:
    problems = problems_for(tmp_path, warehouse, good_target(), good_target())
    assert_rejected(problems, "S", "id 'BURG-1' is used by 2 targets")
    problems = problems_for(tmp_path, warehouse, good_target(), partnership="E22999999")
    assert_rejected(problems, "S", "E22999999 has no figures in audit.area_rates")


def test_unreadable_register(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: {not: a list}\n")
    with pytest.raises(RegisterError, match="'targets' must be a list"):
        load_register(bad)
    bad.write_text("partnership: [unclosed\n")
    with pytest.raises(RegisterError, match="cannot read"):
        load_register(bad)


# ------------------------------------------------------------------------------------------ M


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"baseline": {"period": "2021/22", "value": 21.0}}, "differs from the mart's 20 for 2021/22 by 5.0%"),
        ({"baseline": {"period": "2021/22", "value": 20.2}}, "by 1.0% (more than 0.5%)"),
        ({"baseline": {"period": "2021/22"}}, "the baseline has no value"),
        ({"baseline": {"period": "2021/22", "value": "twenty"}}, "is not a number"),
        ({"baseline": {"value": 20.0}}, "baseline period missing"),
        ({"baseline": {"period": "2019/20", "value": 20.0}}, "no figure for baseline period 2019/20"),
        ({"baseline": {"period": "2021", "value": 20.0}}, "not an audit year label"),
        ({"target": {"value": "less"}}, "target value 'less' is not a number"),
        ({"target": {}}, "exactly one of value or relative_change"),
        ({"target": {"value": 18, "relative_change": "-10%"}}, "exactly one of value or relative_change"),
        ({"target": {"relative_change": "a lot"}}, "is not a percentage"),
        ({"target": {"value": 20.0}}, "the target equals the baseline"),
        ({"target": {"value": 18.0}, "better": "higher"}, "moves the figure the other way"),
        ({"milestones": [{"period": "2022/23", "value": "lower"}]}, "milestone value 'lower' is not a number"),
        ({"metric": {"mart": "area_rates", "column": "area_name", "where": {"area_type": "partnership",
                     "category": "Burglary"}}}, "is not numeric"),
    ],
)  # fmt: skip
def test_not_measurable(tmp_path: Path, warehouse: Path, changes: dict[str, Any], fragment: str) -> None:
    assert_rejected(problems_for(tmp_path, warehouse, good_target(**changes)), "M", fragment)


def test_baseline_not_computable_when_the_mart_value_is_null(tmp_path: Path, warehouse: Path) -> None:
    lsoa = good_target(
        metric={"mart": "area_rates", "column": "rate_per_1000", "where": {"area_type": "lsoa"}},
        area=LSOA,
        baseline={"period": "2021/22", "value": 5.0},
    )
    assert_rejected(problems_for(tmp_path, warehouse, lsoa), "M", "baseline not computable")


def test_maintain_target_with_a_direction_passes(tmp_path: Path, warehouse: Path) -> None:
    target = good_target(
        target={"value": 20.0}, better="lower", title="Hold burglary at 20 per 1,000 to 2024/25"
    )
    assert problems_for(tmp_path, warehouse, target) == []


# ------------------------------------------------------------------------------------- A and R


def test_achievable_is_a_warning(tmp_path: Path, warehouse: Path) -> None:
    problems = problems_for(
        tmp_path, warehouse, good_target(target={"relative_change": "-60%"}, milestones=None)
    )
    assert [(p.letter, p.severity) for p in problems] == [("A", "warn")]
    assert "-60% of the baseline (beyond +-50%)" in problems[0].reason
    assert (
        problems_for(tmp_path, warehouse, good_target(target={"relative_change": "-50%"}, milestones=None))
        == []
    )


def test_relevant_is_a_warning_when_the_issue_ranks_low(tmp_path: Path) -> None:
    low = build_warehouse(tmp_path / "low.duckdb", priority=(9, 12))
    problems = problems_for(tmp_path, low, good_target())
    assert [(p.letter, p.severity) for p in problems] == [("R", "warn")]
    assert "issue 'burglary' ranks 9 of 12" in problems[0].reason
    high = build_warehouse(tmp_path / "high.duckdb", priority=(2, 12))
    assert problems_for(tmp_path, high, good_target()) == []


# ------------------------------------------------------------------------------------------ T


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"deadline": None}, "no deadline"),
        ({"deadline": "soon"}, "deadline: 'soon' is neither an audit year label"),
        ({"deadline": "2021/22", "milestones": None}, "deadline 2021/22 is not after the baseline 2021/22"),
        ({"deadline": "2020/21", "milestones": None}, "is not after the baseline"),
        (
            {"deadline": date(2022, 3, 30), "milestones": None},
            "deadline 2020/21 is not after",
        ),  # 2021/22 not ended
        (
            {"milestones": [{"period": "2023/24", "value": 19}, {"period": "2022/23", "value": 19.5}]},
            "milestones out of order: 2022/23 comes after 2023/24",
        ),
        (
            {"milestones": [{"period": "2025/26", "value": 18}]},
            "milestone 2025/26 is after the deadline 2024/25",
        ),
        ({"milestones": [{"period": "2021/22", "value": 19}]}, "milestone 2021/22 is not after the baseline"),
        ({"milestones": [{"value": 19}]}, "needs a period and a value"),
        ({"milestones": {"period": "2022/23"}}, "milestones must be a list"),
    ],
)
def test_not_time_bound(tmp_path: Path, warehouse: Path, changes: dict[str, Any], fragment: str) -> None:
    assert_rejected(problems_for(tmp_path, warehouse, good_target(**changes)), "T", fragment)


def test_periods() -> None:
    assert parse_period("2024/25", 4) == (2024, None)
    assert parse_period("2024", 1) == (2024, None)
    assert parse_period(date(2025, 3, 31), 4) == (2024, None)  # 2024/25 ends that day
    assert parse_period("2025-06-30", 4) == (2024, None)  # 2025/26 has not ended: 2024/25's figures
    assert parse_period("2024-12-31", 1) == (2024, None)
    assert parse_period("2024/26", 4)[1] is not None
    assert parse_period("2024/25", 1)[1] is not None


# ------------------------------------------------------------------------------------- RAG rules

BASE = {"direction": "lower", "baseline": 100.0, "target": 80.0, "tested": True}


@pytest.mark.parametrize(
    ("current", "expected", "deadline", "p", "tested", "status", "fragment"),
    [
        (90.0, 95.0, False, 0.5, True, "green", "on or ahead of the trajectory"),
        (95.0, 95.0, False, 0.7, True, "green", "on or ahead"),
        (97.0, 95.0, False, 0.8, True, "amber", "behind the trajectory (97 against 95 expected) but better"),
        (104.0, 95.0, False, 0.7, True, "amber", "within the significance band (p = 0.7)"),
        (104.0, 95.0, False, None, True, "amber", "too few incidents to test"),
        (100.0, 95.0, False, None, False, "amber", "within the significance band"),
        (130.0, 95.0, False, 0.001, True, "red", "worse than the baseline 100 and significantly so"),
        (104.0, 95.0, False, None, False, "red", "no significance test for this metric"),
        (79.0, 80.0, True, 0.01, True, "green", "deadline 2024/25 reached: 79 meets the target 80"),
        (85.0, 80.0, True, 0.2, True, "red", "deadline 2024/25 passed and missed"),
    ],
)
def test_status_rules(
    current: float, expected: float, deadline: bool, p: float | None, tested: bool, status: str, fragment: str
) -> None:
    result = judge(
        **{**BASE, "tested": tested},
        current=current,
        expected=expected,
        deadline_reached=deadline,
        p_value=p,
        deadline_label="2024/25",
    )
    assert (result.status, fragment in result.rule) == (status, True), result


def test_status_rules_when_higher_is_better() -> None:
    kw = {"direction": "higher", "baseline": 0.5, "target": 0.6, "deadline_reached": False, "tested": True}
    assert judge(**kw, current=0.58, expected=0.55, p_value=0.2).status == "green"
    assert judge(**kw, current=0.52, expected=0.55, p_value=0.6).status == "amber"
    assert judge(**kw, current=0.40, expected=0.55, p_value=0.001).status == "red"


def test_poisson_test_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for n1, n2 in [(200, 180), (200, 260), (3, 9), (50, 50), (1000, 1100)]:
        assert math.isclose(
            poisson_change_p_value(n1, n2), stats.binomtest(n2, n1 + n2, 0.5).pvalue, rel_tol=1e-9
        )
    assert poisson_change_p_value(2, 3) is None
    assert proportion_p_value(0.5, 400, 0.5, 400) == 1.0
    assert proportion_p_value(0.5, 400, 0.6, 400) < 0.01


# ---------------------------------------------------------------------------------- target_progress


def progress(tmp_path: Path, series: dict[str, tuple[float, int]], **changes: Any) -> dict[str, Any]:
    wh = build_warehouse(tmp_path / f"p{len(list(tmp_path.iterdir()))}.duckdb", burglary=series)
    folder = tmp_path / f"regs{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    write_register(folder, good_target(**changes))
    frame = write_progress(wh, folder)
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_progress_green_on_trajectory(tmp_path: Path) -> None:
    # baseline 20.0 in 2021/22, target 18.0 in 2024/25: one year in, 19.333 expected; 18.5 is ahead
    row = progress(tmp_path, {"2021/22": (200.0, 12), "2022/23": (185.0, 12)})
    assert (row["status"], row["current_period"], row["current_value"]) == ("green", "2022/23", 18.5)
    assert row["expected_value"] == pytest.approx(20 - 2 / 3)
    assert (row["target_value"], row["direction"], row["years_elapsed"], row["years_to_deadline"]) == (
        pytest.approx(18.0), "lower", 1, 3,
    )  # fmt: skip
    assert (row["milestone_period"], row["milestone_value"], row["milestone_met"]) == ("2022/23", 19.5, True)
    assert row["significance_test"] == "poisson"
    assert row["p_value"] == pytest.approx(poisson_change_p_value(200, 185))


def test_progress_red_when_significantly_worse(tmp_path: Path) -> None:
    row = progress(tmp_path, {"2021/22": (200.0, 12), "2022/23": (280.0, 12)})
    assert row["status"] == "red" and "significantly" in row["status_rule"]


def test_progress_amber_behind_but_better(tmp_path: Path) -> None:
    row = progress(tmp_path, {"2021/22": (200.0, 12), "2022/23": (196.0, 12)})
    assert row["status"] == "amber" and "but better than the baseline" in row["status_rule"]


def test_progress_compares_like_with_like(tmp_path: Path) -> None:
    """A later part year (6 months) is not set against the 12-month baseline: 2022/23 is compared."""
    row = progress(tmp_path, {"2021/22": (200.0, 12), "2022/23": (185.0, 12), "2023/24": (60.0, 6)})
    assert (row["current_period"], row["current_months_covered"]) == ("2022/23", 12)
    assert (row["latest_period"], row["latest_months_covered"]) == ("2023/24", 6)
    assert "not compared: 2023/24 (6 months)" in row["comparison"]
    assert row["status"] == "green"


def test_progress_deadline_missed_and_grey_cases(tmp_path: Path) -> None:
    row = progress(
        tmp_path, {"2021/22": (200.0, 12), "2022/23": (190.0, 12)}, deadline="2022/23", milestones=None
    )
    assert row["status"] == "red" and "deadline 2022/23 passed and missed" in row["status_rule"]
    row = progress(tmp_path, {"2021/22": (200.0, 12), "2022/23": (100.0, 6)})
    assert row["status"] == "grey" and "no comparable figure after the baseline" in row["status_rule"]
    row = progress(tmp_path, {"2021/22": (200.0, 12), "2022/23": (185.0, 12)}, owner=None)
    assert row["status"] == "grey" and row["status_rule"].startswith("rejected by targets check: S: no owner")


def test_progress_over_an_incomplete_year_is_not_judged(tmp_path: Path) -> None:
    """A fall that would be green is grey when the current year lacks an agency's month (issue 16); the
    same series without the gap is judged, and a gap in another dataset changes nothing."""
    series = {"2021/22": (200.0, 12), "2022/23": (150.0, 12)}
    wh = build_warehouse(tmp_path / "w.duckdb", burglary=series)
    folder = tmp_path / "regs"
    folder.mkdir()
    write_register(folder, good_target())
    assert write_progress(wh, folder).iloc[0]["status"] == "green"
    with duckdb.connect(str(wh)) as con:
        con.execute(
            "create table audit.caveats (partnership_code varchar, dataset varchar, audit_year varchar, "
            "period_start date, incomplete_data varchar)"
        )
        con.execute(
            "insert into audit.caveats values (?, 'fire_incidents', '2022/23', ?, 'fire_service 2022-05')",
            [P1, YEARS["2022/23"]],
        )
    assert write_progress(wh, folder).iloc[0]["status"] == "green"
    with duckdb.connect(str(wh)) as con:
        con.execute(
            "insert into audit.caveats values (?, 'police_uk_street', '2022/23', ?, 'northshire_police 2022-11')",
            [P1, YEARS["2022/23"]],
        )
    row = write_progress(wh, folder).iloc[0].to_dict()
    assert (row["status"], row["current_period"], row["current_value"]) == ("grey", "2022/23", 15.0)
    assert row["status_rule"].startswith(
        "incomplete data, no accepted delivery from 2022/23: northshire_police 2022-11: the change from the "
        "baseline is not judged"
    ), row["status_rule"]


def test_progress_table_is_idempotent_and_typed(tmp_path: Path) -> None:
    wh = build_warehouse(tmp_path / "w.duckdb")
    folder = tmp_path / "targets"
    folder.mkdir()
    write_register(folder, good_target(), name=P1)
    write_progress(wh, folder)
    with duckdb.connect(str(wh)) as con:
        first = con.execute("select * from audit.target_progress order by all").fetchall()
        types = dict(con.execute("select column_name, data_type from information_schema.columns where "
                                 "table_schema = 'raw' and table_name = 'target_progress' order by ordinal_position").fetchall())  # fmt: skip
        assert con.execute("select * from raw.target_progress order by all").fetchall() == first
    write_progress(wh, folder)
    with duckdb.connect(str(wh)) as con:
        assert con.execute("select * from audit.target_progress order by all").fetchall() == first
    assert types == COLUMNS
    write_progress(wh, tmp_path / "missing")  # no registers: an empty table with the same columns
    with duckdb.connect(str(wh)) as con:
        assert con.execute("select count(*) from audit.target_progress").fetchone() == (0,)


# -------------------------------------------------------------------------------------------- CLI


def run_targets(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="csp-audit")
    add_targets_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["targets", *argv])
    return int(args.func(args))


def test_cli_check_exit_codes_and_lines(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "targets"
    folder.mkdir()
    good = write_register(folder, good_target(), name="good")
    assert run_targets("check", "--targets", str(good), "--warehouse", str(warehouse)) == 0
    assert capsys.readouterr().out == ""
    write_register(folder, good_target(id="BAD", owner=None, deadline=None, milestones=None), name="bad")
    assert run_targets("check", "--targets", str(folder), "--warehouse", str(warehouse)) == 2
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{folder / 'bad.yaml'}: BAD: S: no owner: name the role or organisation accountable for the target",
        f"{folder / 'bad.yaml'}: BAD: T: no deadline (an audit year like 2025/26 or a date)",
    ]
    assert "2 register(s), 2 target(s), 1 rejected" in out.err
    assert run_targets("check", "--targets", str(tmp_path / "nope"), "--warehouse", str(warehouse)) == 2


def test_cli_progress(tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "targets"
    folder.mkdir()
    write_register(folder, good_target(), name=P1)
    assert run_targets("progress", "--targets", str(folder), "--warehouse", str(warehouse)) == 0
    assert "audit.target_progress: 1 target(s): 1 green, 0 amber" in capsys.readouterr().out
