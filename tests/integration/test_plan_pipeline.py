"""The data plan end to end: every agency ingested through its generated DAG, then the audit build.

Covers a corrected re-delivery, a late delivery, a rejected (malformed) delivery, a re-run (a
retried DAG never duplicates rows), conservation of apportioned counts, and that every delivered
row is accounted for.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli

pytestmark = pytest.mark.integration
AS_OF = "2024-04-28"  # what `csp-audit demo` judges arrivals against


@pytest.fixture(scope="module")
def plan_run(demo_run: Path) -> Path:
    """The demo (`csp-audit demo`): every agency of the demo plan through its generated DAG."""
    import os

    os.environ["CSP_AUDIT_PSEUDONYMISATION_KEY"] = (
        (demo_run / ".secrets" / "pseudonymisation.key").read_text().strip()
    )
    return demo_run


def _query(out: Path, sql: str, params: list[str] | None = None) -> list[tuple]:
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_every_dataset_ingested_through_its_dag(plan_run: Path) -> None:
    log = (plan_run / "demo.log").read_text()
    datasets = {r[0] for r in _query(plan_run, "select distinct dataset from audit.delivery_reconciliation")}
    assert datasets == {
        "fire_incidents", "ed_assaults", "la_asb_reports", "yot_first_time_entrants",
        "probation_caseload", "housing_asb_complaints", "substance_misuse_treatment", "proven_reoffending",
        "domestic_abuse_incidents", "consultation_survey",
    }  # fmt: skip
    for dataset in ("police_uk_street", "fire_incidents", "ed_assaults", "housing_asb_complaints",
                    "substance_misuse_treatment", "proven_reoffending", "domestic_abuse_incidents"):  # fmt: skip
        assert f"ingest {dataset}" in log
    fact = dict(
        _query(
            plan_run, "select dataset, sum(incidents) from intermediate.int_incidents_harmonised group by 1"
        )
    )
    assert set(fact) >= {"police_uk_street", "fire_incidents", "ed_assaults", "la_asb_reports",
                         "yot_first_time_entrants", "probation_caseload", "housing_asb_complaints",
                         "substance_misuse_treatment", "proven_reoffending", "domestic_abuse_incidents"}  # fmt: skip


def test_the_demo_console_shows_the_projects_own_progress(plan_run: Path) -> None:
    """Quiet by default (issue 18): library and task logs go to the run log, the console stays short."""
    lines = (plan_run / "demo.log").read_text().splitlines()
    assert len(lines) < 300
    library = [line for line in lines if not line.startswith("[csp-audit] ")]
    assert len(library) <= 5, library[:20]
    assert (plan_run / "csp-audit.log").stat().st_size > 0
    assert any("run log" in line and "csp-audit.log" in line for line in lines[-5:])


def test_every_delivered_row_is_accounted_for(plan_run: Path) -> None:
    rows = _query(
        plan_run,
        "select source_file, rows_read, rows_counted + rows_duplicate + rows_unlocated + rows_quarantined "
        "+ rows_superseded, incidents_counted, incidents_in_region + incidents_outside_region "
        "from audit.delivery_reconciliation where outcome = 'loaded'",
    )
    assert rows
    for source_file, read, accounted, counted, placed in rows:
        assert read == accounted, source_file
        assert placed == pytest.approx(counted, abs=1e-6), source_file
    # and the raw rows equal what the files hold (minus rejected files, which never load)
    loaded = dict(_query(plan_run, "select source_file, rows_read from raw.deliveries"))
    for source_file, read, *_ in rows:
        assert loaded[source_file] == read
    # every wholly rejected agency delivery is reconciled too: none of its rows counted, and why (issue 16)
    rejected = _query(plan_run, "select source_file, rule from raw.delivery_validations "
                      "where outcome = 'rejected' and dataset <> 'police_uk_street' order by 1")  # fmt: skip
    reconciled = _query(
        plan_run,
        "select source_file, rows_counted + rows_duplicate + rows_quarantined, rejected_because "
        "from audit.delivery_reconciliation where outcome = 'rejected' order by 1",
    )
    assert rejected and [f for f, _ in rejected] == [f for f, *_ in reconciled]
    for (_, rule), (source_file, counted, because) in zip(rejected, reconciled, strict=True):
        assert counted == 0 and because.startswith(f"rule {rule}"), source_file


def test_corrected_redelivery_supersedes_and_both_are_kept(plan_run: Path) -> None:
    defects = json.loads((plan_run / "landing" / "_defects.json").read_text())
    redelivered = next(d for d in defects if d["defect"] == "redelivery")
    rows = _query(
        plan_run,
        "select source_file, is_current, rows_superseded, rows_read from audit.delivery_reconciliation "
        "where dataset = ? and agency = ? and period = ? order by received_at",
        [redelivered["dataset"], redelivered["agency"], redelivered["period"]],
    )
    assert len(rows) == 2
    (first, first_current, first_superseded, first_read), (second, second_current, second_superseded, _) = (
        rows
    )
    assert not first_current and first_superseded == first_read
    assert second_current and second_superseded == 0
    assert second.endswith("_v2.csv")


def test_late_overdue_and_rejected_deliveries_on_the_board(plan_run: Path) -> None:
    defects = json.loads((plan_run / "landing" / "_defects.json").read_text())
    board = {
        (a, d, p): s
        for a, d, p, s in _query(
            plan_run, "select agency, dataset, period, status from staging.stg_deliveries__arrivals"
        )
    }
    late = next(d for d in defects if "late" in d["defect"])
    assert board[(late["agency"], late["dataset"], late["period"])] == "late"
    malformed = next(d for d in defects if "header" in d["defect"])
    assert board[(malformed["agency"], malformed["dataset"], malformed["period"])] == "rejected"
    missing = next(d for d in defects if "missing" in d["defect"])
    assert board[(missing["agency"], missing["dataset"], missing["period"])] == "overdue"
    assert (plan_run / "arrival-board.html").read_text().count("<tr") > 10


def test_rerun_changes_nothing(plan_run: Path) -> None:
    def snapshot() -> tuple:
        return (
            _query(plan_run, "select count(*) from raw.deliveries")[0],
            _query(plan_run, "select * from audit.delivery_reconciliation order by all"),
            _query(
                plan_run,
                "select dataset, round(sum(incidents), 6) from intermediate.int_incidents_harmonised group by 1 order by 1",
            ),
        )

    from test_end_to_end import table_checksums

    before = snapshot(), table_checksums(plan_run / "warehouse.duckdb")
    assert len(before[1]) >= 25  # every mart, rebuilt below: byte-identical values, floating point included
    proc = run_cli("run", "--plan", str(plan_run / "plan.yaml"), "--as-of", AS_OF)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for dataset in ("police_uk_street", "fire_incidents"):  # police.uk is a dataset like any other
        assert f"load {dataset}: 0 new deliveries, 0 rows" in proc.stdout
        assert f"validate {dataset}: " in proc.stdout and " 0 new to the gate" in proc.stdout
    assert (snapshot(), table_checksums(plan_run / "warehouse.duckdb")) == before


def test_pseudonymised_fields_never_reach_the_warehouse(plan_run: Path) -> None:
    raw_ids = set()
    for path in (plan_run / "landing").rglob("ed_assaults_*.csv"):
        for line in path.read_text().splitlines()[1:]:
            raw_ids.add(line.split(",")[0])
    stored = {r[0] for r in _query(plan_run, 'select distinct "patient_id" from raw.ds__ed_assaults')}
    assert stored and not (stored & raw_ids)
    assert all(s.startswith("p_") and len(s) == 34 for s in stored)


def test_ed_assaults_are_placed_where_they_happened_and_home_areas_are_flagged(plan_run: Path) -> None:
    """ISTV records with a coded incident LSOA land on it exactly; the rest by the patient's home area."""
    placed = _query(plan_run, """
        select
            nullif(trim(r.incident_lsoa_code), '') is not null as coded,
            bool_and(f.method = 'exact' and f.lsoa_code = upper(trim(r.incident_lsoa_code)) and f.weight = 1),
            bool_and(f.method = 'apportioned'),
            count(distinct (f.source_file, f.row_number))
        from intermediate.int_incidents_harmonised as f
        inner join raw.ds__ed_assaults as r on r._source_file = f.source_file and r._row_number = f.row_number
        where f.dataset = 'ed_assaults'
        group by all order by coded
    """)  # fmt: skip
    assert [(coded, exact, apportioned) for coded, exact, apportioned, _ in placed] == [
        (False, False, True),  # by the home postcode district's address weights
        (True, True, False),  # exactly where it happened
    ]
    by_home, by_incident = placed[0][3], placed[1][3]
    assert 0.02 < by_home / (by_home + by_incident) < 0.15  # the demo leaves about 6% uncoded
    # the reconciliation counts the fallback rows; none of another dataset
    flagged = dict(_query(plan_run, """
        select dataset, sum(rows_placed_by_fallback) from audit.delivery_reconciliation group by dataset
    """))  # fmt: skip
    uncoded = _query(plan_run, """
        select count(*) from raw.ds__ed_assaults as r
        inner join intermediate.int_deliveries as d on d.delivery_sha256 = r._sha256 and d.is_current
        where nullif(trim(r.incident_lsoa_code), '') is null and nullif(trim(r.patient_postcode_district), '') is not null
    """)[0][0]  # fmt: skip
    assert 0 < flagged.pop("ed_assaults") <= uncoded and set(flagged.values()) == {0}
    # hotspots of ED assaults only where at least 90% were placed by incident location
    ranked = _query(plan_run, """
        select p.placed_at_point_or_lsoa, count(h.dataset) > 0
        from intermediate.int_dataset_placement as p
        left join audit.hotspots as h using (dataset, partnership_code)
        where p.dataset = 'ed_assaults' group by p.partnership_code, p.placed_at_point_or_lsoa
    """)  # fmt: skip
    assert ranked and all(has == eligible for eligible, has in ranked) and any(e for e, _ in ranked)


