"""Great Expectations suites derived from a dataset's data contract in the plan.

Every dataset of the plan gets the same kind of gate: the contract's columns and types become
expectations with our severities in ``meta`` (critical rejects the file, quarantine holds back rows
under ``meta.rule``, warning only reports). A suite saved under
``expectations/expectations/<dataset>.json`` takes precedence (:mod:`csp_audit.quality.suites`), so a
data engineer can tune a generated one and keep it in version control.

The gate validates several deliveries in one batch, so the suite sees one more column, ``_file``,
and rules about the table's shape or about uniqueness are stated per file.
"""

from __future__ import annotations

import re
from typing import Any

from csp_audit.plan.model import Column, Dataset

BATCH_FILE = "_file"  # the column that says which delivered file a batch row came from
AREA_UNKNOWN = "_area_not_in_lookup"  # the row's area code when no lookup of the region knows it, else null
IN_PERIOD = "_in_delivery_period"  # 'yes' when the row's date lies in its delivery's period (null: no date)
CELL_KEY = "_file_cell_key"  # an aggregate row's cell (every column but the count) within its file

TYPE_PATTERNS: dict[str, str] = {
    "month": r"^[0-9]{4}-(0[1-9]|1[0-2])$",
    "date": r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
    "datetime": r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
    "integer": r"^-?[0-9]+$",
    "number": r"^-?[0-9]+(\.[0-9]+)?$",
    "boolean": r"^(true|false|TRUE|FALSE|True|False|0|1|Y|N|yes|no)$",
}
# Area codes by geography type: ONS codes are a letter and 8 digits; postcode districts like NS1, SW1A.
AREA_PATTERNS: dict[str, str] = {
    "postcode_district": r"^[A-Z]{1,2}[0-9][A-Z0-9]?$",
    "fire_station_ground": r"^[A-Za-z0-9_-]{1,32}$",
    "police_neighbourhood": r"^[A-Za-z0-9_-]{1,32}$",
}
ONS_CODE = r"^[EWSN][0-9]{8}$"
COUNT_TYPES = ("integer",)
TEMPORAL = ("month", "date", "datetime")


def area_column(dataset: Dataset) -> Column | None:
    """The column holding the dataset's area code: the geography's ``column``, else the first ``code`` one."""
    named = dataset.geography.column
    return next((c for c in dataset.columns if (c.name == named if named else c.type == "code")), None)


def fallback_area_column(dataset: Dataset) -> Column | None:
    """The column that places a row whose area column is blank (the geography's ``fallback``), if any."""
    fallback = dataset.geography.fallback
    return next((c for c in dataset.columns if fallback and c.name == fallback.column), None)


def period_column(dataset: Dataset) -> Column | None:
    """The column that dates each row: the first month, date or datetime column."""
    return next((c for c in dataset.columns if c.type in TEMPORAL), None)


def count_column(dataset: Dataset) -> Column | None:
    """For aggregate data, the last integer column carries the count."""
    counts = [c for c in dataset.columns if c.type in COUNT_TYPES]
    return counts[-1] if counts else None


def derived_datetimes(dataset: Dataset) -> dict[str, tuple[str, str]]:
    """``X_datetime`` for every pair of a date column ``X_date`` and a text column ``X_time``.

    ISTV records give the incident's date and time in two columns; rules comparing it with the
    arrival time need one value. The gate sees these derived columns after the file's own.
    """
    names = {c.name: c for c in dataset.columns}
    out = {}
    for col in dataset.columns:
        if col.type == "date" and col.name.endswith("_date"):
            stem = col.name.removesuffix("_date")
            if f"{stem}_time" in names and f"{stem}_datetime" not in names:
                out[f"{stem}_datetime"] = (col.name, f"{stem}_time")
    return out


def batch_columns(dataset: Dataset) -> list[str]:
    """The columns of the table the gate validates, in order: row number, the contract's columns, the
    derived date-times, whether the row's date lies in its delivery's period, the file of the batch."""
    cols = [c.name for c in dataset.columns]
    in_period = [IN_PERIOD] if period_column(dataset) is not None else []
    cell = [CELL_KEY] if cell_columns(dataset) else []
    return ["row_number", *cols, *derived_datetimes(dataset), *in_period, *cell, BATCH_FILE]


