"""police.uk discovery and strict parsing: a malformed file is rejected with file, line and rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from csp_audit.sources.police_uk import HEADER, FileRejected, discover, read_delivery

HEAD = ",".join(HEADER)
ROW = "abc,2019-01,Gwent Police,Gwent Police,-3.1,51.7,On or near X,W01001440,Blaenau Gwent 001A,Burglary,Under investigation,"
ASB = ",2019-01,Gwent Police,Gwent Police,,,No Location,,,Anti-social behaviour,,"


def _write(tmp_path: Path, content: bytes | str, name: str = "2019-01/2019-01-gwent-street.csv") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_discover_archive_layout(tmp_path: Path) -> None:
    _write(tmp_path, HEAD + "\n")
    _write(tmp_path, HEAD + "\n", "2019-02/2019-02-city-of-london-street.csv")
    _write(tmp_path, "x", "2019-02/2019-02-city-of-london-outcomes.csv")
    _write(tmp_path, "x", "2019-02/notes-street.csv")
    found = discover(tmp_path)
    assert [(f.source_file, f.period, f.force) for f in found] == [
        ("2019-01/2019-01-gwent-street.csv", "2019-01", "gwent"),
        ("2019-02/2019-02-city-of-london-street.csv", "2019-02", "city-of-london"),
    ]
    assert all(len(f.sha256) == 64 for f in found)


def test_discover_skips_links_out_of_the_root(tmp_path: Path) -> None:
    outside = _write(tmp_path, HEAD + "\n", "elsewhere/2019-01-gwent-street.csv")
    root = tmp_path / "root"
    (root / "2019-01").mkdir(parents=True)
    (root / "2019-01" / "2019-01-gwent-street.csv").symlink_to(outside)
    assert discover(root) == []


def test_reads_rows_with_numbers(tmp_path: Path) -> None:
    frame = read_delivery(_write(tmp_path, f"{HEAD}\n{ROW}\n{ASB}\n"), "f.csv")
    assert list(frame.columns) == ["row_number", *HEADER]
    assert frame["row_number"].tolist() == [1, 2]
    assert frame.loc[1, "Crime ID"] == ""


def test_bom_crlf_quotes_and_embedded_newlines_are_accepted(tmp_path: Path) -> None:
    quoted = ROW.replace("On or near X", '"On or near ""The Mall"",\nLondon"')
    frame = read_delivery(_write(tmp_path, ("\ufeff" + f"{HEAD}\r\n{quoted}\r\n{ASB}\r\n").encode()), "f.csv")
    assert len(frame) == 2
    assert frame.loc[0, "Location"] == 'On or near "The Mall",\nLondon'


@pytest.mark.parametrize(
    ("content", "line", "rule"),
    [
        (b"", 1, "header_present"),
        (f"{HEAD},Extra\n{ROW}\n".encode(), 1, "header_matches_police_uk"),
        (f"{HEAD}\n{ROW}\n{ROW},extra\n".encode(), 3, "field_count"),
        (f"{HEAD}\n{ROW}\n{ASB}\nshort,row\n".encode(), 4, "field_count"),
        (f"{HEAD}\n{ROW}\n".encode() + "caf\u00e9".encode("latin-1") + b"\n", 3, "utf8_encoding"),
        (f'{HEAD}\n{ROW}\n"unclosed,2019-01\n'.encode(), 3, "csv_syntax"),
    ],
)
def test_malformed_files_are_rejected_with_line_and_rule(
    tmp_path: Path, content: bytes, line: int, rule: str
) -> None:
    with pytest.raises(FileRejected) as caught:
        read_delivery(_write(tmp_path, content), "2019-01/2019-01-gwent-street.csv")
    assert (caught.value.line, caught.value.rule) == (line, rule)
    assert "2019-01/2019-01-gwent-street.csv" in str(caught.value)
