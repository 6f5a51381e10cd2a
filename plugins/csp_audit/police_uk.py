"""The police.uk street-level crime format: discovery in the archive layout and strict parsing.

police.uk publishes one CSV per force and month as ``YYYY-MM/YYYY-MM-<force>-street.csv``. A file
that is not structurally sound (wrong encoding, wrong header, a record with the wrong number of
fields) is rejected whole with the file, line and rule, so it can never half-load; field-level
problems are left to the Great Expectations suite, which quarantines single rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

HEADER: tuple[str, ...] = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
FILE_NAME = re.compile(r"^(?P<period>\d{4}-(0[1-9]|1[0-2]))-(?P<force>[a-z0-9][a-z0-9-]*)-street\.csv$")
BOM = "\ufeff"
_HASH_CHUNK = 1 << 20


class FileRejected(Exception):
    """A delivery that cannot be loaded at all; carries the file, the line and the rule that failed."""

    def __init__(self, source_file: str, line: int, rule: str, detail: str) -> None:
        self.source_file = source_file
        self.line = line
        self.rule = rule
        self.detail = detail
        super().__init__(f"{source_file}, line {line}: rule {rule}: {detail}")


@dataclass(frozen=True)
class PoliceFile:
    """One discovered force-month file; ``source_file`` is relative to the source root, so it is stable."""

    path: str
    source_file: str
    period: str
    force: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def sha256_of(path: Path) -> str:
    """Content hash: the identity of a delivery, so renamed or re-sent files are recognised."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def discover(root: Path) -> list[PoliceFile]:
    """Every ``YYYY-MM-<force>-street.csv`` under root (recursively), sorted by path.

    Outcome and stop-and-search files that sit beside them in the archive are ignored by name.
    Symbolic links that point outside the root are skipped so a landing folder cannot be used
    to read arbitrary files.
    """
    root = root.resolve()
    found: list[PoliceFile] = []
    for path in sorted(root.rglob("*-street.csv")):
        match = FILE_NAME.match(path.name)
        if not match or not path.is_file():
            continue
        real = path.resolve()
        if not real.is_relative_to(root):
            continue
        found.append(
            PoliceFile(
                path=str(real),
                source_file=path.relative_to(root).as_posix(),
                period=match["period"],
                force=match["force"],
                size=real.stat().st_size,
                sha256=sha256_of(real),
            )
        )
    return found


def read_delivery(path: Path, source_file: str) -> pd.DataFrame:
    """Parse one file strictly into string columns plus ``row_number`` (1 = first data record).

    Raises FileRejected naming the line and rule for: bytes that are not UTF-8, a header other
    than the 12 police.uk columns, a record with the wrong field count, or CSV syntax errors. A
    UTF-8 byte-order mark is tolerated (some exports add one) and CRLF line endings are accepted.
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
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    try:
        header = next(reader)
        if tuple(h.strip() for h in header) != HEADER:
            raise FileRejected(
                source_file,
                1,
                "header_matches_police_uk",
                f"expected {','.join(HEADER)!r}, found {','.join(header)[:300]!r}",
            )
        width = len(HEADER)
        for record in reader:
            if len(record) != width:
                if not record:
                    continue  # a blank line (often the last) carries no record
                raise FileRejected(
                    source_file,
                    reader.line_num,
                    "field_count",
                    f"expected {width} fields, found {len(record)}",
                )
            rows.append(record)
    except csv.Error as exc:
        raise FileRejected(source_file, reader.line_num, "csv_syntax", str(exc)) from exc
    frame = pd.DataFrame(rows, columns=list(HEADER), dtype="string")
    frame.insert(0, "row_number", pd.RangeIndex(1, len(rows) + 1, dtype="int64"))
    return frame
