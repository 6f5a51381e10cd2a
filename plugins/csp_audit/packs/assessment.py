"""``assessment.html``: the partnership's strategic assessment, written from its published tables.

The report (``report.html``) is the data annex; this is the document an officer takes to the board. It
follows what SI 2007/1830 asks of a strategic assessment, in eight sections whose HTML ids can be
linked: ``levels``, ``changes``, ``drivers``, ``priorities``, ``consultation``, ``delivery``,
``data-quality`` and ``recommendations``.

Why it is written this way:

- **Templates over the published tables, never free text.** Every sentence is a template filled from
  the partnership's protected pack tables (the same frames as its CSVs), so it cannot show a figure the
  CSV withholds, and it holds only the partnership's own small areas. Every number is a traced figure
  (:mod:`csp_audit.packs.figures`): a verifier finds its row and formats it again.
- **Only findings are narrated as findings.** A change is a finding when its verdict, read from the
  false-discovery-rate adjusted q-value, is significant and both years are complete. A figure over an
  incomplete year, or a withheld one, is said to be so and never compared.
- **Wording follows the figures:** direction (rise/fall), size (small/moderate/large), confidence (from
  q), and how a rate sits against the region, England and Wales and the most similar group.
- **Drivers are a decomposition of the change** into categories (the categories' own changes, from
  ``trends``), wards (each ward's count this year less last year's, both published) and months (each
  month less the same month a year before), with the data-quality events of the two years beside them.
- **Recommendations are drafts**, each tied to the finding it comes from (a link to it); the partnership
  edits them through its commentary file (:mod:`csp_audit.packs.commentary`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from csp_audit.packs.commentary import SECTIONS, Commentary
from csp_audit.packs.figures import Tracer, missing, rows_matching, usable, withheld
from csp_audit.packs.report import INCOMPLETE, POLICE, _label, _latest_year, incomplete_text
from csp_audit.packs.strategy import SURVEY

SIGNIFICANT = ("significant increase", "significant decrease")
LABELS = {POLICE: "Police recorded crime and anti-social behaviour", SURVEY: "Consultation survey"}
COMPARATORS = (
    ("region", "the region"),
    ("national", "England and Wales"),
    ("most_similar_group", "the most similar group of partnerships"),
)
FACTORS = (
    ("volume_score", "volume"),
    ("trend_score", "trend"),
    ("concentration_score", "concentration"),
    ("harm_score", "harm"),
    ("public_concern_score", "public concern"),
)
# what SI 2007/1830 asks a strategic assessment to cover (with domestic abuse), and the datasets that do
STATUTORY = (
    ("crime", (POLICE,)),
    ("anti-social behaviour and disorder", (POLICE, "la_asb_reports", "housing_asb_complaints")),
    ("substance misuse", ("substance_misuse_treatment",)),
    ("reoffending", ("proven_reoffending", "probation_caseload", "yot_first_time_entrants")),
    ("domestic abuse", ("domestic_abuse_incidents",)),
)
PER_1000 = Markup('per <span class="lit">1,000</span> residents')
STATUS_WORDS = {
    "green": "on track",
    "amber": "at risk",
    "red": "not on track",
    "grey": "not yet measurable",
}


@dataclass
class Section:
    id: str
    title: str
    paragraphs: list[Markup] = field(default_factory=list)
    items: list[Markup] = field(default_factory=list)
    after: list[Markup] = field(default_factory=list)  # paragraphs after the list
    commentary: Markup = Markup("")


@dataclass
class Recommendation:
    text: Markup
    finding: str  # the id of the element it comes from (a link target)


def label_of(dataset: str) -> str:
    return _label(dataset, LABELS)


def _first(frame: pd.DataFrame | None, **where: Any) -> dict | None:
    if frame is None or not len(frame):
        return None
    found = rows_matching(frame, where)
    return found.iloc[0].to_dict() if len(found) else None


def _incomplete(row: Mapping[str, Any] | None, *years: str) -> str | None:
    if row is None:
        return None
    return incomplete_text(row.get("incomplete_data"), only=set(years) if years else None)


def _anchor(*parts: Any) -> str:
    text = "-".join(str(p) for p in parts).lower()
    return "".join(c if c.isalnum() else "-" for c in text)


class Writer:
    """Writes the eight sections from one partnership's published tables."""

    def __init__(self, tables: Mapping[str, pd.DataFrame], keys: Mapping[str, tuple[str, ...]]) -> None:
        self.t = tables
        self.tr = Tracer(keys)
        self.recommendations: list[Recommendation] = []
        self.year = _latest_year(tables["area_rates"])
        self.year_label = audit_year_of(tables) or str(self.year)

    # ------------------------------------------------------------------ helpers

    def lit(self, text: Any) -> Markup:
        return self.tr.lit(text)

    def frame(self, name: str) -> pd.DataFrame:
        return self.t.get(name, pd.DataFrame())

    def _rate_sentence(self, row: dict) -> Markup:
        if usable(row, "rate_per_1000"):
            return Markup(" ({} {})").format(
                self.tr.fig("area_rates", row, "rate_per_1000", "rate"), PER_1000
            )
        note = row.get("population_note")  # the mart's own words (they may name a year)
        return Markup(" (no rate: {})").format(
            self.tr.fig("area_rates", row, "population_note", "text")
            if usable(row, "population_note") and isinstance(note, str)
            else "no population denominator"
        )

    # ------------------------------------------------------------------ levels

    def levels(self) -> Section:
        s = Section("levels", SECTIONS[0][1])
        if self.year is None:
            s.paragraphs.append(Markup("There are no audit-year figures for this partnership yet."))
            return s
        rates = self.frame("area_rates")
        own = rows_matching(rates, {"area_type": "partnership", "category": "All", "period_start": self.year})
        datasets = sorted(own["dataset"], key=lambda d: (d != POLICE, d))
        s.paragraphs.append(Markup("This assessment covers the audit year {} and the {} datasets the data plan "
                                   "delivered for it.").format(self.lit(self.year_label),
                                                               self.tr.count("area_rates", {"area_type": "partnership", "category": "All", "period_start": self.year}, len(datasets))))  # fmt: skip
        s.paragraphs.append(self._statutory(set(rates["dataset"])))
        for dataset in datasets:
            row = _first(own, dataset=dataset)
            if row is None:
                continue
            s.items.append(self._level_item(dataset, row))
        police = rows_matching(
            rates, {"area_type": "partnership", "dataset": POLICE, "period_start": self.year}
        )
        ok = pd.Series(
            [usable(r, "incidents") for r in police.to_dict("records")], index=police.index, dtype=bool
        )
        cats = police[(police["category"] != "All") & ok]
        cats = cats.sort_values(["incidents", "category"], ascending=[False, True])
        if len(cats):
            parts = [Markup("{} ({})").format(r["category"], self.tr.fig("area_rates", r, "incidents", "count"))
                     for r in cats.head(3).to_dict("records")]  # fmt: skip
            s.after.append(Markup("<strong>What:</strong> the largest categories of police recorded crime "
                                       "and anti-social behaviour were {}.").format(Markup("; ").join(parts)))  # fmt: skip
        s.after.append(self._where())
        s.after.append(self._when())
        return s

    @staticmethod
    def _statutory(present: set[str]) -> Markup:
        """Which of the matters a strategic assessment must cover have a dataset, and which lack one."""
        covered, absent = [], []
        for matter, datasets in STATUTORY:
            found = sorted(present & set(datasets))
            if found:
                covered.append(Markup("{} ({})").format(matter, ", ".join(label_of(d) for d in found)))
            else:
                absent.append(matter)
        text = Markup("Matters the assessment must cover: {}.").format(Markup("; ").join(covered) or "none")
        if absent:
            text += Markup(' <span class="incomplete">No dataset in the data plan covers {}: add one to '
                           "the plan (docs/data-plan.md) or cover it from other sources.</span>").format(", ".join(absent))  # fmt: skip
        return text

    def _level_item(self, dataset: str, row: dict) -> Markup:
        label = label_of(dataset)
        if not usable(row, "incidents"):
            return Markup("<strong>{}</strong>: the count is withheld to protect confidentiality.").format(
                label
            )
        # an apportioned count is an estimate (a fraction): said so
        estimated = "an estimated " if not float(row["incidents"]).is_integer() else ""
        text = Markup("<strong>{}</strong>: {}{} recorded").format(label, estimated, self.tr.fig("area_rates", row, "incidents",
                                                                                      "count"))  # fmt: skip
        text += self._rate_sentence(row)
        caveat = _first(self.frame("caveats"), dataset=dataset, period_start=self.year)
        short = _incomplete(caveat)
        if short or (not missing(row.get("months_covered")) and float(row["months_covered"]) < 12):
            text += Markup(". <span class=\"incomplete\">Incomplete data ({}): this figure is short and is not "
                           "compared.</span>").format(self.lit(short or "part of the year only"))  # fmt: skip
            return text
        compared = []
        comparisons = self.frame("comparisons")
        for kind, name in COMPARATORS:
            c = _first(
                comparisons, dataset=dataset, category="All", period_start=self.year, comparator_type=kind
            )
            if c is None or not usable(c, "rate_ratio") or not usable(c, "comparator_rate_per_1000"):
                continue
            if not missing(c.get("like_for_like")) and not bool(c["like_for_like"]):
                compared.append(Markup("not compared like for like with {}").format(name))
                continue
            ratio = float(c["rate_ratio"])
            word = "higher than" if ratio >= 1.1 else "lower than" if ratio <= 0.9 else "close to"
            compared.append(Markup("{} {} ({} times its rate of {})").format(
                word, name, self.tr.fig("comparisons", c, "rate_ratio", "ratio"),
                self.tr.fig("comparisons", c, "comparator_rate_per_1000", "rate")))  # fmt: skip
        if compared:
            text += Markup(": ") + Markup("; ").join(compared)
        return text + Markup(".")

    def _where(self) -> Markup:
        hot = self.frame("hotspots")
        rows = rows_matching(hot, {"dataset": POLICE, "category": "All", "period_start": self.year, "area_type": "ward"}) \
            if len(hot) else hot  # fmt: skip
        rows = (
            rows[[usable(r, "share_of_partnership_incidents") for r in rows.to_dict("records")]]
            if len(rows)
            else rows
        )
        if not len(rows):
            return Markup("<strong>Where:</strong> no hotspot table for police recorded crime this year "
                          "(hotspots are only shown for data placed at point or LSOA level).")  # fmt: skip
        rows = rows.sort_values(["hotspot_rank", "area_code"])
        parts = [Markup("{} ({}, {} of the partnership's incidents)").format(
            r["area_name"], self.lit(r["area_code"]), self.tr.fig("hotspots", r, "share_of_partnership_incidents", "share"))
            for r in rows.head(3).to_dict("records")]  # fmt: skip
        return Markup("<strong>Where:</strong> the wards with the most police recorded crime and anti-social "
                      "behaviour were {}.").format(Markup("; ").join(parts))  # fmt: skip

    def _when(self) -> Markup:
        season = self.frame("seasonality")
        rows = rows_matching(season, {"dataset": POLICE, "category": "All"}) if len(season) else season
        rows = rows[[usable(r, "seasonal_index") for r in rows.to_dict("records")]] if len(rows) else rows
        if not len(rows):
            return Markup(
                "<strong>When:</strong> no seasonal pattern can be shown (too few months, or withheld)."
            )
        top = (
            rows.sort_values(["seasonal_index", "calendar_month"], ascending=[False, True]).iloc[0].to_dict()
        )
        low = rows.sort_values(["seasonal_index", "calendar_month"]).iloc[0].to_dict()
        return Markup("<strong>When:</strong> the busiest month is usually {} (seasonal index {}; an index of one "
                      "is a typical month) and the quietest {} (index {}).").format(
            top["month_name"], self.tr.fig("seasonality", top, "seasonal_index", "ratio"),
            low["month_name"], self.tr.fig("seasonality", low, "seasonal_index", "ratio"))  # fmt: skip

    # ------------------------------------------------------------------ changes and drivers

    def findings(self) -> pd.DataFrame:
        """This year's changes that survive: significant on q, between two complete years."""
        trends = self.frame("trends")
        if self.year is None or not len(trends):
            return trends
        t = rows_matching(trends, {"period_start": self.year, "verdict": list(SIGNIFICANT)})
        if "q_value" in t:
            t = t[pd.to_numeric(t["q_value"], errors="coerce") < 0.05]
        keep = [_incomplete(r, str(r["audit_year"]), str(r["previous_audit_year"])) is None
                and usable(r, "pct_change") for r in t.to_dict("records")]  # fmt: skip
        t = t[pd.Series(keep, index=t.index, dtype=bool)]
        return t.assign(_abs=t["pct_change"].abs()).sort_values(
            ["_abs", "dataset", "category"], ascending=[False, True, True]
        )

    def changes(self) -> Section:
        s = Section("changes", SECTIONS[1][1])
        trends = self.frame("trends")
        if self.year is None or not len(trends):
            s.paragraphs.append(Markup("No year-on-year changes can be tested yet (one audit year of data)."))
            return s
        tested = {"period_start": self.year, "verdict": ["significant increase", "significant decrease",
                                                         "no significant change"]}  # fmt: skip
        n_tested = len(rows_matching(trends, tested))
        found = self.findings()
        s.paragraphs.append(Markup(
            "Each change on the previous year was tested allowing for the month-to-month variation of the series "
            "(quasi-Poisson), and the tests of this pack were adjusted together for false discoveries (q-values). "
            "Of the {} changes that could be tested, {}.").format(
            self.tr.count("trends", tested, n_tested),
            Markup("{} survived").format(self.tr.count("trends", {**tested, "verdict": list(SIGNIFICANT)}, len(found)))
            if len(found) else Markup("none survived")))  # fmt: skip
        for r in found.to_dict("records"):
            s.items.append(self._change_item(r))
        if not len(found):
            s.paragraphs.append(Markup("No change this year is distinguishable from normal variation, so none is "
                                       "reported as a finding. The largest movements are described under "
                                       "<a href=\"#drivers\">drivers</a> for context only."))  # fmt: skip
        incomplete = rows_matching(
            trends, {"period_start": self.year, "category": "All", "verdict": INCOMPLETE}
        )
        for r in incomplete.sort_values("dataset").to_dict("records"):
            s.paragraphs.append(Markup("<span class=\"incomplete\">{}: the change on {} is over incomplete data "
                                       "({}) and is not reported.</span>").format(
                label_of(r["dataset"]), self.lit(r["previous_audit_year"]),
                self.lit(_incomplete(r) or "part of a year missing")))  # fmt: skip
        return s

    def _change_item(self, r: dict) -> Markup:
        up = str(r["verdict"]).endswith("increase")
        pct = abs(float(r["pct_change"]))
        size = "a large" if pct >= 20 else "a moderate" if pct >= 5 else "a small"
        q = float(r["q_value"])
        confidence = "very strong evidence" if q < 0.001 else "strong evidence" if q < 0.01 else "evidence"
        what = "all categories" if r["category"] == "All" else r["category"]
        return Markup('<span id="{}"><strong>{}, {}</strong>: {} {} of {}, from {} in {} to {} in {} '
                      "(q = {}: {} that this is more than normal variation).</span>").format(
            _anchor("change", r["dataset"], r["category"]), label_of(r["dataset"]), what, size,
            "rise" if up else "fall", self.tr.fig("trends", r, "pct_change", "abs_pct"),
            self.tr.fig("trends", r, "previous_year_incidents", "count"), self.lit(r["previous_audit_year"]),
            self.tr.fig("trends", r, "incidents", "count"), self.lit(r["audit_year"]),
            self.tr.fig("trends", r, "q_value", "p"), confidence)  # fmt: skip

    def drivers(self) -> Section:
        s = Section("drivers", SECTIONS[2][1])
        found = self.findings()
        subjects = [(r, True) for r in found.to_dict("records")]
        headline = _first(self.frame("trends"), dataset=POLICE, category="All", period_start=self.year)
        if headline is not None and not any(r["dataset"] == POLICE and r["category"] == "All" for r, _ in subjects) \
                and usable(headline, "change") and usable(headline, "previous_year_incidents") \
                and _incomplete(headline, str(headline["audit_year"]), str(headline["previous_audit_year"])) is None:  # fmt: skip
            subjects.append((headline, False))
        if not subjects:
            s.paragraphs.append(Markup("There is no change to decompose this year."))
        for r, finding in subjects:
            s.items.append(self._driver(r, finding))
        return s

    def _driver(self, r: dict, finding: bool) -> Markup:
        dataset, category = r["dataset"], r["category"]
        what = "all categories" if category == "All" else category
        head = Markup("<strong>{}, {}</strong>: a change of {} incidents").format(
            label_of(dataset), what, self.tr.fig("trends", r, "change", "signed"))  # fmt: skip
        if not finding:
            head += Markup(" (not a finding: {}; shown for context)").format(r.get("verdict") or "not tested")
        parts: list[Markup] = [head]
        trends = self.frame("trends")
        if category == "All":
            cats = rows_matching(trends, {"dataset": dataset, "period_start": self.year})
            ok = pd.Series(
                [usable(c, "change") for c in cats.to_dict("records")], index=cats.index, dtype=bool
            )
            cats = cats[(cats["category"] != "All") & ok]
            cats = cats.assign(_abs=cats["change"].abs()).sort_values(
                ["_abs", "category"], ascending=[False, True]
            )
            if len(cats):
                parts.append(Markup("by category, most of it from {}").format(Markup("; ").join(
                    Markup("{} ({})").format(c["category"], self.tr.fig("trends", c, "change", "signed"))
                    for c in cats.head(3).to_dict("records"))))  # fmt: skip
        wards = self._ward_changes(dataset, category, str(r["period_start"]))
        if wards:
            parts.append(Markup("by ward, {}").format(Markup("; ").join(wards)))
        months = self._month_changes(dataset, category, str(r["period_start"]))
        if months:
            parts.append(Markup("by month, {}").format(Markup("; ").join(months)))
        parts.append(self._quality_events(dataset, str(r["period_start"])))
        return Markup('<span id="{}">').format(_anchor("driver", dataset, category)) + Markup("; ").join(parts) \
            + Markup(".</span>")  # fmt: skip

    def _previous_start(self, period_start: str) -> str:
        start = pd.Timestamp(period_start)
        return str((start - pd.DateOffset(years=1)).date())

    def _ward_changes(self, dataset: str, category: str, period_start: str) -> list[Markup]:
        rates = self.frame("area_rates")
        base = {"area_type": "ward", "dataset": dataset, "category": category}
        now = rows_matching(rates, {**base, "period_start": period_start})
        before = rows_matching(rates, {**base, "period_start": self._previous_start(period_start)})
        if not len(now) or not len(before):
            return []
        pairs = []
        old = {str(b["area_code"]): b for b in before.to_dict("records")}
        for n in now.to_dict("records"):
            b = old.get(str(n["area_code"]))
            if b is not None and usable(n, "incidents") and usable(b, "incidents"):
                pairs.append((abs(float(n["incidents"]) - float(b["incidents"])), str(n["area_code"]), n, b))
        pairs.sort(key=lambda p: (-p[0], p[1]))
        return [Markup("{} ({})").format(n["area_name"], self.tr.diff("area_rates", n, b, "incidents"))
                for _, _, n, b in pairs[:3]]  # fmt: skip

    def _month_changes(self, dataset: str, category: str, period_start: str) -> list[Markup]:
        monthly = self.frame("area_monthly")
        if not len(monthly):
            return []
        rows = rows_matching(monthly, {"dataset": dataset, "category": category})
        by_month = {str(m["month"])[:10]: m for m in rows.to_dict("records")}
        start = pd.Timestamp(period_start)
        pairs = []
        for i in range(12):
            month = str((start + pd.DateOffset(months=i)).date())
            before = str((start + pd.DateOffset(months=i - 12)).date())
            n, b = by_month.get(month), by_month.get(before)
            if n is not None and b is not None and usable(n, "incidents") and usable(b, "incidents"):
                pairs.append((abs(float(n["incidents"]) - float(b["incidents"])), month, n, b))
        pairs.sort(key=lambda p: (-p[0], p[1]))
        return [Markup("{} against a year before ({})").format(self.lit(month[:7]), self.tr.diff("area_monthly", n, b,
                                                                                                 "incidents"))
                for _, month, n, b in pairs[:2]]  # fmt: skip

    def _quality_events(self, dataset: str, period_start: str) -> Markup:
        events: list[Markup] = []
        completeness = self.frame("data_completeness")
        if len(completeness):
            # coverage gaps in the two years compared: months with a delivery missing, and from whom
            start = pd.Timestamp(period_start)
            months = [str((start + pd.DateOffset(months=i)).date()) for i in range(-12, 12)]
            gaps = completeness[(completeness["dataset"] == dataset)
                                & completeness["month"].astype("string").str[:10].isin(months)
                                & (completeness["complete"].astype("string").str.lower() == "false")]  # fmt: skip
            if len(gaps):
                who = sorted(
                    {a.strip() for m in gaps["missing_from"].dropna() for a in str(m).split(",") if a.strip()}
                )
                where = {"dataset": dataset, "complete": "false", "month": months}
                events.append(Markup("{} months with a delivery missing{}").format(
                    self.tr.count("data_completeness", where, len(gaps)),
                    Markup(" (from {})").format(self.lit(", ".join(who))) if who else ""))  # fmt: skip
        quality = self.frame("data_quality")
        if len(quality):
            rejected = rows_matching(quality, {"dataset": dataset, "gate_outcome": "rejected"})
            if len(rejected):
                events.append(Markup("{} rejected deliveries (their last good figures stand in)").format(
                    self.tr.count("data_quality", {"dataset": dataset, "gate_outcome": "rejected"}, len(rejected))))  # fmt: skip
        cot = _first(self.frame("coterminosity"), dataset=dataset)
        if cot is not None and usable(cot, "share_apportioned_across_boundaries") \
                and float(cot["share_apportioned_across_boundaries"]) > 0:  # fmt: skip
            events.append(Markup("{} of its incidents are apportioned across a boundary the partnership "
                                 "shares").format(self.tr.fig("coterminosity", cot, "share_apportioned_across_boundaries", "share")))  # fmt: skip
        fresh = self.frame("dataset_freshness")
        stale = rows_matching(fresh, {"dataset": dataset, "status": "stale"}) if len(fresh) else fresh
        for f in stale.to_dict("records"):
            reason = (
                self.tr.fig("dataset_freshness", f, "reason", "text")
                if usable(f, "reason")
                else "no delivery"
            )
            events.append(Markup("{} is stale ({})").format(self.lit(f["agency"]), reason))
        if not events:
            return Markup("no data-quality event, coverage gap or boundary change explains part of it")
        return Markup("data quality: ") + Markup(", ").join(events)

    # ------------------------------------------------------------------ priorities, consultation, delivery

    def priorities(self) -> Section:
        s = Section("priorities", SECTIONS[3][1])
        scores = self.frame("priority_scores")
        if not len(scores):
            s.paragraphs.append(Markup("No priority scores for this partnership."))
            return s
        year = str(scores["period_start"].astype("string").max())
        latest = rows_matching(scores, {"period_start": year})
        ranked = latest[[usable(r, "priority_rank") for r in latest.to_dict("records")]]
        ranked = ranked.assign(_rank=pd.to_numeric(ranked["priority_rank"])).sort_values("_rank")
        s.paragraphs.append(Markup("Issues are scored on likelihood (volume, trend, concentration) and impact "
                                   "(harm, public concern), weighted by the partnership's capacity to act. The "
                                   "ranks count only the issues whose score is published."))  # fmt: skip
        for r in ranked.head(5).to_dict("records"):
            s.items.append(self._priority_item(r))
            if int(r["_rank"]) <= 3:
                self.recommendations.append(Recommendation(Markup(
                    "Keep <strong>{}</strong> among the partnership's priorities (ranked {}): agree an owner and a "
                    "SMART target for it.").format(r.get("issue_label") or r["issue"],
                                                    self.tr.fig("priority_scores", r, "priority_rank", "int")),
                    _anchor("priority", r["issue"])))  # fmt: skip
        return s

    def _priority_item(self, r: dict) -> Markup:
        factors = [(float(r[c]), c, name) for c, name in FACTORS if usable(r, c)]
        factors.sort(key=lambda f: (-f[0], f[1]))
        reasons = Markup(", ").join(Markup("{} {}").format(name, self.tr.fig("priority_scores", r, c, "score"))
                                    for _, c, name in factors[:2])  # fmt: skip
        text = Markup('<span id="{}"><strong>{}. {}</strong>: score {}').format(
            _anchor("priority", r["issue"]), self.tr.fig("priority_scores", r, "priority_rank", "int"),
            r.get("issue_label") or r["issue"], self.tr.fig("priority_scores", r, "priority_score", "score"))  # fmt: skip
        if reasons:
            text += Markup(", highest on {}").format(reasons)
        if usable(r, "rank_change") and usable(r, "previous_priority_rank"):
            change = int(float(r["rank_change"]))
            move = "up from" if change > 0 else "down from" if change < 0 else "unchanged from"
            text += Markup("; {} last year's rank of {}").format(
                move, self.tr.fig("priority_scores", r, "previous_priority_rank", "int"))  # fmt: skip
        elif missing(r.get("previous_priority_rank")):
            text += Markup("; new this year")
        if isinstance(r.get("missing_factors"), str) and r["missing_factors"]:
            text += Markup(" (scored without: {})").format(str(r["missing_factors"]).replace("_", " "))
        if _incomplete(r):
            text += Markup(' <span class="incomplete">(from short counts: {})</span>').format(_incomplete(r))
        return text + Markup(".</span>")

    def consultation(self) -> Section:
        s = Section("consultation", SECTIONS[4][1])
        concerns = self.frame("consultation_concerns")
        if not len(concerns):
            s.paragraphs.append(Markup("No consultation survey results were placed on this partnership."))
            return s
        year = str(concerns["period_start"].astype("string").max())
        latest = rows_matching(concerns, {"period_start": year})
        ranked = latest[
            [usable(r, "concern_rank") and usable(r, "share_naming") for r in latest.to_dict("records")]
        ]
        ranked = ranked.assign(_rank=pd.to_numeric(ranked["concern_rank"])).sort_values(["_rank", "concern"])
        label = str(latest["audit_year"].iloc[0])
        first = latest.iloc[0].to_dict()
        intro = Markup("In the {} community safety survey").format(self.lit(label))
        if usable(first, "respondents"):
            intro += Markup(" ({} respondents)").format(
                self.tr.fig("consultation_concerns", first, "respondents", "count")
            )
        parts = [Markup("{} ({} named it)").format(r["concern"], self.tr.fig("consultation_concerns", r, "share_naming", "share"))
                 for r in ranked.head(3).to_dict("records")]  # fmt: skip
        if parts:
            s.paragraphs.append(
                intro + Markup(", the most named concerns were ") + Markup("; ").join(parts) + Markup(".")
            )
        else:
            s.paragraphs.append(intro + Markup(", no concern can be shown (withheld)."))
        versus = self.frame("concern_vs_recorded")
        if len(versus):
            v = rows_matching(versus, {"period_start": str(versus["period_start"].astype("string").max())})
            for r in v.sort_values("concern").to_dict("records"):
                mismatch = r.get("mismatch")
                if withheld(r, "mismatch") or mismatch not in ("public concern higher than recorded",
                                                                "recorded higher than concern"):  # fmt: skip
                    continue
                # the mismatch compares the ranks among the concerns that have a recorded measure
                public = "public_rank_compared" if "public_rank_compared" in r else "public_rank"
                if not (usable(r, public) and usable(r, "recorded_rank")):
                    continue
                anchor = _anchor("concern", r["concern"])
                s.items.append(Markup('<span id="{}"><strong>{}</strong>: residents rank it {}, the records rank it '
                                      "{} among the concerns with a recorded measure ({}).</span>").format(
                    anchor, r["concern"], self.tr.fig("concern_vs_recorded", r, public, "int"),
                    self.tr.fig("concern_vs_recorded", r, "recorded_rank", "int"), mismatch))  # fmt: skip
                if mismatch.startswith("public concern higher"):
                    self.recommendations.append(Recommendation(Markup(
                        "Respond to residents' concern about <strong>{}</strong>, which they rank above what is "
                        "recorded: say what the partnership does about it, and check whether it is under-reported."
                    ).format(r["concern"]), anchor))  # fmt: skip
        safety = self.frame("consultation_safety")
        if len(safety):
            row = rows_matching(safety, {"period_start": str(safety["period_start"].astype("string").max())})
            row_d = row.iloc[0].to_dict() if len(row) else None
            if row_d is not None and usable(row_d, "share_unsafe_night") and usable(row_d, "share_safe_day"):
                s.paragraphs.append(Markup("{} of respondents feel safe in their area by day, and {} feel unsafe "
                                           "after dark.").format(
                    self.tr.fig("consultation_safety", row_d, "share_safe_day", "share"),
                    self.tr.fig("consultation_safety", row_d, "share_unsafe_night", "share")))  # fmt: skip
        return s

    def delivery(self) -> Section:
        s = Section("delivery", SECTIONS[5][1])
        progress = self.frame("target_progress")
        if not len(progress):
            s.paragraphs.append(Markup("The partnership has no SMART target register in the pack, so last year's "
                                       "plan cannot be assessed here."))  # fmt: skip
            return s
        counts = progress["status"].value_counts().to_dict()
        parts = [Markup("{} {}").format(self.tr.count("target_progress", {"status": st}, int(counts[st])),
                                        STATUS_WORDS[st]) for st in STATUS_WORDS if counts.get(st)]  # fmt: skip
        s.paragraphs.append(Markup("Of the plan's {} targets: {}.").format(
            self.tr.count("target_progress", {}, len(progress)), Markup(", ").join(parts)))  # fmt: skip
        for r in progress.sort_values("target_id").to_dict("records"):
            status = str(r.get("status") or "")
            anchor = _anchor("target", r["target_id"])
            text = Markup('<span id="{}"><strong>{}</strong> {}: <span class="badge rag-{}">{}</span>').format(
                anchor, self.lit(r["target_id"]), self.tr.fig("target_progress", r, "title", "text") if usable(r, "title") else "",
                status or "grey",
                STATUS_WORDS.get(status, status or "unknown"))  # fmt: skip
            if usable(r, "status_rule"):
                text += Markup(" – why: {}").format(self.tr.fig("target_progress", r, "status_rule", "text"))
            s.items.append(text + Markup("</span>"))
            if status == "red":
                self.recommendations.append(Recommendation(Markup(
                    "Review the delivery plan for <strong>{}</strong>, which is not on track: keep, change or retire "
                    "the target, and say why.").format(self.lit(r["target_id"])), anchor))  # fmt: skip
        return s

    # ------------------------------------------------------------------ data quality, recommendations

    def data_quality(self) -> Section:
        s = Section("data-quality", SECTIONS[6][1])
        cot = self.frame("coterminosity")
        for r in cot.sort_values("dataset").to_dict("records") if len(cot) else []:
            shares = [(c, w) for c, w in (("share_exact", "placed exactly"), ("share_apportioned", "apportioned from "
                      "coarser areas"), ("share_unlocated", "without a location")) if usable(r, c)]  # fmt: skip
            if shares:
                s.items.append(Markup("<strong>{}</strong>: {}.").format(label_of(r["dataset"]), Markup(", ").join(
                    Markup("{} {}").format(self.tr.fig("coterminosity", r, c, "share"), w) for c, w in shares)))  # fmt: skip
        fresh = self.frame("dataset_freshness")
        if len(fresh):
            stale = rows_matching(fresh, {"status": "stale"})
            total = self.tr.count("dataset_freshness", {}, len(fresh))
            s.paragraphs.append(
                Markup("{} of the {} inputs the partnership depends on are stale.").format(
                    self.tr.count("dataset_freshness", {"status": "stale"}, len(stale)), total)
                if len(stale) else Markup("None of the {} inputs the partnership depends on is stale.").format(total))  # fmt: skip
            for r in stale.sort_values(["dataset", "agency"]).to_dict("records"):
                anchor = _anchor("stale", r["dataset"], r["agency"])
                s.paragraphs.append(Markup('<span id="{}">{} from {}: last good {}, expected {} ({}).</span>').format(
                    anchor, label_of(r["dataset"]), self.lit(r["agency"]), self.lit(r.get("last_good_period") or "none"),
                    self.lit(r["expected_period"]),
                    self.tr.fig("dataset_freshness", r, "reason", "text") if usable(r, "reason") else "not delivered"))  # fmt: skip
                self.recommendations.append(Recommendation(Markup(
                    "Agree a delivery date with <strong>{}</strong> for {}, stale since {}.").format(
                    self.lit(r["agency"]), label_of(r["dataset"]), self.lit(r.get("last_good_period") or "the start")), anchor))  # fmt: skip
        caveats = self.frame("caveats")
        if self.year is not None and len(caveats):
            for r in (
                rows_matching(caveats, {"period_start": self.year}).sort_values("dataset").to_dict("records")
            ):
                if _incomplete(r):
                    anchor = _anchor("incomplete", r["dataset"])
                    s.paragraphs.append(Markup('<span id="{}" class="incomplete">{}: incomplete data ({}).</span>').format(
                        anchor, label_of(r["dataset"]), self.tr.fig("caveats", r, "incomplete_data", "text")))  # fmt: skip
                    self.recommendations.append(Recommendation(Markup(
                        "Ask for the missing deliveries of {} so this year's figures can be reported as findings."
                    ).format(label_of(r["dataset"])), anchor))  # fmt: skip
        quality = self.frame("data_quality")
        if len(quality):
            rejected = rows_matching(quality, {"gate_outcome": "rejected"})
            s.paragraphs.append(Markup("{} deliveries were refused by the quality gate; where one was, the last good "
                                       "delivery stands in and the refusal is reported to the agency.").format(
                self.tr.count("data_quality", {"gate_outcome": "rejected"}, len(rejected)))
                if len(rejected) else Markup("No delivery was refused by the quality gate."))  # fmt: skip
        s.paragraphs.append(Markup("Disclosure control: counts below each dataset's minimum cell size are withheld "
                                   "([c]), with secondary suppression so they cannot be worked out from totals, and "
                                   "apportioned estimates are shown as estimates. Only this partnership's own wards "
                                   "and neighbourhoods appear; other partnerships appear as partnership totals."))  # fmt: skip
        return s

    def recommendations_section(self) -> Section:
        s = Section("recommendations", SECTIONS[7][1])
        found = self.findings()
        for r in found.to_dict("records"):
            up = str(r["verdict"]).endswith("increase")
            what = "all categories" if r["category"] == "All" else r["category"]
            wards = self._ward_changes(str(r["dataset"]), str(r["category"]), str(r["period_start"]))
            where = Markup(", starting with {}").format(wards[0]) if wards else Markup("")
            text = (Markup("Examine the rise in {} ({}){}: what changed, and which partner can act on it.")
                    if up else Markup("Find out what lay behind the fall in {} ({}){}, and keep it going."))  # fmt: skip
            self.recommendations.insert(0, Recommendation(text.format(label_of(r["dataset"]), what, where),
                                                          _anchor("change", r["dataset"], r["category"])))  # fmt: skip
        s.paragraphs.append(Markup("Draft recommendations, each following from a finding above (the link leads to "
                                   "it). They are suggestions for the partnership to edit, not decisions."))  # fmt: skip
        if not self.recommendations:
            s.paragraphs.append(Markup("No finding calls for a recommendation this year."))
        for rec in self.recommendations:
            s.items.append(Markup('<span class="draft">Draft</span> {} <a class="finding" href="#{}">(finding)</a>')
                           .format(rec.text, rec.finding))  # fmt: skip
        return s

    def sections(self) -> list[Section]:
        # recommendations collect while the other sections are written, so they come last
        out = [self.levels(), self.changes(), self.drivers(), self.priorities(), self.consultation(),
               self.delivery(), self.data_quality()]  # fmt: skip
        out.append(self.recommendations_section())
        return out


