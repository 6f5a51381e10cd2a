"""What the gate found, per delivered file: findings by severity and the rows held back.

Every expectation carries our severity in its ``meta``:

- ``critical``: the file is rejected whole (nothing loads) and the rule is reported;
- ``quarantine``: the failing rows (by ``row_number``) are held back under ``meta.rule``; the rest of
  the file still counts;
- ``warning``: reported with the number of rows, nothing is held back.

A batch holds the rows of several files (column ``_file``), so each failed expectation is spread over
the files by the ``_file`` of its unexpected rows: a file gets only its own rows and its own count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "quarantine", "warning")
SAMPLE = 3  # failing values quoted in a finding's detail


@dataclass
class Finding:
    """One failed expectation on one file: ``unexpected_count`` rows of it failed ``rule``."""

    rule: str
    severity: str
    unexpected_count: int
    detail: str

    def summary(self) -> str:
        """``rule (n rows)``: how warnings are listed in ``raw.delivery_validations.warnings``."""
        return f"{self.rule} ({self.unexpected_count} rows)"


@dataclass
class FileFindings:
    """Everything the gate decided about one file."""

    critical: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    quarantined: dict[int, list[str]] = field(default_factory=dict)  # row_number -> rules

    def add(self, finding: Finding, rows: list[int]) -> None:
        if finding.severity == "critical":
            self.critical.append(finding)
        elif finding.severity == "warning":
            self.warnings.append(finding)
        else:
            for row in rows:
                self.quarantined.setdefault(row, []).append(finding.rule)

    def row_failures(self) -> list[tuple[int, str]]:
        return [(row, rule) for row, rules in sorted(self.quarantined.items()) for rule in sorted(set(rules))]

    def warning_text(self) -> str | None:
        return "; ".join(w.summary() for w in sorted(self.warnings, key=lambda w: w.rule)) or None


def severity_of(config: Any) -> tuple[str, str]:
    """(severity, rule) of an expectation configuration; an unknown severity is a suite error."""
    meta = config.meta or {}
    severity = meta.get("severity", "critical")
    if severity not in SEVERITIES:
        raise ValueError(f"expectation {config.type} has unknown meta.severity {severity!r}")
    return severity, meta.get("rule", config.type)


def attribute(result: Any, files: list[int], key: str | None = "_file") -> dict[int, FileFindings]:
    """Spread one batch's validation result over its files.

    A failure with unexpected rows goes to the files those rows came from (``key``), each with its own
    count and sample; a failure without rows (a table-level rule, an expectation that could not be
    evaluated) goes to every file of the batch. With ``key=None`` the batch is one file (``files[0]``).
    """
    out = {index: FileFindings() for index in files}
    for item in result.results:
        if item.success:
            continue
        severity, rule = severity_of(item.expectation_config)
        res = item.result or {}
        if item.exception_info and item.exception_info.get("raised_exception"):
            message = item.exception_info.get("exception_message")
            for found in out.values():
                found.add(Finding(rule, "critical", 0, f"could not evaluate: {message}"), [])
            continue
        entries = res.get("unexpected_index_list")
        if not entries:
            detail = json.dumps(res, default=str)[:300]
            for found in out.values():
                found.add(Finding(rule, severity, int(res.get("unexpected_count") or 0), detail), [])
            continue
        grouped: dict[int, list[dict[str, Any]]] = {}
        for entry in entries:  # the failing rows only, never the batch
            grouped.setdefault(int(entry[key]) if key else files[0], []).append(entry)
        for index, rows in grouped.items():
            sample = [
                next((v for k, v in e.items() if k not in (key, "row_number")), None) for e in rows[:SAMPLE]
            ]
            finding = Finding(rule, severity, len(rows), f"{len(rows)} rows failed; e.g. {sample!r}")
            out[index].add(finding, [int(e["row_number"]) for e in rows if "row_number" in e])
    return out


def result_format(index_columns: list[str]) -> dict[str, Any]:
    """Every failing row with its index columns (the quarantine needs them all), few sample values.

    GX's SQL path cuts the unexpected index list at ``partial_unexpected_count``, so it is unlimited.
    """
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": index_columns,
        "return_unexpected_index_query": False,
        "partial_unexpected_count": 2**31 - 1,
    }
