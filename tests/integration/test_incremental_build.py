"""A warehouse refreshed month by month holds the same marts as one built in one go (issue 15).

The by-month marts (``area_monthly``) rebuild only the months whose harmonised fact changed, and the
by-year ``area_rates`` only the audit years of those months (the two months here straddle a year end). This
builds a region's two police.uk months one refresh at a time, with a Crime ID that reappears in a later
month (its count moves to that month, so the earlier month changes too) and a corrected
re-delivery written over a month already built, then builds the final landing into a fresh
warehouse in one run and compares a checksum of every mart. Each refresh's record of what it
rebuilt (``intermediate.area_monthly__built_from``) shows the by-month path was taken.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli
from csp_audit_demo.region import generate_demo_region
from test_end_to_end import table_checksums


def _run(region: Path, warehouse: Path) -> None:
    proc = run_cli("run", "--region", str(region / "region.yaml"), "--warehouse", str(warehouse))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def _rebuilt(
    warehouse: Path, mart: str = "area_monthly", kind: str = "month", column: str = '"month"'
) -> set[str]:
    """The periods (YYYY-MM) the last build rebuilt in a mart built by month (or, for area_rates, by year)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            f"select strftime({column}, '%Y-%m') from intermediate.{mart}__built_from "  # noqa: S608
            "where kind = ? and rebuilt",
            [kind],
        ).fetchall()
    return {r[0] for r in rows}


def _rebuilt_years(warehouse: Path) -> set[str]:
    return _rebuilt(warehouse, "area_rates", "year", "period_start")


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("incremental")
    # March and April: the two months fall in two audit years (2021/22 and 2022/23)
    generate_demo_region(out, months=2, scale=0.2, start_month="2022-03")
    return out


def test_month_by_month_refreshes_equal_one_full_build(region: Path, tmp_path: Path) -> None:
    police = region / "police"
    months = sorted(p.name for p in police.iterdir() if p.is_dir())
    assert len(months) == 2
    held = tmp_path / "not-yet-published"
    held.mkdir()
    for month in months[1:]:
        shutil.move(police / month, held / month)
    warehouse = tmp_path / "incremental.duckdb"

    _run(region, warehouse)  # month 1 alone
    assert _rebuilt(warehouse) == {months[0]}
    assert _rebuilt_years(warehouse) == {"2021-04"}

    # month 2 arrives, and one of month 1's crimes reappears in it with a later outcome: the crime
    # now counts in month 2, so month 1 changes although nothing was delivered for it
    shutil.move(held / months[1], police / months[1])
    first = sorted((police / months[0]).glob("*-street.csv"))[0]
    force = first.name.removeprefix(f"{months[0]}-")
    second = police / months[1] / f"{months[1]}-{force}"
    rows = list(csv.DictReader(io.StringIO(first.read_text())))
    crime = next(r for r in rows if r["Crime ID"] and r["LSOA code"])
    moved = dict(crime, Month=months[1], **{"Last outcome category": "Offender given a caution"})
    with second.open("a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=list(crime)).writerow(moved)
    _run(region, warehouse)
    assert months[0] in _rebuilt(warehouse), "the month the crime left was rebuilt"
    assert _rebuilt_years(warehouse) == {"2021-04", "2022-04"}

    # month 2 is corrected in place: half its rows withdrawn, none of them a crime that also
    # appears in month 1 (withdrawing one would change month 1 again)
    in_first = {r["Crime ID"] for r in rows if r["Crime ID"]}
    lines = second.read_text().splitlines(keepends=True)
    body = list(csv.reader(lines[1:]))
    column = next(csv.reader(lines[:1])).index("Crime ID")
    withdrawable = [i for i, r in enumerate(body) if r[column] not in in_first]
    withdrawn = set(withdrawable[: len(withdrawable) // 2])
    assert len(withdrawn) > 10
    second.write_text(lines[0] + "".join(line for i, line in enumerate(lines[1:]) if i not in withdrawn))
    _run(region, warehouse)
    assert _rebuilt(warehouse) == {months[1]}, "month 1 was unchanged and kept"
    assert _rebuilt_years(warehouse) == {"2022-04"}, "only the corrected month's audit year was rebuilt"

    fresh = tmp_path / "full.duckdb"
    _run(region, fresh)
    assert _rebuilt(fresh) == set(months) and _rebuilt_years(fresh) == {"2021-04", "2022-04"}
    # audit.data_quality counts the deliveries received per period: the refreshed warehouse received
    # month 2 twice (the file and its correction), the fresh one once
    history = "table_schema = 'audit' and table_name = 'data_quality'"
    marts = "table_schema = 'audit' and table_name <> 'data_quality'"
    incremental, full = table_checksums(warehouse, marts), table_checksums(fresh, marts)
    assert len(full) >= 25
    assert incremental == full
    assert table_checksums(warehouse, history) != table_checksums(fresh, history)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        received = con.execute(
            "select period, deliveries from audit.data_quality where agency = ? order by 1",
            [force.removesuffix("-street.csv")],
        ).fetchall()
    assert received == [(months[0], 1), (months[1], 2)]
