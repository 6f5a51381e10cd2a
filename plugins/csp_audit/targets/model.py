"""The SMART target register: one YAML file per partnership, ``targets/<partnership_code>.yaml``.

Loading is lenient: a register whose targets are incomplete still loads, with every field kept as
written, so that :func:`csp_audit.targets.check.check_register` can report every problem at once
with its SMART letter. Only a file that is not YAML, or not a mapping with a ``targets`` list, is
refused here (:class:`RegisterError`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

LETTERS = ("S", "M", "A", "R", "T")
_TOP_KEYS = {"partnership", "name", "targets"}
_TARGET_KEYS = {
    "id", "title", "metric", "area", "baseline", "target", "deadline", "milestones", "owner", "better", "notes",
}  # fmt: skip
_LABEL = re.compile(r"^(\d{4})(?:/(\d{2}))?$")


class RegisterError(ValueError):
    """The register file cannot be read at all; the message names the file."""


@dataclass(frozen=True)
class Problem:
    """One finding about a target: ``letter`` is S, M, A, R or T; ``severity`` 'reject' or 'warn'."""

    file: str
    target_id: str
    letter: str
    reason: str
    severity: str = "reject"

    def line(self) -> str:
        tag = self.letter if self.severity == "reject" else f"{self.letter} (warning)"
        return f"{self.file}: {self.target_id}: {tag}: {self.reason}"


@dataclass(frozen=True)
class Metric:
    mart: str
    column: str
    where: dict[str, Any]


@dataclass(frozen=True)
class Target:
    """A target as written; values are not yet checked (see check.py)."""

    id: str
    title: Any
    metric: Metric | None
    metric_problem: str | None
    area: Any
    baseline: dict[str, Any]
    target: dict[str, Any]
    deadline: Any
    milestones: Any
    owner: Any
    better: Any
    unknown_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Register:
    path: Path
    partnership: str | None
    name: str | None
    targets: tuple[Target, ...]
    sha256: str
    problems: tuple[Problem, ...] = field(default_factory=tuple)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _metric(value: Any) -> tuple[Metric | None, str | None]:
    if not isinstance(value, dict):
        return None, "metric must be a mapping {mart, column, where}"
    unknown = sorted(set(value) - {"mart", "column", "where"})
    if unknown:
        return None, f"metric has unknown keys {unknown} (allowed: mart, column, where)"
    mart, column, where = _text(value.get("mart")), _text(value.get("column")), value.get("where") or {}
    if not mart or not column:
        return None, "metric needs a mart and a column"
    if not isinstance(where, dict) or any(isinstance(v, (dict, list)) for v in where.values()):
        return None, "metric.where must map column names to single values"
    return Metric(mart, column, {str(k): v for k, v in where.items()}), None


def _target(raw: Any, position: int) -> Target:
    raw = raw if isinstance(raw, dict) else {}
    metric, metric_problem = _metric(raw.get("metric")) if "metric" in raw else (None, "no metric")
    baseline = raw.get("baseline")
    target = raw.get("target")
    return Target(
        id=_text(raw.get("id")) or f"#{position}",
        title=raw.get("title"),
        metric=metric,
        metric_problem=metric_problem,
        area=_text(raw.get("area")),
        baseline=baseline if isinstance(baseline, dict) else {},
        target=target if isinstance(target, dict) else ({"value": target} if target is not None else {}),
        deadline=raw.get("deadline"),
        milestones=raw.get("milestones"),
        owner=raw.get("owner"),
        better=_text(raw.get("better")),
        unknown_keys=tuple(sorted(str(k) for k in set(raw) - _TARGET_KEYS)),
    )


def load_register(path: str | Path) -> Register:
    """Read one register file. Raises :class:`RegisterError` when it is not a YAML mapping of targets."""
    path = Path(path)
    try:
        data = path.read_bytes()
        doc = yaml.safe_load(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RegisterError(f"{path}: cannot read the register: {' '.join(str(exc).split())}") from exc
    if not isinstance(doc, dict):
        raise RegisterError(f"{path}: a register is a mapping with 'partnership' and 'targets'")
    targets = doc.get("targets")
    if not isinstance(targets, list):
        raise RegisterError(f"{path}: key 'targets' must be a list of targets")
    problems = []
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        problems.append(Problem(str(path), "-", "S", f"unknown top-level keys {unknown}"))
    if any(not isinstance(t, dict) for t in targets):
        problems.append(Problem(str(path), "-", "S", "every entry of 'targets' must be a mapping"))
    return Register(
        path=path,
        partnership=_text(doc.get("partnership")),
        name=_text(doc.get("name")),
        targets=tuple(_target(t, i) for i, t in enumerate(targets, start=1)),
        sha256=hashlib.sha256(data).hexdigest(),
        problems=tuple(problems),
    )


def register_files(path: str | Path) -> list[Path]:
    """The register files of a folder (``*.yaml``, ``*.yml``, sorted), or the one file given."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


# ------------------------------------------------------------------------------------------ periods


def year_label(start_year: int, start_month: int) -> str:
    """Audit year label of the year starting in ``start_year``: '2021/22', or '2021' for calendar years."""
    return str(start_year) if start_month == 1 else f"{start_year}/{(start_year + 1) % 100:02d}"


def parse_period(value: Any, start_month: int) -> tuple[int | None, str | None]:
    """An audit year label or a date -> (start year of the audit year, problem).

    A label ('2021/22', or '2021' for calendar audit years) is that year. A date (YYYY-MM-DD) is the
    latest audit year that has ended on or before it: the figures available by then.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "missing"
    if isinstance(value, date):
        day = value
    else:
        text = str(value).strip()
        match = _LABEL.match(text)
        if match:
            year = int(match[1])
            if match[2] is None and start_month != 1:
                return (
                    None,
                    f"'{text}' is not an audit year label: audit years here run from month {start_month}, e.g. {year_label(year, start_month)}",
                )
            if match[2] is not None and int(match[2]) != (year + 1) % 100:
                return None, f"'{text}' is not an audit year label (expected {year_label(year, start_month)})"
            if match[2] is not None and start_month == 1:
                return (
                    None,
                    f"'{text}' is not an audit year label: audit years here are calendar years, e.g. {year}",
                )
            return year, None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return (
                None,
                f"'{text}' is neither an audit year label like {year_label(2024, start_month)} nor a date YYYY-MM-DD",
            )
    containing = day.year if day.month >= start_month else day.year - 1
    year_end = date(containing + 1, start_month, 1) - timedelta(days=1)
    return (containing if day == year_end else containing - 1), None
