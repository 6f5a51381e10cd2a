"""Progress against each target: ``audit.target_progress``, recomputed from the marts on every refresh.

For each target of the registers, the table holds the current value, the straight-line trajectory
from the baseline to the target at the deadline, and a red/amber/green status with the rule that set
it. It is computed in Python from the marts (the metric of a target is any mart, column and filters,
resolved exactly as ``targets check`` resolves them) and written in one transaction with
``create or replace``: the same registers and marts always give the same table (no clock is read;
"now" is the latest audit year in the data), so a refresh is reproducible and idempotent.

Like with like: the current value is the metric's figure for the latest audit year that covers as
many months as the baseline year did (months_covered, where the mart has it). A later year covering
fewer months (the year in progress, or a missing delivery) is named in ``latest_period`` and in the
``comparison`` text but not compared, so a part year is never set against a whole one.

Trajectory: expected = baseline + (target - baseline) x (current year - baseline year) / (deadline
year - baseline year), years counted as audit years, capped at the deadline.

Status, the first rule that applies (``status_rule`` says which, with the figures):
  grey   the target was rejected by ``targets check`` (the reason is given), or no comparable year after
         the baseline has figures yet, or the baseline or the current year is incomplete (an agency's
         delivery for one of its months missing, rejected or overdue: audit.caveats.incomplete_data, named
         in the rule): a change over a short count is no finding;
  green  deadline reached (a comparable figure for the deadline year or later) and the target met;
  red    deadline reached and the target missed;
  green  on or ahead of the trajectory;
  red    worse than the baseline and the change is significant (p < 0.05);
  amber  behind the trajectory but better than the baseline;
  amber  no better than the baseline, but the change is within the significance band (p >= 0.05);
  red    worse than the baseline, and the metric has no significance test.
Significance: counts and rates per 1,000 (columns incidents and rate_per_1000 of a mart carrying
incidents; the population is the same every year) use the exact conditional binomial test of the
trends mart on the baseline's and the current year's incidents (6 or more together); shares of survey
respondents (columns share_*, denominators respondents or respondents_answered_day/night) use a
two-proportion z-test; other metrics have none.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from csp_audit.targets.check import Assessment, Observation, assess_register
from csp_audit.targets.model import Problem, RegisterError, load_register, register_files, year_label
from csp_audit.warehouse.raw import TARGET_CHECK_COLUMNS, TARGET_PROGRESS_COLUMNS, ensure_raw_layer

ALPHA = 0.05
MIN_INCIDENTS = 6
# written to the raw layer by the build's targets step; dbt publishes them as audit.target_progress and
# audit.target_checks (documented views with enforced contracts)
TABLE = "audit.target_progress"
RAW_TABLE = "raw.target_progress"
COLUMNS = TARGET_PROGRESS_COLUMNS
STATUSES = ("green", "amber", "red", "grey")
# the SMART check of every target as `targets check` reports it (one row per target; '-' for a register's
# own problems), written beside target_progress so an audit pack can show it without the register files
CHECKS_TABLE = "audit.target_checks"
RAW_CHECKS_TABLE = "raw.target_checks"
CHECK_COLUMNS = TARGET_CHECK_COLUMNS


# ------------------------------------------------------------------------------------ statistics


def poisson_change_p_value(n1: int, n2: int) -> float | None:
    """Two-sided exact conditional binomial test of two Poisson counts (as the trends mart); None under 6."""
    n1, n2 = int(n1), int(n2)
    if n1 < 0 or n2 < 0 or n1 + n2 < MIN_INCIDENTS:
        return None
    n, k = n1 + n2, min(n1, n2)
    low = max(0, k - math.ceil(10 * math.sqrt(n)))
    log_half = n * math.log(2)
    total = sum(
        math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - log_half)
        for i in range(low, k + 1)
    )
    return min(1.0, 2.0 * total)


def proportion_p_value(p1: float, n1: float, p2: float, n2: float) -> float | None:
    """Two-sided two-proportion z-test (pooled); None without respondents."""
    if not n1 or not n2 or n1 <= 0 or n2 <= 0:
        return None
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if p1 == p2 else 0.0
    return math.erfc(abs(p2 - p1) / se / math.sqrt(2))


# ---------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Status:
    status: str
    rule: str


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def judge(
    *,
    direction: str,
    baseline: float,
    target: float,
    current: float,
    expected: float,
    deadline_reached: bool,
    p_value: float | None,
    tested: bool,
    deadline_label: str = "the deadline",
) -> Status:
    """The RAG rule for one target (see the module docstring); ``direction`` 'lower' or 'higher' is better."""
    sign = -1.0 if direction == "lower" else 1.0
    eps = 1e-9 * max(1.0, abs(baseline), abs(target))
    gain = sign * (current - baseline)  # > 0: better than the baseline
    ahead = sign * (current - expected)  # >= 0: on or ahead of the trajectory
    if deadline_reached:
        if sign * (current - target) >= -eps:
            return Status(
                "green", f"deadline {deadline_label} reached: {_fmt(current)} meets the target {_fmt(target)}"
            )
        return Status(
            "red",
            f"deadline {deadline_label} passed and missed: {_fmt(current)} against the target {_fmt(target)}",
        )
    if ahead >= -eps:
        return Status(
            "green",
            f"on or ahead of the trajectory: {_fmt(current)} against {_fmt(expected)} expected by now",
        )
    significant = p_value is not None and p_value < ALPHA
    if gain < -eps and significant:
        return Status(
            "red",
            f"{_fmt(current)} is worse than the baseline {_fmt(baseline)} and significantly so "
            f"(p = {p_value:.3g})",
        )
    if gain > eps:
        return Status(
            "amber",
            f"behind the trajectory ({_fmt(current)} against {_fmt(expected)} expected) but better than the "
            f"baseline {_fmt(baseline)}",
        )
    if tested or abs(gain) <= eps:
        shown = "too few incidents to test" if p_value is None else f"p = {p_value:.3g}"
        return Status(
            "amber",
            f"{_fmt(current)} is no better than the baseline {_fmt(baseline)} but within the significance band "
            f"({shown})",
        )
    return Status(
        "red",
        f"{_fmt(current)} is worse than the baseline {_fmt(baseline)} (no significance test for this metric)",
    )


def _p_value(a: Assessment, base: Observation, current: Observation) -> float | None:
    if a.test == "poisson" and base.incidents is not None and current.incidents is not None:
        return poisson_change_p_value(round(base.incidents), round(current.incidents))
    if a.test == "proportion" and None not in (
        base.value,
        current.value,
        base.denominator,
        current.denominator,
    ):
        return proportion_p_value(base.value, base.denominator, current.value, current.denominator)
    return None


def progress_row(a: Assessment) -> dict[str, Any]:
    """One row of target_progress for an assessed target."""
    t, reg = a.target, a.register
    metric = t.metric
    label = lambda y: year_label(y, a.start_month) if y is not None else None  # noqa: E731
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        partnership_code=reg.partnership,
        target_id=t.id,
        title=None if t.title is None else str(t.title),
        owner=None if t.owner is None else str(t.owner),
        register_file=reg.path.name,
        register_sha256=reg.sha256,
        metric_mart=metric.mart if metric else None,
        metric_column=metric.column if metric else None,
        metric_where=json.dumps(metric.where, sort_keys=True, default=str) if metric else None,
        area_code=t.area,
        direction=a.direction,
        target_value=a.target_value,
        deadline_period=label(a.deadline_year),
        significance_test=a.test,
    )
    if a.series:
        latest = a.series[-1]
        row.update(latest_period=latest.label, latest_months_covered=latest.months_covered)
    rejections = [p for p in a.problems if p.severity == "reject"]
    if rejections:
        first = rejections[0]
        more = f" (and {len(rejections) - 1} more)" if len(rejections) > 1 else ""
        row.update(
            status="grey", status_rule=f"rejected by targets check: {first.letter}: {first.reason}{more}"
        )
        return row
    base = a.baseline
    assert base is not None and base.value is not None and a.target_value is not None
    assert a.deadline_year is not None and a.direction is not None
    row.update(
        baseline_period=base.label, baseline_value=base.value, baseline_months_covered=base.months_covered
    )
    comparable = [
        o
        for o in a.series
        if o.start_year >= base.start_year
        and o.value is not None
        and (o.months_covered is None or o.months_covered == base.months_covered)
    ]
    current = comparable[-1]
    months = f"{base.months_covered} months" if base.months_covered is not None else "the same survey basis"
    note = f"{current.label} against the baseline {base.label}, both {months}"
    skipped = [o for o in a.series if o.start_year > current.start_year]
    if skipped:
        note += "; not compared: " + ", ".join(
            f"{o.label} ({o.months_covered if o.months_covered is not None else '?'} months)" for o in skipped
        )
    elapsed = current.start_year - base.start_year
    span = a.deadline_year - base.start_year
    expected = base.value + (a.target_value - base.value) * min(1.0, elapsed / span)
    due = [(y, v) for y, v in a.milestones if y <= current.start_year]
    row.update(
        current_period=current.label,
        current_value=current.value,
        current_months_covered=current.months_covered,
        comparison=note,
        years_elapsed=elapsed,
        years_to_deadline=span,
        expected_value=round(expected, 6),
        change_from_baseline=round(current.value - base.value, 6),
        pct_change_from_baseline=(
            round(100.0 * (current.value - base.value) / abs(base.value), 1) if base.value else None
        ),
    )
    if due:
        year, value = due[-1]
        sign = -1.0 if a.direction == "lower" else 1.0
        row.update(
            milestone_period=label(year),
            milestone_value=value,
            milestone_met=sign * (current.value - value) >= 0,
        )
    if elapsed == 0:
        row.update(
            status="grey", status_rule=f"no comparable figure after the baseline {base.label} yet ({note})"
        )
        return row
    short = [f"{o.label}: {o.incomplete}" for o in (base, current) if o.incomplete]
    if short:
        row.update(
            status="grey",
            status_rule=f"incomplete data, no accepted delivery from {'; '.join(short)}: the change from the "
            f"baseline is not judged ({note})",
        )
        return row
    p_value = _p_value(a, base, current)
    row["p_value"] = p_value
    status = judge(
        direction=a.direction,
        baseline=base.value,
        target=a.target_value,
        current=current.value,
        expected=expected,
        deadline_reached=current.start_year >= a.deadline_year,
        p_value=p_value,
        tested=a.test != "none",
        deadline_label=label(a.deadline_year) or "",
    )
    row.update(status=status.status, status_rule=status.rule)
    return row


# ------------------------------------------------------------------------------------------ table


def check_row(register_file: str, partnership: str | None, sha: str | None, target_id: str,
              problems: list[Any]) -> dict[str, Any]:  # fmt: skip
    """One row of target_checks: the target's SMART check result and every problem, rejections first."""
    rejections = [p for p in problems if p.severity == "reject"]
    warnings = [p for p in problems if p.severity != "reject"]
    result = "rejected" if rejections else "pass with warnings" if warnings else "pass"
    lines = [f"{p.letter}: {p.reason}" for p in rejections] + [
        f"{p.letter} (warning): {p.reason}" for p in warnings
    ]
    return {
        "partnership_code": partnership,
        "register_file": register_file,
        "register_sha256": sha,
        "target_id": target_id,
        "check_result": result,
        "rejections": len(rejections),
        "warnings": len(warnings),
        "problems": "\n".join(lines) or None,
    }