def test_rates_per_household_and_per_young_person_from_the_population_file(plan_run: Path) -> None:
    """Burglary per household, youth first-time entrants per resident aged 10-17, summed from the file."""
    estimates = plan_run / "lookups" / "lsoa_population_mid_year.csv"
    rows = _query(plan_run, f"""
        with file as (
            select LSOA11CD as lsoa_code, mid_year, households, aged_10_17
            from read_csv('{estimates}', all_varchar = false)
        ),
        expected as (
            select g.csp_code, f.mid_year, sum(f.households) as households, sum(f.aged_10_17) as aged_10_17
            from file as f inner join raw.geo_lsoas as g using (lsoa_code)
            where g.in_region group by all
        )
        select r.dataset, r.category, r.rate_denominator, r.denominator,
            case r.rate_denominator when 'households' then e.households else e.aged_10_17 end,
            r.rate_per_1000_denominator, round(1000.0 * r.incidents / r.denominator, 3), r.denominator_note
        from audit.area_rates as r
        inner join expected as e on e.csp_code = r.area_code and e.mid_year = r.population_year
        where r.area_type = 'partnership'
            and (r.dataset, r.category) in (('police_uk_street', 'Burglary'), ('yot_first_time_entrants', 'All'))
    """)  # fmt: skip  # noqa: S608
    assert {(r[0], r[2]) for r in rows} == {
        ("police_uk_street", "households"),
        ("yot_first_time_entrants", "residents aged 10-17"),
    }
    for _dataset, _category, _kind, denominator, expected, rate, computed, note in rows:
        assert denominator == expected and rate == computed and note is None
    other = _query(plan_run, """
        select distinct rate_denominator, denominator = population from audit.area_rates
        where dataset = 'police_uk_street' and category = 'Robbery' and population is not null
    """)  # fmt: skip
    assert other == [("residents", True)]


