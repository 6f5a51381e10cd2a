"""ONS geography lookups: read them in their real formats and resolve each LSOA to one partnership.

The audit counts crimes per Community Safety Partnership (CSP) from police.uk rows that carry an LSOA code.
The bridge is two ONS Open Geography Portal lookups: LSOA -> ward -> LAD and LAD -> CSP -> PFA.  Those files
are messy in ways that silently corrupt counts if read naively:

* column names carry a vintage (``LSOA11CD``, ``WD19CD``, ``LAD17CD``; sometimes lower case) and the column
  order, the position of ``FID`` and the set of extra columns (``WD18NMW``, ``CHGIND`` ...) change between
  releases, so columns are found by pattern, never by position or exact name;
* some files start with a UTF-8 BOM, and names contain quoted commas ("Bristol, City of");
* the LSOA and LAD -> CSP files must be of the same LAD vintage, otherwise LSOAs of merged or renamed LADs
  find no partnership and drop out of the audit;
* after the 2019 council mergers some LADs straddle several CSPs (the Dec 2019 file lists Bournemouth,
  Christchurch and Poole under three CSPs), so a plain LAD -> CSP join counts their crimes several times.

Every problem is raised as :class:`GeographyError` naming the file, the level or column and the codes, so a
wrong lookup stops the pipeline with a message that says what to fix instead of producing wrong figures.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "GeographyError",
    "Lookup",
    "read_lsoa_lookup",
    "read_partnership_lookup",
    "read_population",
    "resolve_lsoa_partnerships",
    "select_partnerships",
]


class GeographyError(ValueError):
    """A lookup or region that cannot be used; message names the file, the level/column and the codes.

    It subclasses ValueError because every case is bad input data or a bad region choice, never a bug, and
    callers (CLI, Airflow task) report it to the user as it stands.
    """


class UnknownCodes(GeographyError):
    """The region names partnership or force codes its partnership lookup does not have.

    A mistake in the region YAML, not in the lookup: ``key`` names the YAML key so the CLI can exit 2
    pointing at it (the message still names the lookup that was searched).
    """

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


@dataclass(frozen=True)
class Lookup:
    """A parsed ONS lookup in canonical form.

    ``frame`` has canonical column names (``lsoa_code``, ``lad_name`` ...) with every value a ``str``, so
    downstream code never depends on a release's column spelling.  ``vintages`` keeps the two-digit year of
    each level as found in the header (``{"lsoa": "11", "ward": "19", "lad": "19"}``; ``""`` when the header
    has none) because mixing vintages is the most common way to lose or double count LSOAs, and the error
    messages need it.  ``source`` is kept so every later error can name the file.
    """

    frame: pd.DataFrame
    vintages: dict[str, str]
    source: Path


# --------------------------------------------------------------------------------------------------------
# Column detection
# --------------------------------------------------------------------------------------------------------

_LEVEL_PREFIX = {"lsoa": "lsoa", "ward": "wd", "lad": "lad", "csp": "csp", "pfa": "pfa"}
_LEVEL_LABEL = {"lsoa": "LSOA", "ward": "ward", "lad": "LAD", "csp": "CSP", "pfa": "PFA"}
_CODE_RE = re.compile(r"^[A-Z]\d{8}$")
_MAX_LISTED = 10

LSOA_LEVELS = ("lsoa", "ward", "lad")
PARTNERSHIP_LEVELS = ("lad", "csp", "pfa")
RESOLVED_COLUMNS = [
    "lsoa_code",
    "lsoa_name",
    "ward_code",
    "ward_name",
    "lad_code",
    "lad_name",
    "csp_code",
    "csp_name",
    "pfa_code",
    "pfa_name",
    "in_region",
    "resolution",
]


def _pattern(level: str, kind: str) -> re.Pattern[str]:
    """Header pattern of one level's code (``cd``) or name (``nm``) column, vintage digits optional.

    Anchored at both ends so that Welsh-name columns (``WD18NMW``), successor columns (``LADCD_ACTIVE``) and
    other extras never match.
    """
    return re.compile(rf"^{_LEVEL_PREFIX[level]}(\d{{2}})?{kind}$", re.IGNORECASE)


def _short(items: Sequence[str], limit: int = _MAX_LISTED) -> str:
    """Join codes for a message, cut after ``limit`` so a message stays readable for a whole-country error."""
    items = list(items)
    text = ", ".join(items[:limit])
    if len(items) > limit:
        text += f" ... and {len(items) - limit} more"
    return text


@dataclass(frozen=True)
class _Table:
    """Raw CSV content: header, rows as lists of str, and the file line on which each row ends."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]


_COLUMN_NAME = re.compile(r"^[\w .()/&'-]{1,80}$")


def _header_text(header: list[str]) -> str:
    """The header for an error message, only if it reads as column names: a file that is not a lookup
    (a path pointed at the wrong file) must not have its first line copied into logs."""
    if len(header) <= 200 and all(_COLUMN_NAME.match(name) for name in header):
        return ", ".join(header)
    return "a first line that is not a list of column names"


