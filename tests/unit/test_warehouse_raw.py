"""The raw layer: one set of tables for every dataset, and warehouses of earlier versions brought up to it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from csp_audit import warehouse
from csp_audit.sources.police_uk import HEADER

LEGACY_DDL = """
create schema raw;
create table raw.police_deliveries (sha256 varchar primary key, source_file varchar not null, period varchar not null,
    force varchar not null, size_bytes bigint not null, rows_read bigint not null, loaded_at timestamp not null,
    superseded_by varchar);
create table raw.police_street_rows (_sha256 varchar not null, _source_file varchar not null,
    _row_number bigint not null, _loaded_at timestamp not null, "Crime ID" varchar, "Month" varchar,
    "Reported by" varchar, "Falls within" varchar, "Longitude" varchar, "Latitude" varchar, "Location" varchar,
    "LSOA code" varchar, "LSOA name" varchar, "Crime type" varchar, "Last outcome category" varchar, "Context" varchar);
create table raw.police_file_validations (sha256 varchar primary key, source_file varchar not null,
    suite varchar not null, suite_fingerprint varchar not null, outcome varchar not null, rows_read bigint,
    rule varchar, line bigint, detail varchar, warnings varchar, validated_at timestamp not null,
    received_at timestamp);
create table raw.police_row_failures (sha256 varchar not null, row_number bigint not null, rule varchar not null);
create table raw.plan_police_agencies (force_slug varchar, agency varchar);
"""


def _legacy(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(LEGACY_DDL)
        con.execute("insert into raw.plan_police_agencies values ('gwent', 'gwent_police')")
        for sha, source, force, outcome, rows in (
            ("a" * 64, "2019-01/2019-01-gwent-street.csv", "gwent", "accepted", 2),
            ("b" * 64, "2019-01/2019-01-dyfed-powys-street.csv", "dyfed-powys", "accepted", 1),
            ("c" * 64, "2019-02/2019-02-gwent-street.csv", "gwent", "rejected", None),
        ):
            con.execute(
                "insert into raw.police_file_validations values (?, ?, 'police_uk_street', 'fp', ?, ?, null, null, "
                "null, null, timestamp '2019-03-01 10:00', timestamp '2019-02-20 09:00')",
                [sha, source, outcome, rows],
            )
            if outcome == "accepted":
                con.execute(
                    "insert into raw.police_deliveries values (?, ?, ?, ?, 100, ?, timestamp '2019-03-01 10:01', null)",
                    [sha, source, source[:7], force, rows],
                )
                for n in range(1, rows + 1):
                    values = ["", source[:7], "X", "X", "", "", "No Location", "", "", "Burglary", "", ""]
                    marks = ", ".join("?" for _ in HEADER)
                    insert = f"insert into raw.police_street_rows values (?, ?, ?, timestamp '2019-03-01 10:01', {marks})"  # noqa: S608
                    con.execute(insert, [sha, source, n, *values])
        con.execute("insert into raw.police_row_failures values (?, 2, 'lsoa_code_format')", ["a" * 64])


def test_a_warehouse_of_an_earlier_version_moves_its_police_data_into_the_shared_tables(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    _legacy(path)
    with warehouse.connect(path) as con:  # opening it for writing brings it up to date
        tables = {r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}  # fmt: skip
        deliveries = con.execute(
            "select sha256, dataset, agency, period, rows_read, received_at from raw.deliveries order by 1"
        ).fetchall()
        verdicts = con.execute(
            "select sha256, agency, period, outcome, suite_fingerprint from raw.delivery_validations order by 1"
        ).fetchall()
        rows = con.execute(
            'select _sha256, _row_number, "Crime ID", "Crime type" from raw.ds__police_uk_street order by 1, 2'
        ).fetchall()
        failures = con.execute("select * from raw.delivery_row_failures").fetchall()
    assert not {t for t in tables if t.startswith("police_")} and "plan_police_agencies" not in tables
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    assert [d[:5] for d in deliveries] == [
        (a, "police_uk_street", "gwent_police", "2019-01", 2),  # the plan agency that publishes the force
        (b, "police_uk_street", "dyfed-powys", "2019-01", 1),  # no agency named: the force itself
    ]
    assert str(deliveries[0][5]) == "2019-02-20 09:00:00"  # when it arrived, kept
    assert verdicts == [(a, "gwent_police", "2019-01", "accepted", "fp"), (b, "dyfed-powys", "2019-01", "accepted", "fp"),
                        (c, "gwent_police", "2019-02", "rejected", "fp")]  # fmt: skip
    assert rows == [
        (a, 1, None, "Burglary"),
        (a, 2, None, "Burglary"),
        (b, 1, None, "Burglary"),
    ]  # '' is null now
    assert failures == [(a, 2, "lsoa_code_format")]
    with warehouse.connect(path) as con:  # and again: nothing moves twice
        assert con.execute("select count(*) from raw.deliveries").fetchone() == (2,)


def test_a_delivery_loads_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    delivery = {"sha256": "d" * 64, "dataset": "police_uk_street", "agency": "gwent", "period": "2019-01",
                "source_file": "2019-01/2019-01-gwent-street.csv", "size": 10, "received_at": "2019-02-01T00:00:00"}  # fmt: skip
    columns = list(HEADER)
    rows = "(select 1 as row_number, " + ", ".join(f"'v' as \"{c}\"" for c in HEADER) + ")"
    with warehouse.connect(path) as con:
        warehouse.ensure_dataset_table(con, "police_uk_street", columns)
        with pytest.raises(RuntimeError, match="1 rows to load but the gate read 2; nothing loaded"):
            warehouse.load_delivery(con, delivery=delivery, columns=columns, rows=(rows, []), rows_read=2)
        assert con.execute("select count(*) from raw.deliveries").fetchone() == (0,)
        assert con.execute("select count(*) from raw.ds__police_uk_street").fetchone() == (0,)
        assert warehouse.load_delivery(con, delivery=delivery, columns=columns, rows=(rows, []), rows_read=1)
        assert not warehouse.load_delivery(
            con, delivery=delivery, columns=columns, rows=(rows, []), rows_read=1
        )
        assert con.execute("select count(*) from raw.ds__police_uk_street").fetchone() == (1,)