EXPECTED_SEVERITY = {
    # defect planted by the demo generator -> (where the pipeline must show it, rule)
    "wrong_vintage_area_code": ("quarantine", "area_code_in_lookup"),
    "future_date": ("quarantine", "date_within_delivery_period"),
    "arrival_before_incident": ("warning", "arrival_after_incident"),
    "duplicate_rows": ("warning", "one_row_per_cell"),
    "malformed_header": ("critical", "header_matches_contract"),
    "missing_period": ("board", "overdue"),
    "late_delivery": ("board", "late"),
    "redelivery": ("superseded", ""),
}


def test_every_planted_defect_is_caught_at_its_severity(plan_run: Path) -> None:
    defects = json.loads((plan_run / "landing" / "_defects.json").read_text())
    assert {d["defect"] for d in defects} == set(EXPECTED_SEVERITY)
    verdicts = {
        f: (outcome, rule, warnings or "")
        for f, outcome, rule, warnings in _query(
            plan_run, "select source_file, outcome, rule, warnings from raw.delivery_validations"
        )
    }
    held = {}
    for f, rule in _query(
        plan_run,
        "select v.source_file, r.rule from raw.delivery_row_failures r join raw.delivery_validations v using (sha256)",
    ):
        held.setdefault(f, set()).add(rule)
    board = {
        (a, d, p): s
        for a, d, p, s in _query(
            plan_run, "select agency, dataset, period, status from staging.stg_deliveries__arrivals"
        )
    }
    for defect in defects:
        severity, rule = EXPECTED_SEVERITY[defect["defect"]]
        where = defect["file"]
        if severity == "quarantine":
            assert rule in held.get(where, set()), defect
        elif severity == "warning":
            assert rule in verdicts[where][2], defect
        elif severity == "critical":
            assert verdicts[where][:2] == ("rejected", rule), defect
        elif severity == "board":
            assert board[(defect["agency"], defect["dataset"], defect["period"])] == rule, defect
    # the duplicated rows are counted once
    dup = next(d for d in defects if d["defect"] == "duplicate_rows")
    assert _query(
        plan_run,
        "select rows_duplicate from audit.delivery_reconciliation where source_file = ?",
        [dup["file"]],
    ) == [(3,)]