def compute_all(
    targets: str | Path | list[Path], con: duckdb.DuckDBPyConnection
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(target_progress rows, target_checks rows) for every register file (a folder, one file or a list)."""
    files = register_files(targets) if isinstance(targets, (str, Path)) else sorted(Path(p) for p in targets)
    rows, checks = [], []
    for path in files:
        try:
            register = load_register(path)
        except RegisterError as exc:
            row = dict.fromkeys(COLUMNS)
            row.update(register_file=Path(path).name, target_id="-", status="grey", status_rule=str(exc))
            rows.append(row)
            checks.append(
                check_row(Path(path).name, None, None, "-", [Problem(str(path), "-", "S", str(exc))])
            )
            continue
        register_problems, assessments = assess_register(register, con)
        rows += [progress_row(a) for a in assessments]
        name, code, sha = register.path.name, register.partnership, register.sha256
        if register_problems:
            checks.append(check_row(name, code, sha, "-", register_problems))
        checks += [check_row(name, code, sha, a.target.id, a.problems) for a in assessments]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame = frame.sort_values(
        ["partnership_code", "target_id", "register_file"], na_position="last", kind="stable"
    )
    checked = pd.DataFrame(checks, columns=list(CHECK_COLUMNS))
    checked = checked.sort_values(
        ["partnership_code", "target_id", "register_file"], na_position="last", kind="stable"
    )
    return frame.reset_index(drop=True), checked.reset_index(drop=True)


def compute_progress(targets: str | Path | list[Path], con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """target_progress rows for every register file (a folder of them, one file, or a list)."""
    return compute_all(targets, con)[0]


def write_progress(warehouse_file: str | Path, targets: str | Path | list[Path] | None) -> pd.DataFrame:
    """Recompute target progress in the warehouse (replacing it whole, in one transaction).

    ``targets`` is a folder of registers (``<region>/targets/``), one file or a list; None or a missing
    folder writes an empty table, so the audit pack can always read it. The SMART check of every target
    (as ``targets check`` reports it) is replaced in the same transaction. Both go to the raw layer, which
    dbt publishes as ``audit.target_progress`` and ``audit.target_checks``.
    """
    con = duckdb.connect(str(warehouse_file))
    try:
        if targets is None or (isinstance(targets, (str, Path)) and not Path(targets).exists()):
            frame = pd.DataFrame(columns=list(COLUMNS))
            checks = pd.DataFrame(columns=list(CHECK_COLUMNS))
        else:
            frame, checks = compute_all(targets, con)
        ensure_raw_layer(con)
        con.execute("begin transaction")
        try:
            for table, schema, data in (
                (RAW_TABLE, COLUMNS, frame),
                (RAW_CHECKS_TABLE, CHECK_COLUMNS, checks),
            ):
                columns = ", ".join(f"{name} {dtype}" for name, dtype in schema.items())
                casts = ", ".join(f"cast({name} as {dtype}) as {name}" for name, dtype in schema.items())
                con.execute(f"create or replace table {table} ({columns})")
                if len(data):
                    con.register("_progress", data.astype(object).where(data.notna(), None))
                    con.execute(f"insert into {table} select {casts} from _progress")  # noqa: S608 - fixed names
                    con.unregister("_progress")
            _publish_views(con)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.close()
    return frame


def _publish_views(con: duckdb.DuckDBPyConnection) -> None:
    """``audit.target_progress`` and ``audit.target_checks`` show the raw tables just written.

    dbt defines both as views (models/marts/strategy/, with docs and contracts); where the warehouse was
    built before they were views (they were tables then) or not by dbt at all, the same views are made
    here so ``targets progress`` always leaves the audit schema current.
    """
    con.execute("create schema if not exists audit")
    for audit_table, raw_table, columns in (
        (TABLE, RAW_TABLE, COLUMNS),
        (CHECKS_TABLE, RAW_CHECKS_TABLE, CHECK_COLUMNS),
    ):
        name = audit_table.split(".", 1)[1]
        kind = con.execute(
            "select table_type from information_schema.tables where table_schema = 'audit' and table_name = ?",
            [name],
        ).fetchone()
        if kind is not None and kind[0] == "VIEW":
            continue
        if kind is not None:
            con.execute(f"drop table {audit_table}")
        con.execute(f"create view {audit_table} as select {', '.join(columns)} from {raw_table}")  # noqa: S608
