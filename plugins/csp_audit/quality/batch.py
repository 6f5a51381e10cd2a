"""The table Great Expectations validates: the rows of several files as the suite expects them.

Built in DuckDB from the records the strict reader kept (:mod:`csp_audit.quality.strict_csv`): the
contract's columns (empty values are missing values), the derived columns the suite's rules need, and
``_file``, which says which delivery a row came from. What a rule needs per file becomes a column, so
one batch can hold many files:

- every dataset: ``X_datetime`` for a pair of columns ``X_date`` and ``X_time`` (ISTV records give the
  incident's date and time apart; the arrival rule compares one value), and ``_in_delivery_period``,
  whether the row's date lies in the period its delivery is for (from the file's ``_period_regex``),
  and, for aggregate tables, ``_file_cell_key``, the row's cell (every column but the count) within its
  file, so "one row per cell" is a uniqueness rule with missing values compared as values;
- police.uk street files: the coordinates as numbers (``_longitude``, ``_latitude``), the file's month
  (``_file_month``), the Crime ID qualified by its file (``_file_crime_id``: IDs repeat across files,
  never within one), and whether the row's LSOA lies in the area of the force that published it
  (``_lsoa_in_force_area``; that force's area is the police force area where most of the file's located
  rows fall, from table ``lsoa_pfa``).

Table ``files`` (``_file``, ``_file_month``, ``_period_regex``) describes the files of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from csp_audit.plan.model import Dataset
from csp_audit.quality.contract_suites import (
    AREA_UNKNOWN,
    BATCH_FILE,
    CELL_KEY,
    IN_PERIOD,
    cell_columns,
    derived_datetimes,
    period_column,
)
from csp_audit.quality.strict_csv import quote_ident

POLICE_FORMAT = "police_uk"


def _missing_as_null(header: Sequence[str], alias: str) -> str:
    return ",\n    ".join(f"nullif({alias}.{quote_ident(h)}, '') as {quote_ident(h)}" for h in header)


def contract_batch_sql(
    table: str,
    records: str,
    dataset: Dataset,
    header: Sequence[str],
    *,
    in_period: bool = True,
    known_area: str | None = None,
    lookup_known: bool = True,
) -> str:
    """Batch of an agency dataset: row_number, the contract's columns, derived date-times, whether the
    row's date lies in its delivery's period (unless ``in_period`` is False: a suite of an earlier
    version checks that with a per-batch parameter), ``_file``; with ``known_area`` (the suite checks
    that column against the lookup), last, ``_area_not_in_lookup``: the code when table
    ``known_areas`` (``code``) lacks it. Without ``lookup_known`` no lookup covers the geography and
    every code counts as known."""
    derived = [
        f"case when nullif(r.{quote_ident(d)}, '') is null then null "
        f"else r.{quote_ident(d)} || 'T' || coalesce(nullif(trim(r.{quote_ident(t)}), ''), '00:00') end "
        f"as {quote_ident(name)}"
        for name, (d, t) in derived_datetimes(dataset).items()
    ]
    when = period_column(dataset)
    if when is not None and in_period:
        value = f"nullif(r.{quote_ident(when.name)}, '')"
        derived.append(
            f"case when {value} is null then null when regexp_full_match({value}, f._period_regex) then 'yes' "
            f"else 'no' end as {IN_PERIOD}"
        )
    cell = cell_columns(dataset)
    if cell:  # JSON keeps a missing value apart from any text, so (a, null) and (a, 'null') differ
        values = ", ".join(f"nullif(r.{quote_ident(c)}, '')" for c in cell)
        derived.append(f"cast(r._file as varchar) || ':' || to_json([{values}]) as {CELL_KEY}")
    extra = "".join(f",\n    {d}" for d in derived)
    area_check, area_join = "", ""
    if known_area is not None:
        code = f"nullif(r.{quote_ident(known_area)}, '')"
        unknown = f"case when k.code is null then {code} end" if lookup_known else "cast(null as varchar)"
        area_check = f",\n    {unknown} as {AREA_UNKNOWN}"
        area_join = f"\nleft join known_areas as k on k.code = {code}" if lookup_known else ""
    return f"""
create or replace table {table} as
select
    r.row_number,
    {_missing_as_null(header, "r")}{extra},
    r._file as {BATCH_FILE}{area_check}
from {records} as r
join files as f on f._file = r._file{area_join}
order by r._file, r.row_number
"""  # noqa: S608 - names are generated here, values come from tables


def police_batch_sql(table: str, records: str, header: Sequence[str]) -> str:
    """Batch of police.uk street files, in the column order of suite ``police_uk_street``."""
    return f"""
create or replace table {table} as
with p as (
    select r.*, f._file_month
    from {records} as r join files as f on f._file = r._file
),
located as (
    select p._file, g.pfa_code, count(*) as n
    from p join lsoa_pfa as g on g.lsoa_code = p."LSOA code"
    group by all
),
main_area as (
    select _file, pfa_code from located
    qualify row_number() over (partition by _file order by n desc, pfa_code) = 1
)
select
    p.row_number,
    {_missing_as_null(header, "p")},
    try_cast(nullif(p."Longitude", '') as double) as _longitude,
    try_cast(nullif(p."Latitude", '') as double) as _latitude,
    p._file,
    p._file_month,
    case
        when nullif(p."LSOA code", '') is null then null
        when m.pfa_code is null or g.pfa_code = m.pfa_code then 'yes'
        else 'no'
    end as _lsoa_in_force_area,
    case when nullif(p."Crime ID", '') is not null then p._file || ':' || p."Crime ID" end as _file_crime_id
from p
left join lsoa_pfa as g on g.lsoa_code = p."LSOA code"
left join main_area as m on m._file = p._file
order by p._file, p.row_number
"""  # noqa: S608 - names are generated here, values come from tables