def test_a_rejected_delivery_leaves_other_data_refreshed_and_marks_its_dataset(plan_run: Path) -> None:
    freshness = {
        (d, a): (s, r)
        for d, a, s, r in _query(
            plan_run, "select dataset, agency, status, reason from audit.dataset_freshness"
        )
    }
    assert all(s == "current" for s, _ in freshness.values()), (
        freshness
    )  # every due period arrived in the end
    quality = _query(
        plan_run,
        "select gate_outcome, failed_rule, arrival_status from audit.data_quality "
        "where dataset = 'housing_asb_complaints' and agency = 'southern_dales_housing' and period = '2021-07'",
    )
    assert quality == [("rejected", "header_matches_contract", "rejected")]
    incomplete = _query(
        plan_run,
        "select partnership_code, missing_from from audit.data_completeness "
        "where dataset = 'housing_asb_complaints' and month = '2021-07-01' and not complete",
    )
    assert incomplete and all(m == "southern_dales_housing" for _, m in incomplete)
    report = (plan_run / "feedback" / "southern_dales_housing.md").read_text()
    assert "header_matches_contract" in report and "line 1" in report


def test_latest_delivery_rejected_keeps_last_good_figures_marked_stale(
    plan_run: Path, tmp_path: Path
) -> None:
    """A critical failure on an agency's latest due delivery: that dataset keeps its last good
    figures, marked stale with the file, line and rule; every other dataset stays current."""
    import shutil

    from csp_audit.steps import build as steps

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(plan_run / "warehouse.duckdb", warehouse)
    agency, dataset, period = "southern_dales_housing", "housing_asb_complaints", "2024-03"
    with duckdb.connect(str(warehouse)) as con:
        sha, source_file = con.execute(
            "select sha256, source_file from raw.deliveries where agency = ? and dataset = ? and period = ?",
            [agency, dataset, period],
        ).fetchone()
        # as if the gate had rejected it: the verdict says so and nothing of it was loaded
        con.execute(
            "update raw.delivery_validations set outcome = 'rejected', rule = 'header_matches_contract', line = 1, "
            "detail = 'expected ..., found ...' where sha256 = ?",
            [sha],
        )
        con.execute('delete from raw."ds__housing_asb_complaints" where _sha256 = ?', [sha])
        con.execute("delete from raw.deliveries where sha256 = ?", [sha])
    steps.arrival_board(str(plan_run / "plan.yaml"), str(warehouse), AS_OF)
    steps.build_marts(str(plan_run / "plan.yaml"), str(warehouse))

    with duckdb.connect(str(warehouse), read_only=True) as con:
        freshness = {
            (d, a): (s, r, g)
            for d, a, s, r, g in con.execute(
                "select dataset, agency, status, reason, last_good_period from audit.dataset_freshness"
            ).fetchall()
        }
        stale_caveats = con.execute(
            "select distinct stale_inputs from audit.caveats where dataset = ?", [dataset]
        ).fetchall()
        housing_months = con.execute(
            "select max(month) from audit.area_monthly where dataset = ? and incidents > 0", [dataset]
        ).fetchone()[0]
    status, reason, last_good = freshness[(dataset, agency)]
    assert status == "stale" and last_good == "2024-02"
    assert source_file in reason and "line 1" in reason and "header_matches_contract" in reason
    assert all(s == "current" for (d, a), (s, _, _) in freshness.items() if (d, a) != (dataset, agency))
    assert stale_caveats and all(agency in (row[0] or "") for row in stale_caveats)
    assert str(housing_months) == "2024-03-01"  # the other provider's March figures were refreshed


