"""The shared data plan: read ``plan.yaml``, validate it completely, and hand back typed, immutable objects.

A plan is drawn up once by neighbouring partnerships so each agency gets one co-ordinated request per audit
cycle. Its keys are a public contract (``docs/data-plan.md``, ``schema.json``); relative paths resolve against
the plan's folder so a plan folder can be moved or shared as a whole, like a region folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from csp_audit.config import safe_yaml
from csp_audit.plan.periods import Month, Period, periods
from csp_audit.plan.validate import CSP_CODE, DEFAULT_LANDING, landing_folder, rule_problems, schema_problems

AGENCY_TYPE_LABELS: dict[str, str] = {
    "police": "Police force",
    "fire_and_rescue": "Fire and rescue service",
    "emergency_department": "Emergency department",
    "local_authority": "Local authority",
    "youth_offending": "Youth offending team",
    "probation": "Probation service",
    "housing": "Housing provider",
    "public_health": "Public health or drug and alcohol treatment service",
    "consultation": "Public consultation",
}
GEOGRAPHY_LABELS: dict[str, str] = {
    "lsoa": "Lower layer super output area (LSOA)",
    "ward": "Electoral ward",
    "postcode_district": "Postcode district (e.g. AB1)",
    "fire_station_ground": "Fire station ground",
    "health_area": "Health area",
    "police_neighbourhood": "Police neighbourhood",
    "local_authority": "Local authority district",
}


class PlanError(ValueError):
    """The plan cannot be used. ``errors`` holds every problem, one line each, naming the file and key path."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True)
class Agency:
    """An organisation that delivers data to one or more of the plan's partnerships."""

    id: str
    name: str
    type: str
    contact: str
    serves: tuple[str, ...]

    @property
    def type_label(self) -> str:
        return AGENCY_TYPE_LABELS[self.type]


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Geography:
    """Where a dataset's rows are: the areas' type and boundary year, and which column holds the code.

    ``column`` is None for the contract's first ``code`` column. ``fallback`` places a row whose
    ``column`` is blank by another column and geography, and the row is flagged (an ISTV record
    without a coded incident location is placed by the patient's home postcode district).
    """

    type: str
    vintage: int | None = None
    column: str | None = None
    fallback: Geography | None = None

    @property
    def key(self) -> str:
        """``lsoa_2011``: the key of the apportionment weights for this geography in the warehouse."""
        return f"{self.type}_{self.vintage}" if self.vintage else self.type

    @property
    def code(self) -> str:
        """``lsoa 2011``: the compact form used in CSV files."""
        return f"{self.type} {self.vintage}" if self.vintage else self.type

    @property
    def label(self) -> str:
        """``Electoral ward (2015 boundaries)``: the form used in letters to agencies."""
        name = GEOGRAPHY_LABELS[self.type]
        return f"{name} ({self.vintage} boundaries)" if self.vintage else name


@dataclass(frozen=True)
class Sharing:
    level: str
    min_cell_size: int | None = None
    pseudonymise: tuple[str, ...] = ()
    retention_months: int | None = None
    rounding: str = "none"


@dataclass(frozen=True)
class Dataset:
    """One data contract. ``partnerships`` is None for 'all' (every partnership its agencies serve)."""

    id: str
    agencies: tuple[str, ...]
    description: str
    format: str
    columns: tuple[Column, ...]
    geography: Geography
    time_grain: str
    cadence: str
    due_day: int
    partnerships: tuple[str, ...] | None
    sharing: Sharing
    landing: str = DEFAULT_LANDING
    # extra GX rules beyond those derived from the columns (e.g. ISTV: arrival after the incident)
    expectations: tuple[dict[str, Any], ...] = ()

    def covers(self, agency: Agency) -> tuple[str, ...]:
        """The partnerships this agency's delivery of the dataset is for."""
        if self.partnerships is None:
            return agency.serves
        return tuple(code for code in self.partnerships if code in agency.serves)

    def landing_folder(self, agency: str) -> str:
        """Folder under the landing zone where this agency's deliveries go, one ``YYYY-MM`` folder per period."""
        return landing_folder(self.landing, agency, self.id)


