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


GAP_REASONS = {
    "overdue": "overdue: not received",
    "rejected": "rejected (see above)",
    "received": "received, but no delivery for it is in the landing zone now, so its rows no longer count",
    "late": "received, but no delivery for it is in the landing zone now, so its rows no longer count",
}


def _months_missing(con: Any, *, with_board: bool) -> dict[str, list[dict[str, Any]]]:
    """Per agency, the months audit.data_completeness finds without its accepted delivery (the months
    the caveats name), the partnerships short of them and the arrival board's status of the period."""
    board = (
        "asof left join raw.arrival_board as b "
        "on b.agency = g.agency and b.dataset = g.dataset and g.month >= b.period"
        if with_board
        else "left join (select null as status) as b on false"
    )
    rows = con.execute(
        f"""
        with gaps as (
            select trim(m.agency) as agency, c.dataset, strftime(c."month", '%Y-%m') as month,
                   string_agg(c.partnership_code, ', ' order by c.partnership_code) as partnerships
            from audit.data_completeness as c, unnest(string_split(c.missing_from, ',')) as m (agency)
            where not c.complete
            group by all
        )
        select g.agency, g.dataset, g.month, g.partnerships, b.status
        from gaps as g {board}
        order by g.agency, g.dataset, g.month
        """  # noqa: S608 (no value is interpolated, only one of two fixed join clauses)
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for agency, dataset, month, partnerships, status in rows:
        out[agency].append(
            {"dataset": dataset, "month": month, "partnerships": partnerships, "status": status}
        )
    return out


ACCOUNTING = ("rows_read", "rows_counted", "rows_duplicate", "rows_unlocated", "rows_outside_region",
              "rows_quarantined", "rows_superseded")  # fmt: skip


def _row_accounting(con: Any) -> dict[str, list[dict[str, Any]]]:
    """Per agency, every delivery's row accounting from the reconciliation marts (police.uk files and
    agency deliveries, rejected ones included): the feedback's figures are the reconciliation's."""
    rows = con.execute(
        """
        select agency, 'police_uk_street' as dataset, period, source_file, outcome, rows_read, rows_counted,
               rows_duplicate, rows_unlocated, rows_outside_region, rows_quarantined, null as rows_superseded
        from audit.reconciliation
        union all
        select agency, dataset, period, source_file,
               case when outcome = 'loaded' and not is_current then 'no longer counted' else outcome end,
               rows_read, rows_counted, rows_duplicate, rows_unlocated, null, rows_quarantined, rows_superseded
        from audit.delivery_reconciliation
        order by agency, dataset, period, source_file, outcome
        """
    ).fetchall()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    names = ("agency", "dataset", "period", "source_file", "outcome", *ACCOUNTING)
    for row in rows:
        record = dict(zip(names, row, strict=True))
        out[record["agency"]].append(record)
    return out


def _count(value: Any) -> str:
    return "–" if value is None else str(value)


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
        # police.uk rows held back as the reconciliation counts them (the gate's rules and the counting
        # rules' lsoa_not_in_lookup alike, one reason per row); agency rows by the gate's rules
        quarantine = con.execute(
            """
            select q.agency, q.dataset, f.rule, count(*) as n,
                   min(struct_pack(file := q.latest_file, row_number := f.row_number)) as first
            from audit.data_quality q
            join (
                select v.dataset, v.source_file, r.row_number, r.rule from raw.delivery_row_failures r
                join raw.delivery_validations v using (sha256) where v.dataset <> 'police_uk_street'
                union all
                select 'police_uk_street', source_file, row_number, rule from audit.quarantined_rows
            ) f on f.dataset = q.dataset and f.source_file = q.latest_file
            group by all order by 1, 2, 3
            """
        ).fetchall()
        accounting = _row_accounting(con)
        board = _late_and_missing(con)
        gaps = _months_missing(con, with_board=board is not None)
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
    for agency, dataset, rule, n, first in quarantine:
        held[agency].append((dataset, rule, n, first["row_number"], first["file"]))

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    index = ["# Data-quality feedback to agencies", "",
             "| agency | delivery periods | rejected | late or overdue | rows held back | with warnings |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for agency in sorted(set(by_agency) | set(board or {}) | set(rejections) | set(gaps)):
        items = by_agency.get(agency, [])
        rejected = rejections.get(agency, [])
        late = (
            board.get(agency, [])
            if board is not None
            else [r for r in items if r["arrival_status"] in ("late", "overdue")]
        )
        warned = [r for r in items if r["warnings"]]
        rows_held = sum(x[2] for x in held[agency])
        problems = len(rejected) + len(late) + len(warned) + len(held[agency]) + len(gaps.get(agency, []))
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
        if gaps.get(agency):
            lines += ["", "## Months the partnerships' figures lack your data", "",
                      "No accepted delivery of yours counts for these months, so the partnerships' counts for them "
                      "are short: their audits name the gap and report no change over those years as a finding.",
                      ""]  # fmt: skip
            for g in gaps[agency]:
                lines.append(f"- **{g['dataset']} {g['month']}**: missing from the figures of {g['partnerships']} "
                             f"— {GAP_REASONS.get(g['status'], 'no accepted delivery')}")  # fmt: skip
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
        if accounting.get(agency):
            lines += ["", "## Every row of every delivery", "",
                      "What became of each row read (as in the warehouse's reconciliation): counted, a duplicate "
                      "(a further row of one already counted), unlocated (no area), outside the region, held back "
                      "(quarantined), or superseded: its delivery no longer counts (replaced by a corrected one, or withdrawn from the landing zone). A rejected file counts nothing.", "",
                      "| dataset | period | file | outcome | rows read | counted | duplicate | unlocated | "
                      "outside region | held back | superseded |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
            for r in accounting[agency]:
                cells = [_count(r[c]) for c in ACCOUNTING]
                lines.append(f"| {r['dataset']} | {r['period']} | `{r['source_file']}` | {r['outcome']} | "
                             + " | ".join(cells) + " |")  # fmt: skip
        if warned:
            lines += ["", "## Warnings (data used, with a caveat)", "",
                      "A warning counts the rows that failed its rule, which need not be the rows the table above "
                      "sets aside: a Crime ID repeated in two rows fails crime_id_unique twice and is one duplicate; "
                      "a row in another force's area inside the region fails lsoa_in_force_area and still counts.", ""]  # fmt: skip
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
            if not all(set(c.strip()) <= {"-", ":"} for c in line.strip().strip("|").split("|")):
                table.append(cells)  # (a |---|---| line only separates the header)
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