def test_feedback_names_every_late_or_overdue_delivery_and_explains_each_rule_once(plan_run: Path) -> None:
    """Before, an agency whose delivery never arrived was thanked for a perfect record, and the same
    explanation was repeated on every warning line (issue 16)."""
    board = _query(plan_run, "select agency, dataset, period, status from raw.arrival_board "
                   "where status in ('late', 'overdue')")  # fmt: skip
    assert any(status == "overdue" for *_, status in board)
    feedback = plan_run / "feedback"
    for agency, dataset, period, status in board:
        report = (feedback / f"{agency}.md").read_text()
        assert f"**{dataset} {period}**: {status}" in report
        assert "Thank you" not in report
    police = (feedback / "northshire_police.md").read_text()
    meaning = police.split("## What the rules mean", 1)[1]
    for rule in ("crime_id_unique", "lsoa_in_force_area", "rows_without_location"):
        assert police.count(f"`{rule}`:") == 1 and f"`{rule}`:" in meaning
    page = (feedback / "northshire_police.html").read_text()
    assert page.startswith("<!doctype html>") and "<script" not in page and "http" not in page
    assert "<h2>What the rules mean</h2>" in page
    index = (feedback / "index.html").read_text()
    assert all(f'href="{agency}.html"' in index for agency, *_ in board)


def test_incomplete_months_are_named_in_caveats_and_never_make_a_significant_trend(plan_run: Path) -> None:
    """A missing, rejected or overdue agency-month makes its year incomplete: the caveat names the
    agency and month, and no trend to, from or over that year claims significance (issue 16)."""
    missing = _query(
        plan_run,
        "select c.partnership_code, c.dataset, r.period_start, c.missing_from, strftime(c.month, '%Y-%m') "
        "from audit.data_completeness c join audit.area_rates r on r.partnership_code = c.partnership_code "
        "and r.dataset = c.dataset and r.area_type = 'partnership' and r.category = 'All' "
        "and c.month between r.period_start and r.period_end where not c.complete",
    )
    assert any(agency == "aldbury_crane_and_holt_council" for *_, agency, _ in missing)
    incomplete_years = set()
    for code, dataset, period_start, agencies, month in missing:
        incomplete_years.add((code, dataset, period_start))
        caveat = _query(plan_run, "select caveat from audit.caveats where partnership_code = ? and dataset = ? "
                        "and period_start = ?", [code, dataset, period_start])[0][0]  # fmt: skip
        assert "Incomplete" in caveat and f"{agencies} {month}" in caveat, caveat
    trends = _query(
        plan_run,
        "select partnership_code, dataset, period_start, cast(period_start - interval 1 year as date), "
        "cast(period_start - interval 2 year as date), verdict, three_year_verdict from audit.trends",
    )
    touched = 0
    for code, dataset, start, previous, base, verdict, three_year in trends:
        if {(code, dataset, start), (code, dataset, previous)} & incomplete_years:
            touched += 1
            assert not verdict.startswith("significant"), (code, dataset, start, verdict)
        if {(code, dataset, start), (code, dataset, base)} & incomplete_years:
            assert not three_year.startswith("significant"), (code, dataset, start, three_year)
    assert touched
    # and the freshness of the dataset names the agency and the hole, even when its latest period is in
    holes = dict(_query(plan_run, "select agency, missing_periods from audit.dataset_freshness "
                        "where missing_periods is not null"))  # fmt: skip
    for *_, agencies, month in missing:
        assert all(month in (holes.get(a) or "") for a in agencies.split(", ")), (agencies, month, holes)


def test_feedback_row_counts_equal_the_reconciliation(plan_run: Path) -> None:
    """Each agency's feedback accounts for every delivery's rows exactly as audit.reconciliation (police.uk)
    and audit.delivery_reconciliation (agencies) do, and a force's rows held back add up to the rows the
    reconciliation quarantined (before, the counting rules' quarantine was left out of the feedback and
    warnings were the only per-file figures; issue 16)."""
    accounting = _query(
        plan_run,
        "select agency, 'police_uk_street', period, source_file, outcome, rows_read, rows_counted, rows_duplicate, "
        "rows_unlocated, rows_outside_region, rows_quarantined, null from audit.reconciliation union all "
        "select agency, dataset, period, source_file, case when outcome = 'loaded' and not is_current "
        "then 'no longer counted' else outcome end, rows_read, rows_counted, rows_duplicate, rows_unlocated, null, "
        "rows_quarantined, rows_superseded from audit.delivery_reconciliation",
    )
    assert {a for a, *_ in accounting} >= {"northshire_police", "southmoor_police", "southern_dales_housing"}
    reports: dict[str, set[str]] = {}
    for agency, dataset, period, source_file, outcome, *counts in accounting:
        if agency not in reports:
            reports[agency] = set((plan_run / "feedback" / f"{agency}.md").read_text().splitlines())
        shown = " | ".join("–" if c is None else str(c) for c in counts)
        row = f"| {dataset} | {period} | `{source_file}` | {outcome} | {shown} |"
        assert row in reports[agency], (agency, row)
    held = dict(_query(plan_run, "select agency, sum(rows_quarantined) from audit.reconciliation group by 1"))
    for agency, rows in held.items():
        summary = (plan_run / "feedback" / f"{agency}.md").read_text().splitlines()[2]
        assert f", {rows} rows held back," in summary, (agency, summary)
    assert sum(held.values()) > 0  # the demo plants unknown LSOA codes in the police files


