"""The pack's HTML report: one self-contained file laid out like a strategic assessment.

Everything shown comes from the pack's protected tables (never from the marts directly), so the
report cannot show a figure the CSV withholds. The page has inline CSS and inline SVG charts only
(no scripts, fonts, images or map tiles), prints to A4 through its print style sheet (the pack's
``report.pdf`` is that print, see :mod:`csp_audit.packs.pdf`), and reads on a phone
(one column, tables scroll sideways). Count cells of controlled datasets carry ``data-min`` (the
dataset's minimum cell size) so the verifier can check the rendered page as well as the files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from csp_audit.packs import charts
from csp_audit.packs.boundaries import Boundaries, fit_paths, planar
from csp_audit.packs.disclosure import MARKER, Terms, flag_column
from csp_audit.packs.strategy import SAFETY, SURVEY

POLICE = "police_uk_street"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
VERDICT_CLASS = {
    "significant increase": "up",
    "significant decrease": "down",
    "no significant change": "flat",
    "insufficient data": "none",
    "incomplete data": "incomplete",
}
INCOMPLETE = "incomplete data"
_GAP = re.compile(r"^(?:(?P<where>[^:]+): )?(?P<agency>\S+) (?P<month>\d{4}-\d{2})$")


def incomplete_text(value: Any, *, only: set[str] | None = None, without: str | None = None) -> str | None:
    """A mart's incomplete_data ('[year or partnership: ]agency YYYY-MM; ...') in words:
    'no delivery from <agency> for <month>[ (<year or partnership>)]; ...'; None when complete.
    ``only``: keep the gaps of these years (or partnerships); ``without``: leave out this one's."""
    if _missing(value) or not str(value).strip():
        return None
    parts, where = [], None
    for item in str(value).split("; "):
        found = _GAP.match(item.strip())
        if found is None:
            parts.append(item.strip())
            continue
        where = found["where"] or where
        if (only is not None and where not in only) or (without is not None and where == without):
            continue
        parts.append(
            f"no delivery from {found['agency']} for {found['month']}" + (f" ({where})" if where else "")
        )
    return "; ".join(parts) or None


def _incomplete_note(
    row: pd.Series | dict | None, column: str = "incomplete_data", *, br: bool = True
) -> Markup:
    """A visible mark for a figure made over an incomplete period (empty when complete)."""
    text = incomplete_text(row.get(column)) if row is not None else None
    if text is None:
        return Markup("")
    note = Markup('<span class="incomplete">incomplete data: {}</span>').format(text)
    return Markup("<br>") + note if br else note


@dataclass
class Cell:
    html: Markup
    cls: str = ""
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def attr_html(self) -> Markup:
        return Markup("".join(f' {k}="{escape(v)}"' for k, v in self.attrs.items()))


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    numeric: set[int] = field(default_factory=set)
    name: str = ""

    # From this many columns a table is printed on a landscape page of its own: on a portrait A4 page
    # the target register (13 columns) and the priority list (15) lose their last columns.
    WIDE: ClassVar[int] = 9

    @property
    def wide(self) -> bool:
        return len(self.columns) >= self.WIDE


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _is_withheld(row: pd.Series | dict, column: str) -> bool:
    return row.get(flag_column(column)) == MARKER


def _numeric(row: pd.Series | dict, column: str, render: Callable[[Any], str]) -> Cell:
    """A right-aligned figure: [c] when withheld, a dash when missing, else ``render(value)``."""
    if _is_withheld(row, column):
        return Cell(Markup("[c]"), "num c")
    value = row.get(column)
    if _missing(value):
        return Cell(Markup("–"), "num")
    return Cell(Markup(render(value)), "num")


class Formatter:
    """Number formatting that follows each dataset's terms (apportioned estimates to 1 decimal)."""

    def __init__(self, terms: dict[str, Terms]) -> None:
        self.terms = terms

    def count(self, row: pd.Series | dict, column: str = "incidents", dataset: str | None = None) -> Cell:
        dataset = dataset or row.get("dataset")
        t = self.terms.get(str(dataset), Terms())
        attrs = {"data-col": column, "data-dataset": str(dataset)}
        if t.min_cell_size:
            attrs["data-min"] = str(t.min_cell_size)
        if _is_withheld(row, column):
            return Cell(
                Markup('<abbr title="withheld to protect confidentiality">[c]</abbr>'), "num c", attrs
            )
        value = row.get(column)
        if _missing(value):
            return Cell(Markup("–"), "num", attrs)
        text = (
            f"{value:,.1f}"
            if t.apportioned and not t.base and not float(value).is_integer()
            else f"{value:,.0f}"
        )
        return Cell(Markup(escape(text)), "num", attrs)

    @staticmethod
    def rate(row: pd.Series | dict, column: str = "rate_per_1000", decimals: int = 2) -> Cell:
        return _numeric(row, column, lambda v: escape(f"{v:,.{decimals}f}"))

    @staticmethod
    def pct(row: pd.Series | dict, column: str) -> Cell:
        return _numeric(row, column, lambda v: escape(f"{v:+.1f}%"))

    @staticmethod
    def share(row: pd.Series | dict, column: str) -> Cell:
        return _numeric(row, column, lambda v: escape(f"{100 * v:.1f}%"))

    @staticmethod
    def verdict(row: pd.Series | dict, column: str = "verdict") -> Cell:
        if _is_withheld(row, column):
            return Cell(Markup('<span class="badge none">[c]</span>'))
        value = row.get(column)
        if _missing(value):
            return Cell(Markup("–"))
        cls = VERDICT_CLASS.get(str(value), "none")
        badge = Markup(f'<span class="badge {cls}">{escape(str(value))}</span>')
        if str(value) == INCOMPLETE:
            return Cell(badge + _incomplete_note(row), "long")
        return Cell(badge)

    @staticmethod
    def p_value(row: pd.Series | dict, column: str = "p_value") -> Cell:
        return _numeric(row, column, lambda v: Markup("&lt;0.001") if v < 0.001 else escape(f"{v:.3f}"))

    @staticmethod
    def long(value: Any) -> Cell:
        """Text that may wrap (explanations, rules, reasons)."""
        return Cell(Markup("–") if _missing(value) else Markup(escape(str(value))), "long")

    @staticmethod
    def number(value: Any) -> Cell:
        if _missing(value):
            return Cell(Markup("–"), "num")
        return Cell(Markup(escape(f"{value:,}" if isinstance(value, int) else str(value))), "num")

    @staticmethod
    def text(value: Any) -> Cell:
        return Cell(Markup("–") if _missing(value) else Markup(escape(str(value))))


