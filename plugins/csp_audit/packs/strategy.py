"""The strategy tables of an audit pack: target register and progress, priority list, consultation.

Made from ``audit.target_progress`` and ``audit.target_checks`` (written by
:mod:`csp_audit.targets.progress`), ``audit.priority_scores`` and the consultation marts
(``consultation_concerns``, ``consultation_safety``, ``concern_vs_recorded``), with the same disclosure
rules as every other pack table:

* **Survey counts** (respondents, responses, respondents naming a concern, respondents feeling safe or
  unsafe) follow the survey dataset's terms from the data plan, with a minimum cell size of 10 when the
  plan sets none (:func:`survey_terms`); respondents are fractional (placed through postcode districts)
  and shown to 1 decimal. A share of respondents is published only beside the count it is made of: the
  safety table carries the counts its shares imply (share x respondents answering), so the threshold
  applies to them. ``respondents_first`` is not published: the first concerns add up to the
  respondents, so one withheld cell could be worked out from the others.
* **Recorded counts** (a priority issue's incidents, a concern's recorded incidents) of controlled
  datasets are sums of the protected cube's published cells and are withheld when any of them is (or
  when the published cells do not reproduce the mart's figure); rates and changes are recomputed from
  them. Open data (police.uk) is published as the marts hold it.
* **Derived figures**: a share, rank, gap, score or verdict computed from a withheld figure is withheld
  too (a priority score when any of its components is, a rank change when either year's rank is).
* **Targets**: figures of a target whose metric is survey-based or a controlled dataset follow the
  published table they come from; a target on any other controlled figure has its figures withheld.

Only the partnership's own rows reach its pack (every table is keyed by ``partnership_code``); text
naming another partnership's ward or LSOA (e.g. a rejected target's area) is scrubbed by the build.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from csp_audit.packs.disclosure import MARKER, TableSpec, Terms, flag_column

SURVEY = "consultation_survey"
SURVEY_MIN_CELL = 10  # when the plan sets no minimum cell size for the survey
SURVEY_MARTS = ("consultation_concerns", "consultation_safety", "concern_vs_recorded")
STRATEGY_TABLES = ("target_progress", "priority_scores", *SURVEY_MARTS)
SAFETY = (("safe", "day"), ("unsafe", "day"), ("safe", "night"), ("unsafe", "night"))
TARGET_FIGURES = (
    "baseline_value", "target_value", "current_value", "expected_value", "milestone_value",
    "change_from_baseline", "pct_change_from_baseline", "p_value", "status_rule",
)  # fmt: skip


def survey_terms(terms: dict[str, Terms]) -> Terms:
    """The survey's terms: the plan's, with a minimum cell size of 10 when none is set."""
    declared = terms.get(SURVEY)
    if declared is None:
        return Terms(level="deidentified", min_cell_size=SURVEY_MIN_CELL, apportioned=True)
    return Terms(
        level=declared.level,
        min_cell_size=declared.min_cell_size or SURVEY_MIN_CELL,
        rounding=declared.rounding,
        apportioned=declared.apportioned,
        suppress_zeros=declared.suppress_zeros,
    )


def strategy_specs(terms: dict[str, Terms], default_terms: Terms) -> dict[str, TableSpec]:
    """Disclosure specs of the strategy tables (merged into :func:`tables.table_specs`)."""
    survey = survey_terms(terms)
    concern_shares = ("share_naming", "share_low_95", "share_high_95", "concern_rank")
    public = ("public_rank", "public_rank_compared", "rank_gap", "mismatch", "public_rank_harm_compared",
              "harm_rank_gap", "harm_mismatch")  # fmt: skip
    recorded = ("recorded_incidents", "recorded_rate_per_1000", "recorded_rank")
    both = ("incidents", "previous_year_incidents")
    scores = {"volume_score": ("incidents",), "trend_score": both, "concentration_score": ("incidents",),
              "public_concern_score": (), "impact": (), "likelihood": both, "risk_score": both,
              "priority_score": both, "priority_rank": both, "rank_change": both, "previous_priority_rank": ()}  # fmt: skip
    return {
        "target_progress": TableSpec(
            name="target_progress",
            key=("partnership_code", "target_id", "register_file"),
            derived={c: () for c in TARGET_FIGURES},
            dataset_column=None,
        ),
        "priority_scores": TableSpec(
            name="priority_scores",
            key=("partnership_code", "period_start", "issue"),
            counts=("incidents", "previous_year_incidents"),
            derived={
                "rate_per_1000": ("incidents",),
                **{
                    c: ("incidents", "previous_year_incidents")
                    for c in ("pct_change", "p_value", "trend_verdict")
                },
                "share_in_top_10_percent": ("incidents",),
                "share_naming": (),
                **scores,
            },
            terms=terms,
            default_terms=default_terms,
        ),
        "consultation_concerns": TableSpec(
            name="consultation_concerns",
            key=("partnership_code", "period_start", "concern"),
            counts=("responses", "respondents", "responses_naming", "respondents_naming"),
            derived={c: ("respondents", "responses_naming", "respondents_naming") for c in concern_shares},
            dataset_column=None,
            default_terms=survey,
        ),
        "consultation_safety": TableSpec(
            name="consultation_safety",
            key=("partnership_code", "period_start"),
            counts=(
                "responses",
                "respondents",
                "respondents_answered_day",
                "respondents_answered_night",
                *(f"respondents_{a}_{t}" for a, t in SAFETY),
            ),  # fmt: skip
            derived={
                f"share_{a}_{t}": (f"respondents_{a}_{t}", f"respondents_answered_{t}") for a, t in SAFETY
            },
            dataset_column=None,
            default_terms=survey,
        ),
        "concern_vs_recorded": TableSpec(
            name="concern_vs_recorded",
            key=("partnership_code", "period_start", "concern"),
            counts=("respondents",),
            derived={
                "share_naming": ("respondents",),
                **{c: ("respondents",) for c in public},
                **{c: () for c in recorded},
            },  # fmt: skip
            dataset_column=None,
            default_terms=survey,
        ),
    }


# ------------------------------------------------------------------------------------------ helpers


def _flag(frame: pd.DataFrame, column: str, mask: np.ndarray) -> None:
    """Mark ``column`` withheld where ``mask`` (keeping marks already there)."""
    mask = np.asarray(mask, dtype=bool)  # an empty list comprehension gives float64, which | refuses
    flag = flag_column(column)
    before = (frame[flag] == MARKER).to_numpy() if flag in frame.columns else np.zeros(len(frame), dtype=bool)
    frame[flag] = np.where(before | mask, MARKER, None)


def _withheld(frame: pd.DataFrame, column: str) -> np.ndarray:
    flag = flag_column(column)
    if flag not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return (frame[flag] == MARKER).to_numpy()


def _like(pattern: str, category: str) -> bool:
    from csp_audit.packs.tables import _like as like

    if pattern == "All" or category == "All":
        return pattern == category
    return like(pattern).match(category) is not None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


class _Issues:
    """Sums of the cube's published cells over the categories of an issue or concern."""

    def __init__(self, cube: Any) -> None:
        p = cube.protected
        year = p[(p["period_type"] == "year") & p["area_type"].isin(["partnership", "lsoa"])]
        index = pd.MultiIndex.from_frame(year[list(cube_key())].astype(str))
        cells = year.assign(
            _true=cube.true.reindex(index).to_numpy(),
            _hidden=(year[flag_column("incidents")] == MARKER).to_numpy(),
            period_start=year["period_start"].astype(str),
        )
        own = cells[cells["area_type"] == "partnership"]
        self.groups = {k: g for k, g in own.groupby(["partnership_code", "dataset", "period_start"])}
        lsoas = cells[cells["area_type"] == "lsoa"]
        self.lsoas = {k: g for k, g in lsoas.groupby(["partnership_code", "dataset", "period_start"])}
        self.categories = {d: sorted(set(g["category"])) for d, g in own.groupby("dataset")}

    def matched(self, dataset: str, patterns: list[str]) -> set[str]:
        return {c for c in self.categories.get(dataset, []) if any(_like(p, c) for p in patterns)}

    def total(self, code: str, dataset: str, start: Any, categories: set[str],
              expected: float | None) -> tuple[float | None, float | None]:  # fmt: skip
        """(published sum, population); (None, population) when withheld or not the mart's figure."""
        group = self.groups.get((code, dataset, str(start)))
        if group is None or not categories:
            return None, None
        chosen = group[group["category"].isin(categories)]
        population = chosen["population"].dropna()
        pop = float(population.iloc[0]) if len(population) else None
        true = float(chosen["_true"].sum())
        if expected is not None and not _close(true, float(expected)):
            return None, pop  # the published cells do not make the mart's figure: withhold it
        if chosen["_hidden"].any():
            # every category of the year: the total is the published 'All' cell
            every = set(group.loc[group["category"] != "All", "category"])
            whole = group[group["category"] == "All"]
            if categories == every and len(whole) == 1 and not bool(whole["_hidden"].iloc[0]) \
                    and _close(float(whole["_true"].iloc[0]), true):  # fmt: skip
                return float(whole["incidents"].iloc[0]), pop
            return None, pop
        return float(np.round(chosen["incidents"].to_numpy(dtype=float).sum(), 6)), pop

    def top_share(
        self, code: str, dataset: str, start: Any, categories: set[str], total: float | None
    ) -> float | None:
        """Share of the issue's published incidents in its busiest 10% of LSOAs (as the mart ranks them),
        from published cells only; None when a cell it needs (or one tied at the cut) is withheld."""
        group = self.lsoas.get((code, dataset, str(start)))
        if group is None or not total:
            return None
        chosen = group[group["category"].isin(categories)]
        if set(group.loc[group["category"] != "All", "category"]) <= categories:
            whole = group[group["category"] == "All"]  # every category: the LSOAs' published 'All' cells
            sums = chosen.groupby("area_code")["_true"].sum()
            alls = whole.set_index("area_code")["_true"]
            if len(alls) == len(sums) and all(
                abs(float(alls.get(a, np.nan)) - v) < 1e-3 for a, v in sums.items()
            ):
                chosen = whole
        per = chosen.groupby("area_code").agg(true=("_true", "sum"), shown=("incidents", "sum"),
                                              hidden=("_hidden", "any")).reset_index()  # fmt: skip
        if per.empty:
            return None
        per = per.sort_values(["true", "area_code"], ascending=[False, True], kind="stable")
        top = math.ceil(0.1 * len(per))
        cut = per["true"].iloc[top - 1]
        head = per.head(top)
        if head["hidden"].any() or per.loc[per["true"] == cut, "hidden"].any():
            return None
        return round(float(head["shown"].sum()) / total, 4)


