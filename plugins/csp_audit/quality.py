"""Great Expectations gate for deliveries: one batch per delivered file.

The suites live in the GX file context under ``expectations/`` and are the single source of the
rules. Each expectation's ``meta`` carries our severity:

- ``critical``: the file is rejected whole (nothing loads) and the rule is reported;
- ``quarantine``: the failing rows (by ``row_number``) go to the quarantine with ``meta.rule``,
  the rest of the file still counts;
- ``warning``: reported with counts, nothing is held back.

Great Expectations costs seconds to import, so this module imports it lazily: DAG files can
import ``csp_audit`` freely and parse fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from csp_audit.paths import expectations_dir

DATASOURCE = "deliveries"
BATCH_DEFINITION = "per_file"
SEVERITIES = ("critical", "quarantine", "warning")


@dataclass
class Finding:
    """One failed expectation on one file."""

    rule: str
    severity: str
    unexpected_count: int
    detail: str

    def for_rows(self, entries: list[dict[str, Any]], index_columns: tuple[str, ...]) -> Finding:
        """The same finding restricted to one file's unexpected rows (entries of GX's index list)."""
        sample = [next((v for k, v in e.items() if k not in index_columns), None) for e in entries[:3]]
        return Finding(self.rule, self.severity, len(entries), f"{len(entries)} rows failed; e.g. {sample!r}")


@dataclass
class GateResult:
    """What the gate decided for one file."""

    findings: list[Finding] = field(default_factory=list)
    quarantined: dict[int, list[str]] = field(default_factory=dict)  # row_number -> rules
    result: Any = None  # the GX validation result, for Data Docs

    @property
    def critical(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "critical"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]


def suite_path(suite_name: str) -> Path:
    return expectations_dir() / "expectations" / f"{suite_name}.json"


def suite_fingerprint(suite_name: str) -> str:
    """Hash of the suite's rules (ids and GX metadata excluded) so a changed suite re-validates files."""
    return fingerprint_of(json.loads(suite_path(suite_name).read_text(encoding="utf-8")))


def fingerprint_of(suite: dict[str, Any]) -> str:
    """Hash of a suite's rules as plain data (type, kwargs, meta of each expectation)."""
    rules = [
        {"type": e["type"], "kwargs": e["kwargs"], "meta": e.get("meta", {})} for e in suite["expectations"]
    ]
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]


@cache
def _context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    import great_expectations as gx

    return gx.get_context(mode="file", context_root_dir=str(expectations_dir()))


@cache
def _context_and_suite(suite_name: str, batch_definition: str = BATCH_DEFINITION) -> tuple[Any, Any, Any]:
    context = _context()
    suite = context.suites.get(suite_name)
    asset = context.data_sources.get(DATASOURCE).get_asset(suite_name)
    return context, suite, asset.get_batch_definition(batch_definition)


def _severity(config: Any) -> tuple[str, str]:
    meta = config.meta or {}
    severity = meta.get("severity", "critical")
    if severity not in SEVERITIES:
        raise ValueError(f"expectation {config.type} has unknown meta.severity {severity!r}")
    return severity, meta.get("rule", config.type)


def validate_frame(
    suite_name: str,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    batch_definition_name: str = BATCH_DEFINITION,
) -> GateResult:
    """Validate one file's rows (with a ``row_number`` column) and sort findings by severity."""
    _, suite, batch_definition = _context_and_suite(suite_name, batch_definition_name)
    # GX treats None/NaN as missing; police.uk writes missing values as empty strings.
    gx_frame = frame.replace({"": None})
    batch = batch_definition.get_batch(batch_parameters={"dataframe": gx_frame})
    result = batch.validate(
        suite,
        expectation_parameters=parameters,
        result_format=result_format(["row_number"], partial_unexpected_count=5),
    )
    return collect_findings(result)


def result_format(index_columns: list[str], partial_unexpected_count: int) -> dict[str, Any]:
    """Every failing row with its index columns (the quarantine needs them all), few sample values."""
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": index_columns,
        "return_unexpected_index_query": False,
        "partial_unexpected_count": partial_unexpected_count,
    }


def collect_findings(result: Any) -> GateResult:
    """Turn a GX validation result into findings by severity and quarantined row numbers."""
    gate = GateResult(result=result)
    for item in result.results:
        if item.success:
            continue
        severity, rule = _severity(item.expectation_config)
        res = item.result or {}
        if item.exception_info and item.exception_info.get("raised_exception"):
            gate.findings.append(
                Finding(
                    rule, "critical", 0, f"could not evaluate: {item.exception_info.get('exception_message')}"
                )
            )
            continue
        count = int(res.get("unexpected_count") or 0)
        sample = res.get("partial_unexpected_list") or []
        detail = f"{count} rows failed; e.g. {sample[:3]!r}" if count else json.dumps(res, default=str)[:300]
        gate.findings.append(Finding(rule, severity, count, detail))
        if severity == "quarantine":
            for hit in res.get("unexpected_index_list") or []:
                gate.quarantined.setdefault(int(hit["row_number"]), []).append(rule)
    return gate


def findings_by_key(
    result: Any, key: str, index_columns: tuple[str, ...] = ("_file", "row_number")
) -> list[tuple[Finding, dict[Any, list[dict[str, Any]]] | None]]:
    """Each failed expectation of a batch with its unexpected rows grouped by ``key`` (the file).

    The grouping is None when the failure belongs to the whole batch (a table-level rule, or an
    expectation that could not be evaluated): the caller applies it to every file in the batch.
    Entries carry the index columns (``row_number``) and the failing value.
    """
    out: list[tuple[Finding, dict[Any, list[dict[str, Any]]] | None]] = []
    for item in result.results:
        if item.success:
            continue
        severity, rule = _severity(item.expectation_config)
        res = item.result or {}
        if item.exception_info and item.exception_info.get("raised_exception"):
            message = item.exception_info.get("exception_message")
            out.append((Finding(rule, "critical", 0, f"could not evaluate: {message}"), None))
            continue
        entries = res.get("unexpected_index_list")
        if not entries:
            detail = json.dumps(res, default=str)[:300]
            out.append((Finding(rule, severity, int(res.get("unexpected_count") or 0), detail), None))
            continue
        grouped: dict[Any, list[dict[str, Any]]] = {}
        for entry in entries:
            grouped.setdefault(int(entry[key]), []).append(
                {k: (int(v) if k in index_columns else v) for k, v in entry.items()}
            )
        out.append((Finding(rule, severity, len(entries), ""), grouped))
    return out


def suite(suite_name: str) -> Any:
    """A suite as saved in the repo's GX context (for batches validated elsewhere, e.g. in DuckDB)."""
    return _context().suites.get(suite_name)
