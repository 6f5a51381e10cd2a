"""Strict CSV reading in DuckDB, for every dataset: a delivery loads whole or not at all.

DuckDB's CSV reader parses the files (several per call), with every column read as text in the
order the data contract gives (typing is the staging models' job) and ``strict_mode`` on, so a record
with the wrong number of fields, an unclosed quote or bytes that are not UTF-8 is kept aside in its
rejects tables with the file and the line. A file with any such record is refused whole, naming the
file, the line and the rule; nothing of it reaches the batch the gate validates. The header is read as
the first record and compared with the contract's names in SQL, as are NUL bytes.

Python looks at the bytes of a refused file only, to name the rule the way a person fixes it (the first
byte that is not UTF-8, an empty file, a NUL byte, mixed line endings), and never at the rows of a file
that reads cleanly.

Rules (what a refusal names):

- ``utf8_encoding``: a byte sequence that is not UTF-8 (a UTF-8 byte-order mark is fine);
- ``header_present``: the file is empty (or only white space);
- ``header_matches_<format>``: the first record is not the contract's column names, in order;
- ``field_count``: a record with more or fewer fields than the header;
- ``csv_syntax``: broken quoting, a NUL byte, a record over :data:`MAX_RECORD` bytes, or line
  endings that change within the file.

Blank lines carry no record, CRLF and LF (and CR) line endings are all accepted, and quoted fields may
hold commas, doubled quotes and line breaks.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

BOM = b"\xef\xbb\xbf"
# A record (one line, or several when a quoted field holds line breaks) longer than this is refused:
# no delivery format has records near it, and it bounds what one bad file can make the reader hold.
MAX_RECORD = 1 << 20
_GLOB = re.compile(r"[*?\[\]{}]")
_FOUND = re.compile(r"Found:\s*(\d+)")
_LINE = re.compile(r"Line:\s*(\d+)")
_ENCODING, _LINE_SIZE, _QUOTE = "INVALID ENCODING", "LINE SIZE OVER MAXIMUM", "UNQUOTED VALUE"
_COLUMN_COUNT = ("MISSING COLUMNS", "TOO MANY COLUMNS")


class FileRejected(Exception):
    """A delivery that cannot be loaded at all; carries the file, the line and the rule that failed."""

    def __init__(self, source_file: str, line: int, rule: str, detail: str) -> None:
        self.source_file = source_file
        self.line = line
        self.rule = rule
        self.detail = detail
        super().__init__(f"{source_file}, line {line}: rule {rule}: {detail}")


@dataclass(frozen=True)
class CsvFile:
    """One delivered file to read: ``index`` identifies it in the batch (column ``_file``)."""

    index: int
    path: Path
    source_file: str


def column_names(count: int) -> list[str]:
    """The reader's positional column names: ``c0``, ``c1`` ..."""
    return [f"c{i}" for i in range(count)]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reader(paths: list[str], width: int, rejects: str) -> str:
    """The ``read_csv`` call: every column text, strict, rejects kept, the header as the first record."""
    columns = ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in column_names(width))
    files = "[" + ", ".join(_literal(p) for p in paths) + "]"
    return (
        f"read_csv({files}, columns = {{{columns}}}, header = false, auto_detect = false, "
        "delim = ',', quote = '\"', escape = '\"', encoding = 'utf-8', strict_mode = true, "
        f"store_rejects = true, rejects_table = '{rejects}_errors', rejects_scan = '{rejects}_scans', "
        f"max_line_size = {MAX_RECORD}, filename = true) with ordinality"
    )