def _read_csv(path: Path) -> _Table:
    """Read a CSV with the csv module so every row keeps its true file line number for error messages.

    ``utf-8-sig`` strips a BOM (the Jan 2017 LAD->CSP->PFA file has one) so that the first column name is
    ``LAD17CD`` and not ``\\ufeffLAD17CD``; quoted commas in names are handled by the csv module.  Values stay
    str and nothing is turned into NaN (the equivalent of ``dtype=str, keep_default_na=False``).
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            for record in reader:
                if not record or all(not field.strip() for field in record):
                    continue  # blank line
                if header is None:
                    header = [name.strip() for name in record]
                    continue
                if len(record) != len(header):
                    raise GeographyError(
                        f"{path}: line {reader.line_num} has {len(record)} fields but the header has "
                        f"{len(header)} ({_header_text(header)})"
                    )
                rows.append(record)
                lines.append(reader.line_num)
    except FileNotFoundError as exc:
        raise GeographyError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise GeographyError(f"{path}: not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise GeographyError(f"{path}: malformed CSV ({exc})") from exc
    if header is None:
        raise GeographyError(f"{path}: empty file, expected a CSV header and data rows")
    if not rows:
        raise GeographyError(f"{path}: header only, no data rows (header: {_header_text(header)})")
    seen: dict[str, str] = {}
    for name in header:
        key = name.lower()
        if key in seen:
            raise GeographyError(f"{path}: header columns {seen[key]!r} and {name!r} repeat the same name")
        seen[key] = name
    return _Table(path, header, rows, lines)


def _find_column(table: _Table, level: str, kind: str, role: str) -> tuple[int, str]:
    """Index and vintage digits of the single column matching a level's pattern.

    A missing column means the file is not the lookup the caller thinks it is (for example an LSOA->LAD
    file passed as the partnership lookup); two candidates (``LAD17CD`` and ``LAD20CD``) mean the level is
    ambiguous.  Both are refused rather than guessed.
    """
    pattern = _pattern(level, kind)
    found = [(i, name) for i, name in enumerate(table.header) if pattern.match(name)]
    what = "code" if kind == "cd" else "name"
    if not found:
        raise GeographyError(
            f"{table.path}: no {_LEVEL_LABEL[level]} {what} column (header pattern {pattern.pattern!r}, "
            f"case-insensitive) - this file cannot be used as {role}; its columns are: "
            f"{_header_text(table.header)}"
        )
    if len(found) > 1:
        raise GeographyError(
            f"{table.path}: several {_LEVEL_LABEL[level]} {what} columns match {pattern.pattern!r}: "
            f"{', '.join(name for _, name in found)} - the level is ambiguous; use a lookup with one vintage"
        )
    index, name = found[0]
    match = pattern.match(name)
    assert match is not None
    return index, match.group(1) or ""


def _extract(table: _Table, levels: Sequence[str], role: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Pull the code and name column of each level into a canonical frame and validate every code.

    Codes are stripped of whitespace and must look like 9-character ONS codes (``E01000001``); a bad one is
    reported with its file line, since it usually means a shifted or truncated row.
    """
    data: dict[str, list[str]] = {}
    vintages: dict[str, str] = {}
    for level in levels:
        code_idx, code_vintage = _find_column(table, level, "cd", role)
        name_idx, name_vintage = _find_column(table, level, "nm", role)
        if code_vintage and name_vintage and code_vintage != name_vintage:
            raise GeographyError(
                f"{table.path}: {_LEVEL_LABEL[level]} code column {table.header[code_idx]} and name column "
                f"{table.header[name_idx]} are of different vintages"
            )
        codes = [row[code_idx].strip() for row in table.rows]
        for code, line in zip(codes, table.lines, strict=True):
            if not _CODE_RE.match(code):
                raise GeographyError(
                    f"{table.path}: line {line}: {_LEVEL_LABEL[level]} code {code!r} in column "
                    f"{table.header[code_idx]} is not a 9-character ONS code (letter + 8 digits)"
                )
        data[f"{level}_code"] = codes
        data[f"{level}_name"] = [row[name_idx].strip() for row in table.rows]
        vintages[level] = code_vintage
    frame = pd.DataFrame(data, dtype=str)
    return frame, vintages


# --------------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------------


def read_lsoa_lookup(path: Path) -> Lookup:
    """Read an LSOA -> ward -> LAD lookup (e.g. ``LSOA11_WD19_LAD19_lookup_EW.csv``).

    Returns one row per LSOA with columns lsoa_code, lsoa_name, ward_code, ward_name, lad_code, lad_name.
    Exact duplicate rows are dropped; an LSOA listed with different wards or LADs is refused, because
    keeping either row would assign its crimes to an arbitrary partnership.
    """
    table = _read_csv(path)
    frame, vintages = _extract(table, LSOA_LEVELS, "an LSOA -> ward -> LAD lookup")
    frame = frame.drop_duplicates(ignore_index=True)
    conflicting = frame["lsoa_code"][frame["lsoa_code"].duplicated()].unique().tolist()
    if conflicting:
        details = []
        for code in conflicting[:_MAX_LISTED]:
            rows = frame[frame["lsoa_code"] == code]
            places = "; ".join(
                f"ward {w} / LAD {lad}" for w, lad in zip(rows["ward_code"], rows["lad_code"], strict=True)
            )
            details.append(f"{code} ({places})")
        raise GeographyError(
            f"{table.path}: {len(conflicting)} LSOA(s) listed with conflicting ward/LAD: {_short(details)}; "
            "a best-fit lookup must give each LSOA exactly one ward and LAD"
        )
    frame = frame.sort_values("lsoa_code", ignore_index=True)
    return Lookup(frame=frame, vintages=vintages, source=table.path)


