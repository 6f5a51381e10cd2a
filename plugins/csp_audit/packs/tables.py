"""The published tables of an audit pack, each with its disclosure spec, made from the audit marts.

Every count a pack publishes comes from one protected *cube*: the yearly counts of every area
(partnership, ward, LSOA, and the region as the sum of its partnerships) from ``audit.area_rates``
plus the monthly counts of every partnership from ``audit.area_monthly``. The cube is protected once,
for the whole region, with every additive relation a reader could use across the published tables
(area hierarchy, categories, months within the year, partnerships within the region), so:

* every partnership's pack shows the same figure for the same cell (packs can be combined without
  undoing each other's suppression), and
* tables that repeat a count (trends, hotspots, comparisons, caveats ...) copy it, and its [c], from
  the cube; a figure made from several cells (a theme's total, the top 10% of LSOAs, a seasonal
  mean, a count over all years) is published only when every cell it is made of is published, and
  is made from the published (rounded) values, so it tells a reader nothing the cells do not.

Each table is then passed through :func:`disclosure.protect` with its own spec, which must not add
any suppression (checked), and verified with :func:`disclosure.find_disclosure_risks`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from csp_audit.packs import strategy
from csp_audit.packs.disclosure import (
    MARKER,
    DisclosureError,
    Grouping,
    Not,
    Rate,
    TableSpec,
    Terms,
    check_consistent,
    find_disclosure_risks,
    flag_column,
    protect,
)

POLICE = "police_uk_street"
CUBE_KEY = ("area_type", "area_code", "partnership_code", "dataset", "category", "period_type", "period")
# A dataset in the marts but not in the plan: publish it as if it were sensitive and apportioned.
UNKNOWN_TERMS = Terms(level="unknown", min_cell_size=10, apportioned=True)


@dataclass
class Published:
    """One published table for the whole region (sliced per partnership later) and its spec."""

    name: str
    title: str
    description: str
    frame: pd.DataFrame
    spec: TableSpec
    # how to keep one partnership's rows: a column holding the partnership code, or None for all rows
    partnership_column: str | None = "partnership_code"
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ terms


def terms_for(datasets: list[str], declared: dict[str, Terms]) -> dict[str, Terms]:
    """Terms for every dataset in the marts: the plan's, police.uk open, anything else conservative."""
    out = dict(declared)
    for dataset in datasets:
        if dataset not in out:
            out[dataset] = Terms() if dataset == POLICE else UNKNOWN_TERMS
    return out


def _spec(name: str, terms: dict[str, Terms], **kwargs: Any) -> TableSpec:
    return TableSpec(name=name, terms=terms, default_terms=UNKNOWN_TERMS, **kwargs)


def _groupings(period: tuple[str, ...], *, region: bool = False) -> tuple[Grouping, ...]:
    by = ("dataset", "category", *period)
    found = [
        Grouping("partnership = sum of its LSOAs", (*by, "partnership_code"),
                 {"area_type": "partnership"}, {"area_type": "lsoa"}),
        Grouping("partnership = sum of its wards", (*by, "partnership_code"),
                 {"area_type": "partnership"}, {"area_type": "ward"}),
        Grouping("ward = sum of its LSOAs", (*by, "partnership_code"),
                 {"area_type": "ward"}, {"area_type": "lsoa"}, link=("area_code", "ward_code")),
        Grouping("category All = sum of the categories",
                 ("dataset", "area_type", "area_code", "partnership_code", *period),
                 {"category": "All"}, {"category": Not("All")}),
    ]  # fmt: skip
    if region:
        found.append(
            Grouping(
                "region = sum of its partnerships", by, {"area_type": "region"}, {"area_type": "partnership"}
            )
        )
    return tuple(found)


def cube_spec(terms: dict[str, Terms]) -> TableSpec:
    year_months = Grouping(
        "audit year = sum of its months",
        ("dataset", "category", "area_type", "area_code", "partnership_code", "period_start"),
        {"period_type": "year"},
        {"period_type": "month"},
    )
    return _spec(
        "cube",
        terms,
        key=CUBE_KEY,
        counts=("incidents",),
        rates={"rate_per_1000": Rate("incidents", "population")},
        groupings=(*_groupings(("period_type", "period"), region=True), year_months),
    )


