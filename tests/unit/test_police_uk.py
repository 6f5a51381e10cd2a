"""police.uk discovery and strict reading in DuckDB: a malformed file is rejected with file, line and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from csp_audit.plan.model import Agency, Cycle, DataPlan
from csp_audit.plan.periods import Month
from csp_audit.quality.strict_csv import FileRejected
from csp_audit.sources.police_uk import HEADER, agency_of, discover, parse_file_name, read_file

HEAD = ",".join(HEADER)
ROW = "abc,2019-01,Gwent Police,Gwent Police,-3.1,51.7,On or near X,W01001440,Blaenau Gwent 001A,Burglary,Under investigation,"
ASB = ",2019-01,Gwent Police,Gwent Police,,,No Location,,,Anti-social behaviour,,"


def _write(tmp_path: Path, content: bytes | str, name: str = "2019-01/2019-01-gwent-street.csv") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_the_one_parser_of_file_names() -> None:
    assert parse_file_name("2019-01-gwent-street.csv") == ("2019-01", "gwent")
    assert parse_file_name("x/2019-02/2019-02-city-of-london-street.csv") == ("2019-02", "city-of-london")
    for name in ("2019-13-gwent-street.csv", "2019-01-Gwent-street.csv", "2019-01-gwent-outcomes.csv",
                 "2019-01-gwent-street.csv.exe", "notes-street.csv"):  # fmt: skip
        assert parse_file_name(name) is None, name


def test_discover_archive_layout(tmp_path: Path) -> None:
    _write(tmp_path, HEAD + "\n")
    _write(tmp_path, HEAD + "\n", "2019-02/2019-02-city-of-london-street.csv")
    _write(tmp_path, "x", "2019-02/2019-02-city-of-london-outcomes.csv")
    _write(tmp_path, "x", "2019-02/notes-street.csv")
    found = discover(tmp_path)
    assert [(f.source_file, f.dataset, f.period, f.agency) for f in found] == [
        ("2019-01/2019-01-gwent-street.csv", "police_uk_street", "2019-01", "gwent"),
        ("2019-02/2019-02-city-of-london-street.csv", "police_uk_street", "2019-02", "city-of-london"),
    ]
    assert all(len(f.sha256) == 64 and f.size == len(HEAD) + 1 for f in found)


def test_a_force_is_the_plan_agency_that_publishes_it() -> None:
    agencies = {
        "gwent_police": Agency("gwent_police", "Gwent Police", "police", "x@y", ("W14000001",)),
        "gwent_fire": Agency("gwent_fire", "Gwent Fire", "fire_and_rescue", "x@y", ("W14000001",)),
        "north": Agency("north", "North Wales Police", "police", "x@y", ("W14000002",)),
    }
    plan = DataPlan("p", Path("p.yaml"), Path("r.yaml"), Cycle(Month(2019, 4), 12), agencies, {})
    assert agency_of(plan, "gwent") == "gwent_police"
    assert agency_of(plan, "north-wales") == "north"
    assert agency_of(plan, "north") == "north"  # "north-wales-police" starts with "north-"
    assert agency_of(plan, "dyfed-powys") == "dyfed-powys"  # no agency: the force itself
    assert agency_of(None, "gwent") == "gwent"


def test_discover_skips_links_out_of_the_root(tmp_path: Path) -> None:
    outside = _write(tmp_path, HEAD + "\n", "elsewhere/2019-01-gwent-street.csv")
    root = tmp_path / "root"
    (root / "2019-01").mkdir(parents=True)
    (root / "2019-01" / "2019-01-gwent-street.csv").symlink_to(outside)
    assert discover(root) == []


def test_reads_rows_with_numbers(tmp_path: Path) -> None:
    rows = read_file(_write(tmp_path, f"{HEAD}\n{ROW}\n{ASB}\n"), "f.csv")
    assert list(rows[0]) == ["row_number", *HEADER]
    assert [r["row_number"] for r in rows] == [1, 2]
    assert rows[1]["Crime ID"] is None  # an empty field is a missing value
    assert rows[0]["LSOA code"] == "W01001440"


def test_bom_crlf_quotes_and_embedded_newlines_are_accepted(tmp_path: Path) -> None:
    quoted = ROW.replace("On or near X", '"On or near ""The Mall"",\nLondon"')
    rows = read_file(_write(tmp_path, ("\ufeff" + f"{HEAD}\r\n{quoted}\r\n{ASB}\r\n").encode()), "f.csv")
    assert len(rows) == 2
    assert rows[0]["Location"] == 'On or near "The Mall",\nLondon'
    assert rows[0]["Crime ID"] == "abc"  # the byte-order mark is not glued to the first value


@pytest.mark.parametrize(
    ("content", "line", "rule"),
    [
        (b"", 1, "header_present"),
        (f"{HEAD},Extra\n{ROW}\n".encode(), 1, "header_matches_police_uk"),
        (f"{HEAD}\n{ROW}\n{ROW},extra\n".encode(), 3, "field_count"),
        (f"{HEAD}\n{ROW}\n{ASB}\nshort,row\n".encode(), 4, "field_count"),
        (f"{HEAD}\n{ROW}\n".encode() + "caf\u00e9".encode("latin-1") + b"\n", 3, "utf8_encoding"),
        (f'{HEAD}\n{ROW}\n"unclosed,2019-01\n'.encode(), 3, "csv_syntax"),
        (f"{HEAD}\n{ROW}\n\r\n{ASB}\n".encode(), 3, "csv_syntax"),  # line endings DuckDB cannot follow
    ],
)
def test_malformed_files_are_rejected_with_line_and_rule(
    tmp_path: Path, content: bytes, line: int, rule: str
) -> None:
    with pytest.raises(FileRejected) as caught:
        read_file(_write(tmp_path, content), "2019-01/2019-01-gwent-street.csv")
    assert (caught.value.line, caught.value.rule) == (line, rule)
    assert "2019-01/2019-01-gwent-street.csv" in str(caught.value)


def test_a_broken_file_in_a_batch_refuses_only_itself(tmp_path: Path) -> None:
    """Several files are read in one DuckDB call; one DuckDB cannot read at all does not take the rest down."""
    import duckdb
    from csp_audit.quality.strict_csv import CsvFile, read_files

    good = _write(tmp_path, f"{HEAD}\n{ROW}\n{ASB}\n", "a.csv")
    utf16 = _write(tmp_path, "\ufeff".encode("utf-16-le") + f"{HEAD}\n{ROW}\n".encode("utf-16-le"), "b.csv")
    mixed = _write(tmp_path, f"{HEAD}\n\n{ROW}\n\r\n{ASB}\n", "c.csv")
    ragged = _write(tmp_path, f"{HEAD}\n{ROW},x\n", "d.csv")
    con = duckdb.connect()
    files = [CsvFile(i, p, p.name) for i, p in enumerate((good, utf16, mixed, ragged))]
    refused = read_files(con, "batch", files, HEADER, rule_prefix="police_uk")
    assert {i: (r.rule, r.line) for i, r in refused.items()} == {
        1: ("utf8_encoding", 1), 2: ("csv_syntax", 4), 3: ("field_count", 2)
    }  # fmt: skip
    assert con.execute("select _file, count(*) from batch group by 1").fetchall() == [(0, 2)]
