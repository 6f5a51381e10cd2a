"""police.uk street-level crime: the format, its file names and discovery in the archive layout.

police.uk publishes one CSV per force and month as ``YYYY-MM/YYYY-MM-<force>-street.csv``. In the
pipeline it is the dataset ``police_uk_street`` of the data plan, ingested like every other dataset;
what is particular to it lives here: the fixed columns, the one parser of its file names, where its
files are found (the region's ``sources.police_uk`` folder, searched recursively), and which agency
of the plan publishes each force's files.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from csp_audit.plan.model import Column, DataPlan, Dataset, Geography, Sharing
from csp_audit.sources.delivery import Delivery, content_hash

DATASET = "police_uk_street"
FORMAT = "police_uk"  # names the header rule: header_matches_police_uk
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


def parse_file_name(name: str) -> tuple[str, str] | None:
    """(period, force slug) of a street file's name (the last path component), or None."""
    match = FILE_NAME.match(name.rsplit("/", 1)[-1])
    return (match["period"], match["force"]) if match else None


def street_file_name(period: str, force: str) -> str:
    return f"{period}-{force}-street.csv"


def contract(agencies: tuple[str, ...] = ()) -> Dataset:
    """The data contract of police.uk street files (what a region without a plan ingests)."""
    optional = {
        "Crime ID",
        "Longitude",
        "Latitude",
        "LSOA code",
        "LSOA name",
        "Last outcome category",
        "Context",
    }
    types = {"Month": "month", "Longitude": "number", "Latitude": "number", "LSOA code": "code"}
    return Dataset(
        id=DATASET,
        agencies=agencies,
        description="Street-level crime and anti-social behaviour records in the police.uk format, "
        "one file per force and month.",
        format="csv",
        columns=tuple(Column(name, types.get(name, "string"), name not in optional) for name in HEADER),
        geography=Geography("lsoa", 2011),
        time_grain="record",
        cadence="monthly",
        due_day=15,
        partnerships=None,
        sharing=Sharing(level="record", retention_months=36),
    )


def agency_of(plan: DataPlan | None, force: str) -> str:
    """The plan agency that publishes a force's files (a police agency whose name starts with the
    force, as police.uk spells it), or the force slug itself when the plan has none."""
    if plan is not None:
        for agency in plan.agencies.values():
            slug = re.sub(r"[^a-z0-9]+", "-", agency.name.lower()).strip("-")
            if agency.type == "police" and (slug == force or slug.startswith(force + "-")):
                return agency.id
    return force


def discover(root: Path, plan: DataPlan | None = None) -> list[Delivery]:
    """Every ``YYYY-MM-<force>-street.csv`` under root (recursively), sorted by path.

    Outcome and stop-and-search files that sit beside them in the archive are ignored by name.
    Symbolic links that point outside the root are skipped so a source folder cannot be used to
    read arbitrary files.
    """
    root = root.resolve()
    found: list[Delivery] = []
    for path in sorted(root.rglob("*-street.csv")):
        parsed = parse_file_name(path.name)
        if parsed is None or not path.is_file():
            continue
        real = path.resolve()
        if not real.is_relative_to(root):
            continue
        period, force = parsed
        sha256, size = content_hash(real)
        found.append(
            Delivery(
                sha256=sha256,
                dataset=DATASET,
                agency=agency_of(plan, force),
                period=period,
                source_file=path.relative_to(root).as_posix(),
                size=size,
                received_at=datetime.fromtimestamp(real.stat().st_mtime, UTC)
                .replace(tzinfo=None)
                .isoformat(timespec="seconds"),
                path=str(real),
            )
        )
    return found


def read_file(path: Path, source_file: str) -> list[dict[str, object]]:
    """One street file read as the gate reads it (rows as dicts, or FileRejected naming line and rule)."""
    from csp_audit.quality.strict_csv import read_one

    return read_one(path, source_file, HEADER, rule_prefix=FORMAT)