def table_specs(terms: dict[str, Terms]) -> dict[str, TableSpec]:
    """The disclosure spec of every published table (build and tests use the same ones)."""
    yoy = ("change", "pct_change", "p_value", "verdict", "q_value", "dispersion")
    three_cols = (
        "three_year_change",
        "three_year_pct_change",
        "three_year_p_value",
        "three_year_verdict",
        "three_year_q_value",
        "three_year_dispersion",
    )
    shares = ("share_exact", "share_apportioned", "share_apportioned_across_boundaries", "share_unlocated")
    return {
        "area_rates": _spec(
            "area_rates",
            terms,
            key=("area_type", "area_code", "partnership_code", "dataset", "category", "period_start"),
            counts=("incidents",),
            rates={"rate_per_1000": Rate("incidents", "population")},
            groupings=_groupings(("period_start",)),
        ),
        "area_monthly": _spec(
            "area_monthly",
            terms,
            key=("area_code", "dataset", "category", "month"),
            counts=("incidents",),
            groupings=(_groupings(("month",))[3],),
        ),
        "region_rates": _spec(
            "region_rates",
            terms,
            key=("area_type", "area_code", "dataset", "category", "period_start"),
            counts=("incidents",),
            rates={"rate_per_1000": Rate("incidents", "population")},
            groupings=(
                Grouping(
                    "region = sum of its partnerships",
                    ("dataset", "category", "period_start"),
                    {"area_type": "region"},
                    {"area_type": "partnership"},
                ),
                Grouping(
                    "category All = sum of the categories",
                    ("dataset", "area_type", "area_code", "period_start"),
                    {"category": "All"},
                    {"category": Not("All")},
                ),
            ),
        ),
        "trends": _spec(
            "trends",
            terms,
            key=("partnership_code", "dataset", "category", "period_start"),
            counts=("incidents", "previous_year_incidents", "three_year_base_incidents"),
            derived={
                **{c: ("incidents", "previous_year_incidents") for c in yoy},
                **{c: ("incidents", "three_year_base_incidents") for c in three_cols},
            },
            groupings=(
                Grouping(
                    "category All = sum of the categories",
                    ("partnership_code", "dataset", "period_start"),
                    {"category": "All"},
                    {"category": Not("All")},
                ),
            ),
        ),
        "seasonality": _spec(
            "seasonality",
            terms,
            key=("partnership_code", "dataset", "category", "calendar_month"),
            derived={"mean_monthly_incidents": (), "mean_of_monthly_means": (), "seasonal_index": ()},
        ),
        "hotspots": _spec(
            "hotspots",
            terms,
            key=("partnership_code", "dataset", "category", "period_start", "area_type", "area_code"),
            counts=("incidents",),
            rates={"rate_per_1000": Rate("incidents", "population")},
            derived={"share_of_partnership_incidents": ("incidents",)},
        ),
        "concentration": _spec(
            "concentration",
            terms,
            key=("partnership_code", "dataset", "category", "period_start"),
            counts=("incidents", "top_lsoa_incidents"),
            derived={"share_in_top_10_percent": ("incidents", "top_lsoa_incidents")},
        ),
        "hotspot_persistence": _spec(
            "hotspot_persistence",
            terms,
            key=("partnership_code", "dataset", "category", "lsoa_code"),
            counts=("incidents",),
        ),
        "comparisons": _spec(
            "comparisons",
            terms,
            key=(
                "partnership_code",
                "dataset",
                "category",
                "period_start",
                "comparator_type",
                "comparator_code",
            ),
            counts=("incidents",),
            rates={"rate_per_1000": Rate("incidents", "population")},
            derived={
                "rank_in_region": ("incidents",),
                "rate_ratio": ("incidents",),
                "comparator_rate_per_1000": (),
            },
        ),
        "caveats": _spec(
            "caveats",
            terms,
            key=("partnership_code", "dataset", "period_start"),
            counts=("incidents",),
            derived={"share_apportioned": ("incidents",), "share_unlocated": ("incidents",)},
        ),
        "themes": _spec(
            "themes",
            terms,
            key=("partnership_code", "theme", "period_start", "dataset"),
            counts=("incidents",),
            rates={"rate_per_1000": Rate("incidents", "population")},
        ),
        "coterminosity": _spec(
            "coterminosity",
            terms,
            key=("partnership_code", "dataset"),
            counts=("incidents",),
            derived={c: ("incidents",) for c in shares},
        ),
        "repeat_locations": _spec(
            "repeat_locations", terms, key=("partnership_code", "dataset", "category", "period_start")
        ),
        "harm": _spec("harm", terms, key=("partnership_code", "dataset", "category", "period_start")),
        # rows of a record-level or de-identified delivery are people or incidents: their counts follow
        # the dataset's minimum cell size (rows of an aggregate delivery are cells, not people)
        "data_quality": TableSpec(
            name="data_quality",
            key=("dataset", "agency", "period"),
            counts=("rows_read", "rows_quarantined", "rows_duplicate"),
            derived={"validity": ("rows_read", "rows_quarantined"), "share_located": ("rows_read",)},
            terms={
                d: Terms(level=t.level, min_cell_size=t.min_cell_size)
                for d, t in terms.items()
                if t.level != "aggregate" and t.min_cell_size
            },
        ),
        **{
            name: TableSpec(name=name, key=key, dataset_column=None)
            for name, key in (
                ("dataset_freshness", ("dataset", "agency")),
                ("data_completeness", ("partnership_code", "month", "dataset")),
            )
        },
        **strategy.strategy_specs(terms, UNKNOWN_TERMS),
    }


# ------------------------------------------------------------------------------------------ cube


def build_cube(area_rates: pd.DataFrame, area_monthly: pd.DataFrame, region_name: str) -> pd.DataFrame:
    """Yearly counts of every area and the region, and monthly counts of every partnership."""
    cols = ["area_type", "area_code", "area_name", "ward_code", "partnership_code", "partnership_name",
            "dataset", "category", "audit_year", "period_start", "period_end", "months_covered",
            "incidents", "population"]  # fmt: skip
    year = area_rates[cols].assign(period_type="year", period=area_rates["period_start"])
    partnerships = year[year["area_type"] == "partnership"]
    region = (
        partnerships.groupby(
            ["dataset", "category", "audit_year", "period_start", "period_end"], dropna=False
        )
        .agg(
            incidents=("incidents", "sum"),
            population=("population", lambda s: s.sum() if s.notna().all() else np.nan),
            months_covered=("months_covered", "max"),
        )
        .reset_index()
        .assign(
            area_type="region",
            area_code=region_name,
            area_name=f"{region_name} (all partnerships)",
            ward_code=None,
            partnership_code=region_name,
            partnership_name=f"{region_name} (all partnerships)",
            period_type="year",
        )
    )
    region["period"] = region["period_start"]
    monthly = area_monthly[area_monthly["area_type"] == "partnership"]
    month = monthly.assign(
        period_type="month",
        period=monthly["month"],
        months_covered=monthly["months_in_period"],
        population=np.nan,
        period_end=None,
    )[[*cols, "period_type", "period"]]
    cube = pd.concat([year, region[year.columns], month], ignore_index=True)
    cube["population"] = pd.to_numeric(cube["population"], errors="coerce")
    cube["rate_per_1000"] = np.where(
        cube["population"] > 0, (1000 * cube["incidents"] / cube["population"]).round(3), np.nan
    )
    return cube.sort_values(list(CUBE_KEY), kind="stable").reset_index(drop=True)