def test_themes_name_categories_as_the_data_does(plan_run: Path) -> None:
    """The seed's LIKE patterns select a theme's categories; the mart (and so the pack) shows the
    categories themselves."""
    rows = dict(
        _query(
            plan_run, "select distinct dataset, categories from audit.themes where theme = 'asb' order by 1"
        )
    )
    assert rows["police_uk_street"] == "Anti-social behaviour"
    council = rows["la_asb_reports"].split(", ")
    assert len(council) > 1 and all(c.startswith("anti-social behaviour") for c in council)
    assert _query(plan_run, r"select count(*) from audit.themes where categories like '%\%%' escape '\'") == [
        (0,)
    ]


def test_a_delivery_written_as_its_letter_asks_loses_no_row(
    plan_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fire service's letter, followed to the letter (its columns, exact whole counts, small ones
    included): the gate accepts the file and every row is loaded, none held back."""
    import re
    import shutil

    from csp_audit.plan import load_plan
    from csp_audit.requests.letters import render_requests, write_markdown
    from csp_audit.steps import ingest

    plan = load_plan(plan_run / "plan.yaml")
    write_markdown(render_requests(plan, None), tmp_path / "letters")
    letter = (tmp_path / "letters" / "fire_and_rescue.md").read_text(encoding="utf-8")
    columns = re.findall(r"^\| `([a-z_]+)` \|", letter, flags=re.MULTILINE)
    assert columns == [c.name for c in plan.datasets["fire_incidents"].columns]
    assert "Send every count exactly as a whole number" in letter
    wards = _query(
        plan_run, "select distinct ward_code, ward_name from raw.ds__fire_incidents order by 1 limit 3"
    )
    rows = [
        {"month": "2024-04", "ward_code": code, "ward_name": name, "fire_category": "deliberate secondary",
         "property_type": kind, "incidents": str(count)}
        for (code, name), (kind, count) in zip(
            [w for w in wards for _ in range(2)],
            [("refuse", 1), ("grassland", 2), ("refuse", 3), ("vehicle", 4), ("refuse", 0), ("grassland", 17)],
            strict=False,
        )
    ]  # fmt: skip
    landing = tmp_path / "landing" / "fire_and_rescue" / "fire_incidents" / "2024-04"
    landing.mkdir(parents=True)
    lines = [",".join(columns)] + [",".join(r[c] for c in columns) for r in rows]
    (landing / "fire_incidents_fire_and_rescue_2024-04.csv").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(plan_run / "warehouse.duckdb", warehouse)
    monkeypatch.setenv("CSP_AUDIT_LANDING_URL", (tmp_path / "landing").as_uri())
    plan_file = str(plan_run / "plan.yaml")
    files = ingest.discover(plan_file, str(warehouse), "fire_incidents")
    ingest.validate(plan_file, str(warehouse), "fire_incidents", files)
    loaded = ingest.load(plan_file, str(warehouse), "fire_incidents", files)
    assert loaded["loaded_rows"] == len(rows)
    source = "fire_and_rescue/fire_incidents/2024-04/fire_incidents_fire_and_rescue_2024-04.csv"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        outcome = con.execute(
            "select outcome from raw.delivery_validations where source_file = ?", [source]
        ).fetchall()
        failures = con.execute(
            "select count(*) from raw.delivery_row_failures f join raw.delivery_validations v "
            "on v.sha256 = f.sha256 where v.source_file = ?",
            [source],
        ).fetchone()[0]
        counts = sorted(r[0] for r in con.execute(
            "select cast(incidents as integer) from raw.ds__fire_incidents where _source_file = ?", [source]
        ).fetchall())  # fmt: skip
    assert outcome == [("accepted",)] and failures == 0
    assert counts == [0, 1, 2, 3, 4, 17]
