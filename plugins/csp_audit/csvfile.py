"""Strict CSV reading shared by every delivery format.

A file that is not structurally sound (not UTF-8, a header other than the contract's, a record
with the wrong number of fields, broken quoting) is rejected whole with the file, the line and the
rule, so it can never half-load. Field-level problems are left to the Great Expectations suites,
which quarantine single rows. Values stay strings: typing is the staging models' job.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

BOM = "\ufeff"
# A field longer than this is refused rather than loaded (csv's default limit is 128 KiB too).
MAX_FIELD = 131_072


class FileRejected(Exception):
    """A delivery that cannot be loaded at all; carries the file, the line and the rule that failed."""

    def __init__(self, source_file: str, line: int, rule: str, detail: str) -> None:
        self.source_file = source_file
        self.line = line
        self.rule = rule
        self.detail = detail
        super().__init__(f"{source_file}, line {line}: rule {rule}: {detail}")


def read_strict_csv(
    path: Path, source_file: str, header: Sequence[str], *, rule_prefix: str = "contract"
) -> pd.DataFrame:
    """Parse a file into string columns named by ``header`` plus ``row_number`` (1 = first record).

    A UTF-8 byte-order mark is tolerated (some exports add one), CRLF line endings and quoted
    fields with embedded newlines are accepted, and blank lines carry no record.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileRejected(
            source_file, line, "utf8_encoding", f"byte 0x{data[exc.start]:02x} is not UTF-8"
        ) from exc
    if text.startswith(BOM):
        text = text[1:]
    if not text.strip():
        raise FileRejected(source_file, 1, "header_present", "the file is empty")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise FileRejected(source_file, line, "csv_syntax", "the file contains NUL bytes")
    csv.field_size_limit(MAX_FIELD)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    expected = tuple(header)
    try:
        found = next(reader)
        if tuple(h.strip() for h in found) != expected:
            raise FileRejected(
                source_file,
                1,
                f"header_matches_{rule_prefix}",
                f"expected {','.join(expected)!r}, found {','.join(found)[:300]!r}",
            )
        width = len(expected)
        for record in reader:
            if len(record) != width:
                if not record:
                    continue
                raise FileRejected(
                    source_file,
                    reader.line_num,
                    "field_count",
                    f"expected {width} fields, found {len(record)}",
                )
            rows.append(record)
    except csv.Error as exc:
        raise FileRejected(source_file, reader.line_num, "csv_syntax", str(exc)) from exc
    frame = pd.DataFrame(rows, columns=list(expected), dtype="string")
    frame.insert(0, "row_number", pd.RangeIndex(1, len(rows) + 1, dtype="int64"))
    return frame