def cube_from_published(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The cube cells a set of published tables shows (area_rates, area_monthly, region_rates), as one
    frame under :func:`cube_spec`: lets a verifier check differencing *across* those tables (a year
    against its months, the region against its partnerships), e.g. on a pack read back from its files.
    """
    parts = []
    columns = ["area_type", "area_code", "partnership_code", "ward_code", "dataset", "category", "period_type",
               "period", "period_start", "incidents", "incidents_flag", "population", "rate_per_1000",
               "rate_per_1000_flag"]  # fmt: skip
    if "area_rates" in tables:
        f = tables["area_rates"]
        parts.append(f.assign(period_type="year", period=f["period_start"]))
    if "area_monthly" in tables:
        f = tables["area_monthly"]
        parts.append(f.assign(period_type="month", period=f["month"], population=np.nan, rate_per_1000=np.nan,
                              rate_per_1000_flag=None))  # fmt: skip
    if "region_rates" in tables:
        f = tables["region_rates"]
        parts.append(
            f.assign(
                period_type="year", period=f["period_start"], partnership_code=f["area_code"], ward_code=None
            )
        )
    frame = pd.concat([p.reindex(columns=columns) for p in parts], ignore_index=True)
    frame["period"] = frame["period"].astype(str)
    return frame.drop_duplicates(list(CUBE_KEY), keep="first").reset_index(drop=True)


class Cube:
    """The protected cube with lookups by key; ``true`` keeps the unprotected values (never published)."""

    def __init__(
        self, raw: pd.DataFrame, terms: dict[str, Terms], history: pd.DataFrame | None = None
    ) -> None:
        """``history``: the cells earlier releases showed or withheld (:mod:`csp_audit.packs.history`);
        withheld ones stay withheld and shown ones are known to readers."""
        self.spec = cube_spec(terms)
        known = None
        if history is not None and not history.empty:
            from csp_audit.packs.history import carried_and_known

            raw = raw.reset_index(drop=True).copy()
            row_terms = self.spec.terms_of(raw)
            controlled = np.array([t.controlled for t in row_terms], dtype=bool)
            shown = np.array(
                [t.publish(v) for t, v in zip(row_terms, raw["incidents"].to_numpy(dtype=float), strict=True)]
            )
            carried, seen = carried_and_known(raw, shown, history)
            flag = flag_column("incidents")
            previous = raw[flag] if flag in raw.columns else pd.Series(None, index=raw.index, dtype=object)
            raw[flag] = np.where(carried & controlled, MARKER, previous)
            known = {"incidents": seen & controlled}
        self.protected = protect(raw, self.spec, known=known)
        index = pd.MultiIndex.from_frame(self.protected[list(CUBE_KEY)].astype(str))
        self.value = pd.Series(self.protected["incidents"].to_numpy(), index=index)
        self.suppressed = pd.Series(
            (self.protected[flag_column("incidents")] == MARKER).to_numpy(), index=index
        )
        self.true = pd.Series(raw["incidents"].to_numpy(dtype=float), index=index)
        self.population = pd.Series(self.protected["population"].to_numpy(dtype=float), index=index)

    def lookup(self, keys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(published value, suppressed, found) for rows of ``keys`` (the CUBE_KEY columns)."""
        index = pd.MultiIndex.from_frame(keys[list(CUBE_KEY)].astype(str))
        value = self.value.reindex(index).to_numpy(dtype=float)
        suppressed = self.suppressed.reindex(index).to_numpy(dtype=object)
        found = pd.notna(suppressed)
        return value, np.where(found, suppressed, False).astype(bool), found

    def true_values(self, keys: pd.DataFrame) -> np.ndarray:
        index = pd.MultiIndex.from_frame(keys[list(CUBE_KEY)].astype(str))
        return self.true.reindex(index).to_numpy(dtype=float)


def _keys(frame: pd.DataFrame, **fixed: Any) -> pd.DataFrame:
    """CUBE_KEY columns for ``frame``: its own columns, overridden by ``fixed`` (a value or a column)."""
    out = pd.DataFrame(index=frame.index)
    for column in CUBE_KEY:
        value = fixed.get(column, column)
        if isinstance(value, pd.Series | np.ndarray | list):
            out[column] = list(value)
        elif isinstance(value, str) and value in frame.columns and column != "period_type":
            out[column] = frame[value]
        else:
            out[column] = value
    return out


def _from_cube(
    frame: pd.DataFrame,
    column: str,
    cube: Cube,
    keys: pd.DataFrame,
    terms: dict[str, Terms],
    *,
    required: bool,
) -> None:
    """Replace ``frame[column]`` by the cube's published value and copy its [c].

    A row without a cube cell is an error when ``required``; otherwise an open dataset keeps its
    value and a controlled one is withheld ([c]).
    """
    value, suppressed, found = cube.lookup(keys)
    had = frame[column].notna().to_numpy()
    if required and not found[had].all():
        missing = keys[~found & had].head(1).to_dict("records")
        raise DisclosureError(f"{column}: no cube cell for {missing}")
    is_open = np.array([terms.get(d, UNKNOWN_TERMS).is_open for d in frame["dataset"]], dtype=bool)
    original = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    withheld = ~found & had & ~is_open
    frame[column] = np.where(found, value, np.where(is_open, original, np.nan))
    frame[flag_column(column)] = np.where((found & suppressed) | withheld, MARKER, None)


def _shift_year(period_start: pd.Series, years: int) -> pd.Series:
    return period_start.map(lambda s: f"{int(s[:4]) - years:04d}{s[4:]}" if isinstance(s, str) else None)


def _finish(
    name: str,
    frame: pd.DataFrame,
    spec: TableSpec,
    cube_columns: tuple[str, ...],
    *,
    subset_of_cube: bool = False,
) -> pd.DataFrame:
    """protect() the derived table (it must add no suppression to cube figures) and verify it.

    ``subset_of_cube``: the table's counts are cube cells with the cube's suppression (checked) and its
    groupings are a subset of the cube's, so the cube's differencing check covers it (fewer published
    cells and fewer equations can only make fewer cells recoverable); the other checks still run.
    """
    before = frame.reset_index(drop=True)
    out = protect(before, spec, secondary=False)
    check_consistent(before, out, spec, cube_columns)
    risks = find_disclosure_risks(out, spec, linear=not subset_of_cube)
    if risks:
        raise DisclosureError(f"{name}: {len(risks)} disclosure risks, first: {risks[0]}")
    return out


# ------------------------------------------------------------------------------------------ tables


def published_tables(
    marts: dict[str, pd.DataFrame],
    terms: dict[str, Terms],
    region_name: str,
    history: pd.DataFrame | None = None,
) -> tuple[dict[str, Published], Cube]:
    """Every published table for the whole region, protected (knowing ``history``, what earlier
    releases published) and verified."""
    area_rates = marts["area_rates"]
    cube = Cube(build_cube(area_rates, marts["area_monthly"], region_name), terms, history)
    risks = find_disclosure_risks(cube.protected, cube.spec)
    if risks:
        raise DisclosureError(f"cube: {len(risks)} disclosure risks, first: {risks[0]}")
    tables: dict[str, Published] = {}

    def add(p: Published) -> None:
        tables[p.name] = p

    add(_area_rates(area_rates, cube, terms))
    add(_area_monthly(marts["area_monthly"], cube, terms))
    add(_region_rates(cube, terms))
    if "trends" in marts:
        add(_trends(marts["trends"], cube, terms))
    if "seasonality" in marts:
        add(_seasonality(marts["seasonality"], cube, terms))
    if "hotspots" in marts:
        add(_hotspots(marts["hotspots"], cube, terms))
    if "concentration" in marts:
        add(_concentration(marts["concentration"], area_rates, cube, terms))
    if "hotspot_persistence" in marts:
        add(_persistence(marts["hotspot_persistence"], area_rates, cube, terms))
    if "repeat_locations" in marts:
        add(_open_only("repeat_locations", marts["repeat_locations"], terms,
                       "Repeat locations", "Incidents at places with two or more incidents (open data only: "
                       "controlled datasets carry no locations). Not meaningful on police.uk snap points "
                       "(share_meaningful false): a snap point stands for a street segment, so nearly "
                       "every incident is at a 'repeat' point."))  # fmt: skip
    if "harm" in marts:
        add(_open_only("harm", marts["harm"], terms, "Harm (crime severity)",
                       "Crime severity: incidents weighted by the ONS Crime Severity Score (police.uk)."))  # fmt: skip
    if "comparisons" in marts:
        add(_comparisons(marts["comparisons"], tables["region_rates"].frame, cube, terms))
    if "caveats" in marts:
        add(_caveats(marts["caveats"], cube, terms))
    if "themes" in marts:
        add(_themes(marts["themes"], marts.get("theme_definitions"), cube, terms))
    if "coterminosity" in marts:
        add(_coterminosity(marts["coterminosity"], area_rates, cube, terms))
    for name, title, description in (
        ("data_quality", "Data quality", "Each delivery's gate verdict, validity and timeliness."),
        ("dataset_freshness", "Dataset freshness", "Whether each input is current or stale, and why."),
        ("data_completeness", "Data completeness", "Deliveries expected and received per month."),
    ):
        if name in marts:
            spec = table_specs(terms)[name]
            column = "partnership_code" if "partnership_code" in marts[name].columns else None
            frame = marts[name].reset_index(drop=True)
            if spec.counts:
                frame = _finish(name, frame, spec, ())
            add(Published(name, title, description, frame, spec, column))
    for p in _strategy(marts, cube, terms):
        add(p)
    return tables, cube


def _strategy(marts: dict[str, pd.DataFrame], cube: Cube, terms: dict[str, Terms]) -> list[Published]:
    """The strategy tables: consultation, priority list, target register and progress."""
    specs = table_specs(terms)
    out: dict[str, Published] = {}

    def finish(
        name: str, frame: pd.DataFrame, title: str, description: str, cube_columns: tuple[str, ...] = ()
    ) -> None:
        out[name] = Published(
            name, title, description, _finish(name, frame, specs[name], cube_columns), specs[name]
        )

    if "consultation_concerns" in marts:
        finish("consultation_concerns", strategy.consultation_concerns(marts["consultation_concerns"]),
               "Consultation: public concerns",
               "Share of survey respondents naming each concern among their top three, with its 95% interval "
               "and rank; respondents are placed on partnerships through their postcode district (fractional).")  # fmt: skip
    if "consultation_safety" in marts:
        finish("consultation_safety", strategy.consultation_safety(marts["consultation_safety"]),
               "Consultation: feeling of safety",
               "Share of respondents feeling very or fairly safe (and unsafe) by day and after dark, with the "
               "respondents those shares stand for.")  # fmt: skip
    concerns = out["consultation_concerns"].frame if "consultation_concerns" in out else None
    if "concern_vs_recorded" in marts and concerns is not None:
        frame = strategy.concern_vs_recorded(marts["concern_vs_recorded"], concerns, marts.get("concern_categories"),
                                             cube, terms, UNKNOWN_TERMS)  # fmt: skip
        finish("concern_vs_recorded", frame, "Consultation: concern against the records",
               "Each concern's public rank beside the recorded rate (and harm) of the problem it names; a gap "
               "of two places or more is flagged as a mismatch.")  # fmt: skip
    if "priority_scores" in marts:
        frame = strategy.priority_scores(marts["priority_scores"], concerns, marts.get("priority_candidates"),
                                         cube, terms, UNKNOWN_TERMS)  # fmt: skip
        finish("priority_scores", frame, "Priority scores",
               "MoRiLE-style priority score of every candidate issue per audit year: likelihood (volume, trend, "
               "concentration) x impact (harm, public concern), adjusted for capacity; rank and rank change.",
               ("incidents", "previous_year_incidents"))  # fmt: skip
        ranked = out["priority_scores"]  # ranks among the published ranks, once every suppression is known
        ranked.frame = strategy.rank_published_only(ranked.frame)
    if "target_progress" in marts:
        published = {name: p.frame for name, p in out.items()}
        frame = strategy.target_progress(marts["target_progress"], marts.get("target_checks"), published, cube,
                                         terms, UNKNOWN_TERMS)  # fmt: skip
        finish("target_progress", frame, "Target register and progress",
               "Every SMART target of the partnership's register: its check result (pass, or why it failed), "
               "baseline, current value, target, trajectory, and RAG status with the rule that set it.")  # fmt: skip
    return [out[name] for name in strategy.STRATEGY_TABLES if name in out]


def _area_rates(area_rates: pd.DataFrame, cube: Cube, terms: dict[str, Terms]) -> Published:
    frame = area_rates.copy().reset_index(drop=True)
    _from_cube(
        frame,
        "incidents",
        cube,
        _keys(frame, period_type="year", period="period_start"),
        terms,
        required=True,
    )
    spec = table_specs(terms)["area_rates"]
    out = _finish("area_rates", frame, spec, ("incidents",), subset_of_cube=True)
    return Published("area_rates", "Counts and rates by area",
                     "Incidents and rates per 1,000 residents for the partnership, its wards and LSOAs, "
                     "by dataset, category and audit year.", out, spec)  # fmt: skip


def _area_monthly(area_monthly: pd.DataFrame, cube: Cube, terms: dict[str, Terms]) -> Published:
    frame = area_monthly[area_monthly["area_type"] == "partnership"].copy().reset_index(drop=True)
    _from_cube(
        frame, "incidents", cube, _keys(frame, period_type="month", period="month"), terms, required=True
    )
    spec = table_specs(terms)["area_monthly"]
    out = _finish("area_monthly", frame, spec, ("incidents",))
    return Published("area_monthly", "Monthly counts (partnership)",
                     "Incidents per month (per quarter for quarterly datasets) for the partnership as a whole.",
                     out, spec)  # fmt: skip


def _region_rates(cube: Cube, terms: dict[str, Terms]) -> Published:
    p = cube.protected
    frame = p[(p["period_type"] == "year") & p["area_type"].isin(["partnership", "region"])]
    frame = frame[["area_type", "area_code", "area_name", "dataset", "category", "audit_year", "period_start",
                   "period_end", "months_covered", "incidents", "population", "rate_per_1000",
                   "incidents_flag"]].reset_index(drop=True)  # fmt: skip
    spec = table_specs(terms)["region_rates"]
    out = _finish("region_rates", frame, spec, ("incidents",))
    return Published("region_rates", "Comparators: every partnership and the region",
                     "Partnership-level counts and rates of every partnership in the region and of the "
                     "region as a whole (the permitted comparators).", out, spec, partnership_column=None)  # fmt: skip


def c_test(n1: float, n2: float, dispersion: float = 1.0) -> tuple[float | None, str]:
    """The marts' quasi-Poisson test (see audit.trends): the exact conditional binomial test on the
    counts divided by the dispersion (floored at 1), rounded to whole counts. The verdict is that of
    the p-value alone; the pack's verdicts are read from the Benjamini-Hochberg q (bh_q_values)."""
    d = 1.0 if dispersion is None or not np.isfinite(dispersion) else max(1.0, float(dispersion))
    a, b = int(round(n1 / d)), int(round(n2 / d))
    n = a + b
    if n < 6:
        return None, "insufficient data"
    k = min(a, b)
    tail = Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)
    p = float(min(Fraction(1), 2 * tail))
    if p < 0.05:
        return p, "significant increase" if b > a else "significant decrease"
    return p, "no significant change"