def cube_key() -> tuple[str, ...]:
    from csp_audit.packs.tables import CUBE_KEY

    return CUBE_KEY


def _shift(start: Any, years: int) -> str | None:
    return f"{int(str(start)[:4]) - years:04d}{str(start)[4:]}" if isinstance(start, str) else None


# ------------------------------------------------------------------------------------------ tables


def consultation_concerns(mart: pd.DataFrame) -> pd.DataFrame:
    frame = mart.drop(columns=["respondents_first"], errors="ignore").copy().reset_index(drop=True)
    return frame


def consultation_safety(mart: pd.DataFrame) -> pd.DataFrame:
    frame = mart.copy().reset_index(drop=True)
    for answer, time in SAFETY:
        share = pd.to_numeric(frame[f"share_{answer}_{time}"], errors="coerce")
        answered = pd.to_numeric(frame[f"respondents_answered_{time}"], errors="coerce")
        frame[f"respondents_{answer}_{time}"] = (share * answered).round(4)
    return frame


def survey_withheld(concerns: pd.DataFrame) -> dict[tuple[str, str, str], bool]:
    """(partnership, period_start, concern) -> whether its share is withheld in the published table."""
    hidden = _withheld(concerns, "share_naming")
    return {
        (str(c), str(s), str(k)): bool(h)
        for c, s, k, h in zip(
            concerns["partnership_code"], concerns["period_start"], concerns["concern"], hidden, strict=True
        )  # fmt: skip
    }