def build_assessment(
    *,
    tables: Mapping[str, pd.DataFrame],
    keys: Mapping[str, tuple[str, ...]],
    partnership: tuple[str, str],
    region_name: str,
    version: str,
    refresh_label: str,
    created: str,
    commentary: Commentary,
) -> str:
    """The assessment's HTML."""
    writer = Writer(tables, keys)
    sections = writer.sections()
    for section in sections:
        section.commentary = commentary.html(section.id)
    return render_document(
        code=partnership[0], name=partnership[1], region=region_name, version=version, refresh_label=refresh_label,
        created=created, year_label=writer.year_label, year_lit=writer.lit(writer.year_label), sections=sections,
        commentary_file=commentary.path.name if commentary.path is not None and commentary.written else None,
    )  # fmt: skip


def render_document(**context: Any) -> str:
    """``assessment.html.j2`` filled in: the partnership's assessment, or (with a title, subtitle, lead and
    provenance of its own) the county agreement."""
    env = Environment(
        loader=PackageLoader("csp_audit.packs", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("assessment.html.j2").render(**context)


def audit_year_of(tables: Mapping[str, pd.DataFrame]) -> str | None:
    """The audit year the assessment is written for (the report's latest complete year), e.g. ``2023/24``."""
    rates = tables["area_rates"]
    year = _latest_year(rates)
    if year is None:
        return None
    match = rates.loc[rates["period_start"].astype("string") == str(year), "audit_year"]
    return str(match.iloc[0]) if len(match) else None