def cell_columns(dataset: Dataset) -> list[str]:
    """For aggregate tables (a grain coarser than the record): the columns naming a cell, i.e. all but
    the count. Each cell should appear once per delivery."""
    if dataset.time_grain == "record":
        return []
    count = count_column(dataset) if dataset.sharing.level == "aggregate" else None
    return [c.name for c in dataset.columns if c is not count]


def _meta(severity: str, rule: str, why: str) -> dict[str, str]:
    return {"severity": severity, "rule": rule, "why": why}


def suite_config(dataset: Dataset) -> dict[str, Any]:
    """The suite as plain data (what is saved as JSON): one expectation per contract rule."""
    exps: list[dict[str, Any]] = [
        {
            "type": "expect_table_columns_to_match_ordered_list",
            "kwargs": {"column_list": batch_columns(dataset)},
            "meta": _meta(
                "critical",
                "columns_match_contract",
                "The columns the data plan agreed, in order (then the derived date-times and the file of the batch).",
            ),
        }
    ]
    for col in dataset.columns:
        if col.required:
            exps.append(
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": col.name},
                    "meta": _meta("quarantine", f"{_slug(col.name)}_present", f"'{col.name}' is required."),
                }
            )
        pattern = TYPE_PATTERNS.get(col.type)
        if pattern:
            exps.append(
                {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": col.name, "regex": pattern},
                    "meta": _meta(
                        "quarantine", f"{_slug(col.name)}_is_{col.type}", f"'{col.name}' is a {col.type}."
                    ),
                }
            )
    when = period_column(dataset)
    if when is not None:
        exps.append(
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": IN_PERIOD, "value_set": ["yes"]},
                "meta": _meta(
                    "quarantine",
                    "date_within_delivery_period",
                    f"'{when.name}' must lie in the period its delivery is for (catches future and stray dates).",
                ),
            }
        )
    area = area_column(dataset)
    if area is not None:
        pattern = AREA_PATTERNS.get(dataset.geography.type, ONS_CODE)
        exps.append(
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": area.name, "regex": pattern},
                "meta": _meta(
                    "quarantine", "area_code_format", "Area codes must have the contract's format."
                ),
            }
        )
        exps.append(
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": area.name, "value_set": {"$PARAMETER": "known_areas"}},
                "meta": _meta(
                    "quarantine",
                    "area_code_in_lookup",
                    f"The code must exist in the lookup for {dataset.geography.label}; "
                    "a code of another vintage cannot be placed.",
                ),
            }
        )
    fallback = fallback_area_column(dataset)
    if fallback is not None and dataset.geography.fallback is not None:
        # a warning, not a quarantine: the row may well be placed by its area column
        exps.append(
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {
                    "column": fallback.name,
                    "regex": AREA_PATTERNS.get(dataset.geography.fallback.type, ONS_CODE),
                },
                "meta": _meta(
                    "warning",
                    "fallback_area_code_format",
                    "Fallback area codes must have the contract's format; a row without its area code "
                    "and with a malformed fallback cannot be placed.",
                ),
            }
        )
    count = count_column(dataset) if dataset.sharing.level == "aggregate" else None
    if count is not None:
        exps.append(
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": count.name, "regex": r"^[0-9]+$"},
                "meta": _meta("quarantine", "count_not_negative", "Counts are whole numbers of 0 or more."),
            }
        )
    if cell_columns(dataset):
        exps.append(
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {"column": CELL_KEY},
                "meta": _meta(
                    "warning",
                    "one_row_per_cell",
                    "Each cell of an aggregate table should appear once; repeats are counted once.",
                ),
            }
        )
    exps.extend(dict(e) for e in dataset.expectations)  # the plan's extra rules for this dataset
    return {
        "name": dataset.id,
        "expectations": exps,
        "meta": {"dataset": dataset.id, "derived_from": "data plan"},
    }


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def period_regex(months: list[str], column_type: str) -> str:
    """A regex accepting exactly the delivery period's months, in the column's format."""
    alternatives = "|".join(re.escape(m) for m in sorted(months))
    tail = {"month": "", "date": r"-[0-9]{2}", "datetime": r"-[0-9]{2}[T ].*"}[column_type]
    return rf"^({alternatives}){tail}$"