def concern_vs_recorded(
    mart: pd.DataFrame,
    concerns_published: pd.DataFrame,
    mapping: pd.DataFrame | None,
    cube: Any,
    terms: dict[str, Terms],
    default_terms: Terms,
) -> pd.DataFrame:
    frame = mart.copy().reset_index(drop=True)
    shares = survey_withheld(concerns_published)
    hidden_share = np.array(
        [shares.get((str(c), str(s), str(k)), True)
         for c, s, k in zip(frame["partnership_code"], frame["period_start"], frame["concern"], strict=True)],
        dtype=bool,
    )  # fmt: skip
    for column in ("share_naming", "public_rank", "public_rank_compared", "rank_gap", "mismatch",
                   "public_rank_harm_compared", "harm_rank_gap", "harm_mismatch"):  # fmt: skip
        _flag(frame, column, hidden_share)
    issues = _Issues(cube)
    patterns: dict[tuple[str, str], list[str]] = {}
    if mapping is not None:
        for r in mapping.itertuples():
            if r.role == "primary":
                patterns.setdefault((str(r.concern).strip().lower(), r.dataset), []).append(str(r.category))
    incidents = pd.to_numeric(frame["recorded_incidents"], errors="coerce").to_numpy(dtype=float).copy()
    rates = pd.to_numeric(frame["recorded_rate_per_1000"], errors="coerce").to_numpy(dtype=float).copy()
    hidden = np.zeros(len(frame), dtype=bool)
    for i, row in enumerate(frame.itertuples()):
        dataset = row.recorded_dataset
        if not isinstance(dataset, str) or terms.get(dataset, default_terms).is_open:
            continue
        categories = issues.matched(dataset, patterns.get((str(row.concern), dataset), []))
        total, population = issues.total(row.partnership_code, dataset, row.period_start, categories,
                                         None if math.isnan(incidents[i]) else incidents[i])  # fmt: skip
        if total is None:
            hidden[i] = not math.isnan(incidents[i])
            incidents[i] = np.nan
            rates[i] = np.nan
            continue
        incidents[i] = total
        rates[i] = round(1000 * total / population, 3) if population else np.nan
    frame["recorded_incidents"] = incidents
    frame["recorded_rate_per_1000"] = rates
    for column in ("recorded_incidents", "recorded_rate_per_1000", "recorded_rank", "rank_gap", "mismatch"):
        _flag(frame, column, hidden)
    # a rank among the compared concerns reveals the order of a withheld figure: withhold the ranks of
    # the partnership's year when any compared figure is withheld
    group_hidden = pd.Series(hidden | hidden_share).groupby(
        [frame["partnership_code"], frame["period_start"]]
    )
    any_hidden = group_hidden.transform("any").to_numpy(dtype=bool)
    for column in ("recorded_rank", "public_rank_compared", "rank_gap", "mismatch"):
        _flag(frame, column, any_hidden & frame["recorded_rank"].notna().to_numpy())
    return frame