class _Reads:
    """The raw records and rejects of one batch, in temp tables of the connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection, width: int) -> None:
        self.con = con
        self.width = width
        self.calls = 0
        names = ", ".join(f"{c} varchar" for c in column_names(width))
        con.execute(f"create or replace temp table _csv_records (_file bigint, ordinality bigint, {names})")
        con.execute(
            "create or replace temp table _csv_rejects "
            "(_file bigint, line bigint, error_type varchar, message varchar)"
        )
        con.execute("create or replace temp table _csv_paths (_file bigint, path varchar)")
        con.execute("create or replace temp table _csv_files (_file bigint)")

    def read(self, files: list[tuple[int, str]]) -> None:
        """One ``read_csv`` over ``files``; raises duckdb.Error if DuckDB cannot read one of them."""
        self.calls += 1
        rejects = f"_csv_rej{self.calls}"
        self.con.execute("delete from _csv_paths")
        self.con.executemany("insert into _csv_paths values (?, ?)", [list(f) for f in files])
        names = ", ".join(f"r.{c}" for c in column_names(self.width))
        try:
            self.con.execute(
                f"insert into _csv_records select p._file, r.ordinality, {names} "  # noqa: S608 - generated
                f"from {_reader([p for _, p in files], self.width, rejects)} as r "
                "join _csv_paths as p on p.path = r.filename"
            )
            self.con.execute(
                "insert into _csv_rejects select p._file, e.line, e.error_type, e.error_message "  # noqa: S608
                f"from {rejects}_errors as e join {rejects}_scans as s using (scan_id, file_id) "
                "join _csv_paths as p on p.path = s.file_path"
            )
        finally:
            self.con.execute(f"drop table if exists {rejects}_errors")
            self.con.execute(f"drop table if exists {rejects}_scans")


def read_files(
    con: duckdb.DuckDBPyConnection,
    table: str,
    files: Sequence[CsvFile],
    header: Sequence[str],
    *,
    rule_prefix: str = "contract",
    temporary: bool = False,
) -> dict[int, FileRejected]:
    """Read ``files`` into ``table`` (a temporary table with ``temporary``); the files refused, by index.

    ``table`` gets ``_file``, ``row_number`` (1 = the first record after the header) and one text column
    per header name, holding the records of every file that read cleanly and nothing of the others.
    Several files are read in one DuckDB call; when DuckDB cannot read one of them at all, each file is
    read on its own so that only the broken one is refused.
    """
    width = len(header)
    reads = _Reads(con, width)
    con.executemany("insert into _csv_files values (?)", [[f.index] for f in files])
    with tempfile.TemporaryDirectory(prefix="csp-audit-csv-") as links:
        paths = [(f.index, _readable_path(f, Path(links))) for f in files]
        broken: dict[int, str] = {}
        try:
            reads.read(paths)
        except duckdb.Error:
            con.execute("delete from _csv_records")
            con.execute("delete from _csv_rejects")
            for index, path in paths:
                try:
                    reads.read([(index, path)])
                except duckdb.Error as exc:
                    broken[index] = str(exc)
    verdicts = _verdicts(con, header)
    by_index = {f.index: f for f in files}
    refused: dict[int, FileRejected] = {}
    for item in files:
        found = verdicts.get(item.index)
        if item.index in broken or found is not None:
            refused[item.index] = _diagnose(item, header, rule_prefix, found, broken.get(item.index))
    _keep_accepted(con, table, header, [i for i in by_index if i not in refused], temporary=temporary)
    for name in ("_csv_records", "_csv_rejects", "_csv_paths", "_csv_files", "_csv_accepted"):
        con.execute(f"drop table if exists {name}")
    return refused


def _readable_path(item: CsvFile, links: Path) -> str:
    """The path DuckDB is given: a link under a plain name when the real one holds glob characters."""
    path = str(item.path)
    if not _GLOB.search(path):
        return path
    link = links / f"{item.index}.csv"
    os.symlink(item.path, link)
    return str(link)


@dataclass(frozen=True)
class _Found:
    """What SQL found wrong with one file (None where nothing): the first reject and the header."""

    records: int
    reject_line: int | None
    reject_type: str | None
    reject_message: str | None
    encoding_line: int | None
    header_ok: bool | None
    header_text: str | None
    has_nul: bool


def _verdicts(con: duckdb.DuckDBPyConnection, header: Sequence[str]) -> dict[int, _Found]:
    """One row per file with any problem: rejects, a header that differs, NUL bytes, no records."""
    cols = column_names(len(header))
    header_ok = " and ".join(
        f"coalesce(trim(r.{c}, ' \t\r\n'), '') = {_literal(h.strip())}"
        for c, h in zip(cols, header, strict=True)
    )
    nul = " or ".join(f"coalesce(contains({c}, chr(0)), false)" for c in cols)
    shown = "concat_ws(',', " + ", ".join(f"coalesce(r.{c}, '')" for c in cols) + ")"
    rows = con.execute(
        f"""
        with files as (select distinct _file from _csv_files),
        counts as (
            select _file, count(*) as records, min(ordinality) as first_record,
                   bool_or({nul}) as has_nul
            from _csv_records group by _file
        ),
        heads as (
            select r._file, {header_ok} as header_ok, left({shown}, 300) as header_text
            from _csv_records as r join counts as c
                on c._file = r._file and r.ordinality = c.first_record
        ),
        rejects as (
            select _file, min(line) as reject_line, arg_min(error_type, line) as reject_type,
                   arg_min(message, line) as reject_message,
                   min(line) filter (where error_type = '{_ENCODING}') as encoding_line
            from _csv_rejects group by _file
        )
        select f._file, coalesce(c.records, 0), r.reject_line, r.reject_type, r.reject_message,
               r.encoding_line, h.header_ok, h.header_text, coalesce(c.has_nul, false)
        from files as f
        left join counts as c using (_file)
        left join heads as h using (_file)
        left join rejects as r using (_file)
        where r._file is not null or c._file is null or not h.header_ok or c.has_nul
        """  # noqa: S608 - names generated here
    ).fetchall()
    return {row[0]: _Found(*row[1:]) for row in rows}


def _keep_accepted(
    con: duckdb.DuckDBPyConnection, table: str, header: Sequence[str], accepted: list[int], *, temporary: bool
) -> None:
    """The records of the accepted files, the header record left out, as ``table``."""
    con.execute("create or replace temp table _csv_accepted (_file bigint)")
    if accepted:
        con.executemany("insert into _csv_accepted values (?)", [[i] for i in accepted])
    values = ", ".join(
        f"r.{c} as {quote_ident(h)}" for c, h in zip(column_names(len(header)), header, strict=True)
    )
    con.execute(
        f"""
        create or replace {"temp " if temporary else ""}table {table} as
        with firsts as (
            select _file, min(ordinality) as first_record from _csv_records
            where _file in (select _file from _csv_accepted) group by _file
        )
        select r._file, r.ordinality - f.first_record as row_number, {values}
        from _csv_records as r join firsts as f using (_file)
        where r.ordinality > f.first_record
        order by r._file, row_number
        """  # noqa: S608 - names generated here
    )


# ------------------------------------------------------------------------------ naming the rule


def _diagnose(
    item: CsvFile, header: Sequence[str], rule_prefix: str, found: _Found | None, broken: str | None
) -> FileRejected:
    """The refusal of one file, by the rule a person fixes first.

    Whole-file problems first (encoding, empty, NUL bytes: read from the refused file's bytes), then the
    header, then the first record DuckDB refused, then why DuckDB could not read the file at all.
    """
    source = item.source_file
    data = item.path.read_bytes()
    text = data[len(BOM) :] if data.startswith(BOM) else data
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        return FileRejected(source, line, "utf8_encoding", f"byte 0x{text[exc.start]:02x} is not UTF-8")
    if not decoded.strip():
        return FileRejected(source, 1, "header_present", "the file is empty")
    if "\x00" in decoded:
        line = decoded.count("\n", 0, decoded.index("\x00")) + 1
        return FileRejected(source, line, "csv_syntax", "the file contains NUL bytes")
    expected = ",".join(header)
    if found is not None and (
        found.header_ok is False or (found.reject_line == 1 and found.header_ok is None)
    ):
        shown = found.header_text if found.header_text is not None else decoded.splitlines()[0][:300]
        return FileRejected(
            source, 1, f"header_matches_{rule_prefix}", f"expected {expected!r}, found {shown!r}"
        )
    if found is not None and found.reject_line is not None:
        kind, message = found.reject_type or "", found.reject_message or ""
        if kind in _COLUMN_COUNT:
            count = _FOUND.search(message)
            detail = f"expected {len(header)} fields, found {count[1] if count else 'another number'}"
            return FileRejected(source, found.reject_line, "field_count", detail)
        if kind == _LINE_SIZE:
            detail = f"a record is longer than {MAX_RECORD} bytes"
        elif kind == _QUOTE:
            detail = "a quoted field is not closed properly (a quote inside it is not doubled)"
        else:
            detail = " ".join(message.split())[:200] or kind.lower()
        return FileRejected(source, found.reject_line, "csv_syntax", detail)
    mixed = _mixed_line_endings(text)
    if mixed is not None:
        return FileRejected(
            source, mixed, "csv_syntax", "line endings change within the file (LF, CRLF or CR)"
        )
    line = _LINE.search(broken or "")
    detail = " ".join((broken or "the file cannot be read as CSV").splitlines()[0].split())[:200]
    return FileRejected(source, int(line[1]) if line else 1, "csv_syntax", detail)


def _mixed_line_endings(data: bytes) -> int | None:
    """The line on which the line ending first differs from the first line's; None when they agree."""
    first = re.search(rb"\r\n|\r|\n", data)
    if first is None:
        return None
    other = {b"\n": rb"\r", b"\r": rb"\n", b"\r\n": rb"(?<!\r)\n|\r(?!\n)"}[first[0]]
    found = re.search(other, data)
    if found is None:
        return None
    return len(re.findall(rb"\r\n|\r|\n", data[: found.start()])) + 1


def read_one(
    path: Path, source_file: str, header: Sequence[str], *, rule_prefix: str = "contract"
) -> list[dict[str, Any]]:
    """One file read exactly as the gate reads it: its records as dicts (``row_number`` and each header
    name; an empty field is None), or FileRejected. For checks and tools, never for the data path."""
    con = duckdb.connect()
    try:
        refused = read_files(
            con, "_one", [CsvFile(0, Path(path), source_file)], header, rule_prefix=rule_prefix
        )
        if refused:
            raise refused[0]
        names = ["row_number", *header]
        columns = ", ".join(quote_ident(n) for n in names)
        rows = con.execute(f"select {columns} from _one order by row_number").fetchall()  # noqa: S608
        return [dict(zip(names, row, strict=True)) for row in rows]
    finally:
        con.close()
