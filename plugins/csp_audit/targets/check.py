"""Is each target SMART? ``check_register(register, warehouse_file) -> list[Problem]``.

Every rule reads the warehouse's marts (schema ``audit``), never a copy of their logic, so a target
is judged on exactly the figure the audit publishes. The rules, by letter (rejections unless
marked warning):

S  Specific   the register names its partnership and it has figures in audit.area_rates; the target has
              an id (unique in the file), a title that is not vague (4 words or more and at least one
              number: what changes, by how much, by when), an owner (a named role or organisation),
              only known keys; its metric names a table of schema audit, a column of it and filters on
              columns of it; the mart is yearly (audit_year, period_start) and per partnership; the area
              is the partnership or a ward/LSOA of it (audit.area_rates) on a mart with area_code; the
              filters match rows for the area and leave one row per audit year.
M  Measurable the metric column is numeric; the baseline names an audit year with a non-null figure
              for the area; the baseline value is given and within 0.5% of the mart's; the target gives
              exactly one of value or relative_change, numeric; its direction is clear (a target equal to
              the baseline needs better: lower|higher, which must agree with the target); milestone
              values are numeric.
A  Achievable warning: the target moves the figure by more than 50% of the baseline.
R  Relevant   warning: the metric is a priority_scores issue (matched through reference.priority_candidates)
              ranked in the bottom half of the partnership's issues in the baseline year.
T  Time-bound the deadline is given (an audit year label or a date), after the baseline; milestones
              are a list of {period, value}, each after the baseline, not after the deadline, in order.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from csp_audit.targets.model import Problem, Register, Target, load_register, parse_period, year_label

SCHEMA = "audit"
BASELINE_TOLERANCE = 0.005  # 0.5% of the mart's value
ACHIEVABLE_CHANGE = 0.50  # warn beyond +-50%
DEFAULT_START_MONTH = 4
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
_VAGUE_WORDS = 4
POLICE = "police_uk_street"
POLICE_MARTS = ("harm", "repeat_locations", "partnership_crime_yearly", "partnership_crime_monthly")


@dataclass(frozen=True)
class Observation:
    """One audit year of a target's metric for its area."""

    start_year: int
    label: str
    months_covered: int | None
    value: float | None
    incidents: float | None = None
    denominator: float | None = None
    # the agencies and months of the year with no accepted delivery of the metric's dataset (audit.caveats)
    incomplete: str | None = None


@dataclass
class Assessment:
    """A target checked against the warehouse, with what progress tracking needs."""

    register: Register
    target: Target
    problems: list[Problem] = field(default_factory=list)
    start_month: int = DEFAULT_START_MONTH
    series: list[Observation] = field(default_factory=list)
    baseline: Observation | None = None
    target_value: float | None = None
    direction: str | None = None  # 'lower' or 'higher' is better
    deadline_year: int | None = None
    milestones: list[tuple[int, float]] = field(default_factory=list)
    test: str = "none"  # 'poisson', 'proportion' or 'none'

    @property
    def rejected(self) -> bool:
        return any(p.severity == "reject" for p in self.problems)


class _Schema:
    """Tables and column types of the warehouse, read once."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type from information_schema.columns "
            "order by table_schema, table_name, ordinal_position"
        ).fetchall()
        self.columns: dict[tuple[str, str], dict[str, str]] = {}
        for schema, table, column, dtype in rows:
            self.columns.setdefault((schema, table), {})[column] = str(dtype).upper()

    def table(self, schema: str, name: str) -> dict[str, str] | None:
        return self.columns.get((schema, name))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(float(value)) else None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _percent(value: Any) -> float | None:
    """'-10%' or -10 -> -10.0 (percent)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return _number(value.strip()[:-1])
    return _number(value)


def _vague(title: str) -> bool:
    words = re.findall(r"[A-Za-z0-9%]+", title)
    return len(words) < _VAGUE_WORDS or not re.search(r"\d", title)