def priority_scores(
    mart: pd.DataFrame,
    concerns_published: pd.DataFrame | None,
    candidates: pd.DataFrame | None,
    cube: Any,
    terms: dict[str, Terms],
    default_terms: Terms,
) -> pd.DataFrame:
    frame = mart.copy().reset_index(drop=True)
    n = len(frame)
    issues = _Issues(cube)
    patterns: dict[str, list[str]] = {}
    if candidates is not None:
        for r in candidates.itertuples():
            patterns[str(r.issue)] = [p.strip() for p in str(r.categories).split("|") if p.strip()]
    controlled = np.array([not terms.get(d, default_terms).is_open for d in frame["dataset"]], dtype=bool)
    now = pd.to_numeric(frame["incidents"], errors="coerce").to_numpy(dtype=float).copy()
    then = pd.to_numeric(frame["previous_year_incidents"], errors="coerce").to_numpy(dtype=float).copy()
    rate = pd.to_numeric(frame["rate_per_1000"], errors="coerce").to_numpy(dtype=float).copy()
    pct = pd.to_numeric(frame["pct_change"], errors="coerce").to_numpy(dtype=float).copy()
    hide_now, hide_then = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    hide_concentration = np.zeros(n, dtype=bool)
    top = pd.to_numeric(frame["share_in_top_10_percent"], errors="coerce").to_numpy(dtype=float).copy()
    for i in np.flatnonzero(controlled):
        row = frame.iloc[i]
        categories = issues.matched(row["dataset"], patterns.get(str(row["issue"]), []))
        total, population = issues.total(row["partnership_code"], row["dataset"], row["period_start"], categories,
                                         None if math.isnan(now[i]) else now[i])  # fmt: skip
        hide_now[i] = total is None and not math.isnan(now[i])
        now[i] = np.nan if total is None else total
        rate[i] = round(1000 * total / population, 3) if total is not None and population else np.nan
        if not math.isnan(then[i]):
            prev, _ = issues.total(row["partnership_code"], row["dataset"], _shift(row["period_start"], 1),
                                   categories, then[i])  # fmt: skip
            hide_then[i] = prev is None
            then[i] = np.nan if prev is None else prev
        if not math.isnan(pct[i]) and not math.isnan(now[i]) and not math.isnan(then[i]) and then[i] > 0:
            pct[i] = round(100 * (now[i] - then[i]) / then[i], 1)
        # the share in the top 10% of LSOAs, from the published LSOA cells (withheld when one it needs is)
        if pd.notna(row["share_in_top_10_percent"]):
            share = issues.top_share(
                row["partnership_code"], row["dataset"], row["period_start"], categories, total
            )
            hide_concentration[i] = share is None
            top[i] = np.nan if share is None else share
    frame["incidents"], frame["previous_year_incidents"] = now, then
    frame["rate_per_1000"], frame["pct_change"] = rate, pct
    frame["share_in_top_10_percent"] = top
    frame[flag_column("incidents")] = np.where(hide_now, MARKER, None)
    frame[flag_column("previous_year_incidents")] = np.where(hide_then, MARKER, None)
    _flag(frame, "share_in_top_10_percent", hide_concentration)
    hidden_share = np.zeros(n, dtype=bool)
    if concerns_published is not None and "concern" in frame.columns:
        shares = survey_withheld(concerns_published)
        hidden_share = np.array(
            [isinstance(k, str) and shares.get((str(c), str(s), k), False)
             for c, s, k in zip(frame["partnership_code"], frame["period_start"], frame["concern"], strict=True)],
            dtype=bool,
        )  # fmt: skip
    _flag(frame, "share_naming", hidden_share)
    _flag(frame, "public_concern_score", hidden_share)
    # composites of a withheld component, and ranks: withheld
    likelihood = hide_concentration
    impact = hidden_share
    score = likelihood | impact
    _flag(frame, "likelihood", likelihood)
    _flag(frame, "impact", impact)
    for column in ("risk_score", "priority_score", "priority_rank"):
        _flag(frame, column, score)
    _flag(frame, "concentration_score", hide_concentration)
    # a rank change needs both years' ranks
    ranks = {(str(c), str(s), str(i)): bool(h) for c, s, i, h in zip(frame["partnership_code"], frame["period_start"],
                                                                     frame["issue"], score, strict=True)}  # fmt: skip
    before = np.array([ranks.get((str(c), str(_shift(s, 1)), str(i)), False)
                       for c, s, i in zip(frame["partnership_code"], frame["period_start"], frame["issue"],
                                          strict=True)], dtype=bool)  # fmt: skip
    _flag(frame, "previous_priority_rank", before)
    _flag(frame, "rank_change", before | score)
    return frame