def read_partnership_lookup(path: Path) -> Lookup:
    """Read a LAD -> CSP -> PFA lookup (e.g. ``LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv``).

    Rows are kept as in the file (a LAD may legitimately appear once per CSP it straddles) but exact
    duplicates are dropped.  Refused: the same LAD/CSP pair with different names or PFAs, and a CSP in
    more than one PFA, since either would make the LSOA -> CSP -> PFA resolution ambiguous.
    """
    table = _read_csv(path)
    frame, vintages = _extract(table, PARTNERSHIP_LEVELS, "a LAD -> CSP -> PFA lookup")
    frame = frame.drop_duplicates(ignore_index=True)
    pairs = frame[frame.duplicated(["lad_code", "csp_code"], keep=False)]
    if not pairs.empty:
        listed = sorted(
            {f"{lad}->{csp}" for lad, csp in zip(pairs["lad_code"], pairs["csp_code"], strict=True)}
        )
        raise GeographyError(
            f"{table.path}: LAD/CSP pair(s) listed with conflicting names or PFAs: {_short(listed)}"
        )
    pfas_per_csp = frame.groupby("csp_code")["pfa_code"].nunique()
    multi = pfas_per_csp[pfas_per_csp > 1].index.tolist()
    if multi:
        listed = [
            f"{csp} ({', '.join(sorted(frame.loc[frame['csp_code'] == csp, 'pfa_code'].unique()))})"
            for csp in multi
        ]
        raise GeographyError(f"{table.path}: CSP(s) in more than one PFA: {_short(listed)}")
    return Lookup(frame=frame, vintages=vintages, source=table.path)


_POP_LSOA_RE = re.compile(r"^lsoa\d*cd$", re.IGNORECASE)
_POP_VALUE_RE = re.compile(r"^(population|pop|persons|all_ages|total|count)(_?\d{2,4})?$")
_POP_YEAR_RE = re.compile(r"^(year|mid_year|mid_year_estimate|estimate_year)$")
_INT_RE = re.compile(r"^(\d+|\d{1,3}(,\d{3})+)$")
# optional denominators beside the residents: households (burglary, ASB) and young people aged 10-17
# (youth first-time entrants); a blank cell is an LSOA without that figure
POPULATION_DENOMINATORS: dict[str, re.Pattern[str]] = {
    "households": re.compile(r"^(households|all_households|hh)(_?\d{2,4})?$"),
    "aged_10_17": re.compile(r"^(aged|age|ages|population|pop|persons)_10_(to_)?17$"),
}


