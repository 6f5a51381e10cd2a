"""Great Expectations suites derived from a dataset's data contract in the plan.

Every agency dataset gets the same kind of gate as police.uk: the contract's columns and types
become expectations with our severities in ``meta`` (critical rejects the file, quarantine holds
back rows under ``meta.rule``, warning only reports). A suite saved under
``expectations/expectations/<dataset>.json`` (``csp-audit plan suites`` writes them) takes precedence,
so a data engineer can tune a generated suite and keep it in version control.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from typing import Any

import pandas as pd

from csp_audit.plan.model import Column, Dataset
from csp_audit.quality import GateResult, collect_findings, suite_path

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
    """The column holding the dataset's area code: the first column of type ``code``."""
    return next((c for c in dataset.columns if c.type == "code"), None)


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


def with_derived(dataset: Dataset, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame the gate validates: the file's columns plus the derived date-times."""
    derived = derived_datetimes(dataset)
    if not derived:
        return frame
    out = frame.copy()
    for name, (date_col, time_col) in derived.items():
        time = out[time_col].fillna("").str.strip()
        out[name] = out[date_col].where(
            out[date_col].fillna("") == "", out[date_col] + "T" + time.where(time != "", "00:00")
        )
    return out


def _meta(severity: str, rule: str, why: str) -> dict[str, str]:
    return {"severity": severity, "rule": rule, "why": why}


def suite_config(dataset: Dataset) -> dict[str, Any]:
    """The suite as plain data (what is saved as JSON): one expectation per contract rule."""
    cols = [c.name for c in dataset.columns]
    exps: list[dict[str, Any]] = [
        {
            "type": "expect_table_columns_to_match_ordered_list",
            "kwargs": {"column_list": ["row_number", *cols, *derived_datetimes(dataset)]},
            "meta": _meta(
                "critical", "columns_match_contract", "The columns the data plan agreed, in order."
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
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": when.name, "regex": {"$PARAMETER": "period_regex"}},
                "meta": _meta(
                    "quarantine",
                    "date_within_delivery_period",
                    "A row must belong to the period its delivery is for (catches future and stray dates).",
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
    count = count_column(dataset) if dataset.sharing.level == "aggregate" else None
    if count is not None:
        exps.append(
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {"column": count.name, "regex": r"^[0-9]+$"},
                "meta": _meta("quarantine", "count_not_negative", "Counts are whole numbers of 0 or more."),
            }
        )
    if dataset.time_grain != "record":
        keys = [c.name for c in dataset.columns if c is not count]
        exps.append(
            {
                "type": "expect_compound_columns_to_be_unique",
                "kwargs": {"column_list": keys},
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


@cache
def _ephemeral_batch_definition(asset_name: str) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    asset = context.data_sources.add_pandas("contract_deliveries").add_dataframe_asset(asset_name)
    return context, asset.add_batch_definition_whole_dataframe("per_file")


def suite_document(dataset: Dataset) -> dict[str, Any]:
    """The suite in force: the saved JSON under expectations/ if there is one, else derived from the contract."""
    path = suite_path(dataset.id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else suite_config(dataset)


def build_suite(config: dict[str, Any]) -> Any:
    """A GX ExpectationSuite from the suite document."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name=config["name"], meta=config.get("meta") or {})
    for exp in config["expectations"]:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=exp.get("meta"))
        )
    return suite


def validate_contract_frame(
    dataset: Dataset, suite: Any, frame: pd.DataFrame, parameters: dict[str, Any]
) -> GateResult:
    """Validate one delivery of a plan dataset (one GX batch per file)."""
    _, batch_definition = _ephemeral_batch_definition("contract")
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame.replace({"": None})})
    result = batch.validate(
        suite,
        expectation_parameters=parameters,
        result_format={
            "result_format": "COMPLETE",
            "unexpected_index_column_names": ["row_number"],
            "return_unexpected_index_query": False,
            "partial_unexpected_count": 5,
        },
    )
    return collect_findings(result)
