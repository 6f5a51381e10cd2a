"""The demo region through the real CLI, Airflow (dag.test), GX, DuckDB and dbt.

The police.uk marts are compared with counts computed independently from the raw CSVs
(tests/independent.py); a second run changing nothing is test_plan_pipeline.test_rerun_changes_nothing.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml
from independent import count, lsoa_to_csp

pytestmark = pytest.mark.integration

MARTS = ("partnership_crime_monthly", "partnership_crime_yearly", "reconciliation", "quarantined_rows")
STATUSES = ("counted", "duplicate", "unlocated", "outside_region", "quarantined")


def _region_csps(partnership_lookup: Path, pfas: list[str]) -> set[str]:
    with partnership_lookup.open(encoding="utf-8-sig", newline="") as f:
        return {r["CSP19CD"] for r in csv.DictReader(f) if r["PFA19CD"] in pfas}


def mart_checksums(warehouse: Path) -> dict[str, str]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sums = {}
        for mart in MARTS:
            rows = con.execute(f"select * from audit.{mart} order by all").fetchall()  # noqa: S608
            sums[mart] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()}"
        sums["raw_rows"] = str(con.execute("select count(*) from raw.ds__police_uk_street").fetchone()[0])
    return sums


def table_checksums(warehouse: Path, where: str = "table_schema = 'audit'") -> dict[str, str]:
    """A checksum of every table and view matching ``where`` (over information_schema.tables), keyed
    ``schema.name``: its rows in a fixed order, values exact (floating point included)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = con.execute(
            f"select table_schema, table_name from information_schema.tables where {where} order by all"  # noqa: S608
        ).fetchall()
        sums = {}
        for schema, name in names:
            rows = con.execute(f'select * from "{schema}"."{name}" order by all').fetchall()  # noqa: S608
            sums[f"{schema}.{name}"] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()}"
    return sums


def test_demo_marts_equal_independent_counts(demo_run: Path) -> None:
    region = yaml.safe_load((demo_run / "region.yaml").read_text())
    lookups = demo_run / "lookups"
    lsoa_csp = lsoa_to_csp(
        lookups / "LSOA11_WD19_LAD19_lookup_EW.csv", lookups / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"
    )
    csps = _region_csps(
        lookups / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv", region["partnerships"]["police_force_areas"]
    )
    assert len(csps) == 5
    expected = count(demo_run / "police", lsoa_csp, csps)

    with duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True) as con:
        monthly = {
            (p, m.strftime("%Y-%m"), t): n
            for p, m, t, n in con.execute(
                "select partnership_code, month, crime_type, incidents from audit.partnership_crime_monthly"
            ).fetchall()
        }
        recon = {
            r[0]: dict(zip(("read", *STATUSES), r[1:], strict=True))
            for r in con.execute(
                "select source_file, rows_read, rows_counted, rows_duplicate, rows_unlocated, "
                "rows_outside_region, rows_quarantined from audit.reconciliation"
            ).fetchall()
        }
        yearly = con.execute(
            "select partnership_code, audit_year, crime_type, incidents, rate_per_1000, months_covered "
            "from audit.partnership_crime_yearly"
        ).fetchall()

    assert monthly == dict(expected.counted)
    assert set(recon) == set(expected.files)
    for source_file, tally in expected.files.items():
        got = recon[source_file]
        assert got["read"] == sum(tally.values())
        assert {s: got[s] for s in STATUSES} == {s: tally[s] for s in STATUSES}, source_file
    # every planted quirk reaches the accounting
    totals = Counter()
    for tally in expected.files.values():
        totals.update(tally)
    assert all(totals[s] > 0 for s in STATUSES), totals

    # yearly: April-March audit years, rate per 1,000 residents from the mid-year estimates: the audit
    # year's own (mid-2021 for 2021/22), else the nearest year's
    estimates: Counter[tuple[str, int]] = Counter()
    with (lookups / "lsoa_population_mid_year.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            estimates[(lsoa_csp[r["LSOA11CD"]], int(r["mid_year"]))] += int(r["population"])
    published = sorted({y for _, y in estimates})

    def population_of(csp: str, audit_year: str) -> int:
        start = int(audit_year[:4])
        return estimates[(csp, min(published, key=lambda y: (abs(y - start), y)))]

    by_year: Counter[tuple[str, str, str]] = Counter()
    for (csp, month, crime_type), n in expected.counted.items():
        year, mon = int(month[:4]), int(month[5:])
        start = year if mon >= 4 else year - 1
        by_year[(csp, f"{start}/{(start + 1) % 100:02d}", crime_type)] += n
    assert {(p, y, t): n for p, y, t, n, _, _ in yearly} == dict(by_year)
    for p, y, t, n, rate, months in yearly:
        assert rate == pytest.approx(1000 * n / population_of(p, y), abs=5e-4)
        assert months == 12, (p, y, t)
    assert {y for _, y, *_ in yearly} == {"2021/22", "2022/23", "2023/24"}


def test_partnership_totals_come_from_lsoa_not_falls_within(demo_run: Path) -> None:
    """Rows a force snapped into the neighbouring force's LSOAs count for the LSOA's partnership."""
    with duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True) as con:
        crossed = con.execute(
            """
            select count(*)
            from intermediate.int_police_street_rows_classified c
            join staging.stg_geography__lsoas g on g.lsoa_code = c.lsoa_code
            join staging.stg_geography__region_partnerships p on p.partnership_code = g.partnership_code
            where c.row_status = 'counted'
              and lower(split_part(p.pfa_name, ' ', 1)) <> split_part(c.agency, '_', 1)
            """
        ).fetchone()[0]
    assert crossed > 0


def test_every_audit_table_and_column_carries_its_description(demo_run: Path) -> None:
    """persist_docs: an analyst sees each mart's and column's description in any DuckDB client."""
    with duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True) as con:
        relations = con.execute(
            "select table_name, comment from duckdb_tables() where schema_name = 'audit' "
            "union all select view_name, comment from duckdb_views() where schema_name = 'audit'"
        ).fetchall()
        bare = con.execute(
            "select table_name || '.' || column_name from duckdb_columns() "
            "where schema_name = 'audit' and coalesce(comment, '') = ''"
        ).fetchall()
        raw_police = con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' and table_name like 'police%'"
        ).fetchall()
    assert len(relations) >= 27 and all((c or "").strip() for _, c in relations), relations
    assert {"target_progress", "target_checks", "reconciliation", "quarantined_rows"} <= {
        r for r, _ in relations
    }
    assert bare == []
    assert raw_police == []  # police.uk shares raw.deliveries and raw.ds__police_uk_street with every dataset
