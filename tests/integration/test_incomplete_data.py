"""One agency-month taken out of a multi-agency dataset: the figures say so everywhere (issue 16).

A copy of the demo in which Harrowgate Council's October 2023 ASB delivery is no longer in the landing
zone (E22990001's reports come from two councils, so the partnership still has data for every month of
2023/24 and nothing but completeness tells the month is short). The ingest of that dataset and the
audit build run again on the copy through the same steps the DAGs run; then the agency-month must be
named in ``audit.caveats`` and in the council's feedback, no trend over 2023/24 may claim significance,
the comparisons and ranks over it are marked, and the pack's points for the strategic assessment do
not draw on it. The shared ``demo_run`` is never modified.
"""

from __future__ import annotations

import os
import re
import shutil
from html import unescape
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.integration

AS_OF = "2024-04-28"  # what `csp-audit demo` judges arrivals against
AGENCY, DATASET, MONTH = "harrowgate_council", "la_asb_reports", "2023-10"
PARTNERSHIP, YEAR, PREVIOUS = "E22990001", "2023/24", "2022/23"
GAP = f"{AGENCY} {MONTH}"


@pytest.fixture(scope="module")
def scenario(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from csp_audit.packs.build import build_packs
    from csp_audit.steps import build, ingest

    os.environ["CSP_AUDIT_PSEUDONYMISATION_KEY"] = (
        (demo_run / ".secrets" / "pseudonymisation.key").read_text().strip()
    )
    out = tmp_path_factory.mktemp("incomplete")
    for name in ("region.yaml", "plan.yaml", "warehouse.duckdb"):
        shutil.copy2(demo_run / name, out / name)
    for folder in ("lookups", "police", "landing", "landing-cache", "targets"):
        shutil.copytree(demo_run / folder, out / folder)
    delivery = out / "landing" / AGENCY / DATASET / MONTH / f"{DATASET}_{AGENCY}_{MONTH}.csv"
    delivery.unlink()
    plan, warehouse = str(out / "plan.yaml"), str(out / "warehouse.duckdb")
    with duckdb.connect(warehouse, read_only=True) as con:
        # before: the month is counted, and the partnership's year is complete
        assert con.execute(
            "select count(*) from audit.data_completeness where partnership_code = ? and dataset = ? and not complete "
            "and month between '2023-04-01' and '2024-03-01'",
            [PARTNERSHIP, DATASET],
        ).fetchone() == (0,)
    files = ingest.discover(plan, warehouse, DATASET)
    ingest.validate(plan, warehouse, DATASET, files)
    ingest.load(plan, warehouse, DATASET, files)
    build.arrival_board(plan, warehouse, AS_OF)
    build.build_marts(plan, warehouse)
    build.summarise(plan, warehouse)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CSP_AUDIT_PACK_PDF", "0")  # the pack's tables and report.html are read, not the print
        build_packs(Path(warehouse), out / "publish", plan_file=Path(plan), partnerships=[PARTNERSHIP])
    return out


def _query(out: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_the_month_is_missing_and_named_in_the_caveats(scenario: Path) -> None:
    assert _query(
        scenario,
        "select strftime(month, '%Y-%m'), missing_from from audit.data_completeness "
        "where partnership_code = ? and dataset = ? and not complete and month >= '2023-04-01'",
        [PARTNERSHIP, DATASET],
    ) == [(MONTH, AGENCY)]
    # the other council delivered: every month of the year is still covered
    ((months, caveat),) = _query(
        scenario,
        "select months_covered, caveat from audit.caveats where partnership_code = ? and dataset = ? "
        "and audit_year = ?",
        [PARTNERSHIP, DATASET, YEAR],
    )
    assert months == 12
    assert f"Incomplete: no accepted delivery from {GAP}" in caveat, caveat
    # and the dataset's freshness names the hole
    assert _query(
        scenario,
        "select missing_periods from audit.dataset_freshness where dataset = ? and agency = ?",
        [DATASET, AGENCY],
    ) == [(f"{MONTH} (withdrawn)",)]


def test_the_council_is_told_in_its_feedback(scenario: Path) -> None:
    report = (scenario / "feedback" / f"{AGENCY}.md").read_text()
    gap = next(line for line in report.splitlines() if line.startswith(f"- **{DATASET} {MONTH}**"))
    assert PARTNERSHIP in gap and "no longer count" in gap, gap
    assert "Thank you" not in report
    page = (scenario / "feedback" / f"{AGENCY}.html").read_text()
    assert f"<strong>{DATASET} {MONTH}</strong>" in page


def test_no_change_over_the_year_claims_significance(scenario: Path) -> None:
    rows = _query(
        scenario,
        "select category, previous_audit_year, verdict, pct_change, three_year_verdict, incomplete_data "
        "from audit.trends where partnership_code = ? and dataset = ? and audit_year = ?",
        [PARTNERSHIP, DATASET, YEAR],
    )
    assert rows
    for category, previous, verdict, pct, three_year, incomplete in rows:
        assert f"{YEAR}: {GAP}" in incomplete, incomplete
        assert pct is None and not three_year.startswith("significant"), category
        assert verdict == ("incomplete data" if previous == PREVIOUS else "insufficient data"), category
    assert any(previous == PREVIOUS for _, previous, *_ in rows)


def test_comparisons_and_ranks_over_the_year_are_marked(scenario: Path) -> None:
    own = _query(
        scenario,
        "select comparator_type, rank_in_region, incomplete_data, like_for_like from audit.comparisons "
        "where partnership_code = ? and dataset = ? and audit_year = ?",
        [PARTNERSHIP, DATASET, YEAR],
    )
    assert own and all(rank is None and GAP in gap and not like for _, rank, gap, like in own)
    # every other partnership is ranked among the complete ones, against a region marked short
    others = _query(
        scenario,
        "select partnership_code, category, rank_in_region, partnerships_ranked, comparator_incomplete_data, "
        "like_for_like from audit.comparisons where partnership_code <> ? and dataset = ? and audit_year = ? "
        "and comparator_type = 'region'",
        [PARTNERSHIP, DATASET, YEAR],
    )
    assert others
    for code, category, rank, ranked, comparator, like in others:
        if rank is not None:
            assert rank <= ranked <= 4, (code, category)
        assert GAP in comparator and not like, (code, category)
    # council ASB is delivered by ward and apportioned to LSOAs: no area ranks are made from it at all
    # (hotspots and concentration only for datasets placed at point or LSOA level), incomplete or not
    for mart in ("hotspots", "concentration", "hotspot_persistence"):
        rows = _query(
            scenario,
            f"select count(*) from audit.{mart} where partnership_code = ? and dataset = ?",  # noqa: S608
            [PARTNERSHIP, DATASET],
        )
        assert rows == [(0,)], mart
    priorities = _query(
        scenario,
        "select issue, trend_verdict, trend_score, pct_change, rank_change, incomplete_data "
        "from audit.priority_scores where partnership_code = ? and dataset = ? and audit_year = ?",
        [PARTNERSHIP, DATASET, YEAR],
    )
    assert priorities
    for issue, verdict, score, pct, change, incomplete in priorities:
        assert (verdict, score, pct, change) == ("incomplete data", 3, None, None), issue
        assert f"{YEAR}: {GAP}" in incomplete, issue
    versus = _query(
        scenario,
        "select concern, recorded_rank, mismatch, incomplete_data from audit.concern_vs_recorded "
        "where partnership_code = ? and recorded_dataset = ? and audit_year = ?",
        [PARTNERSHIP, DATASET, YEAR],
    )
    for concern, rank, mismatch, incomplete in versus:
        assert (rank, mismatch) == (None, "incomplete data") and GAP in incomplete, concern


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_the_pack_draws_no_point_from_the_year_and_marks_its_tables(scenario: Path) -> None:
    report = (scenario / "publish" / PARTNERSHIP / "v0001" / "report.html").read_text()
    points = re.search(r"<h3>Points for the strategic assessment</h3>\s*<ul class=\"points\">(.*?)</ul>", report,
                       re.S)  # fmt: skip
    assert points is not None
    items = [_text(p) for p in re.findall(r"<li>(.*?)</li>", points.group(1), re.S)]
    label = "LA ASB reports"
    drawn = [p for p in items if p.startswith(label) or f"{label} –" in p and "significant" in p]
    assert not drawn, drawn
    gap = [p for p in items if p.startswith(f"Incomplete data: {label}")]
    assert gap == [f"Incomplete data: {label} – no delivery from {AGENCY} for {MONTH} ({YEAR}). "
                   f"Its change on {PREVIOUS} is not reported as a finding."], items  # fmt: skip
    # the changes and comparisons tables mark the dataset's row with the agency and month
    marked = f"incomplete data: no delivery from {AGENCY} for {MONTH}"
    for table in ("trends", "comparisons"):
        body = re.search(rf'<table data-table="{table}".*?</table>', report, re.S)
        assert body is not None, table
        rows = [_text(r) for r in re.findall(r"<tr>(.*?)</tr>", body.group(0), re.S)]
        assert any(r.startswith(label) and marked in r for r in rows), (table, rows)
    trends = re.search(r'<table data-table="trends".*?</table>', report, re.S).group(0)
    assert not any(
        r.startswith(label) and "significant" in r
        for r in (_text(x) for x in re.findall(r"<tr>(.*?)</tr>", trends, re.S))
    )
