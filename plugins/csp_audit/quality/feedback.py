"""Feedback to agencies: per agency, a short report of what failed in its deliveries and what to fix.

Audit data was "inaccurate, incomplete, inaccessible"; telling each agency precisely which file,
line and rule failed, in plain words, is how the next delivery gets better. The reports are
Markdown (readable as they are, and by any Markdown viewer) and the same as an HTML page, written
beside the warehouse in ``feedback/<agency>.md`` / ``.html``, with an index across agencies, built
from the data-quality marts, the arrival board and the gate's quarantine.
"""

from __future__ import annotations

import html
import re
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


def _late_and_missing(con: Any) -> dict[str, list[dict[str, Any]]] | None:
    """Late and overdue deliveries per agency from the arrival board (an overdue delivery never
    arrived, so it has no data-quality row: without the board the report would thank the agency)."""
    present = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}  # fmt: skip
    if "arrival_board" not in present:
        return None
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for agency, dataset, period, due, status, received in con.execute(
        "select agency, dataset, period, due_date, status, received_at from raw.arrival_board "
        "where status in ('late', 'overdue') order by agency, dataset, period"
    ).fetchall():
        days = (received.date() - due).days if received is not None and due is not None else None
        out[agency].append({"dataset": dataset, "period": period, "due_date": due, "arrival_status": status,
                            "days_after_due": days})  # fmt: skip
    return out


def _warning_rules(text: str | None) -> list[str]:
    return [w.split(" (")[0].strip() for w in (text or "").split(";") if w.strip()]


def write_feedback(
    warehouse_file: str, out_dir: Path, suites: list[dict[str, Any]] | None = None
) -> list[Path]:
    """One report per agency (Markdown and a readable HTML page) and an index of all agencies.

    Per agency: every delivery period checked, the deliveries rejected (file, line, rule), the rows
    held back (rule, rows, the first as an example), the late and overdue deliveries (from the arrival
    board), the warnings with the rows that failed each rule, and, once, what each rule named means.
    Returns the Markdown files.
    """
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
        board = _late_and_missing(con)
        # every rejected delivery, also a rejected re-delivery of a period whose earlier file was good
        # (data_quality shows one file per period, the one that counts)
        refused = con.execute(
            "select agency, dataset, period, source_file, rule, line, detail from raw.delivery_validations "
            "where outcome = 'rejected' order by agency, dataset, period, source_file"
        ).fetchall()
    rows = [dict(zip(columns, r, strict=True)) for r in quality]
    by_agency: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_agency[row["agency"]].append(row)
    rejections: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for agency, dataset, period, file, rule, line, detail in refused:
        rejections[agency].append({"dataset": dataset, "period": period, "latest_file": file, "failed_rule": rule,
                                   "failed_line": line, "failed_detail": detail})  # fmt: skip
    held: dict[str, list[tuple]] = defaultdict(list)
    for agency, dataset, rule, n, first_row, file in quarantine:
        held[agency].append((dataset, rule, n, first_row, file))

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    index = ["# Data-quality feedback to agencies", "",
             "| agency | delivery periods | rejected | late or overdue | rows held back | with warnings |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for agency in sorted(set(by_agency) | set(board or {}) | set(rejections)):
        items = by_agency.get(agency, [])
        rejected = rejections.get(agency, [])
        late = (
            board.get(agency, [])
            if board is not None
            else [r for r in items if r["arrival_status"] in ("late", "overdue")]
        )
        warned = [r for r in items if r["warnings"]]
        rows_held = sum(x[2] for x in held[agency])
        problems = len(rejected) + len(late) + len(warned) + len(held[agency])
        index.append(f"| [{agency}]({agency}.md) | {len(items)} | {len(rejected)} | {len(late)} | {rows_held} | "
                     f"{len(warned)} |")  # fmt: skip
        named: list[str] = []
        lines = [f"# Data-quality feedback: {agency}", ""]
        lines.append(
            f"{len(items)} delivery periods checked; {len(rejected)} rejected, {len(late)} late or overdue, "
            f"{rows_held} rows held back, {len(warned)} with warnings."
        )
        if rejected:
            lines += ["", "## Deliveries we could not load", "",
                      "Nothing from these files was used. Please correct and send them again.", ""]  # fmt: skip
            replaced = {(r["dataset"], r["period"]) for r in items if r["gate_outcome"] == "accepted"}
            for r in rejected:
                named.append(r["failed_rule"] or "")
                since = (
                    " (since replaced by an accepted delivery)"
                    if (r["dataset"], r["period"]) in replaced
                    else ""
                )
                lines.append(
                    f"- **{r['dataset']} {r['period']}**: `{r['latest_file']}`, line {r['failed_line']}: "
                    f"rule `{r['failed_rule']}` — {r['failed_detail']}{since}"
                )
        if held[agency]:
            lines += ["", "## Rows held back (quarantined)", "",
                      "The rest of each file was used; these rows were not.", "",
                      "| dataset | rule | rows | first row (example) | file |", "|---|---|---|---|---|"]  # fmt: skip
            for dataset, rule, n, first_row, file in held[agency]:
                named.append(rule)
                lines.append(f"| {dataset} | `{rule}` | {n} | {first_row} | `{file}` |")
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
                named += _warning_rules(r["warnings"])
                lines.append(
                    f"- **{r['dataset']} {r['period']}** `{r['latest_file']}`: {r['warnings'].strip()}"
                )
        explained = [(rule, _explain(rule, why)) for rule in dict.fromkeys(n for n in named if n)]
        if any(text for _, text in explained):
            lines += ["", "## What the rules mean", ""]
            lines += [f"- `{rule}`: {text}" for rule, text in explained if text]
        if problems == 0:
            lines += ["", "Every delivery was complete, on time and passed every check. Thank you."]
        path = out_dir / f"{agency}.md"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (out_dir / f"{agency}.html").write_text(markdown_page(lines, f"Data-quality feedback: {agency}"),
                                                encoding="utf-8")  # fmt: skip
        written.append(path)
    (out_dir / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    (out_dir / "index.html").write_text(
        markdown_page(
            [line.replace(".md)", ".html)") for line in index], "Data-quality feedback to agencies"
        ),
        encoding="utf-8",
    )
    return written


_INLINE = (
    (re.compile(r"\[([^\]]+)\]\(([A-Za-z0-9_.-]+\.html)\)"), r'<a href="\2">\1</a>'),
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
)
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5;"
    "color:#1b1b1b}table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #bbb;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}th{background:#eef}code{background:#f3f3f3;padding:0 .2rem;"
    "word-break:break-all}h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}"
    "@media print{body{margin:0;max-width:none}}"
)


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out


def markdown_page(lines: list[str], title: str) -> str:
    """The report's own Markdown (headings, lists, tables, paragraphs) as one self-contained HTML page:
    no scripts, no external files, escaped text (file names and details come from agencies)."""
    body: list[str] = []
    table: list[list[str]] = []
    in_list = False

    def close() -> None:
        nonlocal in_list, table
        if in_list:
            body.append("</ul>")
            in_list = False
        if table:
            head, *rest = table
            body.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead>"
                        "<tbody>" + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                                            for row in rest) + "</tbody></table>")  # fmt: skip
            table = []

    for line in lines:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        if line.startswith("- "):
            if table:
                close()
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{_inline(line[2:])}</li>")
            continue
        close()
        if line.startswith("## "):
            body.append(f"<h2>{_inline(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{_inline(line[2:])}</h1>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    close()
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