def rank_published_only(frame: pd.DataFrame) -> pd.DataFrame:
    """The protected priority list with ranks among the issues whose rank is published.

    With ranks 1-8 and 10-12 shown, a withheld rank is 9 by elimination. So, as ``rank_in_region``
    in the comparisons, a published rank counts only the issues whose rank is published
    (``issues_ranked`` is their number), the previous year's rank likewise, and the rank change is
    the difference of the two: each is a function of published scores alone. (The published rows are
    listed by key, and the report lists withheld issues last, so row order gives nothing away either.)
    """
    if not len(frame):
        return frame
    frame = frame.copy()
    withheld = _withheld(frame, "priority_rank") | _withheld(frame, "priority_score")
    score = pd.to_numeric(frame["priority_score"], errors="coerce").where(~withheld)
    groups = [frame["partnership_code"], frame["period_start"]]
    rank = score.groupby(groups).rank(method="min", ascending=False)
    frame["priority_rank"] = rank.astype("Int64")
    frame["issues_ranked"] = score.notna().groupby(groups).transform("sum").astype("Int64")
    by_issue = {(str(c), str(s), str(i)): r for c, s, i, r in zip(frame["partnership_code"], frame["period_start"],
                                                                  frame["issue"], rank, strict=True)}  # fmt: skip
    previous = pd.Series([by_issue.get((str(c), str(_shift(s, 1)), str(i)), np.nan)
                          for c, s, i in zip(frame["partnership_code"], frame["period_start"], frame["issue"],
                                             strict=True)], index=frame.index, dtype=float)  # fmt: skip
    had_previous = pd.to_numeric(frame["previous_priority_rank"], errors="coerce").notna()
    frame["previous_priority_rank"] = previous.where(had_previous).astype("Int64")
    reported = pd.to_numeric(frame["rank_change"], errors="coerce").notna()  # none over an incomplete year
    frame["rank_change"] = (previous - rank).where(reported).astype("Int64")
    return frame