def _normalise_header(name: str) -> str:
    """Lower case, runs of non-alphanumerics -> ``_``: 'All Ages' and 'all-ages' both become 'all_ages'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def read_population(path: Path) -> pd.DataFrame:
    """Read LSOA population counts (e.g. an ONS mid-year estimate extract) for per-head rates.

    Detects the LSOA code column (``LSOA\\d*CD`` or a name containing 'lsoa' and 'code') and the population
    column (population, pop, persons, all ages, total or count, optionally with a year suffix).  Values must
    be non-negative integers (thousands separators allowed, as in spreadsheet exports); anything else is
    refused with its line number, because a silently dropped or mis-parsed denominator distorts every rate.
    An optional year column (year, mid_year, mid_year_estimate, estimate_year) gives one estimate per
    LSOA and year, so each audit year's rates use their own mid-year estimate; without one, the one
    figure serves every year. Optional columns ``households`` and ``aged_10_17`` (residents aged 10-17)
    give the denominators of rates per household and per young person; a blank cell is an LSOA without
    that figure. Returns columns lsoa_code (str), population (int64), year (Int64, null without a year
    column), households and aged_10_17 (Int64, null where not given), sorted by lsoa_code and year.
    """
    table = _read_csv(path)
    lsoa_cols = [i for i, n in enumerate(table.header) if _POP_LSOA_RE.match(n)]
    if not lsoa_cols:
        lsoa_cols = [i for i, n in enumerate(table.header) if "lsoa" in n.lower() and "code" in n.lower()]
    value_cols = [i for i, n in enumerate(table.header) if _POP_VALUE_RE.match(_normalise_header(n))]
    for found, what in ((lsoa_cols, "LSOA code"), (value_cols, "population")):
        if not found:
            raise GeographyError(
                f"{table.path}: no {what} column found; columns are: {_header_text(table.header)} "
                "(expected LSOA code: LSOA<yy>CD or a name with 'lsoa' and 'code'; population: "
                "population|pop|persons|all_ages|total|count)"
            )
        if len(found) > 1:
            raise GeographyError(
                f"{table.path}: several {what} columns: {', '.join(table.header[i] for i in found)}"
            )
    code_idx, value_idx = lsoa_cols[0], value_cols[0]
    year_cols = [i for i, n in enumerate(table.header) if _POP_YEAR_RE.match(_normalise_header(n))]
    year_idx = year_cols[0] if year_cols else None
    extra_idx: dict[str, int] = {}
    for name, pattern in POPULATION_DENOMINATORS.items():
        found = [i for i, n in enumerate(table.header) if pattern.match(_normalise_header(n))]
        if len(found) > 1:
            raise GeographyError(
                f"{table.path}: several {name} columns: {', '.join(table.header[i] for i in found)}"
            )
        if found:
            extra_idx[name] = found[0]
    extras: dict[str, list[int | None]] = {name: [] for name in extra_idx}
    codes: list[str] = []
    values: list[int] = []
    years: list[int | None] = []
    first_line: dict[tuple[str, int | None], int] = {}
    for row, line in zip(table.rows, table.lines, strict=True):
        code = row[code_idx].strip()
        raw = row[value_idx].strip()
        year: int | None = None
        if year_idx is not None:
            text = row[year_idx].strip()
            if not re.fullmatch(r"(19|20)[0-9]{2}", text):
                raise GeographyError(
                    f"{table.path}: line {line}: year {text[:30]!r} in column {table.header[year_idx]} is not a "
                    "year such as 2021 (the mid-year estimate's year)"
                )
            year = int(text)
        if not _CODE_RE.match(code):
            raise GeographyError(
                f"{table.path}: line {line}: LSOA code {code!r} in column {table.header[code_idx]} is not "
                "a 9-character ONS code"
            )
        if raw.startswith("-") and _INT_RE.match(raw[1:]):
            raise GeographyError(
                f"{table.path}: line {line}: negative population {raw!r} for {code} "
                f"in column {table.header[value_idx]}"
            )
        if not _INT_RE.match(raw):
            raise GeographyError(
                f"{table.path}: line {line}: population {raw!r} for {code} in column "
                f"{table.header[value_idx]} is not a non-negative integer"
            )
        if len(raw.replace(",", "")) > 18:
            # Fuzzing fix: a value of 19+ digits overflowed int64 (OverflowError) and one of 4300+ digits
            # made int() raise ValueError; no LSOA has such a population, so refuse it like any bad value.
            raise GeographyError(
                f"{table.path}: line {line}: population {raw[:30]!r}{'...' if len(raw) > 30 else ''} for {code} "
                f"in column {table.header[value_idx]} is too large to be a population"
            )
        if (code, year) in first_line:
            raise GeographyError(
                f"{table.path}: line {line}: LSOA {code} already given"
                + (f" for {year}" if year is not None else "")
                + f" on line {first_line[(code, year)]}"
            )
        first_line[(code, year)] = line
        codes.append(code)
        values.append(int(raw.replace(",", "")))
        years.append(year)
        for name, idx in extra_idx.items():
            cell = row[idx].strip()
            if cell and (not _INT_RE.match(cell) or len(cell) > 18):
                raise GeographyError(
                    f"{table.path}: line {line}: {name} {cell[:30]!r} for {code} in column {table.header[idx]} "
                    "is not a non-negative integer (leave it blank where there is no figure)"
                )
            extras[name].append(int(cell.replace(",", "")) if cell else None)
    frame = pd.DataFrame(
        {
            "lsoa_code": pd.Series(codes, dtype=str),
            "population": pd.Series(values, dtype="int64"),
            "year": pd.Series(years, dtype="Int64"),
        }
        | {
            name: pd.Series(extras.get(name, [None] * len(codes)), dtype="Int64")
            for name in POPULATION_DENOMINATORS
        }
    )
    return frame.sort_values(["lsoa_code", "year"], ignore_index=True)


def latest_population(frame: pd.DataFrame) -> pd.DataFrame:
    """One figure per LSOA, the latest estimate's: where one population must serve (apportionment
    weights, which do not change by year)."""
    if "year" not in frame.columns:
        return frame
    latest = frame.sort_values(["lsoa_code", "year"], na_position="first").drop_duplicates(
        "lsoa_code", keep="last"
    )
    return latest[["lsoa_code", "population"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------
# Region selection and resolution
# --------------------------------------------------------------------------------------------------------


def _require_levels(lookup: Lookup, levels: Sequence[str], role: str) -> None:
    """Refuse a Lookup of the wrong kind (e.g. the two lookups swapped) before joining on missing columns."""
    missing = [level for level in levels if level not in lookup.vintages]
    if missing:
        raise GeographyError(
            f"{lookup.source}: expected {role} but this lookup has no "
            f"{', '.join(_LEVEL_LABEL[m] for m in missing)} level (levels: {', '.join(lookup.vintages)})"
        )


def _clean_codes(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise GeographyError(f"{what} must be a list of codes, not the single string {values!r}")
    return sorted({str(v).strip() for v in values})


def select_partnerships(
    partnerships: Lookup,
    *,
    police_force_areas: list[str] | None = None,
    codes: list[str] | None = None,
) -> list[str]:
    """Sorted CSP codes of the audit region: every CSP of the given PFAs, or an explicit list of CSPs.

    Exactly one of the two must be given, so a config cannot be half one and half the other.  Unknown codes
    are refused with their names listed, because a typo would otherwise silently shrink the region.
    """
    _require_levels(partnerships, PARTNERSHIP_LEVELS, "a LAD -> CSP -> PFA lookup")
    if (police_force_areas is None) == (codes is None):
        raise GeographyError(
            "select the region with exactly one of police_force_areas (PFA codes) or codes (CSP codes)"
        )
    frame = partnerships.frame
    v = partnerships.vintages
    if police_force_areas is not None:
        wanted = _clean_codes(police_force_areas, "police_force_areas")
        if not wanted:
            raise GeographyError("police_force_areas is empty: the region would contain no partnership")
        known = frame.drop_duplicates("pfa_code").set_index("pfa_code")["pfa_name"]
        unknown = [c for c in wanted if c not in known.index]
        if unknown:
            listing = "; ".join(f"{code} {name}" for code, name in sorted(known.items()))
            raise UnknownCodes(
                "partnerships.police_force_areas",
                f"{partnerships.source}: unknown PFA{v['pfa']} code(s) {_short(unknown)}; "
                f"known PFAs: {listing}",
            )
        return sorted(frame.loc[frame["pfa_code"].isin(wanted), "csp_code"].unique().tolist())
    assert codes is not None
    wanted = _clean_codes(codes, "codes")
    if not wanted:
        raise GeographyError("codes is empty: the region would contain no partnership")
    known_csps = set(frame["csp_code"])
    unknown = [c for c in wanted if c not in known_csps]
    if unknown:
        raise UnknownCodes(
            "partnerships.codes",
            f"{partnerships.source}: unknown CSP{v['csp']} code(s) {_short(unknown)} "
            f"(the file has {len(known_csps)} CSPs)",
        )
    return wanted


def _resolve_with_finer(
    split_rows: pd.DataFrame,
    partnerships: Lookup,
    candidates: dict[str, list[str]],
    finer: tuple[Lookup, Lookup],
) -> pd.Series:
    """CSP code of each LSOA of a split LAD, taken from an older LSOA/partnership pair.

    In the older vintage the merged LAD's predecessors each sat in one CSP, so LSOA -> old LAD -> CSP is
    unambiguous.  The result must be one of the split LAD's current CSPs; anything else means the pair does
    not describe the same partnerships and is refused.
    """
    finer_lsoas, finer_parts = finer
    if not isinstance(finer_lsoas, Lookup) or not isinstance(finer_parts, Lookup):
        raise GeographyError("finer must be a pair (LSOA lookup, partnership lookup) of Lookup objects")
    _require_levels(finer_lsoas, LSOA_LEVELS, "an LSOA -> ward -> LAD lookup as finer[0]")
    _require_levels(finer_parts, PARTNERSHIP_LEVELS, "a LAD -> CSP -> PFA lookup as finer[1]")
    old_lad = finer_lsoas.frame.set_index("lsoa_code")["lad_code"]
    missing = sorted(set(split_rows["lsoa_code"]) - set(old_lad.index))
    if missing:
        raise GeographyError(
            f"{finer_lsoas.source}: finer LSOA lookup lacks {len(missing)} LSOA(s) of split LADs: "
            f"{_short(missing)}"
        )
    old = split_rows["lsoa_code"].map(old_lad)
    old_csps = finer_parts.frame.groupby("lad_code")["csp_code"].unique()
    absent = sorted(set(old) - set(old_csps.index))
    if absent:
        raise GeographyError(
            f"{finer_parts.source}: LAD{finer_lsoas.vintages['lad']} code(s) {_short(absent)} of "
            f"{finer_lsoas.source.name} are not in this LAD{finer_parts.vintages['lad']} partnership "
            "lookup; the finer pair must be of the same vintage"
        )
    still_split = sorted(lad for lad in set(old) if len(old_csps[lad]) > 1)
    if still_split:
        raise GeographyError(
            f"{finer_parts.source}: LAD(s) {_short(still_split)} are split between CSPs in the finer lookup "
            "too; use a vintage in which they are not split"
        )
    csp = old.map(lambda lad: old_csps[lad][0])
    names = partnerships.frame.drop_duplicates("csp_code").set_index("csp_code")["csp_name"]
    for lsoa, lad, code in zip(split_rows["lsoa_code"], split_rows["lad_code"], csp, strict=True):
        if code not in candidates[lad]:
            cands = ", ".join(f"{c} {names.get(c, '')}".strip() for c in candidates[lad])
            raise GeographyError(
                f"{finer_parts.source}: LSOA {lsoa} of split LAD {lad} resolves to CSP {code} via the finer "
                f"lookups, which is not one of the LAD's CSPs in {partnerships.source.name}: {cands}"
            )
    return csp


def resolve_lsoa_partnerships(
    lsoas: Lookup,
    partnerships: Lookup,
    region_csps: Sequence[str],
    *,
    finer: tuple[Lookup, Lookup] | None = None,
) -> pd.DataFrame:
    """Assign every LSOA of ``lsoas`` to exactly one partnership and flag those in the audit region.

    Returns one row per LSOA (sorted by lsoa_code) with columns lsoa_code, lsoa_name, ward_code, ward_name,
    lad_code, lad_name, csp_code, csp_name, pfa_code, pfa_name, in_region (bool) and resolution:

    * ``'lad'``: the LAD sits in a single CSP, taken from the partnership lookup;
    * ``'finer_lookup'``: the LAD straddles several CSPs, at least one in the region, and the CSP came from
      the ``finer`` (older vintage) LSOA/partnership pair;
    * ``'split_outside_region'``: the LAD straddles several CSPs, none in the region; partnership columns are
      empty strings and in_region is False, since no figure of the region depends on them.

    Refused (GeographyError): LADs of the LSOA lookup missing from the partnership lookup (vintage
    mismatch), region CSPs unknown or with LADs that have no LSOA, and split LADs touching the region
    when no ``finer`` pair is given: a plain LAD -> CSP join would count their crimes once per CSP.
    """
    _require_levels(lsoas, LSOA_LEVELS, "an LSOA -> ward -> LAD lookup")
    _require_levels(partnerships, PARTNERSHIP_LEVELS, "a LAD -> CSP -> PFA lookup")
    parts = partnerships.frame
    region = _clean_codes(region_csps, "region_csps")
    if not region:
        raise GeographyError("region_csps is empty: the region would contain no partnership")
    unknown = [c for c in region if c not in set(parts["csp_code"])]
    if unknown:
        raise GeographyError(
            f"{partnerships.source}: region CSP code(s) {_short(unknown)} are not in this partnership lookup"
        )

    lsoa_frame = lsoas.frame
    v_lsoa, v_part = lsoas.vintages["lad"], partnerships.vintages["lad"]
    missing_lads = sorted(set(lsoa_frame["lad_code"]) - set(parts["lad_code"]))
    if missing_lads:
        raise GeographyError(
            f"{len(missing_lads)} LAD code(s) of the LSOA lookup {lsoas.source} (LAD{v_lsoa}) are not in "
            f"the partnership lookup {partnerships.source} (LAD{v_part}): {_short(missing_lads)}; "
            "use an LSOA lookup and a LAD -> CSP -> PFA lookup of the same LAD vintage"
        )
    region_set = set(region)
    region_lads = set(parts.loc[parts["csp_code"].isin(region_set), "lad_code"])
    uncovered = sorted(region_lads - set(lsoa_frame["lad_code"]))
    if uncovered:
        raise GeographyError(
            f"{lsoas.source}: no LSOA for LAD{v_part} code(s) {_short(uncovered)} of region partnerships "
            f"(from {partnerships.source.name}); the LSOA lookup does not cover the region"
        )

    candidates: dict[str, list[str]] = {
        lad: sorted(group.unique().tolist()) for lad, group in parts.groupby("lad_code")["csp_code"]
    }
    split = {lad for lad, csps in candidates.items() if len(csps) > 1}
    split_in_region = sorted(lad for lad in split if region_set.intersection(candidates[lad]))

    part_cols = ["lad_code", "csp_code", "csp_name", "pfa_code", "pfa_name"]
    is_split = lsoa_frame["lad_code"].isin(split)
    single = parts.loc[~parts["lad_code"].isin(split), part_cols]
    plain = lsoa_frame[~is_split].merge(single, on="lad_code", how="left", validate="many_to_one")
    plain["resolution"] = "lad"
    pieces = [plain]

    outside = lsoa_frame[is_split & ~lsoa_frame["lad_code"].isin(split_in_region)].copy()
    for col in part_cols[1:]:
        outside[col] = ""
    outside["resolution"] = "split_outside_region"
    pieces.append(outside)

    if split_in_region:
        if finer is None:
            csp_names = parts.drop_duplicates("csp_code").set_index("csp_code")["csp_name"]
            lad_names = parts.drop_duplicates("lad_code").set_index("lad_code")["lad_name"]
            described = "; ".join(
                f"{lad} {lad_names[lad]} -> " + ", ".join(f"{c} {csp_names[c]}" for c in candidates[lad])
                for lad in split_in_region
            )
            raise GeographyError(
                f"{partnerships.source}: LAD(s) split between several CSPs touch the region: {described}. "
                "A LAD -> CSP join would count their LSOAs once per CSP. Supply geography.finer lookups of "
                "an earlier vintage in which these LADs are not split (an LSOA -> ward -> LAD lookup and a "
                "LAD -> CSP -> PFA lookup, e.g. LSOA11_WD18_LAD18 + LAD18_CSP18_PFA18), or list the "
                "region's partnerships explicitly so that none of these CSPs is included"
            )
        split_rows = lsoa_frame[lsoa_frame["lad_code"].isin(split_in_region)].copy()
        split_rows["csp_code"] = _resolve_with_finer(split_rows, partnerships, candidates, finer).to_numpy()
        split_rows = split_rows.merge(
            parts[part_cols], on=["lad_code", "csp_code"], how="left", validate="many_to_one"
        )
        split_rows["resolution"] = "finer_lookup"
        pieces.append(split_rows)

    out = pd.concat([p for p in pieces if not p.empty], ignore_index=True)
    out["in_region"] = out["csp_code"].isin(region_set).astype(bool)
    out = out[RESOLVED_COLUMNS].sort_values("lsoa_code", ignore_index=True)
    for col in RESOLVED_COLUMNS:
        if col != "in_region":
            out[col] = out[col].astype(str)
    if len(out) != len(lsoa_frame) or out["lsoa_code"].duplicated().any():
        # Defensive: the joins above are validated, so this would be a bug, not bad input.
        raise AssertionError("LSOA resolution did not produce exactly one row per LSOA")
    return out


# --------------------------------------------------------------------------------------------------------
# Apportionment lookups: areas that do not nest in LSOAs (older wards, postcode districts, station grounds)
# --------------------------------------------------------------------------------------------------------

_AREA_COLUMN_PATTERNS: dict[str, str] = {
    "ward": r"^wd(\d{2})?cd$",
    "postcode_district": r"^(pcds|pcd|postcode_district|pcdist)$",
    "local_authority": r"^lad(\d{2})?cd$",
    "health_area": r"^(ccg|icb|sicbl|lhb)(\d{2})?cd$",
    "fire_station_ground": r"^(station_ground|station|stn)(_code|cd)?$",
    "police_neighbourhood": r"^(neighbourhood|nbhd)(_code|cd)?$",
}


def read_apportionment(path: Path, area_type: str, weight: str) -> pd.DataFrame:
    """Read an area -> LSOA weights lookup into columns ``area_code, lsoa_code, weight`` (float).

    The area column is found by pattern for the area type (``WD15CD``, ``PCDS`` ...), the LSOA column
    as ``LSOA\\d\\dCD`` and the weight column by the configured name (``population``, ``addresses``,
    or ``weight``). Weights must be non-negative numbers and each area must have a positive total,
    otherwise its counts could not be spread and would be lost.
    """
    table = _read_csv(path)
    lsoa_idx, _ = _find_column(table, "lsoa", "cd", f"an apportionment lookup for {area_type}")
    pattern = _AREA_COLUMN_PATTERNS.get(area_type)
    if pattern is None:
        raise GeographyError(f"{path}: apportionment for area type {area_type!r} is not supported")
    areas = [i for i, name in enumerate(table.header) if re.match(pattern, name, re.IGNORECASE)]
    weights = [i for i, name in enumerate(table.header) if name.strip().lower() == weight.lower()]
    if len(areas) != 1:
        raise GeographyError(
            f"{path}: expected one {area_type} code column matching {pattern!r}, found "
            f"{[table.header[i] for i in areas] or 'none'} in {_header_text(table.header)}"
        )
    if len(weights) != 1:
        raise GeographyError(
            f"{path}: no weight column named {weight!r} (columns: {_header_text(table.header)})"
        )
    rows = []
    for row, line in zip(table.rows, table.lines, strict=True):
        try:
            value = float(row[weights[0]].replace(",", ""))
        except ValueError as exc:
            raise GeographyError(f"{path}: line {line}: weight {row[weights[0]]!r} is not a number") from exc
        if value < 0 or value != value:
            raise GeographyError(f"{path}: line {line}: weight {value} is negative or not a number")
        rows.append((row[areas[0]].strip().upper(), row[lsoa_idx].strip(), value))
    frame = pd.DataFrame(rows, columns=["area_code", "lsoa_code", "weight"])
    frame = frame.groupby(["area_code", "lsoa_code"], as_index=False)["weight"].sum()
    totals = frame.groupby("area_code")["weight"].sum()
    empty = sorted(totals[totals <= 0].index)
    if empty:
        raise GeographyError(f"{path}: areas with no positive weight cannot be apportioned: {_short(empty)}")
    return frame.sort_values(["area_code", "lsoa_code"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------
# Census geography change: best-fit LSOA/MSOA lookups between census vintages (2001 -> 2011, 2011 -> 2021)
# --------------------------------------------------------------------------------------------------------

_CHANGE_CODE_RE = re.compile(r"^(lsoa|msoa)(\d{2})cd$", re.IGNORECASE)
_CHGIND_RE = re.compile(r"^chn?gind$", re.IGNORECASE)
_CHANGE_ENTITY = {"lsoa": "01", "msoa": "02"}  # ONS entity code: E01/W01 LSOAs, E02/W02 MSOAs
CHANGE_INDICATORS = {
    "U": "unchanged",
    "S": "split (one old area became several new ones)",
    "M": "merged (several old areas became one new one)",
    "X": "irregular (redrawn; best fit, not like for like)",
}
CHANGE_COLUMNS = ["area_code", "lsoa_code", "chgind", "weight", "like_for_like", "basis"]


def _change_population(population: pd.DataFrame | None) -> pd.Series | None:
    """The new vintage's population by LSOA code, or None; refused if it could not weight a split."""
    if population is None:
        return None
    missing = [c for c in ("lsoa_code", "population") if c not in population.columns]
    if missing:
        raise GeographyError(
            f"population frame for the census change lookup lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(map(str, population.columns))})"
        )
    codes = population["lsoa_code"].astype(str).str.strip()
    repeated = sorted(set(codes[codes.duplicated()]))
    if repeated:
        raise GeographyError(f"population frame gives LSOA(s) more than once: {_short(repeated)}")
    values = pd.to_numeric(population["population"], errors="coerce")
    bad = codes[values.isna() | (values < 0)].tolist()
    if bad:
        raise GeographyError(f"population frame has missing or negative populations for {_short(bad)}")
    return pd.Series(values.to_numpy(dtype="float64"), index=codes.to_numpy())


