"""Feedback to agencies: per agency, a short report of what failed in its deliveries and what to fix.

Audit data was "inaccurate, incomplete, inaccessible"; telling each agency precisely which file,
line and rule failed, in plain words, is how the next delivery gets better. The reports are
Markdown (readable as they are, and by any Markdown viewer) written beside the warehouse in
``feedback/<agency>.md``, built from the data-quality marts and the gate's quarantine.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from csp_audit import warehouse
from csp_audit.quality.suites import rule_explanations as suite_explanations

ADVICE = {
    "utf8_encoding": "Save the file as UTF-8 (in Excel: 'CSV UTF-8').",
    "header_present": "The file was empty; send the extract again.",
    "field_count": "A line has more or fewer fields than the header: check for unquoted commas in text fields.",
    "csv_syntax": "The CSV quoting is broken (an unclosed quote or a stray NUL byte); re-export the file.",
    "lsoa_not_in_lookup": "The LSOA code is not in the lookup of the agreed vintage; use 2011 LSOA codes.",
}


def rule_explanations(suites: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """rule -> why, from the suites in force (police.uk's among them), plus the structural rules."""
    return dict(ADVICE) | {k: v for k, v in suite_explanations(suites or []).items() if k not in ADVICE}


def _explain(rule: str | None, why: dict[str, str]) -> str:
    if not rule:
        return ""
    parts = [why[r] for r in rule.split(";") if r in why]
    if rule.startswith("header_matches"):
        parts.append("Use exactly the columns the data plan agreed, in that order.")
    return " ".join(parts)


def write_feedback(
    warehouse_file: str, out_dir: Path, suites: list[dict[str, Any]] | None = None
) -> list[Path]:
    """One Markdown report per agency with any problem; an index of all agencies. Returns the files."""
    why = rule_explanations(suites)
    with warehouse.connect(Path(warehouse_file), read_only=True) as con:
        quality = con.execute(
            "select dataset, agency, period, latest_file, gate_outcome, failed_rule, failed_line, failed_detail, "
            "warnings, rows_read, rows_quarantined, rows_duplicate, validity, share_located, due_date, "
            "days_after_due, arrival_status from audit.data_quality order by agency, dataset, period"
        ).fetchall()
        columns = [d[0] for d in con.description]
        quarantine = con.execute(
            """
            select q.agency, q.dataset, f.rule, count(*) as n, min(f.row_number) as first_row,
                   any_value(q.latest_file) as file
            from audit.data_quality q
            join (
                select v.source_file, r.row_number, r.rule from raw.delivery_row_failures r
                join raw.delivery_validations v using (sha256)
            ) f on f.source_file = q.latest_file
            group by all order by 1, 2, 3
            """
        ).fetchall()
    rows = [dict(zip(columns, r, strict=True)) for r in quality]
    by_agency: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_agency[row["agency"]].append(row)
    held: dict[str, list[tuple]] = defaultdict(list)
    for agency, dataset, rule, n, first_row, file in quarantine:
        held[agency].append((dataset, rule, n, first_row, file))

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    index = ["# Data-quality feedback to agencies", "", "| agency | deliveries | problems |", "|---|---|---|"]
    for agency in sorted(by_agency):
        items = by_agency[agency]
        rejected = [r for r in items if r["gate_outcome"] == "rejected"]
        late = [r for r in items if r["arrival_status"] in ("late", "overdue")]
        warned = [r for r in items if r["warnings"]]
        problems = len(rejected) + len(late) + len(warned) + len(held[agency])
        index.append(f"| [{agency}]({agency}.md) | {len(items)} | {problems} |")
        lines = [f"# Data-quality feedback: {agency}", ""]
        lines.append(
            f"{len(items)} delivery periods checked; {len(rejected)} rejected, {len(late)} late or overdue, "
            f"{sum(x[2] for x in held[agency])} rows held back, "
            f"{len(warned)} with warnings."
        )
        if rejected:
            lines += ["", "## Deliveries we could not load", "",
                      "Nothing from these files was used. Please correct and send them again.", ""]  # fmt: skip
            for r in rejected:
                lines.append(
                    f"- **{r['dataset']} {r['period']}**: `{r['latest_file']}`, line {r['failed_line']}: "
                    f"rule `{r['failed_rule']}` — {r['failed_detail']}. {_explain(r['failed_rule'], why)}"
                )
        if held[agency]:
            lines += ["", "## Rows held back (quarantined)", "",
                      "The rest of each file was used; these rows were not.", "",
                      "| dataset | rule | rows | first row | file | what to fix |", "|---|---|---|---|---|---|"]  # fmt: skip
            for dataset, rule, n, first_row, file in held[agency]:
                lines.append(
                    f"| {dataset} | `{rule}` | {n} | {first_row} | `{file}` | {_explain(rule, why)} |"
                )
        if late:
            lines += ["", "## Late or missing deliveries", ""]
            for r in late:
                when = (
                    f"{r['days_after_due']} days after"
                    if r["days_after_due"] is not None
                    else "not received by"
                )
                lines.append(
                    f"- **{r['dataset']} {r['period']}**: {r['arrival_status']} ({when} the due date {r['due_date']})"
                )
        if warned:
            lines += ["", "## Warnings (data used, with a caveat)", ""]
            for r in warned:
                explained = "; ".join(
                    f"{w.strip()} — {_explain(w.split(' (')[0].strip(), why)}"
                    for w in r["warnings"].split(";")
                )
                lines.append(f"- **{r['dataset']} {r['period']}**: {explained}")
        if problems == 0:
            lines += ["", "Every delivery was complete, on time and passed every check. Thank you."]
        path = out_dir / f"{agency}.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    (out_dir / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    return written