def target_progress(
    progress: pd.DataFrame,
    checks: pd.DataFrame | None,
    published: dict[str, pd.DataFrame],
    cube: Any,
    terms: dict[str, Terms],
    default_terms: Terms,
) -> pd.DataFrame:
    frame = progress.copy().reset_index(drop=True)
    frame = frame[frame["target_id"] != "-"].reset_index(drop=True) if len(frame) else frame
    results, details = [], []
    by_target: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    register_level: dict[tuple[Any, Any], dict[str, Any]] = {}
    if checks is not None:
        for r in checks.to_dict("records"):
            if r["target_id"] == "-":
                register_level[(r["partnership_code"], r["register_file"])] = r
            else:
                by_target[(r["partnership_code"], r["register_file"], r["target_id"])] = r
    for r in frame.to_dict("records"):
        check = by_target.get((r["partnership_code"], r["register_file"], r["target_id"]))
        whole = register_level.get((r["partnership_code"], r["register_file"]))
        if check is None:  # a warehouse without target_checks: the status rule says whether it was rejected
            rule = str(r.get("status_rule") or "")
            rejected = rule.startswith("rejected by targets check")
            check = {"check_result": "rejected" if rejected else "pass",
                     "problems": rule.removeprefix("rejected by targets check: ") if rejected else None}  # fmt: skip
        problems = [
            p for p in (whole and whole.get("problems"), check.get("problems")) if isinstance(p, str) and p
        ]
        result = check["check_result"]
        if whole and whole.get("check_result") == "rejected":
            result = "rejected"
        results.append(result)
        details.append("\n".join(problems) or None)
    insert = frame.columns.get_loc("status") if "status" in frame.columns else len(frame.columns)
    frame.insert(insert, "smart_check", results)
    frame.insert(insert + 1, "smart_problems", details)
    hidden = np.array([_target_withheld(r, published, cube, terms, default_terms) for r in frame.to_dict("records")],
                      dtype=bool)  # fmt: skip
    for column in TARGET_FIGURES:
        _flag(frame, column, hidden & frame[column].notna().to_numpy())
    return frame


def _target_withheld(
    row: dict[str, Any],
    published: dict[str, pd.DataFrame],
    cube: Any,
    terms: dict[str, Terms],
    default_terms: Terms,
) -> bool:
    """Whether a target's figures must be withheld: they follow the published figure they come from."""
    mart, column = row.get("metric_mart"), row.get("metric_column")
    if not isinstance(mart, str) or row.get("baseline_value") is None or pd.isna(row.get("baseline_value")):
        return False  # rejected targets carry no figures
    try:
        where = json.loads(row.get("metric_where") or "{}")
    except ValueError:
        return True
    years = {str(y) for y in (row.get("baseline_period"), row.get("current_period")) if isinstance(y, str)}
    if mart in ("consultation_concerns", "consultation_safety"):
        table = published.get(mart)
        if table is None or column not in table.columns:
            return True
        rows = table[(table["partnership_code"] == row["partnership_code"]) & table["audit_year"].isin(years)]
        for key, value in where.items():
            if key in rows.columns:
                rows = rows[rows[key].astype(str) == str(value)]
        return len(rows) != len(years) or bool(_withheld(rows, column).any())
    dataset = where.get("dataset")
    if isinstance(dataset, str) and terms.get(dataset, default_terms).is_open:
        return False
    if dataset is None and mart in ("harm", "repeat_locations"):  # police.uk only marts
        return False
    if mart == "area_rates" and column in ("incidents", "rate_per_1000") and isinstance(dataset, str):
        t = terms.get(dataset, default_terms)
        if t.base:
            return True  # the register's figures are unrounded
        p = cube.protected
        cells = p[(p["period_type"] == "year") & (p["area_code"] == row["area_code"]) & (p["dataset"] == dataset)
                  & (p["category"] == where.get("category")) & p["audit_year"].isin(years)]  # fmt: skip
        return len(cells) != len(years) or bool((cells[flag_column("incidents")] == MARKER).any())
    return True