def _like(pattern: str, text: str) -> bool:
    if pattern == "All" or text == "All":
        return pattern == text
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, flags=re.IGNORECASE | re.DOTALL) is not None


class _Checker:
    def __init__(self, con: duckdb.DuckDBPyConnection, register: Register) -> None:
        self.con = con
        self.register = register
        self.schema = _Schema(con)
        self.file = str(register.path)
        self._area_cache: set[str] | None = None
        self._area_loaded = False

    # ---------------------------------------------------------------------------------------- helpers

    def _areas(self) -> set[str] | None:
        """The partnership's areas (itself, its wards and LSOAs) in audit.area_rates; None without it."""
        if not self._area_loaded:
            self._area_loaded = True
            if self.schema.table(SCHEMA, "area_rates") is not None and self.register.partnership:
                rows = self.con.execute(
                    "select distinct area_code from audit.area_rates where partnership_code = ?",
                    [self.register.partnership],
                ).fetchall()
                self._area_cache = {r[0] for r in rows}
        return self._area_cache

    def register_problems(self) -> list[Problem]:
        problems = list(self.register.problems)
        if not self.register.partnership:
            problems.append(
                Problem(self.file, "-", "S", "the register names no partnership (key 'partnership')")
            )
        elif not self._areas():
            problems.append(
                Problem(
                    self.file, "-", "S",
                    f"partnership {self.register.partnership} has no figures in audit.area_rates "
                    "(not a partnership of this warehouse's region)",
                )
            )  # fmt: skip
        counts = Counter(t.id for t in self.register.targets)
        for target_id, n in sorted(counts.items()):
            if n > 1:
                problems.append(
                    Problem(self.file, target_id, "S", f"id '{target_id}' is used by {n} targets")
                )
        return problems

    # ------------------------------------------------------------------------------------------ assess

    def assess(self, target: Target) -> Assessment:
        a = Assessment(self.register, target)

        def add(letter: str, reason: str, severity: str = "reject") -> None:
            a.problems.append(Problem(self.file, target.id, letter, reason, severity))

        self._specific_text(target, add)
        rows_ok = self._metric_series(target, a, add)
        self._measurable(target, a, add, rows_ok)
        self._time_bound(target, a, add)
        self._achievable(a, add)  # from the given baseline when the mart's cannot be found
        if not a.rejected:
            self._relevant(target, a, add)
        return a

    def _specific_text(self, target: Target, add: Any) -> None:
        if target.id.startswith("#"):
            add("S", "the target has no id")
        title = str(target.title).strip() if target.title is not None else ""
        if not title:
            add("S", "no title")
        elif _vague(title):
            add(
                "S",
                f"title '{title}' is vague: say what changes, by how much and by when "
                f"(4 words or more with a number, e.g. 'Reduce burglary by 10% by 2024/25')",
            )
        owner = str(target.owner).strip() if target.owner is not None else ""
        if not owner:
            add("S", "no owner: name the role or organisation accountable for the target")
        if target.unknown_keys:
            add("S", f"unknown keys {list(target.unknown_keys)}")

    def _metric_series(self, target: Target, a: Assessment, add: Any) -> bool:
        """Resolve the metric to one figure per audit year for the area; False when it cannot."""
        if target.metric is None:
            add("S", target.metric_problem or "no metric")
            return False
        metric = target.metric
        columns = self.schema.table(SCHEMA, metric.mart)
        if columns is None:
            add("S", f"metric mart '{metric.mart}' is not a table of schema {SCHEMA}")
            return False
        if metric.column not in columns:
            add("S", f"{SCHEMA}.{metric.mart} has no column '{metric.column}'")
            return False
        unknown = [k for k in metric.where if k not in columns]
        if unknown:
            add("S", f"metric.where names columns {unknown} that {SCHEMA}.{metric.mart} does not have")
            return False
        if not columns[metric.column].startswith(_NUMERIC):
            add("M", f"{SCHEMA}.{metric.mart}.{metric.column} is not numeric ({columns[metric.column]})")
            return False
        if "audit_year" not in columns or "period_start" not in columns:
            add("S", f"{SCHEMA}.{metric.mart} is not a yearly mart (no audit_year and period_start)")
            return False
        if "partnership_code" not in columns:
            add("S", f"{SCHEMA}.{metric.mart} has no partnership_code: a target needs a partnership's figure")
            return False
        partnership, area = self.register.partnership, target.area
        if not area:
            add("S", "no area: give the partnership code or a ward/LSOA code in it")
            return False
        if partnership is None:
            return False
        if area != partnership:
            areas = self._areas()
            if areas is None:
                add("S", f"area {area} cannot be checked: {SCHEMA}.area_rates is missing")
                return False
            if area not in areas:
                add("S", f"area {area} is not in partnership {partnership}")
                return False
            if "area_code" not in columns:
                add("S", f"{SCHEMA}.{metric.mart} has partnership figures only: area must be {partnership}")
                return False
        conditions = ["partnership_code = ?"]
        params: list[Any] = [partnership]
        if "area_code" in columns:
            conditions.append("area_code = ?")
            params.append(area)
        for key, value in metric.where.items():
            if value is None:
                conditions.append(f"{_ident(key)} is null")
                continue
            conditions.append(f"{_ident(key)} = ?")
            params.append(str(value) if columns[key] == "VARCHAR" and not isinstance(value, str) else value)
        extra = [
            f"{_ident(c)}" if c in columns else "null"
            for c in ("months_covered", "incidents", self._denominator(metric.column, columns) or "-")
        ]
        sql = (
            f"select audit_year, period_start, {_ident(metric.column)}, {', '.join(extra)} "  # noqa: S608 - identifiers checked against information_schema
            f"from {SCHEMA}.{_ident(metric.mart)} where {' and '.join(conditions)} order by period_start"
        )
        try:
            rows = self.con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            add("S", f"metric filters cannot be applied: {' '.join(str(exc).split())[:200]}")
            return False
        shown = json.dumps(metric.where, sort_keys=True, default=str)
        if not rows:
            add("S", f"filters {shown} match no rows of {SCHEMA}.{metric.mart} for area {area}")
            return False
        per_year = Counter(r[1] for r in rows)
        if max(per_year.values()) > 1:
            varying = self._varying(metric.mart, conditions, params, columns)
            add(
                "S",
                f"filters {shown} leave {max(per_year.values())} rows per audit year of {SCHEMA}.{metric.mart} "
                f"for area {area}; add filters on {varying}",
            )
            return False
        a.start_month = rows[0][1].month
        gaps = self._incomplete_years(metric.mart, metric.where, partnership)
        a.series = [
            Observation(r[1].year, r[0], r[3], _number(r[2]), _number(r[4]), _number(r[5]), gaps.get(r[1]))
            for r in rows
        ]
        if metric.column in ("incidents", "rate_per_1000") and "incidents" in columns:
            a.test = "poisson"
        elif metric.column.startswith("share") and self._denominator(metric.column, columns):
            a.test = "proportion"
        return True

    def _incomplete_years(self, mart: str, where: dict[str, Any], partnership: str) -> dict[Any, str]:
        """period_start -> the agencies and months with no accepted delivery, for the metric's dataset and
        the partnership (audit.caveats.incomplete_data); empty without audit.caveats or a known dataset."""
        dataset = where.get("dataset") or (POLICE if mart in POLICE_MARTS else None)
        columns = self.schema.table(SCHEMA, "caveats") or {}
        if not isinstance(dataset, str) or "incomplete_data" not in columns:
            return {}
        rows = self.con.execute(
            "select period_start, incomplete_data from audit.caveats "
            "where partnership_code = ? and dataset = ? and incomplete_data is not null",
            [partnership, dataset],
        ).fetchall()
        return dict(rows)

    @staticmethod
    def _denominator(column: str, columns: dict[str, str]) -> str | None:
        if not column.startswith("share"):
            return None
        for suffix in ("day", "night"):
            if column.endswith(f"_{suffix}") and f"respondents_answered_{suffix}" in columns:
                return f"respondents_answered_{suffix}"
        return "respondents" if "respondents" in columns else None

    def _varying(self, mart: str, conditions: list[str], params: list[Any], columns: dict[str, str]) -> str:
        candidates = [
            c for c, t in columns.items() if t == "VARCHAR" and c not in ("audit_year", "partnership_code")
        ]
        if not candidates:
            return "more columns"
        counts = ", ".join(f"count(distinct {_ident(c)})" for c in candidates)
        sql = f"select {counts} from {SCHEMA}.{_ident(mart)} where {' and '.join(conditions)}"  # noqa: S608 - checked identifiers
        found = self.con.execute(sql, params).fetchone() or ()
        varying = [c for c, n in zip(candidates, found, strict=True) if n and n > 1]
        return ", ".join(varying[:6]) or "more columns"

    def _measurable(self, target: Target, a: Assessment, add: Any, rows_ok: bool) -> None:
        period = target.baseline.get("period")
        base_year, problem = parse_period(period, a.start_month)
        if problem:
            add("M", f"baseline period {problem}" if problem == "missing" else f"baseline period: {problem}")
        given = target.baseline.get("value")
        given_value = _number(given)
        if given is None:
            add("M", "the baseline has no value")
        elif given_value is None:
            add("M", f"baseline value {given!r} is not a number")
        if rows_ok and base_year is not None:
            found = [o for o in a.series if o.start_year == base_year]
            if not found:
                have = f"{a.series[0].label}..{a.series[-1].label}"
                add(
                    "M",
                    f"no figure for baseline period {year_label(base_year, a.start_month)} (the mart has {have})",
                )
            elif found[0].value is None:
                add(
                    "M",
                    f"baseline not computable: the mart's {target.metric.column} is null for {found[0].label}",
                )
            else:
                a.baseline = found[0]
                mart_value = found[0].value
                if given_value is not None and not _close(given_value, mart_value):
                    diff = abs(given_value - mart_value) / abs(mart_value) if mart_value else math.inf
                    add(
                        "M",
                        f"baseline value {given_value:g} differs from the mart's {mart_value:g} for "
                        f"{found[0].label} by {diff:.1%} (more than 0.5%)",
                    )
        base_value = a.baseline.value if a.baseline else given_value
        spec = target.target
        has_value, has_change = "value" in spec, "relative_change" in spec
        if has_value == has_change:
            add("M", "the target needs exactly one of value or relative_change (e.g. -10%)")
            return
        if has_value:
            a.target_value = _number(spec["value"])
            if a.target_value is None:
                add("M", f"target value {spec['value']!r} is not a number")
                return
        else:
            change = _percent(spec["relative_change"])
            if change is None:
                add("M", f"relative_change {spec['relative_change']!r} is not a percentage like -10%")
                return
            if base_value is not None:
                a.target_value = base_value * (1 + change / 100.0)
        better = target.better
        if better is not None and better not in ("lower", "higher"):
            add("M", f"better must be 'lower' or 'higher', got {better!r}")
            return
        if a.target_value is not None and base_value is not None:
            if math.isclose(a.target_value, base_value, rel_tol=1e-12, abs_tol=1e-12):
                if better is None:
                    add(
                        "M",
                        "the target equals the baseline: say which way is better with better: lower|higher",
                    )
                a.direction = better
            else:
                implied = "lower" if a.target_value < base_value else "higher"
                if better is not None and better != implied:
                    add("M", f"better is '{better}' but the target moves the figure the other way")
                a.direction = implied
        for item in target.milestones if isinstance(target.milestones, list) else []:
            if isinstance(item, dict) and "value" in item and _number(item["value"]) is None:
                add("M", f"milestone value {item['value']!r} is not a number")

    def _time_bound(self, target: Target, a: Assessment, add: Any) -> None:
        base_year, _ = parse_period(target.baseline.get("period"), a.start_month)
        deadline, problem = parse_period(target.deadline, a.start_month)
        if problem == "missing":
            add("T", "no deadline (an audit year like 2025/26 or a date)")
        elif problem:
            add("T", f"deadline: {problem}")
        elif base_year is not None and deadline <= base_year:
            add(
                "T",
                f"deadline {year_label(deadline, a.start_month)} is not after the baseline "
                f"{year_label(base_year, a.start_month)}",
            )
        else:
            a.deadline_year = deadline
        milestones = target.milestones
        if milestones is None:
            return
        if not isinstance(milestones, list):
            add("T", "milestones must be a list of {period, value}")
            return
        previous: int | None = None
        for item in milestones:
            if not isinstance(item, dict) or "period" not in item:
                add("T", f"milestone {item!r} needs a period and a value")
                continue
            year, problem = parse_period(item["period"], a.start_month)
            if problem:
                add("T", f"milestone period: {problem}")
                continue
            label = year_label(year, a.start_month)
            if base_year is not None and year <= base_year:
                add(
                    "T", f"milestone {label} is not after the baseline {year_label(base_year, a.start_month)}"
                )
            if deadline is not None and year > deadline:
                add("T", f"milestone {label} is after the deadline {year_label(deadline, a.start_month)}")
            if previous is not None and year <= previous:
                add(
                    "T", f"milestones out of order: {label} comes after {year_label(previous, a.start_month)}"
                )
            previous = year
            value = _number(item.get("value"))
            if value is not None:
                a.milestones.append((year, value))

    def _achievable(self, a: Assessment, add: Any) -> None:
        base = a.baseline.value if a.baseline else _number(a.target.baseline.get("value"))
        if not base or a.target_value is None:
            return
        change = (a.target_value - base) / abs(base)
        if abs(change) > ACHIEVABLE_CHANGE:
            add(
                "A",
                f"the target moves the figure by {change:+.0%} of the baseline (beyond +-50%): is it achievable?",
                "warn",
            )

    def _relevant(self, target: Target, a: Assessment, add: Any) -> None:
        metric = target.metric
        if (
            metric is None
            or a.baseline is None
            or self.schema.table(SCHEMA, "priority_scores") is None
            or self.schema.table("reference", "priority_candidates") is None
            or not {"dataset", "category"} <= set(metric.where)
        ):
            return
        dataset, category = str(metric.where["dataset"]), str(metric.where["category"])
        candidates = self.con.execute(
            "select issue, categories from reference.priority_candidates where dataset = ?", [dataset]
        ).fetchall()
        issues = [
            i for i, cats in candidates if any(_like(p.strip(), category) for p in str(cats).split("|"))
        ]
        if len(issues) != 1:
            return
        row = self.con.execute(
            "select priority_rank, issues_ranked from audit.priority_scores "
            "where partnership_code = ? and issue = ? and audit_year = ?",
            [self.register.partnership, issues[0], a.baseline.label],
        ).fetchone()
        if row and row[0] > math.ceil(row[1] / 2):
            add(
                "R",
                f"issue '{issues[0]}' ranks {row[0]} of {row[1]} in priority_scores for {a.baseline.label}: "
                "say why it is a priority",
                "warn",
            )


def _close(given: float, actual: float) -> bool:
    if actual == 0:
        return abs(given) < 1e-9
    return abs(given - actual) <= BASELINE_TOLERANCE * abs(actual)


def assess_register(
    register: Register, con: duckdb.DuckDBPyConnection
) -> tuple[list[Problem], list[Assessment]]:
    """Register-level problems and one assessment per target (used by check and by progress)."""
    checker = _Checker(con, register)
    return checker.register_problems(), [checker.assess(t) for t in register.targets]


def check_register(register: Register | str | Path, warehouse_file: str | Path) -> list[Problem]:
    """Every problem of the register, rejections and warnings, in file order."""
    if not isinstance(register, Register):
        register = load_register(register)
    con = duckdb.connect(str(warehouse_file), read_only=True)
    try:
        problems, assessments = assess_register(register, con)
    finally:
        con.close()
    return problems + [p for a in assessments for p in a.problems]
