"""Turn a data plan into ONE co-ordinated request per agency per cycle, as Markdown letters and a CSV.

The point of the shared plan is that an agency serving five partnerships is asked once, not five times, so
requests are grouped by agency and never by partnership: each lists every dataset the agency delivers, every
partnership those deliveries are for, and every delivery date of the cycle. The Markdown is written for the
agency's data officer (plain English, what and when first); the CSV is the same content, one row per agency,
dataset and period, for tracking in a spreadsheet or loading into the warehouse.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from csp_audit.plan.model import Agency, Coordinator, Cycle, DataPlan, Dataset, Sharing
from csp_audit.plan.periods import Period

CSV_COLUMNS: tuple[str, ...] = (
    "agency",
    "agency_name",
    "dataset",
    "period",
    "due_date",
    "partnerships",
    "geography",
    "sharing_level",
    "min_cell_size",
    "fields",
    "period_end",
)
TYPE_LABELS: dict[str, str] = {
    "string": "text",
    "integer": "whole number",
    "number": "number",
    "date": "date (YYYY-MM-DD)",
    "month": "month (YYYY-MM)",
    "datetime": "date and time (YYYY-MM-DD HH:MM)",
    "boolean": "yes/no",
    "code": "code",
}
GRAIN_LABELS: dict[str, str] = {
    "record": "one row per record (for example per incident)",
    "month": "totals per month",
    "quarter": "totals per quarter",
    "year": "totals per year",
}
CADENCE_LABELS: dict[str, str] = {
    "monthly": "every month",
    "quarterly": "every quarter",
    "yearly": "once a year",
}
LEVEL_LABELS: dict[str, str] = {
    "record": "full records",
    "deidentified": "de-identified records",
    "aggregate": "counts only",
}


@dataclass(frozen=True)
class Delivery:
    period: Period
    due_date: date


@dataclass(frozen=True)
class DatasetRequest:
    """One dataset as asked of one agency: the partnerships it is for and every delivery of the cycle."""

    dataset: Dataset
    partnerships: tuple[str, ...]
    deliveries: tuple[Delivery, ...]
    landing_folder: str

    @property
    def pseudonymised(self) -> set[str]:
        return set(self.dataset.sharing.pseudonymise)

    def fields_text(self) -> str:
        """``name (type); patient_id (string, pseudonymise)``: compact enough for one CSV cell."""
        parts = []
        for column in self.dataset.columns:
            notes = [column.type] + (["optional"] if not column.required else [])
            notes += ["pseudonymise"] if column.name in self.pseudonymised else []
            parts.append(f"{column.name} ({', '.join(notes)})")
        return "; ".join(parts)


@dataclass(frozen=True)
class AgencyRequest:
    """Everything one agency is asked for in one cycle, whichever partnerships the data are for."""

    agency: Agency
    plan_name: str
    cycle: Cycle
    partnerships: tuple[str, ...]
    datasets: tuple[DatasetRequest, ...]
    coordinator: Coordinator | None = None
    partnership_names: tuple[tuple[str, str], ...] = ()

    @property
    def deliveries(self) -> int:
        return sum(len(ds.deliveries) for ds in self.datasets)

    @property
    def first_due(self) -> date:
        return min(d.due_date for ds in self.datasets for d in ds.deliveries)

    def partnership_label(self, code: str) -> str:
        name = dict(self.partnership_names).get(code)
        return f"{name} ({code})" if name else code


def render_requests(plan: DataPlan, cycle: str | None = None) -> list[AgencyRequest]:
    """One request per agency that delivers anything in the cycle (``YYYY-MM`` start; default the plan's)."""
    chosen = plan.cycle_for(cycle)
    out = []
    for agency in plan.agencies.values():
        asked = []
        for dataset in plan.datasets_of(agency.id):
            deliveries = tuple(
                Delivery(period, period.due_date(dataset.due_day))
                for period in chosen.periods(dataset.cadence)
            )
            asked.append(
                DatasetRequest(dataset, dataset.covers(agency), deliveries, dataset.landing_folder(agency.id))
            )
        if not asked:
            continue
        covered = tuple(sorted({code for ds in asked for code in ds.partnerships}))
        names = tuple(
            (code, plan.partnership_names[code]) for code in covered if code in plan.partnership_names
        )
        out.append(AgencyRequest(agency, plan.name, chosen, covered, tuple(asked), plan.coordinator, names))
    return out


# ------------------------------------------------------------------------------------------------------ CSV


def write_csv(requests: list[AgencyRequest], out_dir: Path) -> Path:
    """``requests.csv``: one row per agency x dataset x period, with its due date."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "requests.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for request in requests:
            for asked in request.datasets:
                ds = asked.dataset
                for delivery in asked.deliveries:
                    writer.writerow(
                        (
                            request.agency.id,
                            request.agency.name,
                            ds.id,
                            delivery.period.key,
                            delivery.due_date.isoformat(),
                            ";".join(asked.partnerships),
                            ds.geography.code,
                            ds.sharing.level,
                            "" if ds.sharing.min_cell_size is None else ds.sharing.min_cell_size,
                            asked.fields_text(),
                            str(delivery.period.end),
                        )
                    )
    return path


# ------------------------------------------------------------------------------------------------- Markdown


def _md(text: object) -> str:
    """Plain text for Markdown: punctuation that would format, link, break a table or open HTML is escaped."""
    out = " ".join(str(text).split())
    for char in "\\`*_[]<>|&#":
        out = out.replace(char, "\\" + char)
    return out


def _code(text: object) -> str:
    """A code span (field names, folders) that survives backticks and table pipes in the name."""
    value = " ".join(str(text).split()).replace("|", "\\|")
    fence = "``" if "`" in value else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def day_text(day: date) -> str:
    """``Sat 15 May 2021``: the weekday warns when a due date falls on a weekend."""
    return f"{day:%a} {day.day} {day:%B %Y}"


def sharing_terms(sharing: Sharing) -> list[str]:
    """The sharing terms in plain English, one sentence per term."""
    terms = {
        "record": "Send the records as your system holds them, one row per record.",
        "deidentified": (
            "Send one row per record, with names, full addresses, full postcodes, dates of birth and "
            "other details that identify a person directly removed."
        ),
        "aggregate": "Send counts only, never individual records.",
    }
    lines = [terms[sharing.level]]
    if sharing.min_cell_size is not None and sharing.level == "aggregate":
        # Exact counts in, disclosure control on output: a '<5' written as asked would be refused by the
        # gate (counts are whole numbers) and lose every small cell; so the letter asks for what the gate
        # takes, and says who protects the small counts (issue 16).
        lines.append(
            "Send every count exactly as a whole number, small ones and zeros included: do not write "
            "'<5' or leave cells blank. The data-sharing agreement covers exact counts; the partnerships "
            f"publish no figure below {sharing.min_cell_size}, nor one that lets a withheld figure be worked out."
            if sharing.min_cell_size > 1
            else "Send every count exactly as a whole number; small counts need not be suppressed."
        )
    elif sharing.min_cell_size is not None:
        lines.append(
            f"The partnerships will not publish any figure based on fewer than {sharing.min_cell_size} records."
        )
    if sharing.rounding != "none":
        step = sharing.rounding.removeprefix("nearest_")
        lines.append(f"Round every count to the nearest {step}.")
    for name in sharing.pseudonymise:
        lines.append(
            f"Replace {_code(name)} with a pseudonym: a code that is the same for the same person in every "
            "delivery but that nobody outside your organisation can turn back into the original."
        )
    if sharing.retention_months is not None:
        lines.append(
            f"The partnerships keep the data for {sharing.retention_months} months after receiving it, "
            "then delete it."
        )
    return lines


# Agency and dataset ids match [a-z][a-z0-9_]* (schema): intraword '_' never formats, so they go in raw.


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _agency_markdown(request: AgencyRequest) -> str:
    agency = request.agency
    parts = ", ".join(_md(request.partnership_label(c)) for c in request.partnerships)
    lines = [
        f"# Data request for {_md(agency.name)}",
        "",
        f"- **Audit cycle:** {_md(request.cycle.label)} ({request.cycle.months} months)",
        f"- **To:** {_md(agency.name)}, {_md(agency.contact)}",
    ]
    if request.coordinator:
        lines.append(f"- **From:** {_md(request.coordinator.name)}, {_md(request.coordinator.contact)}")
    lines += [
        f"- **For the partnerships:** {parts}",
        f"- **Deliveries:** {request.deliveries}, the first due {day_text(request.first_due)}",
        f"- **Plan:** {_md(request.plan_name)}",
        "",
        f"This is one co-ordinated request on behalf of the {len(request.partnerships)} community safety "
        f"partnership{'s' if len(request.partnerships) != 1 else ''} listed above. Each delivery is shared "
        "between all of them, so please send it once: you should not receive separate requests from these "
        "partnerships for the same data during this cycle.",
        "",
        "## What we are asking for, and when",
        "",
        _row("Dataset", "What it is", "How often", "First due", "Last due"),
        _row("---", "---", "---", "---", "---"),
    ]
    for asked in request.datasets:
        ds = asked.dataset
        lines.append(
            _row(
                ds.id,
                _md(ds.description),
                CADENCE_LABELS[ds.cadence],
                day_text(asked.deliveries[0].due_date),
                day_text(asked.deliveries[-1].due_date),
            )
        )
    for asked in request.datasets:
        lines += ["", *_dataset_section(request, asked)]
    return "\n".join(lines) + "\n"


def _area_level(ds: Dataset) -> str:
    """``LSOA (2011 boundaries), in incident_lsoa_code; where blank: Postcode district, in ...``."""
    geo = ds.geography
    text = geo.label + (f", in {geo.column}" if geo.column else "")
    if geo.fallback is not None:
        text += f"; where that is blank, {geo.fallback.label} in {geo.fallback.column}"
    return text


def _dataset_section(request: AgencyRequest, asked: DatasetRequest) -> list[str]:
    ds = asked.dataset
    lines = [
        f"## {ds.id}",
        "",
        _md(ds.description),
        "",
        f"- **For:** {', '.join(_md(request.partnership_label(c)) for c in asked.partnerships)}",
        f"- **File format:** {ds.format.upper()}, one file per delivery",
        f"- **Area level:** {_md(_area_level(ds))}",
        f"- **Detail:** {GRAIN_LABELS[ds.time_grain]}",
        f"- **How often:** {CADENCE_LABELS[ds.cadence]}, due on day {ds.due_day} of the month after the "
        "period it covers",
        f"- **Where to put it:** {_code(asked.landing_folder + '/YYYY-MM/')} in the partnerships' landing "
        "folder, where YYYY-MM is the first month of the period",
        "",
        "### Fields",
        "",
        _row("Field", "Type", "Required", "Notes"),
        _row("---", "---", "---", "---"),
    ]
    for column in ds.columns:
        notes = _md(column.description) if column.description else ""
        if column.name in asked.pseudonymised:
            notes = ("**Pseudonymise** (see the sharing terms). " + notes).strip()
        lines.append(
            _row(_code(column.name), TYPE_LABELS[column.type], "yes" if column.required else "no", notes)
        )
    lines += ["", "### Sharing terms", "", *[f"- {term}" for term in sharing_terms(ds.sharing)]]
    lines += [
        "",
        "### Delivery dates",
        "",
        _row("Period", "Folder", "Due by"),
        _row("---", "---", "---"),
        *[_row(d.period.label, _code(d.period.key), day_text(d.due_date)) for d in asked.deliveries],
    ]
    return lines


def _index_markdown(requests: list[AgencyRequest]) -> str:
    first = requests[0] if requests else None
    title = f"{_md(first.plan_name)}, {_md(first.cycle.label)}" if first else "no requests"
    lines = [
        f"# Data requests: {title}",
        "",
        f"{len(requests)} agencies, one request each, covering "
        f"{sum(r.deliveries for r in requests)} deliveries in all. All dates are also in requests.csv.",
        "",
        _row("Agency", "Type", "Datasets", "Partnerships", "Deliveries", "First due", "Request"),
        _row("---", "---", "---", "---", "---", "---", "---"),
    ]
    for r in requests:
        lines.append(
            _row(
                _md(r.agency.name),
                r.agency.type_label,
                ", ".join(ds.dataset.id for ds in r.datasets),
                str(len(r.partnerships)),
                str(r.deliveries),
                day_text(r.first_due),
                f"[{r.agency.id}.md]({r.agency.id}.md)",
            )
        )
    return "\n".join(lines) + "\n"


def write_markdown(requests: list[AgencyRequest], out_dir: Path) -> list[Path]:
    """One ``<agency>.md`` per agency plus ``index.md``; returns the agency files in request order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for request in requests:
        path = out_dir / f"{request.agency.id}.md"
        path.write_text(_agency_markdown(request), encoding="utf-8", newline="\n")
        written.append(path)
    (out_dir / "index.md").write_text(_index_markdown(requests), encoding="utf-8", newline="\n")
    return written