def read_lsoa_change(
    path: Path, *, population: pd.DataFrame | None = None, reverse: bool = False
) -> pd.DataFrame:
    """Read an ONS best-fit census change lookup (LSOA or MSOA, e.g. ``LSOA01_LSOA11_LAD11 ... CHGIND``).

    The old and new code columns are found by pattern (``LSOA01CD``/``LSOA11CD``, ``LSOA11CD``/``LSOA21CD``,
    ``MSOA01CD``/``MSOA11CD``; the older vintage is the old side) and the change indicator as ``CHGIND``; other
    columns (names, LAD, ``FID``/``ObjectId``) are ignored and may be in any order.  Returns one row per
    (old, new) pair with columns

    * ``area_code`` the old code, ``lsoa_code`` the new code (MSOA codes for an MSOA lookup), ``chgind``;
    * ``weight``: the share of the old area's count that goes to the new area; the shares of every old code
      are positive and sum to 1, so restating counts with them conserves every total:

      - ``U`` unchanged and ``M`` merged (several old areas became one new one): the old area maps to one
        new area and its whole count goes there (weight 1); merged counts sum on the new area;
      - ``S`` split and ``X`` irregular: an old area that maps to several new areas is spread over them in
        proportion to ``population`` (columns lsoa_code, population of the NEW vintage), or equally when no
        population is given or one of its new areas has none or zero (every share stays positive);

    * ``like_for_like``: False for the rows of an old code with any ``X`` row (the boundary was redrawn, so a
      change over time partly reflects the new boundary); True for U, S and M, whose old and new areas are
      unions of each other;
    * ``basis``: ``whole`` (one new area), ``population`` or ``equal`` (how a split was weighted).

    ``reverse``: restate the NEW vintage's codes onto the old ones instead (a region on LSOA 2011 codes
    receiving rows on 2021 codes, read with the 2011 -> 2021 file): ``area_code`` is then the new code and
    ``lsoa_code`` the old one, the same rules applied the other way round (a split old area takes each new
    part whole; a merged new area is spread over its old areas by ``population``, of the OLD vintage here).

    ``frame.attrs`` records ``level`` ('lsoa' or 'msoa'), ``old_vintage`` and ``new_vintage`` (two digits as
    in the header, whatever the direction), ``from_vintage`` and ``to_vintage`` (the codes restated and the
    codes they land on) and ``source``.  Refused with GeographyError naming the file and line: a code that is not
    a 9-character ONS code of the level (E01/W01 for LSOAs), a CHGIND other than U/S/M/X, a pair listed twice
    with different indicators, and rows contradicting their indicator (a U old code with several new codes
    or sharing its new code, an M old code with several new codes, an S new code fed by several old codes).
    """
    table = _read_csv(path)
    where = table.path
    found = [(i, m) for i, name in enumerate(table.header) if (m := _CHANGE_CODE_RE.match(name))]
    levels = sorted({m.group(1).lower() for _, m in found})
    vintages = sorted({m.group(2) for _, m in found})
    if len(found) != 2 or len(levels) != 1 or len(vintages) != 2:
        raise GeographyError(
            f"{where}: a census change lookup needs two code columns of one level and two vintages "
            f"(e.g. LSOA01CD and LSOA11CD, or LSOA11CD and LSOA21CD); found "
            f"{', '.join(table.header[i] for i, _ in found) or 'none'} in {_header_text(table.header)}"
        )
    level = levels[0]
    (old_idx, old_m), (new_idx, new_m) = sorted(found, key=lambda item: item[1].group(2))
    chg = [i for i, name in enumerate(table.header) if _CHGIND_RE.match(name)]
    if len(chg) != 1:
        raise GeographyError(
            f"{where}: expected one change indicator column CHGIND, found "
            f"{', '.join(table.header[i] for i in chg) or 'none'} in {_header_text(table.header)}"
        )
    chg_idx = chg[0]
    label = level.upper()
    entity = _CHANGE_ENTITY[level]

    pairs: dict[tuple[str, str], tuple[str, int]] = {}
    for row, line in zip(table.rows, table.lines, strict=True):
        codes = []
        for idx in (old_idx, new_idx):
            code = row[idx].strip()
            if not _CODE_RE.match(code) or code[1:3] != entity:
                raise GeographyError(
                    f"{where}: line {line}: {code!r} in column {table.header[idx]} is not a 9-character "
                    f"{label} code (E{entity}/W{entity} + 6 digits)"
                )
            codes.append(code)
        indicator = row[chg_idx].strip()
        if indicator not in CHANGE_INDICATORS:
            raise GeographyError(
                f"{where}: line {line}: change indicator {row[chg_idx]!r} in column {table.header[chg_idx]} "
                f"is not one of U (unchanged), S (split), M (merged), X (irregular)"
            )
        key = (codes[0], codes[1])
        if key in pairs and pairs[key][0] != indicator:
            raise GeographyError(
                f"{where}: line {line}: {codes[0]} -> {codes[1]} has change indicator {indicator} but "
                f"{pairs[key][0]} on line {pairs[key][1]}"
            )
        pairs.setdefault(key, (indicator, line))

    frame = pd.DataFrame(
        [(old, new, ind, line) for (old, new), (ind, line) in pairs.items()],
        columns=["area_code", "lsoa_code", "chgind", "line"],
    )
    # Group sums with factorize + bincount: a pandas groupby sorts ~35,000 codes several times over.
    old_id = pd.factorize(frame["area_code"])[0]
    new_id = pd.factorize(frame["lsoa_code"])[0]

    def per_old(values: Any) -> np.ndarray:
        """The sum of ``values`` over each row's old code, aligned with the rows."""
        return np.bincount(old_id, weights=np.asarray(values, dtype="float64"))[old_id]

    fan_out = pd.Series(np.bincount(old_id)[old_id], index=frame.index)
    fan_in = pd.Series(np.bincount(new_id)[new_id], index=frame.index)
    old_label, new_label = f"{label}{old_m.group(2)}", f"{label}{new_m.group(2)}"
    checks = (
        ((frame["chgind"] == "U") & (fan_out > 1), "U (unchanged) but the old {o} maps to several new {n}s"),
        ((frame["chgind"] == "U") & (fan_in > 1), "U (unchanged) but the new {n} has several old {o}s"),
        ((frame["chgind"] == "M") & (fan_out > 1), "M (merged) but the old {o} maps to several new {n}s"),
        ((frame["chgind"] == "S") & (fan_in > 1), "S (split) but the new {n} has several old {o}s"),
    )
    for mask, message in checks:
        if mask.any():
            bad = frame[mask].sort_values("line").iloc[0]
            raise GeographyError(
                f"{where}: line {bad['line']}: {bad['area_code']} -> {bad['lsoa_code']}: change indicator "
                + message.format(o=old_label, n=new_label)
            )

    if reverse:  # each pair read the other way: the new code is restated onto its old ones
        frame = frame.rename(columns={"area_code": "lsoa_code", "lsoa_code": "area_code"})
        old_id, fan_out = new_id, fan_in  # per_old() sums over the code restated, now the new one

    pop = _change_population(population)
    frame["raw"] = 1.0
    frame["basis"] = "equal"
    if pop is not None:
        frame["raw"] = frame["lsoa_code"].map(pop).astype("float64")
        # every share must be positive: one new area without a population (or with 0) -> equal shares
        usable = pd.Series(per_old(~(frame["raw"] > 0)) == 0, index=frame.index)
        frame.loc[usable, "basis"] = "population"
        frame.loc[~usable, "raw"] = 1.0
    frame.loc[fan_out == 1, ["raw", "basis"]] = [1.0, "whole"]
    frame["weight"] = frame["raw"] / per_old(frame["raw"])
    frame["like_for_like"] = per_old(frame["chgind"] == "X") == 0
    out = frame[CHANGE_COLUMNS].sort_values(["area_code", "lsoa_code"], ignore_index=True)
    out["weight"] = out["weight"].astype("float64")
    out["like_for_like"] = out["like_for_like"].astype(bool)
    out.attrs = {
        "level": level,
        "old_vintage": old_m.group(2),
        "new_vintage": new_m.group(2),
        "from_vintage": new_m.group(2) if reverse else old_m.group(2),
        "to_vintage": old_m.group(2) if reverse else new_m.group(2),
        "source": str(where),
    }
    return out
