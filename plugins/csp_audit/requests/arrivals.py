"""Arrival tracking: which requested deliveries have come in, which are late, overdue or were rejected.

The board is the follow-up half of the co-ordinated request: one place where every partnership can see, per
agency, dataset and period, whether the shared delivery has arrived, so nobody chases an agency separately.
Deliveries are matched on (agency, dataset, period) only, the same key the requests use. For now arrivals
come from a scan of the landing folder; the model takes plain ``Received`` records so the warehouse's
delivery table can feed it later without changes here.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from csp_audit.plan.model import DataPlan
from csp_audit.plan.periods import MONTH_RE

STATUSES: tuple[str, ...] = ("overdue", "rejected", "late", "received", "requested")
STATUS_LABELS: dict[str, str] = {
    "requested": "Requested",
    "received": "Received",
    "late": "Received late",
    "overdue": "Overdue",
    "rejected": "Rejected",
}
REJECTED_FOLDER = "rejected"  # files under <period>/rejected/ are deliveries the gate refused


@dataclass(frozen=True)
class Expected:
    """One delivery the plan asks for in the cycle."""

    agency: str
    agency_name: str
    dataset: str
    period: str  # YYYY-MM of the period's first month
    period_label: str
    due_date: date


@dataclass(frozen=True)
class Received:
    """One file that arrived for (agency, dataset, period); ``outcome`` is 'accepted' or 'rejected'."""

    agency: str
    dataset: str
    period: str
    received_at: datetime
    outcome: str
    source_file: str


# the columns of raw.arrival_board, in order (fields of BoardRow)
BOARD_COLUMNS = ("agency", "agency_name", "dataset", "period", "period_label", "due_date", "status", "received_at",
                 "deliveries", "source_file")  # fmt: skip


@dataclass(frozen=True)
class BoardRow:
    """An expected delivery with its status; ``received_at``/``source_file`` are of the latest delivery."""

    agency: str
    agency_name: str
    dataset: str
    period: str
    period_label: str
    due_date: date
    status: str
    received_at: datetime | None = None
    source_file: str = ""
    deliveries: int = 0


def expected_deliveries(plan: DataPlan, cycle: str | None, today: date) -> list[Expected]:
    """Every agency x dataset x period of the cycle (``YYYY-MM``; default: the cycle ``today`` falls in)."""
    chosen = plan.cycle_for(cycle) if cycle else plan.cycle.containing(today)
    out = []
    for agency in plan.agencies.values():
        for dataset in plan.datasets_of(agency.id):
            for period in chosen.periods(dataset.cadence):
                out.append(
                    Expected(
                        agency.id,
                        agency.name,
                        dataset.id,
                        period.key,
                        period.label,
                        period.due_date(dataset.due_day),
                    )
                )
    return out


def _status(expected: Expected, deliveries: list[Received], today: date) -> str:
    """Latest delivery decides rejected; the first accepted one decides on time or late."""
    if not deliveries:
        return "overdue" if today > expected.due_date else "requested"
    if deliveries[-1].outcome == "rejected":
        return "rejected"
    first_ok = next(d for d in deliveries if d.outcome == "accepted")
    return "late" if first_ok.received_at.date() > expected.due_date else "received"


def arrival_board(expected: list[Expected], received: list[Received], today: date) -> list[BoardRow]:
    """One row per expected delivery, in the order given, with its status as of ``today``."""
    by_key: dict[tuple[str, str, str], list[Received]] = defaultdict(list)
    for item in sorted(received, key=lambda r: (r.received_at, r.source_file)):
        by_key[(item.agency, item.dataset, item.period)].append(item)
    rows = []
    for exp in expected:
        got = by_key.get((exp.agency, exp.dataset, exp.period), [])
        latest = got[-1] if got else None
        rows.append(
            BoardRow(
                exp.agency,
                exp.agency_name,
                exp.dataset,
                exp.period,
                exp.period_label,
                exp.due_date,
                _status(exp, got, today),
                latest.received_at if latest else None,
                latest.source_file if latest else "",
                len(got),
            )
        )
    return rows


def unmatched(expected: list[Expected], received: list[Received]) -> list[Received]:
    """Deliveries that match no expected one (wrong period folder, another cycle): worth a look, not lost."""
    keys = {(e.agency, e.dataset, e.period) for e in expected}
    return [r for r in received if (r.agency, r.dataset, r.period) not in keys]


def scan_landing(plan: DataPlan, landing: Path) -> list[Received]:
    """Files under ``<landing>/<dataset folder>/<YYYY-MM>/`` as deliveries, received at their mtime.

    Hidden files (``.DS_Store``, partial uploads) and symbolic links are skipped, the latter so a landing
    folder cannot point the board at files elsewhere; files under a ``rejected/`` subfolder count as rejected.
    """
    out = []
    for dataset in plan.datasets.values():
        for agency in dataset.agencies:
            folder = landing / dataset.landing_folder(agency)
            if not folder.is_dir():
                continue
            for period_dir in sorted(p for p in folder.iterdir() if p.is_dir() and MONTH_RE.match(p.name)):
                for path in sorted(period_dir.rglob("*")):
                    inside = path.relative_to(period_dir).parts
                    if path.is_symlink() or not path.is_file() or any(p.startswith(".") for p in inside):
                        continue
                    out.append(
                        Received(
                            agency,
                            dataset.id,
                            period_dir.name,
                            datetime.fromtimestamp(path.stat().st_mtime),
                            "rejected" if REJECTED_FOLDER in inside[:-1] else "accepted",
                            path.relative_to(landing).as_posix(),
                        )
                    )
    return out


def summary(rows: Iterable[BoardRow]) -> str:
    """``3 overdue, 1 rejected, 10 received, 140 requested``: counts in order of urgency."""
    counts = Counter(row.status for row in rows)
    return (
        ", ".join(f"{counts[s]} {STATUS_LABELS[s].lower()}" for s in STATUSES if counts[s])
        or "nothing expected"
    )


def _received_text(row: BoardRow) -> str:
    return row.received_at.strftime("%Y-%m-%d %H:%M") if row.received_at else ""


def format_board(rows: list[BoardRow]) -> str:
    """A plain-text table for the terminal or an e-mail, with a summary line."""
    header = ("AGENCY", "DATASET", "PERIOD", "DUE", "STATUS", "RECEIVED", "FILE")
    table = [header] + [
        (r.agency, r.dataset, r.period, r.due_date.isoformat(), r.status, _received_text(r), r.source_file)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table
    ]
    return "\n".join([*lines, "", summary(rows)]) + "\n"


# ------------------------------------------------------------------------------------------------------ HTML

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       padding: 1rem; max-width: 72rem; color: #1b1b1b; background: #fff; line-height: 1.4; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
p.meta { margin: 0 0 1rem; color: #444; }
ul.counts { list-style: none; padding: 0; margin: 0 0 1rem; display: flex; flex-wrap: wrap; gap: .5rem; }
table { border-collapse: collapse; width: 100%; font-size: .95rem; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f3f3f3; }
td.file { word-break: break-all; color: #444; font-size: .85rem; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: .75rem; font-weight: 600;
         border: 1px solid currentColor; white-space: nowrap; }
.requested { color: #1d3f6e; background: #e8f0fb; }
.received { color: #0b5a1f; background: #e3f4e6; }
.late { color: #6b4700; background: #fff1cc; }
.overdue { color: #8a1010; background: #fde2e2; }
.rejected { color: #5b1a6e; background: #f3e3f8; }
@media (max-width: 40rem) {
  thead { display: none; }
  table, tbody, tr, td { display: block; width: 100%; }
  tr { border: 1px solid #ddd; border-radius: .5rem; margin: 0 0 .75rem; padding: .25rem 0; }
  td { border: 0; padding: .2rem .75rem; }
  td::before { content: attr(data-label) ": "; font-weight: 600; color: #444; }
}
"""
_COLUMNS = ("Agency", "Dataset", "Period", "Due", "Status", "Received", "File")
_CLASS = {"File": ' class="file"'}


