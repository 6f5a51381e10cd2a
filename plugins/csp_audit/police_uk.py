"""The police.uk street-level crime format: discovery in the archive layout and strict parsing.

police.uk publishes one CSV per force and month as ``YYYY-MM/YYYY-MM-<force>-street.csv``. A file
that is not structurally sound (wrong encoding, wrong header, a record with the wrong number of
fields) is rejected whole with the file, line and rule, so it can never half-load; field-level
problems are left to the Great Expectations suite, which quarantines single rows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from csp_audit.csvfile import FileRejected, read_strict_csv

__all__ = ["HEADER", "FileRejected", "PoliceFile", "discover", "read_delivery", "sha256_of"]

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
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class PoliceFile:
    """One discovered force-month file; ``source_file`` is relative to the source root, so it is stable."""

    path: str
    source_file: str
    period: str
    force: str
    size: int
    sha256: str
    received_at: str = ""  # the file's modification time (UTC, ISO): when it arrived in the folder

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
                received_at=datetime.fromtimestamp(real.stat().st_mtime, UTC)
                .replace(tzinfo=None)
                .isoformat(timespec="seconds"),
            )
        )
    return found


def read_delivery(path: Path, source_file: str) -> pd.DataFrame:
    """Parse one police.uk file strictly (see :func:`csp_audit.csvfile.read_strict_csv`)."""
    return read_strict_csv(path, source_file, HEADER, rule_prefix="police_uk")
