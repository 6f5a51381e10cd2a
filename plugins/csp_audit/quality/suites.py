"""The suite in force for each dataset, as plain data and as a Great Expectations suite.

A suite saved under ``expectations/expectations/<dataset>.json`` (police.uk's, or a generated one a
data engineer tuned) takes precedence; otherwise it is derived from the dataset's data contract
(:mod:`csp_audit.quality.contract_suites`) with the plan's extra rules. A suite may name, in
``meta.file_suite``, a second suite of rules on one summary row per file (share of rows located, rows
against the agency's trailing months): police.uk's ``police_uk_file``.

The fingerprint of a suite covers its rules only (type, kwargs, meta), so changing a rule re-validates
every delivery, while ids and GX bookkeeping do not.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from csp_audit.paths import expectations_dir
from csp_audit.plan.model import Dataset
from csp_audit.quality.contract_suites import AREA_UNKNOWN, BATCH_FILE, suite_config

KNOWN_AREAS = {"$PARAMETER": "known_areas"}


def suite_path(suite_name: str) -> Path:
    return expectations_dir() / "expectations" / f"{suite_name}.json"


def saved(suite_name: str) -> dict[str, Any]:
    """A suite saved in the repository's expectations folder."""
    return json.loads(suite_path(suite_name).read_text(encoding="utf-8"))


def suite_document(dataset: Dataset) -> dict[str, Any]:
    """The suite in force: the saved JSON under expectations/ if there is one, else derived from the contract."""
    path = suite_path(dataset.id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else suite_config(dataset)


def file_suite_document(document: dict[str, Any]) -> dict[str, Any] | None:
    """The per-file summary suite a suite names in ``meta.file_suite``, if any."""
    name = (document.get("meta") or {}).get("file_suite")
    return saved(str(name)) if name else None


def fingerprint_of(document: dict[str, Any]) -> str:
    """Hash of a suite's rules as plain data (type, kwargs, meta of each expectation)."""
    rules = [
        {"type": e["type"], "kwargs": e["kwargs"], "meta": e.get("meta", {})}
        for e in document["expectations"]
    ]
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(dataset: Dataset) -> str:
    """The gate's fingerprint for a dataset: its suite and, if it has one, its file suite."""
    document = suite_document(dataset)
    files = file_suite_document(document)
    return fingerprint_of(document)[:8] + (
        fingerprint_of(files)[:8] if files else fingerprint_of(document)[8:]
    )


def for_batches(document: dict[str, Any]) -> dict[str, Any]:
    """The suite as it runs on a batch of several files: shape and uniqueness rules stated per file.

    Suites written for one file at a time (saved before batches existed) keep working: ``_file`` is
    added to the expected column list and set, to compound uniqueness, and a uniqueness rule on one
    column becomes uniqueness of (column, ``_file``). Suites that already name ``_file`` are unchanged.

    The known-area rule (the area column in set ``known_areas``) becomes "``_area_not_in_lookup`` is
    null": the batch table computes that column with a join against the lookup's codes. GX would write
    every code of the lookup into its SQL as a literal (36,579 LSOAs), which DuckDB takes about 18 s to
    evaluate over half a million rows, against 0.03 s for the join. The finding still quotes the codes,
    since the column holds the unknown code itself. The column comes last, after ``_file``.
    """
    out = copy.deepcopy(document)
    known = any(_is_known_area_rule(exp) for exp in out["expectations"])
    for exp in out["expectations"]:
        kwargs = exp["kwargs"]
        kind = exp["type"]
        added = [BATCH_FILE, AREA_UNKNOWN] if known else [BATCH_FILE]
        if kind == "expect_table_columns_to_match_ordered_list":
            kwargs["column_list"] = [
                *kwargs["column_list"],
                *(c for c in added if c not in kwargs["column_list"]),
            ]
        elif kind == "expect_table_columns_to_match_set":
            kwargs["column_set"] = [
                *kwargs["column_set"],
                *(c for c in added if c not in kwargs["column_set"]),
            ]
        elif _is_known_area_rule(exp):
            exp["type"] = "expect_column_values_to_be_null"
            exp["kwargs"] = {"column": AREA_UNKNOWN} | {
                k: v for k, v in kwargs.items() if k not in ("column", "value_set")
            }
        elif kind == "expect_compound_columns_to_be_unique" and BATCH_FILE not in kwargs["column_list"]:
            kwargs["column_list"] = [*kwargs["column_list"], BATCH_FILE]
        elif kind == "expect_column_values_to_be_unique" and not str(kwargs["column"]).startswith("_file"):
            exp["type"] = "expect_compound_columns_to_be_unique"
            exp["kwargs"] = {"column_list": [kwargs["column"], BATCH_FILE]} | {
                k: v for k, v in kwargs.items() if k != "column"
            }
    return out


def _is_known_area_rule(exp: dict[str, Any]) -> bool:
    return (
        exp["type"] == "expect_column_values_to_be_in_set" and exp["kwargs"].get("value_set") == KNOWN_AREAS
    )


def checks_known_areas(document: dict[str, Any]) -> str | None:
    """The column a suite checks against the lookup's codes (rule "in set ``known_areas``"), if any."""
    return next(
        (str(e["kwargs"]["column"]) for e in document["expectations"] if _is_known_area_rule(e)), None
    )


def build_suite(document: dict[str, Any]) -> Any:
    """A GX ExpectationSuite from a suite document (imports GX: call inside tasks only)."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name=document["name"], meta=document.get("meta") or {})
    for exp in document["expectations"]:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=exp["type"], kwargs=exp["kwargs"], meta=exp.get("meta"))
        )
    return suite


def rule_explanations(documents: list[dict[str, Any]]) -> dict[str, str]:
    """rule -> why, from the suites' ``meta`` (for the feedback to agencies)."""
    out: dict[str, str] = {}
    for document in documents:
        for exp in document.get("expectations", []):
            meta = exp.get("meta") or {}
            if meta.get("rule") and meta.get("why"):
                out.setdefault(meta["rule"], meta["why"])
    return out