def _badge(status: str) -> str:
    return f'<span class="badge {status}">{html.escape(STATUS_LABELS[status])}</span>'


def _table(rows: list[BoardRow]) -> list[str]:
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{c}</th>" for c in _COLUMNS) + "</tr></thead>", "<tbody>"]
    for r in rows:
        cells = (
            html.escape(r.agency_name),
            html.escape(r.dataset),
            html.escape(r.period_label),
            r.due_date.isoformat(),
            _badge(r.status),
            html.escape(_received_text(r)) or "&#8212;",
            html.escape(r.source_file),
        )
        tds = "".join(
            f'<td data-label="{label}"{_CLASS.get(label, "")}>{cell}</td>'
            for label, cell in zip(_COLUMNS, cells, strict=True)
        )
        out.append(f"<tr>{tds}</tr>")
    out += ["</tbody>", "</table>"]
    return out


def board_html(rows: list[BoardRow], *, title: str = "Data deliveries", as_of: date | None = None) -> str:
    """A self-contained page (inline CSS, no scripts, no external assets); every value is escaped."""
    counts = Counter(row.status for row in rows)
    meta = f"As of {as_of.isoformat()}. " if as_of else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en-GB">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(meta)}{len(rows)} deliveries expected.</p>',
        '<ul class="counts">',
        *[f"<li>{_badge(s)} {counts[s]}</li>" for s in STATUSES if counts[s]],
        "</ul>",
    ]
    urgent = [r for r in rows if r.status in {"overdue", "rejected"}]
    if urgent:
        parts += ["<h2>Needs chasing</h2>", *_table(urgent)]
    parts += ["<h2>All deliveries</h2>", *_table(rows), "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_board_html(
    rows: list[BoardRow], path: Path, *, title: str = "Data deliveries", as_of: date | None = None
) -> Path:
    """Write :func:`board_html` to ``path`` (folders created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(board_html(rows, title=title, as_of=as_of), encoding="utf-8", newline="\n")
    return path
