"""The real police.uk extracts and ONS lookups in ../shared: every row reconciles, totals match."""

from __future__ import annotations

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


def test_real_data_passes_the_gate_with_warnings_that_name_its_quirks(real_run: Path) -> None:
    with duckdb.connect(str(real_run / "warehouse.duckdb"), read_only=True) as con:
        outcomes = dict(
            con.execute("select outcome, count(*) from raw.police_file_validations group by 1").fetchall()
        )
        warnings = " ".join(
            r[0]
            for r in con.execute(
                "select warnings from raw.police_file_validations where warnings is not null"
            ).fetchall()
        )
        quarantined = con.execute("select count(*) from raw.police_row_failures").fetchone()[0]
    assert outcomes == {"accepted": 80}
    assert quarantined == 0
    for quirk in ("rows_without_location", "crime_id_unique", "lsoa_in_force_area"):
        assert quirk in warnings, quirk
    feedback = (real_run / "feedback" / "city-of-london.md").read_text()
    assert "lsoa_in_force_area" in feedback
