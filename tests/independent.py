"""An independent reading of police.uk files and ONS lookups, written for the tests only.

It re-implements the documented counting rules in plain Python (csv module, dicts) so that the
pipeline's SQL is checked against a second, simple implementation rather than against itself.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

UNINFORMATIVE = {"", "Status update unavailable"}
STREET = re.compile(r"^(\d{4}-\d{2})-(.+)-street\.csv$")


def _columns(header: list[str], pattern: str) -> int:
    hits = [
        i for i, h in enumerate(header) if re.fullmatch(pattern, h.strip().lstrip("\ufeff"), re.IGNORECASE)
    ]
    assert len(hits) == 1, (pattern, header)
    return hits[0]


def lsoa_to_csp(lsoa_lookup: Path, partnership_lookup: Path) -> dict[str, str | None]:
    """LSOA -> CSP code; None where the LAD is split between several CSPs (outside the tested regions)."""
    with partnership_lookup.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    lad, csp = _columns(rows[0], r"lad\d\dcd"), _columns(rows[0], r"csp\d\dcd")
    lad_csps: dict[str, set[str]] = {}
    for r in rows[1:]:
        lad_csps.setdefault(r[lad], set()).add(r[csp])
    with lsoa_lookup.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    lsoa, lad2 = _columns(rows[0], r"lsoa\d\dcd"), _columns(rows[0], r"lad\d\dcd")
    out: dict[str, str | None] = {}
    for r in rows[1:]:
        csps = lad_csps[r[lad2]]
        out[r[lsoa]] = next(iter(csps)) if len(csps) == 1 else None
    return out


@dataclass
class Tally:
    """Per-file row accounting and counted incidents per (csp, month, crime type)."""

    files: dict[str, Counter[str]] = field(default_factory=dict)
    counted: Counter[tuple[str, str, str]] = field(default_factory=Counter)


def count(police_root: Path, lsoa_csp: dict[str, str | None], region: set[str]) -> Tally:
    tally = Tally()
    rows = []
    for path in sorted(police_root.rglob("*-street.csv")):
        match = STREET.match(path.name)
        if not match:
            continue
        rel = path.relative_to(police_root).as_posix()
        tally.files[rel] = Counter()
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            for n, row in enumerate(reader, 1):
                rows.append((rel, n, match[2], row))
    # quarantine: LSOA codes unknown to the lookup (the demo and real data have no other bad rows)
    best: dict[tuple[str, str], tuple] = {}
    verdict: dict[tuple[str, int], str] = {}
    for rel, n, force, row in rows:
        lsoa = row["LSOA code"].strip()
        if lsoa and lsoa not in lsoa_csp:
            verdict[(rel, n)] = "quarantined"
            continue
        crime_id = row["Crime ID"].strip()
        if not crime_id:
            continue
        key = (force, crime_id)
        rank = (lsoa == "", row["Last outcome category"].strip() in UNINFORMATIVE,
                -int(row["Month"].replace("-", "")), rel, n)  # fmt: skip
        if key not in best or rank < best[key][0]:
            if key in best:
                verdict[best[key][1]] = "duplicate"
            best[key] = (rank, (rel, n))
        else:
            verdict[(rel, n)] = "duplicate"
    for rel, n, _force, row in rows:
        status = verdict.get((rel, n))
        if status is None:
            lsoa = row["LSOA code"].strip()
            if not lsoa:
                status = "unlocated"
            elif lsoa_csp[lsoa] not in region:
                status = "outside_region"
            else:
                status = "counted"
                tally.counted[(lsoa_csp[lsoa], row["Month"].strip(), row["Crime type"].strip())] += 1
        tally.files[rel][status] += 1
    return tally