_ACRONYMS = {"asb": "ASB", "la": "LA", "ed": "ED", "yot": "YOT", "csp": "CSP"}


def _label(dataset: str, labels: dict[str, str]) -> str:
    """A readable dataset name: the plan's id with its acronyms restored (ed_assaults -> ED assaults)."""
    if dataset in labels:
        return labels[dataset]
    words = [_ACRONYMS.get(w, w) for w in str(dataset).split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _latest_year(area_rates: pd.DataFrame, dataset: str = POLICE) -> str | None:
    rows = area_rates[(area_rates["area_type"] == "partnership") & (area_rates["category"] == "All")]
    own = rows[rows["dataset"] == dataset] if (rows["dataset"] == dataset).any() else rows
    if own.empty:
        return None
    full = own[own["months_covered"] >= 12]
    return str((full if not full.empty else own)["period_start"].max())


def build_context(
    *,
    tables: dict[str, pd.DataFrame],
    terms: dict[str, Terms],
    partnership: tuple[str, str],
    region_name: str,
    version: str,
    previous_version: str | None,
    refresh_label: str,
    created: str,
    restatements: pd.DataFrame,
    new_rows: dict[str, int],
    centroids: pd.DataFrame,
    manifest_summary: dict[str, Any],
    boundaries: Boundaries | None = None,
) -> dict[str, Any]:
    """Everything the report template shows. ``boundaries``: the partnership's own LSOA shapes when the
    region names a boundary file (a choropleth), else ``None`` (the dot map of ``centroids``)."""
    code, name = partnership
    fmt = Formatter(terms)
    labels = {POLICE: "Police recorded crime (police.uk)", SURVEY: "Consultation survey"}
    area_rates = tables["area_rates"]
    year = _latest_year(area_rates)
    year_label = None
    if year is not None:
        match = area_rates[area_rates["period_start"] == year]
        year_label = str(match["audit_year"].iloc[0]) if len(match) else year
    ctx: dict[str, Any] = {
        "code": code,
        "name": name,
        "region": region_name,
        "version": version,
        "previous_version": previous_version,
        "refresh_label": refresh_label,
        "created": created,
        "year": year,
        "year_label": year_label,
        "manifest": manifest_summary,
    }
    ctx["summary"] = _summary(tables, year, fmt, labels, restatements, previous_version)
    ctx["levels"] = _levels(tables, year, fmt, labels)
    ctx["changes"] = _changes(tables, year, fmt, labels)
    ctx["hotspots"] = _hotspots(tables, year, fmt, centroids, boundaries)
    ctx["comparisons"] = _comparisons(tables, year, fmt, labels, code, region_name)
    ctx["themes"] = _themes(tables, year, fmt, labels)
    ctx["quality"] = _quality(tables, year, fmt, labels)
    ctx["strategy"] = _strategy(tables, fmt, labels, code)
    ctx["changed"] = _changed(restatements, new_rows, previous_version)
    ctx["rules"] = [
        {
            "dataset": _label(d, labels),
            "id": d,
            "rule": t.rule(),
            "min": t.min_cell_size or "",
            "rounding": t.rounding,
        }
        for d, t in sorted(terms.items())
        if d in set(area_rates["dataset"]) or d == SURVEY
    ]
    return ctx


def _year_label(tables: dict[str, pd.DataFrame], year: str | None) -> str:
    rates = tables["area_rates"]
    match = rates.loc[rates["period_start"] == year, "audit_year"]
    return str(match.iloc[0]) if len(match) else str(year)


def _row(frame: pd.DataFrame, **where: Any) -> dict | None:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    found = frame[mask]
    return found.iloc[0].to_dict() if len(found) else None


def _summary(
    tables: dict[str, pd.DataFrame],
    year: str | None,
    fmt: Formatter,
    labels: dict[str, str],
    restatements: pd.DataFrame,
    previous_version: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"cards": [], "points": []}
    if year is None:
        return out
    rates = tables["area_rates"]
    police = _row(rates, area_type="partnership", dataset=POLICE, category="All", period_start=year)
    trends = tables.get("trends", pd.DataFrame())
    trend = _row(trends, dataset=POLICE, category="All", period_start=year) if len(trends) else None
    comparisons = tables.get("comparisons", pd.DataFrame())
    region = (
        _row(comparisons, dataset=POLICE, category="All", period_start=year, comparator_type="region")
        if len(comparisons)
        else None
    )
    if police:
        out["cards"].append(
            (
                "Police recorded crime and ASB",
                fmt.count(police).html,
                f"{fmt.rate(police).html} per 1,000 residents",
            )
        )
    if trend:
        out["cards"].append(
            ("Change on the previous year", fmt.pct(trend, "pct_change").html, fmt.verdict(trend).html)
        )  # an incomplete year's verdict is 'incomplete data', with the agency and month
    if region and _missing(region.get("rank_in_region")) and incomplete_text(region.get("incomplete_data")):
        out["cards"].append((
            "Rank in the region (1 = highest rate)",
            Markup("not ranked"),
            _incomplete_note(region, br=False),
        ))  # fmt: skip
    if region and not _missing(region.get("rank_in_region")):
        out["cards"].append((
            "Rank in the region (1 = highest rate)",
            Markup(f"{int(region['rank_in_region'])} of {int(region['partnerships_ranked'])}"),
            Markup(f"region rate {escape(fmt.rate(region, 'comparator_rate_per_1000').html)}")
            + _incomplete_note(region, "comparator_incomplete_data"),
        ))  # fmt: skip
    stale = tables.get("dataset_freshness", pd.DataFrame())
    stale = stale[stale["status"] == "stale"] if len(stale) else stale
    out["cards"].append(
        (
            "Stale inputs",
            Markup(str(len(stale))),
            Markup("last good figures shown") if len(stale) else Markup("every input current"),
        )
    )
    if len(trends):
        moved = trends[
            (trends["period_start"] == year)
            & trends["verdict"].isin(["significant increase", "significant decrease"])
        ]
        if "q_value" in moved:
            # a point for the assessment is a change that survives the false-discovery-rate adjustment across
            # the pack (q < 0.05; the verdicts say so already), never one on p alone
            moved = moved[pd.to_numeric(moved["q_value"], errors="coerce") < 0.05]
        if "incomplete_data" in moved:
            # a finding is a significant change between two complete years: never one to or from an incomplete
            # year (its verdict says so already; a gap in the three-year base alone leaves the change a finding)
            short = [incomplete_text(r["incomplete_data"], only={str(r["audit_year"]), str(r["previous_audit_year"])})
                     is not None for _, r in moved.iterrows()]  # fmt: skip
            moved = moved[~pd.Series(short, index=moved.index, dtype=bool)]
        moved = moved.assign(_abs=moved["pct_change"].abs()).sort_values("_abs", ascending=False).head(6)
        for _, r in moved.iterrows():
            what = "All" if r["category"] == "All" else r["category"]
            out["points"].append(Markup(
                f"<strong>{escape(_label(r['dataset'], labels))}</strong> – {escape(str(what))}: "
                f"{fmt.pct(r, 'pct_change').html} ({escape(str(r['verdict']))})"
            ))  # fmt: skip
    persistence = tables.get("hotspot_persistence", pd.DataFrame())
    if len(persistence):
        every = persistence[(persistence["dataset"] == POLICE) & (persistence["category"] == "All")
                            & (persistence["in_top_10_percent_every_year"] == True)]  # noqa: E712  # fmt: skip
        if "incomplete_data" in every:  # ranks of an incomplete year are no finding
            every = every[every["incomplete_data"].isna()]
        if len(every):
            out["points"].append(Markup(
                f"{len(every)} LSOA{'s' if len(every) != 1 else ''} in the partnership's busiest 10% for police "
                "recorded crime in every audit year: candidates for problem-solving work."
            ))  # fmt: skip
    if len(trends) and "incomplete_data" in trends:
        # the changes left out above: each dataset whose change this year is over an incomplete year
        gaps = trends[(trends["period_start"] == year) & (trends["category"] == "All") & trends["incomplete_data"].notna()
                      & (trends["verdict"] == INCOMPLETE)]  # fmt: skip
        for _, r in gaps.sort_values("dataset").iterrows():
            out["points"].append(Markup(
                "Incomplete data: <strong>{}</strong> – {}. Its change on {} is not reported as a finding."
            ).format(_label(r["dataset"], labels), incomplete_text(r["incomplete_data"], only={
                str(r["audit_year"]), str(r["previous_audit_year"])}), r["previous_audit_year"]))  # fmt: skip
    for _, r in stale.iterrows() if len(stale) else []:
        out["points"].append(Markup(f"Stale input: <strong>{escape(str(r['dataset']))}</strong> from "
                                    f"{escape(str(r['agency']))} – {escape(str(r.get('reason') or 'no delivery'))}"))  # fmt: skip
    if previous_version:
        out["points"].append(
            Markup(f"{len(restatements)} published figures restated since {escape(previous_version)}.")
        )
    return out


def _monthly_series(monthly: pd.DataFrame, dataset: str, category: str = "All") -> charts.Series:
    rows = monthly[(monthly["dataset"] == dataset) & (monthly["category"] == category)].sort_values("month")
    points = [
        (
            str(r["month"])[:7],
            None if _is_withheld(r, "incidents") or _missing(r["incidents"]) else float(r["incidents"]),
        )
        for _, r in rows.iterrows()
    ]
    return charts.Series(category if category != "All" else dataset, points)


def _levels(
    tables: dict[str, pd.DataFrame], year: str | None, fmt: Formatter, labels: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {"charts": [], "small": [], "tables": []}
    monthly = tables["area_monthly"]
    if (monthly["dataset"] == POLICE).any():
        series = _monthly_series(monthly, POLICE)
        out["charts"].append(charts.line_chart([charts.Series("Police recorded crime and ASB", series.points)],
                                               "Police recorded crime and ASB per month", "incidents per month"))  # fmt: skip
    for dataset in sorted(set(monthly["dataset"]) - {POLICE}):
        series = _monthly_series(monthly, dataset)
        out["small"].append((_label(dataset, labels), Markup(charts.line_chart(
            [charts.Series(_label(dataset, labels), series.points)], f"{_label(dataset, labels)} per period",
            "incidents per period", width=480, height=220))))  # fmt: skip
    if year is None:
        return out
    rates = tables["area_rates"]
    trends = tables.get("trends", pd.DataFrame())
    own = rates[(rates["area_type"] == "partnership") & (rates["period_start"] == year)]
    police = own[own["dataset"] == POLICE].sort_values("incidents", ascending=False, na_position="last")
    rows = []
    for _, r in police.iterrows():
        t = _row(trends, dataset=POLICE, category=r["category"], period_start=year) if len(trends) else None
        rows.append(
            [
                fmt.text(r["category"]),
                fmt.count(r),
                fmt.rate(r),
                fmt.pct(t or {}, "pct_change"),
                fmt.verdict(t or {}),
            ]
        )
    out["tables"].append(Table(["Crime type", "Incidents", "Rate per 1,000", "Change", "Verdict"], rows,
                               f"Police recorded crime by type, {_year_label(tables, year)}", {1, 2, 3}, "area_rates"))  # fmt: skip
    others = own[(own["dataset"] != POLICE) & (own["category"] == "All")].sort_values("dataset")
    caveats = tables.get("caveats", pd.DataFrame())
    # a count over an incomplete year is short: marked with the agency and month (from the caveats row)
    short = {d: _incomplete_note(_row(caveats, dataset=d, period_start=year), br=False)
             for d in others["dataset"]} if len(caveats) and "incomplete_data" in caveats else {}  # fmt: skip
    rows = [[fmt.text(_label(r["dataset"], labels)), fmt.count(r), fmt.rate(r), fmt.text(r["months_covered"]),
             Cell(short[r["dataset"]], "long") if short.get(r["dataset"]) else fmt.text("–"),
             fmt.long(r.get("disclosure_rule"))] for _, r in others.iterrows()]  # fmt: skip
    if rows:
        out["tables"].append(Table(["Dataset", "Incidents", "Rate per 1,000", "Months covered", "Incomplete data",
                                    "Published as"], rows, "Other agencies' data, all categories", {1, 2, 3},
                                   "area_rates"))  # fmt: skip
    seasonality = tables.get("seasonality", pd.DataFrame())
    if len(seasonality):
        s = seasonality[(seasonality["dataset"] == POLICE) & (seasonality["category"] == "All")].sort_values(
            "calendar_month"
        )
        cols = [(MONTHS[int(r["calendar_month"]) - 1],
                 None if _is_withheld(r, "seasonal_index") or _missing(r["seasonal_index"]) else float(r["seasonal_index"]))
                for _, r in s.iterrows()]  # fmt: skip
        if cols:
            out["season"] = Markup(
                charts.column_chart(
                    cols, "Seasonal index of police recorded crime (1 = a typical month)", 1.0
                )
            )
    harm = tables.get("harm", pd.DataFrame())
    if len(harm):
        h = (
            harm[(harm["period_start"] == year) & (harm["category"] != "All")]
            .sort_values("share_of_severity", ascending=False)
            .head(8)
        )
        total = _row(harm, period_start=year, category="All")
        out["harm_total"] = total
        out["harm"] = Table(["Crime type", "Incidents", "Share of incidents", "Share of harm"],
                            [[fmt.text(r["category"]), fmt.count(r), fmt.share(r, "share_of_incidents"),
                              fmt.share(r, "share_of_severity")] for _, r in h.iterrows()],
                            "Where the harm is: share of crime severity (ONS Crime Severity Score weights)", {1, 2, 3}, "harm")  # fmt: skip
    return out


def _changes(
    tables: dict[str, pd.DataFrame], year: str | None, fmt: Formatter, labels: dict[str, str]
) -> dict[str, Any]:
    trends = tables.get("trends", pd.DataFrame())
    if year is None or not len(trends):
        return {}
    t = trends[trends["period_start"] == year].copy()
    t["_order"] = (t["dataset"] != POLICE).astype(int)
    t = t.sort_values(["_order", "dataset", "category"])
    rows = [[fmt.text(_label(r["dataset"], labels)), fmt.text(r["category"]), fmt.count(r, "previous_year_incidents"),
             fmt.count(r), fmt.pct(r, "pct_change"), fmt.p_value(r), fmt.p_value(r, "q_value"), fmt.verdict(r),
             fmt.verdict(r, "three_year_verdict")]
            for _, r in t.iterrows()]  # fmt: skip
    counts = t["verdict"].value_counts().to_dict()
    return {
        "table": Table(["Dataset", "Category", "Previous year", "This year", "Change", "p-value", "q-value", "Verdict",
                        "Over three years"],
                       rows, f"Year-on-year change, {_year_label(tables, year)} (verdicts from q: quasi-Poisson test, "
                       "false discovery rate across the pack)", {2, 3, 4, 5, 6}, "trends"),
        "counts": counts,
    }  # fmt: skip


def _hotspots(
    tables: dict[str, pd.DataFrame],
    year: str | None,
    fmt: Formatter,
    centroids: pd.DataFrame,
    boundaries: Boundaries | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if year is None:
        return out
    rates = tables["area_rates"]
    lsoas = rates[(rates["area_type"] == "lsoa") & (rates["dataset"] == POLICE) & (rates["category"] == "All")
                  & (rates["period_start"] == year)]  # fmt: skip
    persistence = tables.get("hotspot_persistence", pd.DataFrame())
    every: set[str] = set()
    if len(persistence):
        every = set(persistence[(persistence["dataset"] == POLICE) & (persistence["category"] == "All")
                                & (persistence["in_top_10_percent_every_year"] == True)]["lsoa_code"])  # noqa: E712  # fmt: skip
    title = f"Police recorded crime per 1,000 residents by LSOA, {_year_label(tables, year)}"
    legend = "Rate per 1,000 residents (quintiles)"
    if boundaries is not None and boundaries.shapes:
        out.update(_choropleth(lsoas, fmt, boundaries, every, title, legend))
    else:
        out.update(_dots(lsoas, fmt, centroids, every, title, legend))
        if boundaries is not None:  # a boundary file that has none of this partnership's LSOAs
            out["no_shapes"] = boundaries.source.name
    hotspots = tables.get("hotspots", pd.DataFrame())
    if len(hotspots):
        h = hotspots[
            (hotspots["dataset"] == POLICE)
            & (hotspots["category"] == "All")
            & (hotspots["period_start"] == year)
        ]
        gaps = h["incomplete_data"].dropna() if "incomplete_data" in h else pd.Series(dtype=object)
        if len(gaps):  # the areas the missing deliveries serve are short: the ranks are no finding
            out["incomplete"] = Markup(
                '<span class="incomplete">incomplete data: {}</span>: the ranks of {} are made from short '
                "counts and are not findings."
            ).format(incomplete_text(gaps.iloc[0]), _year_label(tables, year))
        for kind, title in (("lsoa", "LSOAs"), ("ward", "Wards")):
            rows = h[h["area_type"] == kind].sort_values(["hotspot_rank", "area_code"]).head(12)
            out[kind] = Table(["Rank", "Area", "Code", "Incidents", "Rate per 1,000", "Share of partnership", "Top 10%"],
                              [[fmt.text(int(r["hotspot_rank"])), fmt.text(r["area_name"]), fmt.text(r["area_code"]),
                                fmt.count(r), fmt.rate(r), fmt.share(r, "share_of_partnership_incidents"),
                                fmt.text("yes" if r["in_top_10_percent"] else "no")] for _, r in rows.iterrows()],
                              f"{title} with most police recorded crime, {_year_label(tables, year)}", {3, 4, 5}, "hotspots")  # fmt: skip
    concentration = tables.get("concentration", pd.DataFrame())
    if len(concentration):
        out["concentration"] = _row(concentration, dataset=POLICE, category="All", period_start=year)
    repeat = tables.get("repeat_locations", pd.DataFrame())
    if len(repeat):
        row = _row(repeat, dataset=POLICE, category="All", period_start=year)
        # the share at repeat police.uk snap points is no finding (a snap point stands for a street segment:
        # nearly every incident is at a "repeat" point); shown only where the mart marks it meaningful
        if row is not None and bool(row.get("share_meaningful", False)) is True:
            out["repeat"] = row
    out["persistent"] = len(every)
    return out


def _map_value(r: pd.Series) -> float | None:
    """The rate the map colours by, or None when it (or the count it is made from) is withheld or
    missing: such an area is hatched, never coloured by a value."""
    if _is_withheld(r, "rate_per_1000") or _is_withheld(r, "incidents") or _missing(r["rate_per_1000"]):
        return None
    return float(r["rate_per_1000"])


def _choropleth(
    lsoas: pd.DataFrame, fmt: Formatter, boundaries: Boundaries, every: set[str], title: str, legend: str
) -> dict[str, Any]:
    """The partnership's LSOAs as polygons from the region's boundary file (own LSOAs only)."""
    fitted = fit_paths(planar(boundaries))
    areas = [
        charts.Area(r["area_code"], str(r["area_name"]), _map_value(r),
                    f"{fmt.count(r).html} incidents, {fmt.rate(r).html} per 1,000", r["area_code"] in every)
        for _, r in lsoas.iterrows()
        if r["area_code"] in fitted.paths
    ]  # fmt: skip
    withheld = sum(a.value is None for a in areas)
    values = [a.value for a in areas if a.value is not None]
    desc = (
        f"{len(areas)} LSOAs drawn from their boundaries, shaded in five classes of the rate per 1,000 residents"
        + (f" from {charts._fmt(min(values))} to {charts._fmt(max(values))}" if values else "")
        + f"; {withheld} withheld or without a rate, hatched grey; {sum(a.marked for a in areas)} outlined "
        "as in the top 10% every year."
    )
    return {
        "kind": "areas",
        "map": Markup(charts.choropleth(areas, fitted.paths, title, desc, fitted.width, fitted.height)),
        "legend": Markup(charts.map_legend(areas, legend, areas=True)),
        "unmapped": int(len(lsoas) - len(areas)),
        "withheld_areas": withheld,
        "boundary_file": boundaries.source.name,
        "attribution": boundaries.attribution,
    }


def _dots(
    lsoas: pd.DataFrame, fmt: Formatter, centroids: pd.DataFrame, every: set[str], title: str, legend: str
) -> dict[str, Any]:
    """The fallback without a boundary file: each LSOA a dot at its police.uk centroid."""
    where = centroids.set_index("lsoa_code") if len(centroids) else pd.DataFrame(columns=["lon", "lat"])
    points = []
    for _, r in lsoas.iterrows():
        if r["area_code"] not in where.index:
            continue
        c = where.loc[r["area_code"]]
        label = f"{fmt.count(r).html} incidents, {fmt.rate(r).html} per 1,000"
        points.append(charts.Point(r["area_code"], str(r["area_name"]), float(c["lon"]), float(c["lat"]),
                                   _map_value(r), label, r["area_code"] in every))  # fmt: skip
    return {
        "kind": "dots",
        "map": Markup(charts.dot_map(points, title)),
        "legend": Markup(charts.map_legend(points, legend)),
        "unmapped": int(len(lsoas) - len(points)),
    }


def _comparisons(tables: dict[str, pd.DataFrame], year: str | None, fmt: Formatter, labels: dict[str, str],
                 code: str, region_name: str) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    region_rates = tables.get("region_rates", pd.DataFrame())
    if year is None or not len(region_rates):
        return out
    r = region_rates[(region_rates["dataset"] == POLICE) & (region_rates["category"] == "All")
                     & (region_rates["period_start"] == year)]  # fmt: skip
    bars = [charts.Bar(str(x["area_name"]), None if _is_withheld(x, "rate_per_1000") or _missing(x["rate_per_1000"])
                       else float(x["rate_per_1000"]), x["area_code"] == code)
            for _, x in r[r["area_type"] == "partnership"].sort_values("rate_per_1000", ascending=False).iterrows()]  # fmt: skip
    region = r[r["area_type"] == "region"]
    reference = None
    if len(region) and not _missing(region["rate_per_1000"].iloc[0]):
        reference = ("Region", float(region["rate_per_1000"].iloc[0]))
    out["chart"] = Markup(
        charts.bar_chart(
            bars,
            f"Police recorded crime per 1,000 residents, {_year_label(tables, year)}",
            reference=reference,
        )
    )
    comparisons = tables.get("comparisons", pd.DataFrame())
    if len(comparisons):
        c = comparisons[(comparisons["period_start"] == year) & (comparisons["category"] == "All")]
        rows = []
        for dataset in sorted(set(c["dataset"]), key=lambda d: (d != POLICE, d)):
            reg = _row(c, dataset=dataset, comparator_type="region")
            peer = _row(c, dataset=dataset, comparator_type="peer_group")
            nation = _row(c, dataset=dataset, comparator_type="national")
            similar = _row(c, dataset=dataset, comparator_type="most_similar_group")
            if reg is None:
                continue
            if not _missing(reg.get("rank_in_region")):
                rank = fmt.text(f"{int(reg['rank_in_region'])} of {int(reg['partnerships_ranked'])}")
            elif incomplete_text(reg.get("incomplete_data")):  # a short count is ranked with no one
                rank = Cell(Markup("not ranked") + _incomplete_note(reg), "long")
            else:
                rank = fmt.text("–")
            rows.append([fmt.text(_label(dataset, labels)), fmt.rate(reg), fmt.rate(reg, "comparator_rate_per_1000"),
                         fmt.rate(reg, "rate_ratio"), fmt.rate(peer or {}, "rate_ratio"),
                         fmt.rate(nation or {}, "rate_ratio"), fmt.rate(similar or {}, "rate_ratio"), rank,
                         _like_for_like(reg, peer, nation, similar)])  # fmt: skip
        out["table"] = Table(["Dataset", "Rate per 1,000", "Region rate", "Ratio to region", "Ratio to peers",
                              "Ratio to England and Wales", "Ratio to most similar group", "Rank", "Like for like"],
                             rows, f"Rates against the region, peers, England and Wales and the most similar group, "
                             f"{_year_label(tables, year)}", {1, 2, 3, 4, 5, 6}, "comparisons")  # fmt: skip
    return out


def _like_for_like(region: dict, *others: dict | None) -> Cell:
    """'yes', or 'no' with why: other months covered, or an incomplete year (this partnership's or a
    comparator's, with the agency and month)."""
    rows = [r for r in (region, *others) if r]
    if "like_for_like" not in region:  # a warehouse from before incomplete years were marked
        return Formatter.text("yes" if region.get("coverage_matches") else "no")
    if all(bool(r.get("like_for_like")) for r in rows):
        return Formatter.text("yes")
    why = [Markup("no")]
    if not all(bool(r.get("coverage_matches")) for r in rows):
        why.append(Markup("<br>months covered differ"))
    why.append(_incomplete_note(region))
    seen = {incomplete_text(region.get("incomplete_data"))}
    for r in rows:  # the region (or peer group) holds this partnership too: its own gap is named above
        text = incomplete_text(r.get("comparator_incomplete_data"), without=region.get("partnership_name"))
        if text and text not in seen:
            seen.add(text)
            why.append(Markup('<br><span class="incomplete">comparator incomplete: {}</span>').format(text))
    return Cell(Markup("").join(why), "long")


def _themes(
    tables: dict[str, pd.DataFrame], year: str | None, fmt: Formatter, labels: dict[str, str]
) -> dict[str, Any]:
    themes = tables.get("themes", pd.DataFrame())
    if year is None or not len(themes):
        return {}
    t = themes[themes["period_start"] == year].sort_values(["theme", "dataset"])
    rows = [[fmt.text(r["theme"]), fmt.text(_label(r["dataset"], labels)), fmt.text(r["categories"]),
             fmt.count(r) if r["source_present"] else fmt.text("absent"), fmt.rate(r), fmt.text(r["months_covered"])]
            for _, r in t.iterrows()]  # fmt: skip
    return {"table": Table(["Theme", "Source", "Categories", "Incidents", "Rate per 1,000", "Months"], rows,
                           f"Multi-agency themes, {_year_label(tables, year)} (sources side by side, never added)", {3, 4}, "themes")}  # fmt: skip


def _quality(
    tables: dict[str, pd.DataFrame], year: str | None, fmt: Formatter, labels: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    caveats = tables.get("caveats", pd.DataFrame())
    if year is not None and len(caveats):
        c = caveats[caveats["period_start"] == year].sort_values("dataset")
        out["caveats"] = Table(["Dataset", "Months covered", "Apportioned", "Unlocated", "Stale inputs", "Caveat"],
                               [[fmt.text(_label(r["dataset"], labels)), fmt.text(r["months_covered"]),
                                 fmt.share(r, "share_apportioned"), fmt.share(r, "share_unlocated"),
                                 fmt.long(r["stale_inputs"] or "none"), fmt.long(r["caveat"])] for _, r in c.iterrows()],
                               f"Caveats, {_year_label(tables, year)}", {2, 3}, "caveats")  # fmt: skip
    freshness = tables.get("dataset_freshness", pd.DataFrame())
    if len(freshness):
        out["freshness"] = Table(["Dataset", "Agency", "Expected", "Last good", "Status", "Reason"],
                                 [[fmt.text(_label(r["dataset"], labels)), fmt.text(r["agency"]), fmt.text(r["expected_period"]),
                                   fmt.text(r["last_good_period"]),
                                   Cell(Markup(f'<span class="badge {"up" if r["status"] == "stale" else "flat"}">'
                                               f'{escape(str(r["status"]))}</span>')),
                                   fmt.long(r["reason"])] for _, r in freshness.sort_values(["status", "dataset"], ascending=[False, True]).iterrows()],
                                 "Freshness of every input", set(), "dataset_freshness")  # fmt: skip
        out["stale"] = int((freshness["status"] == "stale").sum())
    coterminosity = tables.get("coterminosity", pd.DataFrame())
    if len(coterminosity):
        out["coterminosity"] = Table(["Dataset", "Incidents (all years)", "Exact", "Apportioned", "Across boundaries", "Unlocated"],
                                     [[fmt.text(_label(r["dataset"], labels)), fmt.count(r), fmt.share(r, "share_exact"),
                                       fmt.share(r, "share_apportioned"), fmt.share(r, "share_apportioned_across_boundaries"),
                                       fmt.share(r, "share_unlocated")] for _, r in coterminosity.sort_values("dataset").iterrows()],
                                     "Coterminosity: how each dataset was placed on the partnership", {1, 2, 3, 4, 5}, "coterminosity")  # fmt: skip
    completeness = tables.get("data_completeness", pd.DataFrame())
    if len(completeness):
        summary = completeness.groupby("dataset").agg(months=("month", "nunique"), incomplete=("complete", lambda s: int((~s.astype(bool)).sum())),
                                                      expected=("deliveries_expected", "sum"), received=("deliveries_received", "sum")).reset_index()  # fmt: skip
        out["completeness"] = Table(["Dataset", "Months", "Months incomplete", "Deliveries expected", "Received"],
                                    [[fmt.text(_label(r["dataset"], labels)), fmt.number(int(r["months"])), fmt.number(int(r["incomplete"])),
                                      fmt.number(int(r["expected"])), fmt.number(int(r["received"]))] for _, r in summary.iterrows()],
                                    "Completeness of deliveries the partnership depends on", {1, 2, 3, 4}, "data_completeness")  # fmt: skip
    quality = tables.get("data_quality", pd.DataFrame())
    if len(quality):
        rejected = quality[quality["gate_outcome"] == "rejected"]
        out["rejected"] = Table(["Dataset", "Agency", "Period", "Rule", "Line", "Detail"],
                                [[fmt.text(r["dataset"]), fmt.text(r["agency"]), fmt.text(r["period"]), fmt.text(r["failed_rule"]),
                                  fmt.text(r["failed_line"]), fmt.long(r["failed_detail"])] for _, r in rejected.iterrows()],
                                "Rejected deliveries (their last good figures are shown)", set(), "data_quality")  # fmt: skip
    return out


def _changed(
    restatements: pd.DataFrame, new_rows: dict[str, int], previous_version: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "previous": previous_version,
        "count": len(restatements),
        "new_rows": {k: v for k, v in new_rows.items() if v},
    }
    if len(restatements):
        by = restatements.groupby(["table", "change"]).size().reset_index(name="n")
        out["by_table"] = by.to_dict("records")
        out["sample"] = Table(["Table", "Key", "Column", "Was", "Now", "Change"],
                              [[Formatter.text(r[c]) for c in ("table", "key", "column", "old_value", "new_value", "change")]
                               for _, r in restatements.head(25).iterrows()], "First restated figures (all in restatements.csv)")  # fmt: skip
    return out


def render_report(ctx: dict[str, Any]) -> str:
    env = Environment(
        loader=PackageLoader("csp_audit.packs", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**ctx)


# ------------------------------------------------------------------------------------------ strategy

RAG = {"green": "rag-green", "amber": "rag-amber", "red": "rag-red", "grey": "rag-grey"}
CHECK_CLASS = {"pass": "down", "pass with warnings": "flat", "rejected": "up"}


def _raw(value: Any) -> str:
    """A figure as a data-value attribute (exact enough to compare with the warehouse)."""
    if _missing(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or hasattr(value, "item"):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else format(number, ".10g")
    return str(value)


def _figure(row: dict, column: str, *, share: bool = False, key: dict[str, str] | None = None) -> Cell:
    """A strategy figure: [c] when withheld, a share as a percentage, else up to 3 decimals."""
    attrs = {**(key or {}), "data-col": column}
    if _is_withheld(row, column):
        return Cell(Markup('<abbr title="withheld to protect confidentiality">[c]</abbr>'), "num c", attrs)
    value = row.get(column)
    if _missing(value):
        return Cell(Markup("–"), "num", attrs)
    attrs["data-value"] = _raw(value)
    number = float(value)
    if share:
        text = f"{100 * number:.1f}%"
    elif number.is_integer():
        text = f"{number:,.0f}"
    else:
        text = f"{number:,.3f}".rstrip("0").rstrip(".")
    return Cell(Markup(escape(text)), "num", attrs)


def _keyed(value: Any, key: dict[str, str], column: str, cls: str = "") -> Cell:
    attrs = {**key, "data-col": column}
    if _missing(value):
        return Cell(Markup("–"), cls, attrs)
    attrs["data-value"] = _raw(value)
    return Cell(Markup(escape(str(value))), cls, attrs)


def _strategy(
    tables: dict[str, pd.DataFrame], fmt: Formatter, labels: dict[str, str], code: str
) -> dict[str, Any]:
    return {
        "targets": _targets(tables),
        "priorities": _priorities(tables, labels),
        "consultation": _consultation(tables, fmt, labels, code),
    }


def _targets(tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    progress = tables.get("target_progress")
    if progress is None:
        return {"missing": "The warehouse has no target progress (audit.target_progress): run "
                           "csp-audit targets progress, or the audit build, with a targets/ folder."}  # fmt: skip
    if not len(progress):
        return {"missing": "This partnership has no SMART target register yet: add targets/<partnership code>.yaml "
                           "beside the region YAML (format: docs/strategy.md) and it appears here after the next build."}  # fmt: skip
    rows = []
    for r in progress.sort_values(["target_id"]).to_dict("records"):
        key = {"data-target": str(r["target_id"])}
        share = str(r.get("metric_column") or "").startswith("share")
        check = str(r.get("smart_check") or "")
        problems = r.get("smart_problems")
        check_html = f'<span class="badge {CHECK_CLASS.get(check, "none")}">{escape(check)}</span>'
        if isinstance(problems, str) and problems:
            check_html += (
                '<ul class="reasons">'
                + "".join(f"<li>{escape(p)}</li>" for p in problems.split("\n"))
                + "</ul>"
            )
        status = str(r.get("status") or "")
        milestone = ""
        if not _missing(r.get("milestone_period")) and not _is_withheld(r, "milestone_value"):
            met = "met" if r.get("milestone_met") else "not met"
            milestone = f"milestone {r['milestone_period']}: {_figure(r, 'milestone_value', share=share).html} ({met})"
        rule = Cell(Markup("[c]"), "long c", {**key, "data-col": "status_rule"}) if _is_withheld(r, "status_rule") \
            else Cell(Markup(escape(str(r.get("status_rule") or "–"))), "long", {**key, "data-col": "status_rule",
                                                                               "data-value": str(r.get("status_rule") or "")})  # fmt: skip
        rows.append([
            Cell(Markup(f"<strong>{escape(str(r['target_id']))}</strong><br>{escape('' if _missing(r.get('title')) else str(r['title']))}"), "long",
                 {**key, "data-col": "target_id", "data-value": str(r["target_id"])}),
            Formatter.long(r.get("owner")),
            Cell(Markup(check_html), "long", {**key, "data-col": "smart_check", "data-value": check}),
            _keyed(r.get("baseline_period"), key, "baseline_period"), _figure(r, "baseline_value", share=share, key=key),
            _keyed(r.get("current_period"), key, "current_period"), _figure(r, "current_value", share=share, key=key),
            _keyed(r.get("deadline_period"), key, "deadline_period"), _figure(r, "target_value", share=share, key=key),
            _figure(r, "expected_value", share=share, key=key),
            Cell(Markup(milestone or "–"), "long"),
            Cell(Markup(f'<span class="badge {RAG.get(status, "none")}">{escape(status or "–")}</span>'), "",
                 {**key, "data-col": "status", "data-value": status}),
            rule,
        ])  # fmt: skip
    counts = progress["status"].value_counts().to_dict()
    return {
        "table": Table(["Target", "Owner", "SMART check", "Baseline year", "Baseline", "Current year", "Current",
                        "Deadline", "Target", "Expected by now", "Milestone", "Status", "Rule that set it"], rows,
                       "Target register: SMART check and progress", {4, 6, 8, 9}, "target_progress"),
        "counts": {s: int(counts.get(s, 0)) for s in ("green", "amber", "red", "grey") if counts.get(s)},
        "rejected": int((progress["smart_check"] == "rejected").sum()) if "smart_check" in progress else 0,
    }  # fmt: skip


def _rank_change(r: dict) -> str:
    if _is_withheld(r, "rank_change"):
        return "[c]"
    if _missing(r.get("previous_priority_rank")):
        return "new" if _missing(r.get("rank_change")) else "–"
    if _missing(r.get("rank_change")):  # over an incomplete year: no rank change is reported
        return "– (incomplete data)" if incomplete_text(r.get("incomplete_data")) else "–"
    change = int(r["rank_change"])
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return (
        f"{arrow} {change:+d} (was {int(r['previous_priority_rank'])})"
        if change
        else f"= (was {int(r['previous_priority_rank'])})"
    )


def _priorities(tables: dict[str, pd.DataFrame], labels: dict[str, str]) -> dict[str, Any]:
    scores = tables.get("priority_scores")
    if scores is None or not len(scores):
        return {
            "missing": "No priority scores for this partnership (audit.priority_scores is empty or missing)."
        }
    year = str(scores["period_start"].max())
    latest = scores[scores["period_start"] == year].copy()
    latest["_order"] = pd.to_numeric(latest["priority_rank"], errors="coerce")
    latest = latest.sort_values(["_order", "issue"], na_position="last")
    rows = []
    for r in latest.to_dict("records"):
        key = {"data-issue": str(r["issue"])}
        rank = (
            "[c]"
            if _is_withheld(r, "priority_rank")
            else ("–" if _missing(r.get("priority_rank")) else str(int(r["priority_rank"])))
        )
        rows.append([
            Cell(Markup(escape(rank)), "num", {**key, "data-col": "priority_rank",
                                               **({"data-value": rank} if rank not in ("[c]", "–") else {})}),
            Cell(Markup(escape(str(r.get("issue_label") or r["issue"]))), "", {**key, "data-col": "issue", "data-value": str(r["issue"])}),
            Cell(Markup(escape(_label(r["dataset"], labels)))),
            _figure(r, "priority_score", key=key), _figure(r, "likelihood", key=key), _figure(r, "impact", key=key),
            _figure(r, "volume_score", key=key), _figure(r, "trend_score", key=key),
            _figure(r, "concentration_score", key=key), _figure(r, "harm_score", key=key),
            _figure(r, "public_concern_score", key=key), _figure(r, "capacity", key=key),
            Cell(Markup(escape(_rank_change(r))), "num", {**key, "data-col": "rank_change",
                                                          "data-value": _raw(r.get("rank_change")) if not _is_withheld(r, "rank_change") else ""}),
            Cell(Markup("–" if _missing(r.get("missing_factors")) else escape(str(r["missing_factors"])))),
            Cell(Markup(escape(incomplete_text(r.get("incomplete_data")) or "–")),
                 "long incomplete" if incomplete_text(r.get("incomplete_data")) else "",
                 {**key, "data-col": "incomplete_data"}),
        ])  # fmt: skip
    label = str(latest["audit_year"].iloc[0])
    months = latest["months_covered"].dropna()
    return {
        "year": label,
        "part_year": bool(len(months) and months.min() < 12),
        "table": Table(["Rank", "Issue", "Source", "Priority score", "Likelihood", "Impact", "Volume", "Trend",
                        "Concentration", "Harm", "Public concern", "Capacity", "Rank change", "Factors missing",
                        "Incomplete data (scores from short counts)"],
                       rows, f"Priority list, {label} (1 = highest priority; an issue whose score is withheld [c] is ranked with no one, so the ranks count the published ones)", set(range(3, 13)), "priority_scores"),
    }  # fmt: skip


def _consultation(
    tables: dict[str, pd.DataFrame], fmt: Formatter, labels: dict[str, str], code: str
) -> dict[str, Any]:
    concerns = tables.get("consultation_concerns")
    safety = tables.get("consultation_safety")
    versus = tables.get("concern_vs_recorded")
    if (concerns is None or not len(concerns)) and (safety is None or not len(safety)):
        return {"missing": "No consultation survey results for this partnership: no survey responses were placed "
                           "on it (or the survey is not in the data plan)."}  # fmt: skip
    out: dict[str, Any] = {}
    if concerns is not None and len(concerns):
        year = str(concerns["period_start"].max())
        latest = concerns[concerns["period_start"] == year].copy()
        latest["_order"] = pd.to_numeric(latest["concern_rank"], errors="coerce")
        latest = latest.sort_values(["_order", "concern"], na_position="last")
        label = str(latest["audit_year"].iloc[0])
        out["year"] = label
        first = latest.iloc[0].to_dict()
        out["respondents"] = fmt.count(first, "respondents", SURVEY).html
        out["responses"] = fmt.count(first, "responses", SURVEY).html
        rows = []
        for r in latest.to_dict("records"):
            key = {"data-concern": str(r["concern"])}
            interval = "[c]" if _is_withheld(r, "share_low_95") or _missing(r.get("share_low_95")) else \
                f"{100 * r['share_low_95']:.1f}–{100 * r['share_high_95']:.1f}%"  # fmt: skip
            rows.append([_figure(r, "concern_rank", key=key), _keyed(r["concern"], key, "concern"),
                         _figure(r, "share_naming", share=True, key=key), Cell(Markup(escape(interval)), "num"),
                         _survey_count(fmt, r, "respondents_naming", key), _survey_count(fmt, r, "responses_naming", key)])  # fmt: skip
        out["concerns"] = Table(["Rank", "Concern", "Share naming it", "95% interval", "Respondents naming it",
                                 "Responses naming it"], rows, f"Top concerns, survey year {label}", {0, 2, 3, 4, 5},
                                "consultation_concerns")  # fmt: skip
    if safety is not None and len(safety):
        rows = []
        for r in safety.sort_values("period_start").to_dict("records"):
            key = {"data-survey-year": str(r["audit_year"])}
            rows.append([_keyed(r["audit_year"], key, "audit_year"), _survey_count(fmt, r, "respondents", key),
                         *(_figure(r, f"share_{a}_{t}", share=True, key=key) for a, t in SAFETY)])  # fmt: skip
        out["safety"] = Table(["Survey year", "Respondents", "Safe by day", "Unsafe by day", "Safe after dark",
                               "Unsafe after dark"], rows, "Feeling of safety (very or fairly safe / unsafe)",
                              {1, 2, 3, 4, 5}, "consultation_safety")  # fmt: skip
    if versus is not None and len(versus):
        year = str(versus["period_start"].max())
        v = versus[versus["period_start"] == year].copy()
        v["_order"] = pd.to_numeric(v["public_rank"], errors="coerce")
        rows = []
        for r in v.sort_values(["_order", "concern"], na_position="last").to_dict("records"):
            key = {"data-vs-concern": str(r["concern"])}
            source = (
                _label(r["recorded_dataset"], labels) if isinstance(r.get("recorded_dataset"), str) else "–"
            )
            rows.append([_keyed(r["concern"], key, "concern"), _figure(r, "public_rank", key=key),
                         Cell(Markup(escape(source))), fmt.long(r.get("recorded_categories")),
                         _figure(r, "recorded_rate_per_1000", key=key), _figure(r, "recorded_rank", key=key),
                         _figure(r, "rank_gap", key=key),
                         Cell(Markup("[c]"), "c", {**key, "data-col": "mismatch"}) if _is_withheld(r, "mismatch")
                         else _reading(r, key),
                         fmt.long(r.get("supporting_sources"))])  # fmt: skip
        label = str(v["audit_year"].iloc[0])
        out["versus"] = Table(["Concern", "Public rank", "Recorded source", "Categories", "Recorded rate per 1,000",
                               "Recorded rank", "Gap", "Reading", "Supporting sources (not added)"], rows,
                              f"Concern against the records, {label}", {1, 4, 5, 6}, "concern_vs_recorded")  # fmt: skip
    return out


def _reading(row: dict, key: dict[str, str]) -> Cell:
    """The concern's reading; when its recorded figure is from an incomplete year, which agency and month."""
    cell = _keyed(row.get("mismatch"), key, "mismatch")
    if row.get("mismatch") == INCOMPLETE:
        cell.html = cell.html + _incomplete_note(row)
        cell.cls = "long"
    return cell


def _survey_count(fmt: Formatter, row: dict, column: str, key: dict[str, str]) -> Cell:
    cell = fmt.count(row, column, SURVEY)
    cell.attrs = {**cell.attrs, **key}
    if not _is_withheld(row, column) and not _missing(row.get(column)):
        cell.attrs["data-value"] = _raw(row.get(column))
    return cell