def bh_q_values(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values of one family (null p stays null), as audit.trends.q_value."""
    valid = p.dropna().astype(float)
    m = len(valid)
    if not m:
        return pd.Series(np.nan, index=p.index, dtype=float)
    order = np.argsort(valid.to_numpy(), kind="stable")
    ranked = valid.to_numpy()[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    q = np.empty(m)
    q[order] = q_sorted
    return pd.Series(q, index=valid.index).reindex(p.index)


def _verdict_from_q(q: float, n1: float, n2: float, verdict: str) -> str:
    if verdict in ("incomplete data", "insufficient data") or pd.isna(q):
        return verdict
    if q < 0.05:
        return "significant increase" if n2 > n1 else "significant decrease"
    return "no significant change"


def _trends(trends: pd.DataFrame, cube: Cube, terms: dict[str, Terms]) -> Published:
    frame = trends.copy().reset_index(drop=True)
    base = {"area_type": "partnership", "area_code": "partnership_code", "period_type": "year"}
    _from_cube(frame, "incidents", cube, _keys(frame, **base, period="period_start"), terms, required=True)
    prev = _keys(frame, **base, period=_shift_year(frame["period_start"], 1))
    _from_cube(frame, "previous_year_incidents", cube, prev, terms, required=True)
    three = _keys(frame, **base, period=_shift_year(frame["period_start"], 2))
    _from_cube(frame, "three_year_base_incidents", cube, three, terms, required=True)
    controlled = np.array([not terms.get(d, UNKNOWN_TERMS).is_open for d in frame["dataset"]])
    rounded = np.array([bool(terms.get(d, UNKNOWN_TERMS).base) for d in frame["dataset"]])
    now = frame["incidents"].to_numpy(dtype=float)
    for prefix, other in (("", "previous_year_incidents"), ("three_year_", "three_year_base_incidents")):
        # comparable years keep the mart's verdict; controlled figures are recomputed from published counts
        comparable = frame[f"{prefix}change"].notna().to_numpy()
        then = frame[other].to_numpy(dtype=float)
        redo = comparable & controlled & ~np.isnan(now) & ~np.isnan(then)
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(then > 0, np.round(100 * (now - then) / then, 1), np.nan)
        frame[f"{prefix}change"] = np.where(redo, np.round(now - then, 1), frame[f"{prefix}change"])
        frame[f"{prefix}pct_change"] = np.where(redo, pct, frame[f"{prefix}pct_change"])
        redone = np.flatnonzero(redo & rounded)
        disp = (
            frame[f"{prefix}dispersion"]
            if f"{prefix}dispersion" in frame
            else pd.Series(1.0, index=frame.index)
        )
        for i in redone:  # the test on rounded counts, never on the unrounded ones
            p, verdict = c_test(then[i], now[i], disp.iloc[i])
            frame.loc[i, f"{prefix}p_value"] = p
            frame.loc[i, f"{prefix}verdict"] = verdict
        if len(redone) and f"{prefix}q_value" in frame:
            # a p-value changed: the false-discovery-rate adjustment of its partnership's year is redone
            # over the published p-values, and every verdict of that year read from the new q
            families = frame.iloc[redone][["partnership_code", "period_start"]].drop_duplicates()
            for _, fam in families.iterrows():
                rows = (frame["partnership_code"] == fam["partnership_code"]) & (
                    frame["period_start"] == fam["period_start"]
                )
                q = bh_q_values(frame.loc[rows, f"{prefix}p_value"])
                frame.loc[rows, f"{prefix}q_value"] = q
                for j in frame.index[rows]:
                    frame.loc[j, f"{prefix}verdict"] = _verdict_from_q(
                        q[j], then[j], now[j], frame.loc[j, f"{prefix}verdict"]
                    )
    spec = table_specs(terms)["trends"]
    out = _finish("trends", frame, spec, spec.counts)
    return Published("trends", "Changes and significance",
                     "Year-on-year and three-year change with a test of whether it is real (quasi-Poisson, "
                     "false discovery rate controlled across the pack: q-value).", out, spec)  # fmt: skip


def _seasonality(seasonality: pd.DataFrame, cube: Cube, terms: dict[str, Terms]) -> Published:
    frame = seasonality.copy().reset_index(drop=True)
    columns = ("mean_monthly_incidents", "mean_of_monthly_means", "seasonal_index")
    values = {c: frame[c].to_numpy(dtype=float).copy() for c in columns}
    flags = {c: np.zeros(len(frame), dtype=bool) for c in columns}
    months = cube.protected[cube.protected["period_type"] == "month"]
    months = months.assign(calendar_month=months["period"].str[5:7].astype(int))
    rows_of: dict[tuple[str, str, str], list[int]] = {}
    for i, key in enumerate(zip(frame["partnership_code"], frame["dataset"], frame["category"], strict=True)):
        rows_of.setdefault(key, []).append(i)
    calendar = frame["calendar_month"].to_numpy()
    for (code, dataset, category), series in months.groupby(["partnership_code", "dataset", "category"]):
        if terms.get(dataset, UNKNOWN_TERMS).is_open:
            continue
        means: dict[int, float | None] = {}
        for month, cells in series.groupby("calendar_month"):
            hidden = (cells["incidents_flag"] == MARKER).any()
            means[int(month)] = None if hidden else round(float(cells["incidents"].mean()), 3)
        complete = bool(means) and all(v is not None for v in means.values())
        overall = round(float(np.mean(list(means.values()))), 3) if complete else None
        for i in rows_of.get((code, dataset, category), []):
            mean = means.get(int(calendar[i]))
            values["mean_monthly_incidents"][i] = np.nan if mean is None else mean
            values["mean_of_monthly_means"][i] = np.nan if overall is None else overall
            values["seasonal_index"][i] = round(mean / overall, 3) if mean is not None and overall else np.nan
            flags["mean_monthly_incidents"][i] = mean is None
            flags["mean_of_monthly_means"][i] = overall is None
            flags["seasonal_index"][i] = mean is None or overall is None
    for column in columns:
        frame[column] = values[column]
        frame[flag_column(column)] = np.where(flags[column], MARKER, None)
    spec = table_specs(terms)["seasonality"]
    out = _finish("seasonality", frame, spec, ())
    return Published("seasonality", "Seasonality",
                     "Mean incidents per calendar month and the seasonal index (1.20 = 20% above a typical "
                     "month); for controlled datasets computed from the published monthly counts.", out, spec)  # fmt: skip


def _hotspots(hotspots: pd.DataFrame, cube: Cube, terms: dict[str, Terms]) -> Published:
    frame = hotspots.copy().reset_index(drop=True)
    _from_cube(
        frame,
        "incidents",
        cube,
        _keys(frame, period_type="year", period="period_start"),
        terms,
        required=True,
    )
    partnership, hidden, _ = cube.lookup(
        _keys(
            frame,
            area_type="partnership",
            area_code="partnership_code",
            period_type="year",
            period="period_start",
        )
    )
    controlled = np.array([not terms.get(d, UNKNOWN_TERMS).is_open for d in frame["dataset"]])
    share = np.where(
        partnership > 0,
        np.round(frame["incidents"].to_numpy(dtype=float) / np.where(partnership > 0, partnership, 1), 4),
        np.nan,
    )
    frame["share_of_partnership_incidents"] = np.where(
        controlled, share, frame["share_of_partnership_incidents"]
    )
    frame[flag_column("share_of_partnership_incidents")] = np.where(controlled & hidden, MARKER, None)
    spec = table_specs(terms)["hotspots"]
    out = _finish("hotspots", frame, spec, ("incidents",))
    return Published("hotspots", "Hotspots",
                     "The LSOAs and wards with most incidents in the partnership (top 10 or top 10%).", out, spec)  # fmt: skip


def _sum_of_cells(values: np.ndarray, hidden: np.ndarray) -> tuple[float | None, bool]:
    """Sum of published cells; (None, True) when any of them is suppressed."""
    if hidden.any():
        return None, True
    return float(np.round(values.sum(), 6)), False


def _concentration(
    concentration: pd.DataFrame, area_rates: pd.DataFrame, cube: Cube, terms: dict[str, Terms]
) -> Published:
    frame = concentration.copy().reset_index(drop=True)
    base = {"area_type": "partnership", "area_code": "partnership_code", "period_type": "year"}
    _from_cube(frame, "incidents", cube, _keys(frame, **base, period="period_start"), terms, required=True)
    lsoas = area_rates[area_rates["area_type"] == "lsoa"]
    keys = _keys(lsoas, period_type="year", period="period_start")
    value, hidden, _ = cube.lookup(keys)
    lsoas = lsoas.assign(_true=cube.true_values(keys), _shown=value, _hidden=hidden)
    groups = {k: g for k, g in lsoas.groupby(["partnership_code", "dataset", "category", "period_start"])}
    top_values = frame["top_lsoa_incidents"].to_numpy(dtype=float).copy()
    shares = frame["share_in_top_10_percent"].to_numpy(dtype=float).copy()
    withheld = np.zeros(len(frame), dtype=bool)
    incidents = frame["incidents"].to_numpy(dtype=float)
    for i, row in enumerate(frame.itertuples()):
        if terms.get(row.dataset, UNKNOWN_TERMS).is_open:
            continue
        group = groups.get((row.partnership_code, row.dataset, row.category, row.period_start))
        if group is None or not row.top_lsoas:
            continue
        ranked = group.sort_values("_true", ascending=False, kind="stable")
        top = int(row.top_lsoas)
        cut = ranked["_true"].iloc[min(top, len(ranked)) - 1]
        tied = ranked[ranked["_true"] == cut]
        chosen = ranked.head(top)
        hidden = chosen["_hidden"].to_numpy() | bool(tied["_hidden"].any())
        total, withheld[i] = _sum_of_cells(chosen["_shown"].to_numpy(), hidden)
        top_values[i] = np.nan if total is None else total
        if total is not None and not np.isnan(incidents[i]) and incidents[i] > 0:
            shares[i] = round(total / incidents[i], 4)
    frame["top_lsoa_incidents"] = top_values
    frame["share_in_top_10_percent"] = shares
    frame[flag_column("top_lsoa_incidents")] = np.where(withheld, MARKER, None)
    frame["top_lsoa_incidents"] = pd.to_numeric(frame["top_lsoa_incidents"], errors="coerce")
    spec = table_specs(terms)["concentration"]
    out = _finish("concentration", frame, spec, ("incidents", "top_lsoa_incidents"))
    return Published("concentration", "Concentration",
                     "Share of the partnership's incidents in its busiest 10% of LSOAs.", out, spec)  # fmt: skip


def _persistence(
    persistence: pd.DataFrame, area_rates: pd.DataFrame, cube: Cube, terms: dict[str, Terms]
) -> Published:
    frame = persistence.copy().reset_index(drop=True)
    lsoas = area_rates[area_rates["area_type"] == "lsoa"]
    value, hidden, _ = cube.lookup(_keys(lsoas, period_type="year", period="period_start"))
    lsoas = lsoas.assign(_shown=value, _hidden=hidden)
    totals = lsoas.groupby(["partnership_code", "dataset", "category", "area_code"]).agg(
        shown=("_shown", "sum"), hidden=("_hidden", "any")
    )
    keys = pd.MultiIndex.from_frame(frame[["partnership_code", "dataset", "category", "lsoa_code"]])
    found = totals.reindex(keys)
    controlled = np.array([not terms.get(d, UNKNOWN_TERMS).is_open for d in frame["dataset"]])
    withheld = controlled & (found["hidden"].isna() | (found["hidden"] == True)).to_numpy()  # noqa: E712
    shown = np.round(found["shown"].to_numpy(dtype=float), 6)
    frame["incidents"] = np.where(controlled, np.where(withheld, np.nan, shown), frame["incidents"])
    frame[flag_column("incidents")] = np.where(withheld, MARKER, None)
    spec = table_specs(terms)["hotspot_persistence"]
    out = _finish("hotspot_persistence", frame, spec, ("incidents",))
    return Published("hotspot_persistence", "Hotspot persistence",
                     "Audit years in which each LSOA was in the partnership's top 10%.", out, spec)  # fmt: skip


def _open_only(
    name: str, mart: pd.DataFrame, terms: dict[str, Terms], title: str, description: str
) -> Published:
    frame = mart[[terms.get(d, UNKNOWN_TERMS).is_open for d in mart["dataset"]]].reset_index(drop=True)
    spec = table_specs(terms)[name]
    return Published(name, title, description, _finish(name, frame, spec, ()), spec)


def _comparisons(
    comparisons: pd.DataFrame, region_rates: pd.DataFrame, cube: Cube, terms: dict[str, Terms]
) -> Published:
    frame = comparisons.copy().reset_index(drop=True)
    base = {"area_type": "partnership", "area_code": "partnership_code", "period_type": "year"}
    _from_cube(frame, "incidents", cube, _keys(frame, **base, period="period_start"), terms, required=True)
    published = {
        (r.area_type, r.area_code, r.dataset, r.category, r.period_start): (
            r.rate_per_1000,
            r.incidents_flag == MARKER,
        )
        for r in region_rates.itertuples()
    }
    by_year: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for (kind, code, dataset, category, start), (rate, _hidden) in published.items():
        if kind == "partnership":
            by_year.setdefault((dataset, category, start), []).append((code, rate))
    peers = _peer_members(comparisons)
    comparator = np.full(len(frame), np.nan)
    hidden = np.zeros(len(frame), dtype=bool)
    own = np.full(len(frame), np.nan)
    for i, row in enumerate(frame.itertuples()):
        year = (row.dataset, row.category, row.period_start)
        own[i] = published.get(("partnership", row.partnership_code, *year), (np.nan, False))[0]
        if row.comparator_type == "partnership":
            rate, flagged = published.get(("partnership", row.comparator_code, *year), (np.nan, False))
        elif row.comparator_type == "region":
            found = [v for k, v in published.items() if k[0] == "region" and k[2:] == year]
            rate, flagged = found[0] if found else (np.nan, False)
        elif row.comparator_type in ("national", "most_similar_group"):  # published figures, already public
            rate, flagged = row.comparator_rate_per_1000, False
        else:
            members = [
                published.get(("partnership", m, *year))
                for m in peers.get((row.partnership_code, row.comparator_code), [])
            ]
            members = [m for m in members if m is not None]
            flagged = any(m[1] for m in members)
            rates = [m[0] for m in members if not pd.isna(m[0])]
            rate = round(float(np.mean(rates)), 3) if rates and not flagged else np.nan
        comparator[i], hidden[i] = rate, bool(flagged)
    controlled = np.array([not terms.get(d, UNKNOWN_TERMS).is_open for d in frame["dataset"]])
    frame["comparator_rate_per_1000"] = np.where(controlled, comparator, frame["comparator_rate_per_1000"])
    frame[flag_column("comparator_rate_per_1000")] = np.where(controlled & hidden, MARKER, None)
    ratio = np.where(
        (comparator > 0) & ~np.isnan(own), np.round(own / np.where(comparator > 0, comparator, 1), 3), np.nan
    )
    frame["rate_ratio"] = np.where(controlled, ratio, frame["rate_ratio"])
    frame[flag_column("rate_ratio")] = np.where(controlled & hidden, MARKER, None)
    # the rank among the partnerships whose rate is published (a function of published rates only), as the
    # mart ranks: a partnership whose year is incomplete (incomplete_data) is ranked with no one
    rank = frame["rank_in_region"].to_numpy(dtype=float).copy()
    ranked = frame["partnerships_ranked"].to_numpy(dtype=float).copy()
    years = list(zip(frame["dataset"], frame["category"], frame["period_start"], strict=True))
    short: set[tuple[str, str, str, str]] = set()
    if "incomplete_data" in frame:
        marked = frame[frame["incomplete_data"].notna()]
        short = set(zip(marked["partnership_code"], marked["dataset"], marked["category"], marked["period_start"],
                        strict=True))  # fmt: skip
    for i in np.flatnonzero(controlled):
        rates = [
            r for code, r in by_year.get(years[i], []) if not pd.isna(r) and (code, *years[i]) not in short
        ]
        ranked[i] = len(rates)
        own_short = (frame["partnership_code"].iat[i], *years[i]) in short
        rank[i] = np.nan if np.isnan(own[i]) or own_short else sum(r > own[i] for r in rates) + 1
    frame["rank_in_region"] = pd.array(rank).astype("Int64")
    frame["partnerships_ranked"] = pd.array(ranked).astype("Int64")
    spec = table_specs(terms)["comparisons"]
    out = _finish("comparisons", frame, spec, ("incidents",))
    return Published("comparisons", "Comparisons",
                     "The partnership's rate against each neighbour, its peer group, the region, England and Wales and "
                     "its most similar group.", out, spec)  # fmt: skip


def _peer_members(comparisons: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """Members of each partnership's peer group other than itself (from the rows' peer_group)."""
    out: dict[tuple[str, str], list[str]] = {}
    groups = comparisons.drop_duplicates(["partnership_code", "peer_group"])
    for _, row in groups.iterrows():
        if not isinstance(row["peer_group"], str):
            continue
        members = groups[
            (groups["peer_group"] == row["peer_group"])
            & (groups["partnership_code"] != row["partnership_code"])
        ]
        out[(row["partnership_code"], row["peer_group"])] = list(members["partnership_code"])
    return out


def _caveats(caveats: pd.DataFrame, cube: Cube, terms: dict[str, Terms]) -> Published:
    frame = caveats.copy().reset_index(drop=True)
    keys = _keys(frame, area_type="partnership", area_code="partnership_code", category="All",
                 period_type="year", period="period_start")  # fmt: skip
    _from_cube(frame, "incidents", cube, keys, terms, required=False)
    spec = table_specs(terms)["caveats"]
    out = _finish("caveats", frame, spec, ("incidents",))
    return Published("caveats", "Caveats", "What to know before quoting each dataset's figures.", out, spec)


def _like(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL)


def _themes(
    themes: pd.DataFrame, definitions: pd.DataFrame | None, cube: Cube, terms: dict[str, Terms]
) -> Published:
    frame = themes.copy().reset_index(drop=True)
    frame[flag_column("incidents")] = None
    year = cube.protected[
        (cube.protected["period_type"] == "year") & (cube.protected["area_type"] == "partnership")
    ]
    cells = {k: g for k, g in year.groupby(["partnership_code", "dataset", "period_start"])}
    population = year.drop_duplicates(["partnership_code", "period_start"]).set_index(
        ["partnership_code", "period_start"]
    )["population"]
    frame["population"] = population.reindex(
        pd.MultiIndex.from_frame(frame[["partnership_code", "period_start"]])
    ).to_numpy()
    patterns: dict[tuple[str, str], list[str]] = {}
    if definitions is not None:
        for _, d in definitions.iterrows():
            patterns.setdefault((d["theme"], d["dataset"]), []).append(str(d["category"]))
    for i, row in frame.iterrows():
        if terms.get(row["dataset"], UNKNOWN_TERMS).is_open or pd.isna(row["incidents"]):
            continue
        group = cells.get((row["partnership_code"], row["dataset"], row["period_start"]))
        wanted = patterns.get((row["theme"], row["dataset"]))
        if group is None or wanted is None:
            frame.loc[i, "incidents"] = None
            frame.loc[i, flag_column("incidents")] = MARKER
            continue
        if "All" in wanted:
            chosen = group[group["category"] == "All"]
        else:
            regexes = [_like(p) for p in wanted]
            chosen = group[[c != "All" and any(r.match(c) for r in regexes) for c in group["category"]]]
        total, withheld = _sum_of_cells(
            chosen["incidents"].to_numpy(dtype=float), (chosen["incidents_flag"] == MARKER).to_numpy()
        )
        frame.loc[i, "incidents"] = total
        if withheld:
            frame.loc[i, flag_column("incidents")] = MARKER
    frame["incidents"] = pd.to_numeric(frame["incidents"], errors="coerce")
    spec = table_specs(terms)["themes"]
    out = _finish("themes", frame, spec, ("incidents",))
    return Published("themes", "Multi-agency themes",
                     "Each theme's sources side by side (never added: one incident can reach several agencies).",
                     out, spec)  # fmt: skip


def _coterminosity(
    coterminosity: pd.DataFrame, area_rates: pd.DataFrame, cube: Cube, terms: dict[str, Terms]
) -> Published:
    frame = coterminosity.copy().reset_index(drop=True)
    frame[flag_column("incidents")] = None
    years = area_rates[(area_rates["area_type"] == "partnership") & (area_rates["category"] == "All")]
    value, hidden, _ = cube.lookup(_keys(years, period_type="year", period="period_start"))
    years = years.assign(_shown=value, _hidden=hidden)
    groups = {k: g for k, g in years.groupby(["partnership_code", "dataset"])}
    for i, row in frame.iterrows():
        if terms.get(row["dataset"], UNKNOWN_TERMS).is_open:
            continue
        group = groups.get((row["partnership_code"], row["dataset"]))
        if group is None:
            continue
        total, withheld = _sum_of_cells(group["_shown"].to_numpy(), group["_hidden"].to_numpy())
        frame.loc[i, "incidents"] = total
        if withheld:
            frame.loc[i, flag_column("incidents")] = MARKER
    frame["incidents"] = pd.to_numeric(frame["incidents"], errors="coerce")
    spec = table_specs(terms)["coterminosity"]
    out = _finish("coterminosity", frame, spec, ("incidents",))
    return Published("coterminosity", "Coterminosity",
                     "How each dataset's figures were placed on the partnership: exactly, by apportionment, "
                     "or not at all (all audit years together).", out, spec)  # fmt: skip