@dataclass(frozen=True)
class Cycle:
    """An audit cycle: ``months`` consecutive months from ``start``; requests are per agency per cycle."""

    start: Month
    months: int

    @property
    def end(self) -> Month:
        return self.start.plus(self.months - 1)

    @property
    def key(self) -> str:
        return str(self.start)

    @property
    def label(self) -> str:
        return Period(self.start, self.end).label

    def periods(self, cadence: str) -> list[Period]:
        return periods(self.start, self.months, cadence)

    def shifted(self, start: Month) -> Cycle:
        """The plan's cycle moved to another start; only whole cycles, so quarters and years stay aligned."""
        if (start.index - self.start.index) % self.months:
            raise ValueError(
                f"{start} is not the start of a cycle of this plan (cycles of {self.months} months "
                f"start {self.start}, {self.start.plus(self.months)}, ...)"
            )
        return Cycle(start, self.months)

    def containing(self, day: date) -> Cycle:
        """The cycle that ``day`` falls in (the plan's own cycle for days before it)."""
        steps = max(0, (Month.of(day).index - self.start.index) // self.months)
        return Cycle(self.start.plus(steps * self.months), self.months)


@dataclass(frozen=True)
class Coordinator:
    name: str
    contact: str


@dataclass(frozen=True)
class DataPlan:
    name: str
    source: Path
    region: Path
    cycle: Cycle
    agencies: dict[str, Agency]
    datasets: dict[str, Dataset]
    description: str = ""
    coordinator: Coordinator | None = None
    partnership_names: dict[str, str] = field(default_factory=dict)

    def datasets_of(self, agency: str) -> list[Dataset]:
        """Datasets an agency delivers, in plan order."""
        return [ds for ds in self.datasets.values() if agency in ds.agencies]

    def cycle_for(self, start: str | None) -> Cycle:
        """The plan's cycle, or the aligned cycle starting at ``start`` (``YYYY-MM``)."""
        return self.cycle if start is None else self.cycle.shifted(Month.parse(start))

    def partnership_label(self, code: str) -> str:
        name = self.partnership_names.get(code)
        return f"{name} ({code})" if name else code

    @property
    def default_landing(self) -> Path:
        return self.source.parent / "landing"


def load_plan(path: str | Path) -> DataPlan:
    """Read and validate a plan YAML; raise PlanError listing every problem, each with its key path."""
    shown_as = str(path)
    path = Path(path)
    if not path.is_file():
        raise PlanError([f"{shown_as}: plan file not found"])
    try:
        doc = safe_yaml(path.read_text(encoding="utf-8"))  # fuzzing fix: bounded alias expansion (see config)
    # Fuzzing fix: an impossible date such as 2021-13-45 makes PyYAML raise ValueError (UnicodeDecodeError is
    # one too), and deep nesting RecursionError; both escaped as crashes.
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise PlanError([f"{shown_as}: not valid YAML: {exc}"]) from exc
    problems = schema_problems(doc) + rule_problems(doc)
    names: dict[str, str] = {}
    region = None
    if isinstance(doc, dict) and isinstance(doc.get("region"), str) and doc["region"]:
        try:
            region = (path.resolve().parent / doc["region"]).resolve()
        except (OSError, ValueError) as exc:  # fuzzing fix: a NUL byte in the path raised ValueError
            problems.append(("region", f"{doc['region'][:80]!r} cannot be used as a path: {exc}"))
        else:
            region_problems, names = _check_region(region, doc)
            problems += region_problems
    if problems:
        ordered = sorted(dict.fromkeys(problems), key=lambda problem: problem[0])
        raise PlanError([f"{shown_as}: {where}: {message}" for where, message in ordered])
    assert region is not None
    return _build(doc, path.resolve(), region, names)


def _check_region(region: Path, doc: dict[str, Any]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Every served partnership must belong to the region the plan serves; a typo would drop a partnership."""
    from csp_audit.config import RegionConfigError, load_region
    from csp_audit.geography import GeographyError, read_partnership_lookup, select_partnerships

    try:
        reg = load_region(region)
        lookup = read_partnership_lookup(reg.partnership_lookup)
        codes = select_partnerships(
            lookup,
            police_force_areas=list(reg.police_force_areas) or None,
            codes=list(reg.partnership_codes) or None,
        )
    except (RegionConfigError, GeographyError, OSError) as exc:
        return [("region", f"the region cannot be used: {exc}")], {}
    frame = lookup.frame.drop_duplicates("csp_code")
    names = {c: n for c, n in zip(frame["csp_code"], frame["csp_name"], strict=True) if c in set(codes)}
    problems = []
    agencies = doc.get("agencies") if isinstance(doc.get("agencies"), dict) else {}
    for agency_id, agency in agencies.items():
        serves = agency.get("serves") if isinstance(agency, dict) else None
        for i, code in enumerate(serves if isinstance(serves, list) else []):
            if isinstance(code, str) and CSP_CODE.match(code) and code not in names:
                problems.append(
                    (
                        f"agencies.{agency_id}.serves[{i}]",
                        f"{code} is not a partnership of region {reg.name!r} ({', '.join(codes)})",
                    )
                )
    return problems, names


def _geography(doc: dict[str, Any]) -> Geography:
    fallback = doc.get("fallback")
    return Geography(
        doc["type"], doc.get("vintage"), doc.get("column"), _geography(fallback) if fallback else None
    )


def _build(doc: dict[str, Any], source: Path, region: Path, names: dict[str, str]) -> DataPlan:
    """Turn a validated document into objects; only called when there are no problems left."""
    agencies = {
        key: Agency(key, a["name"], a["type"], a["contact"], tuple(a["serves"]))
        for key, a in doc["agencies"].items()
    }
    datasets = {}
    for key, d in doc["datasets"].items():
        sharing = d["sharing"]
        datasets[key] = Dataset(
            id=key,
            agencies=tuple([d["agency"]] if isinstance(d["agency"], str) else d["agency"]),
            description=d["description"],
            format=d["format"],
            columns=tuple(
                Column(c["name"], c["type"], c.get("required", True), c.get("description", ""))
                for c in d["columns"]
            ),
            geography=_geography(d["geography"]),
            time_grain=d["time_grain"],
            cadence=d["cadence"],
            due_day=d["due_day"],
            partnerships=None if d["partnerships"] == "all" else tuple(d["partnerships"]),
            sharing=Sharing(
                level=sharing["level"],
                min_cell_size=sharing.get("min_cell_size"),
                pseudonymise=tuple(sharing.get("pseudonymise", ())),
                retention_months=sharing.get("retention_months"),
                rounding=sharing.get("rounding", "none"),
            ),
            landing=d.get("landing", {}).get("path", DEFAULT_LANDING),
            expectations=tuple(d.get("expectations") or ()),
        )
    coordinator = doc.get("coordinator")
    return DataPlan(
        name=doc["name"],
        source=source,
        region=region,
        cycle=Cycle(Month.parse(doc["cycle"]["start"]), doc["cycle"]["months"]),
        agencies=agencies,
        datasets=datasets,
        description=doc.get("description", ""),
        coordinator=Coordinator(coordinator["name"], coordinator["contact"]) if coordinator else None,
        partnership_names=names,
    )
