"""The real police.uk extracts and ONS lookups in ../shared: every row reconciles, totals match."""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from independent import count, lsoa_to_csp

pytestmark = [pytest.mark.integration, pytest.mark.realdata]


def test_every_real_row_reconciles_and_csp_totals_match(real_run: Path, shared_realdata: Path) -> None:
    geo = shared_realdata / "geography"
    lsoa_csp = lsoa_to_csp(
        geo / "LSOA11_WD19_LAD19_lookup_EW.csv", geo / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"
    )
    with duckdb.connect(str(real_run / "warehouse.duckdb"), read_only=True) as con:
        region = {
            r[0]
            for r in con.execute(
                "select partnership_code from staging.stg_geography__region_partnerships"
            ).fetchall()
        }
        recon = con.execute(
            "select count(*), sum(rows_read), sum(rows_counted), sum(rows_duplicate), sum(rows_unlocated), "
            "sum(rows_outside_region), sum(rows_quarantined) from audit.reconciliation"
        ).fetchone()
        unbalanced = con.execute(
            "select count(*) from audit.reconciliation where rows_read <> rows_counted + rows_duplicate "
            "+ rows_unlocated + rows_outside_region + rows_quarantined"
        ).fetchone()[0]
        per_csp = dict(con.execute(
            "select partnership_code, sum(incidents) from audit.partnership_crime_monthly group by 1").fetchall())  # fmt: skip
        yearly_csps = {
            r[0]
            for r in con.execute(
                "select distinct partnership_code from audit.partnership_crime_yearly"
            ).fetchall()
        }

    assert len(region) == 22  # 21 Welsh CSPs (Cwm Taf covers two LADs) + City of London
    expected = count(shared_realdata / "police", lsoa_csp, region)
    files, read, counted, duplicate, unlocated, outside, quarantined = recon
    totals: Counter[str] = Counter()
    for tally in expected.files.values():
        totals.update(tally)
    assert files == 80 == len(expected.files)
    assert read == 125_794 + 38_215 == sum(totals.values())
    assert unbalanced == 0
    assert (counted, duplicate, unlocated, outside, quarantined) == (
        totals["counted"], totals["duplicate"], totals["unlocated"], totals["outside_region"], totals["quarantined"]
    )  # fmt: skip
    # the manifest's quirks: unlocated rows, duplicate Crime IDs, City rows in Metropolitan LSOAs
    assert unlocated >= 1_221 + 2_701 - 310 and duplicate > 0 and outside >= 2_000
    csp_expected: Counter[str] = Counter()
    for (csp, _month, _type), n in expected.counted.items():
        csp_expected[csp] += n
    assert per_csp == dict(csp_expected)
    assert yearly_csps == region


def test_real_data_passes_the_gate_with_warnings_that_count_each_files_own_rows(
    real_run: Path, shared_realdata: Path
) -> None:
    """Every warning counts the rows of its own file that failed it (not the whole file), checked
    against an independent reading of the files; police.uk sits in the shared raw tables."""
    with duckdb.connect(str(real_run / "warehouse.duckdb"), read_only=True) as con:
        outcomes = dict(con.execute(
            "select outcome, count(*) from raw.delivery_validations where dataset = 'police_uk_street' group by 1"
        ).fetchall())  # fmt: skip
        warnings = dict(con.execute(
            "select source_file, warnings from raw.delivery_validations where dataset = 'police_uk_street'"
        ).fetchall())  # fmt: skip
        quarantined = con.execute("select count(*) from raw.delivery_row_failures").fetchone()[0]
        legacy = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' and table_name like 'police%'"
        ).fetchall()
    assert outcomes == {"accepted": 80}
    assert quarantined == 0
    assert legacy == []  # one set of raw tables for every dataset
    text = " ".join(w for w in warnings.values() if w)
    for quirk in ("rows_without_location", "crime_id_unique", "lsoa_in_force_area", "share_located"):
        assert quirk in text, quirk
    checked = 0
    for source_file, found in warnings.items():
        with (shared_realdata / "police" / source_file).open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        ids = Counter(r["Crime ID"] for r in rows if r["Crime ID"].strip())
        expected = {
            "rows_without_location": sum(1 for r in rows if not r["LSOA code"].strip()),
            "crime_id_unique": sum(n for n in ids.values() if n > 1),
        }
        listed = dict(re.findall(r"(\w+) \((\d+) rows\)", found or ""))
        for rule, n in expected.items():
            assert int(listed.get(rule, 0)) == n, (source_file, rule, found)
            checked += n > 0
    assert checked > 40
    city = warnings["2019-02/2019-02-city-of-london-street.csv"]
    # row rules count the rows that failed; file rules count the file (its row count is off its trailing
    # months) or its unlocated rows (share located)
    assert city == (
        "lsoa_in_force_area (36 rows); row_count_in_line_with_trailing_months (688 rows); "
        "rows_without_location (29 rows); share_located (29 rows)"
    )
    feedback = (real_run / "feedback" / "city-of-london.md").read_text()
    assert "lsoa_in_force_area (36 rows)" in feedback
