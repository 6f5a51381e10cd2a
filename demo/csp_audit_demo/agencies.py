"""Deterministic demo deliveries of every agency dataset of the demo plan, with realistic defects.

The demo region (:mod:`csp_audit_demo.region`) only has police.uk files; a crime and disorder audit also
draws on fire and rescue, emergency departments, councils, youth justice, probation (caseload and proven
reoffending), housing providers, drug and alcohol treatment, the police forces' domestic abuse counts and a
public survey, so the strategic assessment's statutory content (crime, disorder, substance misuse,
reoffending) and domestic abuse are all covered. This module writes one delivery per agency, dataset and period of the demo plan
(``plan.yaml``, :func:`csp_audit_demo.plan.write_demo_plan`) into the plan's landing folders, in the
formats the plan agreed and with the awkward parts of real partner data:

- geographies that do not nest in LSOAs: fire data on *2015* wards (fictional ``E0598....`` codes whose
  boundaries differ from the 2019 ones: split, merged, moved and straddling LSOAs) and ED and survey data on
  postcode districts (``NS1``.., ``SM1``..), with the apportionment lookups that spread them over LSOAs
  (``lookups/WD15_LSOA11_weights.csv``, ``lookups/PCDS_LSOA11_address_weights.csv``), registered in
  ``region.yaml`` under ``geography.apportionment``;
- counts below the sharing terms' ``min_cell_size`` (agencies forget to suppress them);
- one planted instance of each defect a pipeline must catch, listed in ``landing/_defects.json`` (a list of
  ``{dataset, agency, period, file, defect, detail}``, ``file`` relative to the landing folder):
  ``wrong_vintage_area_code`` (fire), ``arrival_before_incident`` and ``future_date`` (ED),
  ``redelivery`` (a corrected ``..._v2.csv`` of that ED file), ``missing_period`` and ``duplicate_rows``
  (council ASB), ``malformed_header`` (housing) and ``late_delivery`` (probation). Every defect is planted
  in the first twelve generated months so that a one-year demo has them all.

File modification times are the delivery times the arrival board reads: a few days before the due date,
computed from the period (never from the clock), except the late file (after its due date) and the
re-delivery (a day after the file it replaces).

Volumes follow the region's own police files where they exist (violence for ED attendances, anti-social
behaviour for council, housing and survey data, criminal damage and arson for deliberate fires), so partner
data and police data tell a consistent story. ``scale`` multiplies the crime-like volumes; survey sample
sizes do not scale.

Determinism: every draw comes from ``numpy.random.default_rng`` seeded with ``seed`` plus a fixed tag per
purpose (geography) or per dataset, agency and period, so the same arguments give byte-identical files and
a period's data do not depend on how many months are generated.
"""

from __future__ import annotations

import calendar
import csv
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from csp_audit.plan import DataPlan, Dataset, load_plan
from csp_audit.plan.periods import CADENCE_MONTHS, MONTH_RE, Month, Period, periods

from csp_audit_demo.region import LSOA_LOOKUP_PATH, PARTNERSHIP_LOOKUP_PATH, POLICE_DIR, POPULATION_PATH

WD15_LOOKUP_PATH = "lookups/WD15_LSOA11_weights.csv"
PCDS_LOOKUP_PATH = "lookups/PCDS_LSOA11_address_weights.csv"
DEFECTS_FILE = "_defects.json"
LANDING_DIR = "landing"
APPORTIONMENT: tuple[dict[str, Any], ...] = (
    {"area_type": "ward", "vintage": 2015, "lookup": WD15_LOOKUP_PATH, "weight": "population"},
    {"area_type": "postcode_district", "lookup": PCDS_LOOKUP_PATH, "weight": "addresses"},
)
WD15_FIRST = 980001  # E05980001.. : fictional 2015 ward codes, apart from the 2019 ones (E05990001..)
DEFECT_MONTHS = 12  # every defect is planted in the first year, so a one-year demo shows them all

# ------------------------------------------------------------------------------------------ vocabularies

# (fire_category, property_type, fires per 1000 residents a year, seasonal amplitude, peak month)
FIRE_TYPES: tuple[tuple[str, str, float, float, int], ...] = (
    ("deliberate primary", "dwelling", 0.16, 0.10, 11),
    ("deliberate primary", "vehicle", 0.30, 0.15, 11),
    ("deliberate primary", "other building", 0.10, 0.10, 11),
    ("deliberate secondary", "refuse", 0.95, 0.35, 5),
    ("deliberate secondary", "grassland", 0.45, 0.80, 4),
    ("deliberate secondary", "derelict building", 0.08, 0.20, 5),
    ("deliberate secondary", "derelict vehicle", 0.06, 0.20, 5),
    ("deliberate secondary", "other outdoor", 0.12, 0.30, 5),
)

ED_LOCATIONS: tuple[str, ...] = ("street", "pub or bar", "nightclub", "home", "workplace", "school", "other")
_LOC_NIGHT = np.array([0.36, 0.22, 0.14, 0.17, 0.02, 0.00, 0.09])
_LOC_DAY = np.array([0.30, 0.06, 0.00, 0.34, 0.12, 0.06, 0.12])
ED_MEANS: tuple[str, ...] = (
    "body part (fist, feet)",
    "blunt object",
    "bottle or glass",
    "knife or sharp object",
    "firearm",
    "other",
)
_MEANS_VENUE = np.array([0.56, 0.05, 0.22, 0.07, 0.002, 0.098])
_MEANS_OTHER = np.array([0.63, 0.09, 0.04, 0.12, 0.005, 0.115])
# Relative assault risk by hour of day (0-23): evenings and the small hours; town centres far more so.
_HOURS = np.array(
    [3.0, 2.6, 2.0, 1.2, 0.7, 0.4, 0.4, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5, 1.6, 1.7, 1.9, 2.1, 2.3, 2.4, 2.6,
     2.9, 3.2, 3.5, 3.4]
)  # fmt: skip
_NTE_BOOST = np.array([3.0, 3.0, 3.0, 2.0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2.0, 3.0, 3.0])
_WEEKDAY = np.array([0.80, 0.75, 0.80, 0.90, 1.25, 1.60, 1.30])  # Monday .. Sunday
STREETS: tuple[str, ...] = (
    "High Street", "Church Street", "Station Road", "Mill Lane", "Market Place", "Victoria Road",
    "Park Avenue", "Chapel Row", "Bridge Street", "Queen Street", "King's Road", "The Crescent", "Moor Lane",
    "Westgate", "Northgate", "Cross Street", "Albion Terrace", "Kirk Gate", "Low Road", "Ropewalk",
)  # fmt: skip
PUBS: tuple[str, ...] = (
    "The Red Lion", "The Crown", "The Black Bull", "The Station Hotel", "The King's Arms", "The White Hart",
    "The Plough", "The Golden Fleece", "The Ship", "The Woolpack", "The George", "The Bay Horse",
)  # fmt: skip
CLUBS: tuple[str, ...] = ("Pulse", "Vault", "The Warehouse", "Loft 21", "Electric Rooms", "Neon")

ASB_CATEGORIES: dict[str, float] = {
    "noise": 0.30,
    "nuisance neighbours": 0.20,
    "rowdy behaviour": 0.18,
    "drug-related": 0.09,
    "street drinking": 0.07,
    "abandoned vehicle": 0.06,
    "graffiti": 0.06,
    "": 0.04,  # uncategorised: the category column is optional
}
FLY_TIPPING_CATEGORIES: dict[str, float] = {
    "black bags": 0.28,
    "other household waste": 0.24,
    "white goods": 0.08,
    "construction waste": 0.10,
    "green waste": 0.12,
    "tyres": 0.05,
    "other": 0.13,
}
OFFENCE_GROUPS: dict[str, float] = {
    "violence": 0.32,
    "acquisitive": 0.26,
    "drugs": 0.14,
    "sexual": 0.08,
    "other": 0.20,
}
AGE_BANDS: dict[str, float] = {"10-14": 0.3, "15-17": 0.7}
# NDTMS substance groups: (share of new presentations, adults in treatment in a quarter per new presentation).
# Opiate clients stay in treatment for years, so they are half the caseload but a fifth of new presentations.
SUBSTANCE_GROUPS: dict[str, tuple[float, float]] = {
    "opiate": (0.20, 15.0),
    "non-opiate": (0.22, 4.5),
    "alcohol": (0.42, 4.0),
    "alcohol and non-opiate": (0.16, 3.5),
}
NEW_PRESENTATIONS_PER_1000 = 2.3  # adults starting treatment per 1,000 residents a year (England ~130,000)
# MoJ proven reoffending cohorts: (offenders per 1,000 residents a year, reoffending rate, reoffences per reoffender)
REOFFENDING_COHORTS: dict[str, tuple[float, float, float]] = {
    "adult": (7.0, 0.25, 3.9),
    "juvenile": (0.2, 0.35, 3.6),
}
DOMESTIC_ABUSE_PER_1000 = 18.0  # police-recorded DA incidents and crimes per 1,000 residents a year
DA_RECORD_TYPES: dict[str, float] = {"crime": 0.6, "incident": 0.4}
DA_REPEAT_VICTIM: dict[str, float] = {"yes": 0.38, "no": 0.62}
HOUSING_CATEGORIES: dict[str, float] = {
    "noise": 0.32,
    "harassment": 0.14,
    "verbal abuse": 0.12,
    "drugs": 0.10,
    "vandalism": 0.08,
    "pets and animals": 0.08,
    "garden nuisance": 0.06,
    "other": 0.10,
}
CONCERNS: dict[str, float] = {
    "anti-social behaviour": 0.18,
    "speeding traffic": 0.14,
    "drug dealing": 0.13,
    "burglary": 0.10,
    "fly-tipping": 0.08,
    "violence": 0.07,
    "vandalism": 0.07,
    "litter": 0.07,
    "knife crime": 0.06,
    "vehicle crime": 0.05,
    "street drinking": 0.05,
}
_AREA_CONCERNS = ("anti-social behaviour", "drug dealing", "street drinking")  # higher where ASB is high
SAFETY_SCALE: tuple[str, ...] = ("very safe", "fairly safe", "neither", "fairly unsafe", "very unsafe")
# Postcode district prefixes and counts of the demo forces; other forces get two letters of their name.
DISTRICTS: dict[str, tuple[str, int]] = {"Northshire": ("NS", 9), "Southmoor": ("SM", 6)}

# ------------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class _Region:
    """The region's LSOAs (rows 0..n-1 in code order) and the two apportionment geographies.

    ``lsoas`` columns: code, name, ward_code, ward_name, lad_code, lad_name, csp_code, pfa_name,
    population, violence, asb, arson (police weights, mean 1), nte (night-time economy LSOA).
    ``wd15_share`` is (2015 wards x LSOAs): the share of each LSOA's population in each 2015 ward.
    ``district_addresses`` is (LSOAs x postcode districts): addresses of each LSOA in each district.
    """

    lsoas: pd.DataFrame
    wd15: pd.DataFrame
    wd15_codes: np.ndarray
    wd15_names: np.ndarray
    wd15_share: np.ndarray
    wd15_to_wd19: dict[str, tuple[str, str]]
    pcds: pd.DataFrame
    district_codes: np.ndarray
    district_addresses: np.ndarray
    wards: (
        pd.DataFrame
    )  # per 2019 ward (index code): ward_name, lad_code, csp_code, population, asb, violence
    lads: pd.DataFrame  # per LAD (index code): lad_name, csp_code, population, asb

    def mask(self, partnerships: tuple[str, ...]) -> np.ndarray:
        return self.lsoas["csp_code"].isin(partnerships).to_numpy()


@dataclass(frozen=True)
class _Job:
    """One delivery to build: which dataset, agency and period, with its own random stream."""

    region: _Region
    plan: DataPlan
    dataset: Dataset
    agency: str
    period: Period
    rng: np.random.Generator
    scale: float
    seed: int

    @property
    def covers(self) -> tuple[str, ...]:
        """The partnerships this agency's delivery is for."""
        return self.dataset.covers(self.plan.agencies[self.agency])

    @property
    def served(self) -> np.ndarray:
        """Mask of the region's LSOAs in the partnerships this agency's delivery covers."""
        return self.region.mask(self.covers)


@dataclass
class _Delivery:
    """What the writer needs to know about one file: where, what, and when it 'arrived'."""

    dataset: Dataset
    agency: str
    period: Period
    frame: pd.DataFrame
    suffix: str = ""
    header: list[str] | None = None
    mtime: datetime | None = None


@dataclass
class _Output:
    landing: Path
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    defects: list[dict[str, str]] = field(default_factory=list)
    mtimes: dict[str, datetime] = field(default_factory=dict)

    def relpath(self, dataset: Dataset, agency: str, period: Period, suffix: str = "") -> str:
        name = f"{dataset.id}_{agency}_{period.key}{suffix}.csv"
        return f"{dataset.landing_folder(agency)}/{period.key}/{name}"

    def write(self, item: _Delivery) -> str:
        rel = self.relpath(item.dataset, item.agency, item.period, item.suffix)
        path = self.landing / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = [c.name for c in item.dataset.columns]
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            writer.writerow(item.header or columns)
            writer.writerows(zip(*(item.frame[c].tolist() for c in columns), strict=True))
        when = item.mtime or _on_time(self.seed, rel, item.period.due_date(item.dataset.due_day))
        stamp = when.timestamp()
        os.utime(path, (stamp, stamp))
        self.mtimes[rel] = when
        self.rows[item.dataset.id] = self.rows.get(item.dataset.id, 0) + len(item.frame)
        return rel

    def defect(self, item: _Delivery, rel: str, defect: str, detail: str) -> None:
        self.defects.append(
            {
                "dataset": item.dataset.id,
                "agency": item.agency,
                "period": item.period.key,
                "file": rel,
                "defect": defect,
                "detail": detail,
            }
        )


def _tag(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _rng(seed: int, *tags: str) -> np.random.Generator:
    """An independent, reproducible stream per purpose, so one part's draws never shift another's."""
    return np.random.default_rng(np.random.SeedSequence([seed, *(_tag(t) for t in tags)]))


def _on_time(seed: int, rel: str, due: date) -> datetime:
    """A delivery time 2-7 days before the due date, in working hours, fixed by the file's path."""
    rng = _rng(seed, "mtime", rel)
    days = int(rng.integers(2, 8))
    minutes = int(rng.integers(8 * 60, 17 * 60))
    return datetime(due.year, due.month, due.day) - timedelta(days=days) + timedelta(minutes=minutes)


# --------------------------------------------------------------------------------------------- public API


def generate_agency_deliveries(
    region_dir: Path,
    *,
    seed: int = 20260402,
    months: int = 36,
    start_month: str = "2021-04",
    scale: float = 1.0,
) -> dict[str, int]:
    """Write every dataset of region_dir/plan.yaml but police.uk into region_dir/landing/, plus the apportionment
    lookups, and return {dataset: rows written}.

    Periods are the plan's (quarters and years aligned on its cycle) across ``months`` months from
    ``start_month``, which must start one of the plan's cycles; only periods that end within those months
    are delivered. Rows written count every file, the re-delivered one included.
    """
    region_dir = Path(region_dir)
    if not MONTH_RE.match(str(start_month)):
        raise ValueError(f"start_month must look like YYYY-MM, got {start_month!r}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    plan = load_plan(region_dir / "plan.yaml")
    first = Month.parse(start_month)
    try:
        plan.cycle.shifted(first)
    except ValueError as exc:
        raise ValueError(f"start_month {start_month}: {exc}") from exc

    region = _build_region(region_dir, plan, seed)
    _write_lookups(region_dir, region)
    landing = region_dir / LANDING_DIR
    out = _Output(landing, seed)
    datasets = agency_datasets(plan)
    planned = planned_periods(datasets, first, months)
    targets = _choose_defects(seed, plan, planned, first)
    for ds in datasets:
        for agency in ds.agencies:
            _clear_previous(landing, ds, agency)
    write_deliveries(out, region, plan, datasets, planned, targets, scale)
    landing.mkdir(parents=True, exist_ok=True)
    (landing / DEFECTS_FILE).write_text(
        json.dumps(out.defects, indent=2, ensure_ascii=False) + "\n", encoding="utf-8", newline="\n"
    )
    add_apportionment(region_dir / "region.yaml")
    return dict(out.rows)


def agency_datasets(plan: DataPlan) -> list[Dataset]:
    """The plan's datasets this module generates, in plan order: every one but police.uk (whose files
    :mod:`csp_audit_demo.region` writes), the police forces' domestic abuse counts included."""
    datasets = [ds for ds in plan.datasets.values() if ds.id != "police_uk_street"]
    unknown = sorted(ds.id for ds in datasets if ds.id not in _BUILDERS)
    if unknown:
        raise ValueError(f"no demo generator for dataset(s) {', '.join(unknown)} of {plan.source}")
    return datasets


def planned_periods(datasets: list[Dataset], first: Month, months: int) -> dict[str, list[Period]]:
    """Per dataset, its periods across ``months`` months from ``first`` that have ended by the last one."""
    last = first.plus(months - 1)
    return {ds.id: _periods(ds, first, months, last) for ds in datasets}


def write_deliveries(
    out: _Output,
    region: _Region,
    plan: DataPlan,
    datasets: list[Dataset],
    planned: dict[str, list[Period]],
    targets: _Targets,
    scale: float,
) -> None:
    """Draw and write every delivery of these datasets by the plan's agencies, planting the targeted defects.

    Each (dataset, agency, period) draws from its own stream, so a delivery's rows do not depend on which
    other agencies or periods are generated beside it (the national benchmark writes one force at a time).
    """
    for ds in datasets:
        for agency in ds.agencies:
            for period in planned[ds.id]:
                rng = _rng(out.seed, ds.id, agency, period.key)
                frame = _BUILDERS[ds.id](_Job(region, plan, ds, agency, period, rng, scale, out.seed))
                _deliver(out, _Delivery(ds, agency, period, frame), targets, rng, region)
        out.rows.setdefault(ds.id, 0)


def _periods(ds: Dataset, first: Month, months: int, last: Month) -> list[Period]:
    """The dataset's periods from ``first`` that have ended by ``last``."""
    step = CADENCE_MONTHS[ds.cadence]
    span = -(-months // step) * step
    return [p for p in periods(first, span, ds.cadence) if p.end <= last]


def _clear_previous(landing: Path, ds: Dataset, agency: str) -> None:
    """Remove files an earlier run wrote for this dataset and agency, so a rerun leaves no stale periods."""
    folder = landing / ds.landing_folder(agency)
    if not folder.is_dir():
        return
    pattern = re.compile(rf"^{re.escape(ds.id)}_{re.escape(agency)}_\d{{4}}-\d{{2}}(_v\d+)?\.csv$")
    for period_dir in folder.iterdir():
        if period_dir.is_dir() and MONTH_RE.match(period_dir.name):
            for path in period_dir.iterdir():
                if path.is_file() and pattern.match(path.name):
                    path.unlink()
            if not any(period_dir.iterdir()):
                period_dir.rmdir()


# ------------------------------------------------------------------------------------------------ region


def _region_partnerships(plan: DataPlan) -> set[str]:
    return set(plan.partnership_names) or {c for a in plan.agencies.values() for c in a.serves}


POLICE_KINDS = {
    "violence": "Violence and sexual offences",
    "asb": "Anti-social behaviour",
    "arson": "Criminal damage and arson",
}


def police_counts(region_dir: Path) -> dict[str, pd.Series] | None:
    """Rows per LSOA code of each kind in POLICE_KINDS, over every police file of the region (None: no files)."""
    doc = yaml.safe_load((region_dir / "region.yaml").read_text(encoding="utf-8")) or {}
    police = (doc.get("sources") or {}).get("police_uk") or f"{POLICE_DIR}/"
    files = sorted((region_dir / police).glob("*/*-street.csv"))
    if not files:
        return None
    frame = pd.concat(
        [pd.read_csv(f, usecols=["LSOA code", "Crime type"], dtype=str) for f in files], ignore_index=True
    )
    return {
        key: frame.loc[frame["Crime type"] == crime_type, "LSOA code"].value_counts()
        for key, crime_type in POLICE_KINDS.items()
    }


def _police_weights(counts: dict[str, pd.Series] | None, codes: pd.Index) -> dict[str, np.ndarray]:
    """Per-LSOA weights (mean 1) from police rows per LSOA: violence, ASB, criminal damage and arson."""
    if counts is None:
        return {key: np.ones(len(codes)) for key in POLICE_KINDS}
    out = {}
    for key in POLICE_KINDS:
        weight = counts[key].reindex(codes, fill_value=0).to_numpy(dtype=float) + 1.0
        out[key] = weight / weight.mean()
    return out


def region_frame(region_dir: Path) -> pd.DataFrame:
    """Every LSOA of the region's lookups with its ward, district, partnership, force and population."""
    lookup = pd.read_csv(region_dir / LSOA_LOOKUP_PATH, dtype=str, encoding="utf-8-sig")
    parts = pd.read_csv(region_dir / PARTNERSHIP_LOOKUP_PATH, dtype=str, encoding="utf-8-sig")
    population = pd.read_csv(region_dir / POPULATION_PATH, dtype={"LSOA11CD": str}, encoding="utf-8-sig")
    frame = lookup.merge(parts[["LAD19CD", "CSP19CD", "PFA19NM"]], on="LAD19CD", how="inner")
    return frame.merge(population[["LSOA11CD", "population"]], on="LSOA11CD", how="inner")


def _build_region(region_dir: Path, plan: DataPlan, seed: int) -> _Region:
    frame = region_frame(region_dir)
    return build_region(
        frame, _region_partnerships(plan), police_counts(region_dir), seed, label=str(region_dir)
    )


def build_region(
    frame: pd.DataFrame,
    partnerships: set[str],
    counts: dict[str, pd.Series] | None,
    seed: int,
    *,
    label: str = "",
    wd15_first: int = WD15_FIRST,
    districts: dict[str, tuple[str, int]] | None = None,
    stream: tuple[str, ...] = (),
) -> _Region:
    """The model of the LSOAs of ``partnerships`` (a :func:`region_frame`), police weights from ``counts``.

    The national benchmark builds one per force: ``wd15_first`` numbers its 2015 wards after the previous
    forces', ``districts`` names its postcode districts and ``stream`` gives its geography its own draws.
    """
    frame = frame[frame["CSP19CD"].isin(partnerships)]
    frame = frame.sort_values("LSOA11CD", ignore_index=True)
    lsoas = pd.DataFrame(
        {
            "code": frame["LSOA11CD"].to_numpy(dtype=object),
            "name": frame["LSOA11NM"].to_numpy(dtype=object),
            "ward_code": frame["WD19CD"].to_numpy(dtype=object),
            "ward_name": frame["WD19NM"].to_numpy(dtype=object),
            "lad_code": frame["LAD19CD"].to_numpy(dtype=object),
            "lad_name": frame["LAD19NM"].to_numpy(dtype=object),
            "csp_code": frame["CSP19CD"].to_numpy(dtype=object),
            "pfa_name": frame["PFA19NM"].to_numpy(dtype=object),
            "population": frame["population"].to_numpy(dtype=np.int64),
        }
    )
    if lsoas.empty:
        raise ValueError(f"{label}: no LSOA of the plan's partnerships in the region's lookups")
    for key, weight in _police_weights(counts, pd.Index(lsoas["code"])).items():
        lsoas[key] = weight
    lsoas["nte"] = lsoas["violence"] >= np.quantile(lsoas["violence"], 0.9)
    wd15, wd15_to_wd19 = _build_wd15(lsoas, _rng(seed, "geography", "wd15", *stream), wd15_first)
    pcds = _build_pcds(lsoas, _rng(seed, "geography", "pcds", *stream), districts or DISTRICTS)

    index = pd.Series(np.arange(len(lsoas)), index=lsoas["code"])
    codes, unit = np.unique(wd15["WD15CD"].to_numpy(dtype=str), return_inverse=True)
    names = wd15.drop_duplicates("WD15CD").set_index("WD15CD").loc[codes, "WD15NM"].to_numpy(dtype=object)
    share = np.zeros((len(codes), len(lsoas)))
    li = index.loc[wd15["LSOA11CD"]].to_numpy()
    share[unit, li] = wd15["population"].to_numpy() / lsoas["population"].to_numpy()[li]
    districts = sorted(pcds["PCDS"].unique(), key=lambda d: (re.sub(r"\d", "", d), int(re.sub(r"\D", "", d))))
    col = pd.Series(np.arange(len(districts)), index=districts)
    addresses = np.zeros((len(lsoas), len(districts)))
    addresses[index.loc[pcds["LSOA11CD"]].to_numpy(), col.loc[pcds["PCDS"]].to_numpy()] = pcds["addresses"]
    return _Region(
        lsoas=lsoas,
        wd15=wd15,
        wd15_codes=codes.astype(object),
        wd15_names=names,
        wd15_share=share,
        wd15_to_wd19=wd15_to_wd19,
        pcds=pcds,
        district_codes=np.array(districts, dtype=object),
        district_addresses=addresses,
        wards=lsoas.groupby("ward_code", sort=True).agg(
            ward_name=("ward_name", "first"),
            lad_code=("lad_code", "first"),
            csp_code=("csp_code", "first"),
            population=("population", "sum"),
            asb=("asb", "sum"),
            violence=("violence", "mean"),
        ),
        lads=lsoas.groupby("lad_code", sort=True).agg(
            lad_name=("lad_name", "first"),
            csp_code=("csp_code", "first"),
            population=("population", "sum"),
            asb=("asb", "mean"),
        ),
    )


def _build_wd15(
    lsoas: pd.DataFrame, rng: np.random.Generator, first: int = WD15_FIRST
) -> tuple[pd.DataFrame, dict[str, tuple[str, str]]]:
    """Invent 2015 wards from the 2019 ones at LSOA level, with the boundary changes real reviews make.

    Per district: one 2015 ward later split into two 2019 wards, one 2019 ward made by merging two 2015
    wards, some LSOAs moved to the neighbouring ward, and a few LSOAs straddling two 2015 wards (their
    population split). Returns the lookup rows (WD15CD, WD15NM, LSOA11CD, population) and, per 2015 ward,
    the 2019 ward of its first LSOA (used to plant codes of the wrong vintage).
    """
    units: list[tuple[str, list[int], str]] = []  # (name, LSOA rows, LAD)
    for lad in pd.unique(lsoas["lad_code"]):
        sub = lsoas[lsoas["lad_code"] == lad]
        wards = [
            (str(group["ward_name"].iloc[0]), list(group.index))
            for _, group in sorted(sub.groupby("ward_code"), key=lambda item: item[0])
        ]
        n = len(wards)
        join = int(rng.integers(0, n - 1)) if n >= 3 else -1
        splittable = [i for i in range(n) if i not in (join, join + 1) and len(wards[i][1]) >= 2]
        split = splittable[int(rng.integers(0, len(splittable)))] if splittable else -1
        mine: list[tuple[str, list[int]]] = []
        i = 0
        while i < n:
            name, rows = wards[i]
            if i == join:
                mine.append((f"{name} and {wards[i + 1][0]}", rows + wards[i + 1][1]))
                i += 2
                continue
            if i == split:
                half = (len(rows) + 1) // 2
                mine += [(f"{name} North", rows[:half]), (f"{name} South", rows[half:])]
            else:
                mine.append((name, list(rows)))
            i += 1
        moves = rng.random(len(mine))
        for k in range(len(mine) - 1):
            if moves[k] < 0.35 and len(mine[k][1]) >= 2:
                mine[k + 1][1].insert(0, mine[k][1].pop())
        units += [(name, rows, str(lad)) for name, rows in mine]

    codes = [f"E05{first + k:06d}" for k in range(len(units))]
    home = np.empty(len(lsoas), dtype=np.int64)
    for k, (_, rows, _) in enumerate(units):
        home[rows] = k
    lad_of = np.array([lad for _, _, lad in units], dtype=object)
    size = np.array([len(rows) for _, rows, _ in units])
    # Straddling LSOAs: not the only LSOA of their ward, with a neighbouring 2015 ward in the same district.
    neighbour = np.where(
        (home + 1 < len(units)) & (lad_of[np.minimum(home + 1, len(units) - 1)] == lad_of[home]),
        home + 1,
        home - 1,
    )
    ok = (size[home] >= 2) & (neighbour >= 0) & (lad_of[np.maximum(neighbour, 0)] == lad_of[home])
    draw = rng.random(len(lsoas))
    straddle = ok & (draw < 0.07)
    if straddle.sum() < 2:
        straddle[np.flatnonzero(ok)[np.argsort(draw[ok])][:2]] = True
    share = rng.uniform(0.6, 0.92, size=len(lsoas))
    pop = lsoas["population"].to_numpy()
    first_part = np.where(straddle, np.clip(np.rint(pop * share), 1, pop - 1), pop).astype(np.int64)
    rows_home = pd.DataFrame({"unit": home, "lsoa": np.arange(len(lsoas)), "population": first_part})
    s = np.flatnonzero(straddle)
    rows_other = pd.DataFrame({"unit": neighbour[s], "lsoa": s, "population": pop[s] - first_part[s]})
    both = pd.concat([rows_home, rows_other], ignore_index=True).sort_values(
        ["unit", "lsoa"], ignore_index=True
    )
    names = np.array([name for name, _, _ in units], dtype=object)
    wd15 = pd.DataFrame(
        {
            "WD15CD": np.array(codes, dtype=object)[both["unit"].to_numpy()],
            "WD15NM": names[both["unit"].to_numpy()],
            "LSOA11CD": lsoas["code"].to_numpy()[both["lsoa"].to_numpy()],
            "population": both["population"].to_numpy(),
        }
    )
    to_wd19 = {
        codes[k]: (str(lsoas["ward_code"].iloc[min(rows)]), str(lsoas["ward_name"].iloc[min(rows)]))
        for k, (_, rows, _) in enumerate(units)
    }
    return wd15, to_wd19


def _build_pcds(
    lsoas: pd.DataFrame, rng: np.random.Generator, districts: dict[str, tuple[str, int]] = DISTRICTS
) -> pd.DataFrame:
    """Postcode districts per force as contiguous runs of LSOAs; LSOAs at a run's edge may straddle two.

    ``districts`` gives a force's prefix and number of districts; other forces get two letters of their name
    and one district per 7.5 LSOAs."""
    frames = []
    for force in sorted(pd.unique(lsoas["pfa_name"])):
        sub = lsoas[lsoas["pfa_name"] == force].sort_values(["lad_code", "ward_code", "code"])
        prefix, count = districts.get(str(force), (str(force)[:2].upper(), max(1, round(len(sub) / 7.5))))
        count = max(1, min(count, len(sub)))
        rows = sub.index.to_numpy()
        block = np.repeat(np.arange(count), [len(b) for b in np.array_split(rows, count)])
        households = rng.uniform(2.1, 2.5, size=len(rows))
        addresses = np.maximum(np.rint(sub["population"].to_numpy() / households), 2).astype(np.int64)
        edge = np.flatnonzero(np.diff(block) > 0)  # last LSOA of each district but the last
        straddle = edge[rng.random(edge.size) < 0.6]
        moved = np.zeros(len(rows), dtype=np.int64)
        moved[straddle] = np.clip(
            np.rint(addresses[straddle] * rng.uniform(0.1, 0.45, size=straddle.size)), 1, None
        )
        district = np.array([f"{prefix}{b + 1}" for b in block], dtype=object)
        main = pd.DataFrame({"PCDS": district, "lsoa": rows, "addresses": addresses - moved})
        extra = pd.DataFrame(
            {"PCDS": district[straddle + 1], "lsoa": rows[straddle], "addresses": moved[straddle]}
        )
        frames += [main, extra]
    both = pd.concat(frames, ignore_index=True)
    both["LSOA11CD"] = lsoas["code"].to_numpy()[both["lsoa"].to_numpy()]
    both["order"] = both["PCDS"].str.extract(r"^(\D+)", expand=False) + both["PCDS"].str.extract(
        r"(\d+)$", expand=False
    ).str.zfill(3)
    both = both.sort_values(["order", "LSOA11CD"], ignore_index=True)
    return both[["PCDS", "LSOA11CD", "addresses"]]


def _write_lookups(region_dir: Path, region: _Region) -> None:
    write_apportionment_lookups(region_dir, region.wd15, region.pcds)


def write_apportionment_lookups(region_dir: Path, wd15: pd.DataFrame, pcds: pd.DataFrame) -> None:
    """The 2015-ward and postcode-district lookups (rows of :class:`_Region`'s ``wd15`` and ``pcds``)."""
    for frame, rel in ((wd15, WD15_LOOKUP_PATH), (pcds, PCDS_LOOKUP_PATH)):
        path = region_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


class _Inline(dict):  # type: ignore[type-arg]
    """A mapping written on one line, ``{area_type: ward, ...}``, as region.yaml documents them."""


class _RegionDumper(yaml.SafeDumper):
    """Block mappings, one-line lists of codes and indented lists, like the hand-written region.yaml."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    scalars = all(not isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=scalars)


_RegionDumper.add_representer(
    dict, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=False)
)
_RegionDumper.add_representer(
    _Inline, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_RegionDumper.add_representer(list, _represent_list)


def add_apportionment(region_file: Path) -> None:
    """Register the apportionment lookups under ``geography`` in region.yaml, keeping every other key (and
    its place); a rerun replaces the list rather than adding to it."""
    doc = yaml.safe_load(region_file.read_text(encoding="utf-8"))
    doc["geography"]["apportionment"] = [_Inline(entry) for entry in APPORTIONMENT]
    text = yaml.dump(doc, Dumper=_RegionDumper, sort_keys=False, allow_unicode=True, width=110)
    region_file.write_text(text, encoding="utf-8", newline="\n")


# ----------------------------------------------------------------------------------------------- helpers


def _season(month: Month, amplitude: float, peak: int) -> float:
    return float(1.0 + amplitude * np.cos(2 * np.pi * (month.month - peak) / 12))


def _months(period: Period) -> list[Month]:
    return [period.start.plus(i) for i in range(period.end.index - period.start.index + 1)]


def _choose_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category per row from per-row probabilities (rows of ``probs`` sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def _cells(counts: np.ndarray, columns: dict[str, tuple[int, np.ndarray]], count_name: str) -> pd.DataFrame:
    """The non-zero cells of an n-dimensional count array as rows, in axis order.

    ``columns`` maps each output column to (axis, labels along that axis); the count goes last.
    """
    where = np.nonzero(counts)
    data = {name: np.asarray(labels, dtype=object)[where[axis]] for name, (axis, labels) in columns.items()}
    data[count_name] = counts[where].astype(np.int64)
    return pd.DataFrame(data)


def _lad_of_council(region: _Region, plan: DataPlan, agency: str) -> str:
    """The LAD a council's team covers: the one whose name the agency is named after."""
    name = plan.agencies[agency].name
    for code, lad_name in zip(region.lads.index, region.lads["lad_name"], strict=True):
        slug = re.sub(r"[^a-z0-9]+", "_", str(lad_name).lower()).strip("_")
        if agency == f"{slug}_council" or name.startswith(f"{lad_name} Council"):
            return str(code)
    raise ValueError(f"agency {agency!r} ({name}) matches no local authority district of the region")


def _patient_prefix(name: str) -> str:
    """``Kestlebury General Hospital Emergency Department`` -> ``KGH``."""
    words = name.split(" Emergency Department")[0].split()
    return "".join(w[0] for w in words if w[:1].isupper())[:4] or "ED"


# ---------------------------------------------------------------------------------------------- builders


def _fire(job: _Job) -> pd.DataFrame:
    """Deliberate fires by month x 2015 ward x property type, only the non-zero cells."""
    region, rng, scale = job.region, job.rng, job.scale
    served = job.served
    lsoas = region.lsoas
    base = region.wd15_share[:, served] @ (
        lsoas["population"].to_numpy()[served] / 1000 * lsoas["arson"].to_numpy()[served]
    )
    keep = region.wd15_share[:, served].sum(axis=1) > 0
    months = _months(job.period)
    factor = np.array(
        [[rate * _season(m, amp, peak) / 12 for _, _, rate, amp, peak in FIRE_TYPES] for m in months]
    )
    lam = factor[:, None, :] * base[keep][None, :, None] * scale
    counts = rng.poisson(lam)
    columns = {
        "month": (0, [str(m) for m in months]),
        "ward_code": (1, region.wd15_codes[keep]),
        "ward_name": (1, region.wd15_names[keep]),
        "fire_category": (2, [t[0] for t in FIRE_TYPES]),
        "property_type": (2, [t[1] for t in FIRE_TYPES]),
    }
    return _cells(counts, columns, "incidents")


def _ed(job: _Job) -> pd.DataFrame:
    """ISTV records: assaults in the catchment, night-time economy heavy, most arriving within hours."""
    region, plan, ds, agency, rng, scale = job.region, job.plan, job.dataset, job.agency, job.rng, job.scale
    lsoas = region.lsoas
    covers = {a: set(ds.covers(plan.agencies[a])) for a in ds.agencies}
    csp = lsoas["csp_code"].to_numpy()
    eds_per_lsoa = np.array([sum(c in cov for cov in covers.values()) for c in csp])
    mine = np.array([c in covers[agency] for c in csp])
    month = job.period.start
    lam = np.where(mine, 4.0 / 12 * lsoas["violence"].to_numpy() / np.maximum(eds_per_lsoa, 1), 0.0)
    lam = lam * _season(month, 0.15, 7) * scale
    lsoa = np.repeat(np.arange(len(lsoas)), rng.poisson(lam))
    n = lsoa.size
    nte = lsoas["nte"].to_numpy()[lsoa]

    days = calendar.monthrange(month.year, month.month)[1]
    weekday = (np.arange(days) + date(month.year, month.month, 1).weekday()) % 7
    p_day = _WEEKDAY[weekday] / _WEEKDAY[weekday].sum()
    day = rng.choice(days, size=n, p=p_day)
    hour_general = rng.choice(24, size=n, p=_HOURS / _HOURS.sum())
    boosted = _HOURS * _NTE_BOOST
    hour_nte = rng.choice(24, size=n, p=boosted / boosted.sum())
    hour = np.where(nte, hour_nte, hour_general)
    minute = np.where(rng.random(n) < 0.7, rng.integers(0, 12, size=n) * 5, rng.integers(0, 60, size=n))
    start = np.datetime64(f"{month}-01T00:00", "m")
    incident = start + (day * 1440 + hour * 60 + minute).astype("timedelta64[m]")
    delay = np.rint(rng.lognormal(np.log(70), 0.8, size=n)).astype(np.int64) + 10
    delay += np.where(rng.random(n) < 0.05, rng.integers(480, 1800, size=n), 0)
    arrival = incident + delay.astype("timedelta64[m]")

    night = (hour >= 21) | (hour < 4)
    loc_p = np.where(night[:, None], _LOC_NIGHT, _LOC_DAY)
    loc_p[~nte, 2] = 0.0  # nightclubs only in town centres
    location = _choose_rows(rng, loc_p)
    venue = (location == 1) | (location == 2)
    means = _choose_rows(rng, np.where(venue[:, None], _MEANS_VENUE, _MEANS_OTHER))
    named = rng.random(n)
    pub_p = 1.0 / np.arange(1, len(PUBS) + 1)
    names = np.full(n, "", dtype=object)
    street = (location == 0) & (named < 0.8)
    names[street] = np.array(STREETS, dtype=object)[rng.integers(0, len(STREETS), size=int(street.sum()))]
    pub = (location == 1) & (named < 0.85)
    names[pub] = np.array(PUBS, dtype=object)[
        rng.choice(len(PUBS), size=int(pub.sum()), p=pub_p / pub_p.sum())
    ]
    club = (location == 2) & (named < 0.9)
    names[club] = np.array(CLUBS, dtype=object)[rng.integers(0, len(CLUBS), size=int(club.sum()))]

    catchment = np.flatnonzero(mine)
    pop = lsoas["population"].to_numpy()[catchment]
    elsewhere = catchment[rng.choice(catchment.size, size=n, p=pop / pop.sum())] if catchment.size else lsoa
    home = np.where(rng.random(n) < 0.65, lsoa, elsewhere)
    district = (
        region.district_codes[_choose_rows(rng, region.district_addresses[home])] if n else np.array([])
    )
    district = np.where(rng.random(n) < 0.04, "", district)
    known_time = rng.random(n) >= 0.12
    ids = rng.integers(100000, 1000000, size=n)
    # where the assault happened, coded to an LSOA by the department's analyst; not every record has it
    coded = rng.random(n) >= 0.06
    incident_lsoa = np.where(coded, lsoas["code"].to_numpy(dtype=object)[lsoa], "") if n else np.array([])

    stamp = np.datetime_as_string(incident, unit="m")
    frame = pd.DataFrame(
        {
            "patient_id": np.char.add(_patient_prefix(plan.agencies[agency].name), ids.astype("U6")).astype(
                object
            ),
            "incident_date": stamp.astype("U10").astype(object),
            "incident_time": np.where(
                known_time, pd.Series(stamp).str.slice(11, 16).to_numpy(dtype=object), ""
            ),
            "arrival_datetime": np.char.add(np.datetime_as_string(arrival, unit="m"), ":00").astype(object),
            "incident_location": np.array(ED_LOCATIONS, dtype=object)[location],
            "incident_location_name": names,
            "incident_lsoa_code": incident_lsoa.astype(object),
            "means_of_assault": np.array(ED_MEANS, dtype=object)[means],
            "patient_postcode_district": district.astype(object),
        }
    )
    return frame.iloc[np.argsort(arrival, kind="stable")].reset_index(drop=True)


def _la_asb(job: _Job) -> pd.DataFrame:
    """Council ASB and fly-tipping reports by month x 2019 ward x category, only the non-zero cells."""
    region, rng, scale = job.region, job.rng, job.scale
    lad = _lad_of_council(region, job.plan, job.agency)
    wards = region.wards[region.wards["lad_code"].to_numpy() == lad]
    month = job.period.start
    cells = [("anti-social behaviour", c, s) for c, s in ASB_CATEGORIES.items()]
    cells += [("fly-tipping", c, s) for c, s in FLY_TIPPING_CATEGORIES.items()]
    is_asb = np.array([t == "anti-social behaviour" for t, _, _ in cells])
    share = np.array([s for _, _, s in cells])
    asb = wards["asb"].to_numpy() * 2.5 * _season(month, 0.12, 7)
    fly = wards["population"].to_numpy() / 1000 * 1.6 * _season(month, 0.2, 8)
    lam = np.where(is_asb[None, :], asb[:, None], fly[:, None]) * share[None, :] * scale
    counts = rng.poisson(lam)
    columns = {
        "month": (0, np.full(len(wards), str(month), dtype=object)),
        "ward_code": (0, wards.index.to_numpy(dtype=object)),
        "ward_name": (0, wards["ward_name"].to_numpy(dtype=object)),
        "report_type": (1, [t for t, _, _ in cells]),
        "category": (1, [c for _, c, _ in cells]),
    }
    return _cells(counts, columns, "reports")


def _yot(job: _Job) -> pd.DataFrame:
    """First-time entrants by district and age band: every cell, zeros included, capped at 15."""
    region, period = job.region, job.period
    lads = region.lads[region.lads["csp_code"].isin(job.covers).to_numpy()]
    years = (period.start.index - Month(2021, 4).index) / 12
    youth = lads["population"].to_numpy() * 0.095 * lads["asb"].to_numpy()
    lam = youth[:, None] * 0.0022 / 4 * np.array(list(AGE_BANDS.values()))[None, :] * 0.96**years * job.scale
    counts = np.minimum(job.rng.poisson(lam), 15)
    return pd.DataFrame(
        {
            "quarter_start": period.key,
            "lad_code": np.repeat(lads.index.to_numpy(dtype=object), len(AGE_BANDS)),
            "lad_name": np.repeat(lads["lad_name"].to_numpy(dtype=object), len(AGE_BANDS)),
            "age_band": np.tile(np.array(list(AGE_BANDS), dtype=object), len(lads)),
            "first_time_entrants": counts.ravel().astype(np.int64),
        }
    )


def _probation(job: _Job) -> pd.DataFrame:
    """Caseload by home ward and offence group: a stock that persists from quarter to quarter."""
    region, period = job.region, job.period
    wards = region.wards[region.wards["csp_code"].isin(job.covers).to_numpy()]
    # The ward's level is fixed for the whole run (its own stream); quarters only add noise.
    level = _rng(job.seed, "probation-level", job.agency).lognormal(0.0, 0.25, size=len(wards))
    base = wards["population"].to_numpy() * 0.0045 * (0.5 + 0.5 * wards["violence"].to_numpy()) * level
    lam = base[:, None] * np.array(list(OFFENCE_GROUPS.values()))[None, :] * _season(period.start, 0.04, 1)
    counts = job.rng.poisson(lam * job.scale)
    return pd.DataFrame(
        {
            "quarter_start": period.key,
            "ward_code": np.repeat(wards.index.to_numpy(dtype=object), len(OFFENCE_GROUPS)),
            "ward_name": np.repeat(wards["ward_name"].to_numpy(dtype=object), len(OFFENCE_GROUPS)),
            "offence_group": np.tile(np.array(list(OFFENCE_GROUPS), dtype=object), len(wards)),
            "caseload": counts.ravel().astype(np.int64),
        }
    )


def _treatment(job: _Job) -> pd.DataFrame:
    """Adults in drug and alcohol treatment by district and substance group: every cell, zeros included.

    New presentations follow population and deprivation (the districts' ASB weight); adults in treatment in
    the quarter are the new ones plus those continuing, far more for opiates than for alcohol."""
    region, period = job.region, job.period
    lads = region.lads[region.lads["csp_code"].isin(job.covers).to_numpy()]
    years = (period.start.index - Month(2021, 4).index) / 12
    level = _rng(job.seed, "treatment-level", job.agency).lognormal(0.0, 0.15, size=len(lads))
    base = lads["population"].to_numpy() / 1000 * NEW_PRESENTATIONS_PER_1000 / 4
    base = base * (0.6 + 0.4 * lads["asb"].to_numpy()) * level * 1.02**years * job.scale
    share = np.array([s for s, _ in SUBSTANCE_GROUPS.values()])
    stay = np.array([r for _, r in SUBSTANCE_GROUPS.values()])
    lam = base[:, None] * share[None, :]
    new = job.rng.poisson(lam)
    continuing = job.rng.poisson(lam * (stay - 1.0)[None, :])
    groups = np.array(list(SUBSTANCE_GROUPS), dtype=object)
    return pd.DataFrame(
        {
            "quarter_start": period.key,
            "lad_code": np.repeat(lads.index.to_numpy(dtype=object), len(groups)),
            "lad_name": np.repeat(lads["lad_name"].to_numpy(dtype=object), len(groups)),
            "substance_group": np.tile(groups, len(lads)),
            "in_treatment": (new + continuing).ravel().astype(np.int64),
            "new_presentations": new.ravel().astype(np.int64),
        }
    )


def _reoffending(job: _Job) -> pd.DataFrame:
    """Proven reoffending by district and cohort (adult, juvenile): every cell, zeros included.

    Offenders follow population and the districts' ASB weight; reoffenders are a binomial share of them at
    the cohort's rate (slowly falling), and reoffences about four per reoffender."""
    region, period, rng = job.region, job.period, job.rng
    lads = region.lads[region.lads["csp_code"].isin(job.covers).to_numpy()]
    years = (period.start.index - Month(2021, 4).index) / 12
    level = _rng(job.seed, "reoffending-level", job.agency).lognormal(0.0, 0.1, size=len(lads))
    weight = lads["population"].to_numpy() / 1000 * (0.5 + 0.5 * lads["asb"].to_numpy()) * level * job.scale
    per_year = np.array([c[0] for c in REOFFENDING_COHORTS.values()])
    rate = np.array([c[1] for c in REOFFENDING_COHORTS.values()]) * 0.985**years
    per_reoffender = np.array([c[2] for c in REOFFENDING_COHORTS.values()])
    offenders = rng.poisson(weight[:, None] * per_year[None, :] / 4)
    reoffenders = rng.binomial(offenders, np.broadcast_to(rate, offenders.shape))
    reoffences = reoffenders + rng.poisson(reoffenders * (per_reoffender - 1.0)[None, :])
    cohorts = np.array(list(REOFFENDING_COHORTS), dtype=object)
    return pd.DataFrame(
        {
            "quarter_start": period.key,
            "lad_code": np.repeat(lads.index.to_numpy(dtype=object), len(cohorts)),
            "lad_name": np.repeat(lads["lad_name"].to_numpy(dtype=object), len(cohorts)),
            "cohort_type": np.tile(cohorts, len(lads)),
            "offenders": offenders.ravel().astype(np.int64),
            "reoffences": reoffences.ravel().astype(np.int64),
            "reoffenders": reoffenders.ravel().astype(np.int64),
        }
    )


def _domestic_abuse(job: _Job) -> pd.DataFrame:
    """Police-recorded domestic abuse by LSOA, record type and repeat victim, only the non-zero cells.

    About 18 incidents and crimes per 1,000 residents a year, more where violence is recorded (damped: domestic
    abuse happens at home, not in the town centre), a little higher in summer and over Christmas. Every second
    force of the dataset does not record whether the victim is a repeat victim and leaves the column blank."""
    region, rng = job.region, job.rng
    served = np.flatnonzero(job.served)
    lsoas = region.lsoas
    month = job.period.start
    violence = np.minimum(lsoas["violence"].to_numpy()[served], 3.0)
    season = _season(month, 0.08, 7) + (0.08 if month.month in (12, 1) else 0.0)
    lam = lsoas["population"].to_numpy()[served] / 1000 * DOMESTIC_ABUSE_PER_1000 / 12
    lam = lam * (0.6 + 0.4 * violence) * season * job.scale
    types = np.array(list(DA_RECORD_TYPES.values()))
    codes = lsoas["code"].to_numpy(dtype=object)[served]
    columns: dict[str, tuple[int, Any]] = {
        "month": (0, np.full(served.size, str(month), dtype=object)),
        "lsoa_code": (0, codes),
        "record_type": (1, list(DA_RECORD_TYPES)),
    }
    if job.plan.datasets[job.dataset.id].agencies.index(job.agency) % 2 == 0:  # the whole plan's order
        repeat = np.array(list(DA_REPEAT_VICTIM.values()))
        counts = rng.poisson(lam[:, None, None] * types[None, :, None] * repeat[None, None, :])
        frame = _cells(counts, {**columns, "repeat_victim": (2, list(DA_REPEAT_VICTIM))}, "incidents")
    else:
        counts = rng.poisson(lam[:, None] * types[None, :])
        frame = _cells(counts, columns, "incidents")
        frame["repeat_victim"] = ""
    return frame


def _housing(job: _Job) -> pd.DataFrame:
    """Tenants' ASB complaints by LSOA (where the provider has homes) and category, non-zero cells."""
    region, rng = job.region, job.rng
    served = np.flatnonzero(job.served)
    stock_rng = _rng(job.seed, "housing-stock", job.agency)  # where the provider's homes are does not change
    has_homes = stock_rng.random(served.size) < 0.7
    has_homes[int(stock_rng.integers(0, served.size))] = True
    homes = stock_rng.integers(40, 400, size=served.size)
    mine = served[has_homes]
    lam_lsoa = homes[has_homes] / 100 * 0.9 * region.lsoas["asb"].to_numpy()[mine]
    lam_lsoa = lam_lsoa * _season(job.period.start, 0.15, 7) * job.scale
    share = np.array(list(HOUSING_CATEGORIES.values()))
    counts = rng.poisson(lam_lsoa[:, None] * share[None, :])
    columns = {
        "month": (0, np.full(mine.size, str(job.period.start), dtype=object)),
        "lsoa_code": (0, region.lsoas["code"].to_numpy(dtype=object)[mine]),
        "complaint_category": (1, list(HOUSING_CATEGORIES)),
    }
    return _cells(counts, columns, "complaints")


def _survey(job: _Job) -> pd.DataFrame:
    """About 400 responses per partnership, all in the survey month (the period's seventh month)."""
    region, rng = job.region, job.rng
    lsoas = region.lsoas
    period = job.period
    month = period.start.plus(6) if period.end.index - period.start.index >= 6 else period.start
    parts = sorted(job.dataset.covers(job.plan.agencies[job.agency]))
    picks = []
    for code in parts:
        rows = np.flatnonzero(lsoas["csp_code"].to_numpy() == code)
        pop = lsoas["population"].to_numpy()[rows]
        picks.append(rows[rng.choice(rows.size, size=int(rng.poisson(400)), p=pop / pop.sum())])
    lsoa = np.concatenate(picks) if picks else np.array([], dtype=np.int64)
    n = lsoa.size
    district = region.district_codes[_choose_rows(rng, region.district_addresses[lsoa])]
    days = calendar.monthrange(month.year, month.month)[1]
    day = rng.integers(1, days + 1, size=n)

    vocab = np.array(list(CONCERNS), dtype=object)
    logits = np.tile(np.log(np.array(list(CONCERNS.values()))), (n, 1))
    asb = np.log(lsoas["asb"].to_numpy()[lsoa])
    for concern in _AREA_CONCERNS:
        logits[:, list(CONCERNS).index(concern)] += 0.6 * asb
    top = np.argsort(-(logits + rng.gumbel(size=logits.shape)), axis=1, kind="stable")[:, :3]
    chosen = rng.choice(3, size=n, p=[0.1, 0.2, 0.7]) + 1
    concerns = [np.where(chosen > k, vocab[top[:, k]], "") for k in range(3)]
    latent = rng.normal(0.0, 1.0, size=n) + 0.4 * asb
    scale_labels = np.array(SAFETY_SCALE, dtype=object)
    feel_day = scale_labels[np.digitize(latent, [-0.4, 1.0, 1.6, 2.2])]
    feel_night = scale_labels[np.digitize(latent + 0.9 + rng.normal(0.0, 0.5, size=n), [-0.4, 1.0, 1.6, 2.2])]

    order = np.lexsort((rng.random(n), day))
    frame = pd.DataFrame(
        {
            "response_date": np.array([f"{month}-{d:02d}" for d in range(1, days + 1)], dtype=object)[
                day - 1
            ],
            "respondent_area": district,
            "top_concern_1": concerns[0],
            "top_concern_2": concerns[1],
            "top_concern_3": concerns[2],
            "feel_safe_day": feel_day,
            "feel_safe_night": feel_night,
        }
    ).iloc[order]
    frame.insert(0, "response_id", [f"CS{month.year}-{i:05d}" for i in range(1, n + 1)])
    return frame.reset_index(drop=True)


_BUILDERS = {
    "fire_incidents": _fire,
    "ed_assaults": _ed,
    "la_asb_reports": _la_asb,
    "yot_first_time_entrants": _yot,
    "probation_caseload": _probation,
    "housing_asb_complaints": _housing,
    "substance_misuse_treatment": _treatment,
    "proven_reoffending": _reoffending,
    "domestic_abuse_incidents": _domestic_abuse,
    "consultation_survey": _survey,
}

# ------------------------------------------------------------------------------------------------ defects


@dataclass(frozen=True)
class _Targets:
    """Which (dataset, agency, period) gets which planted defect."""

    by_key: dict[tuple[str, str, str], str]

    def get(self, item: _Delivery) -> str | None:
        return self.by_key.get((item.dataset.id, item.agency, item.period.key))


_DEFECT_DATASETS: dict[str, tuple[str, ...]] = {
    "fire_incidents": ("wrong_vintage_area_code",),
    "ed_assaults": ("arrival_before_incident",),
    "la_asb_reports": ("missing_period", "duplicate_rows"),
    "housing_asb_complaints": ("malformed_header",),
    "probation_caseload": ("late_delivery",),
}


def _choose_defects(seed: int, plan: DataPlan, planned: dict[str, list[Period]], first: Month) -> _Targets:
    """Pick, per defect, one delivery in the first year; distinct deliveries when a dataset has two."""
    rng = _rng(seed, "defects")
    limit = first.plus(DEFECT_MONTHS - 1)
    by_key: dict[tuple[str, str, str], str] = {}
    for dataset, defects in _DEFECT_DATASETS.items():
        if dataset not in planned:
            continue
        ds = plan.datasets[dataset]
        early = [p for p in planned[dataset] if p.end <= limit]
        # Not the very first period: a pipeline's first run is usually watched closely.
        later = early[1:] or early
        pairs = [(a, p.key) for a in ds.agencies for p in later]
        if not pairs:
            continue
        picks = rng.choice(len(pairs), size=min(len(defects), len(pairs)), replace=False)
        for defect, pick in zip(defects, picks, strict=False):
            agency, key = pairs[int(pick)]
            by_key[(dataset, agency, key)] = defect
    return _Targets(by_key)


def _deliver(
    out: _Output, item: _Delivery, targets: _Targets, rng: np.random.Generator, region: _Region
) -> None:
    """Write one delivery, planting its defect if it is a target, and record what was planted."""
    defect = targets.get(item)
    due = item.period.due_date(item.dataset.due_day)
    if defect is None:
        out.write(item)
    elif defect == "missing_period":
        rel = out.relpath(item.dataset, item.agency, item.period)
        out.defect(item, rel, defect, f"no file for {item.period.label}; the plan expects one, due {due}")
    elif defect == "late_delivery":
        when = datetime(due.year, due.month, due.day) + timedelta(days=int(rng.integers(4, 22)), hours=11)
        item.mtime = when
        rel = out.write(item)
        detail = f"received {when.isoformat(timespec='minutes')}, after its due date {due}"
        out.defect(item, rel, defect, detail)
    elif defect == "malformed_header":
        columns = [c.name for c in item.dataset.columns]
        count = columns[-1]
        item.header = [*columns[:-1], f"number_of_{count}"]
        rel = out.write(item)
        out.defect(item, rel, defect, f"column {count!r} is headed 'number_of_{count}'")
    elif defect == "duplicate_rows" and len(item.frame):
        n = len(item.frame)
        picks = np.sort(rng.choice(n, size=min(3, n), replace=False))
        order = np.sort(np.concatenate([np.arange(n), picks]), kind="stable")
        item.frame = item.frame.iloc[order].reset_index(drop=True)
        rel = out.write(item)
        lines = ", ".join(str(int(p) + k + 2) for k, p in enumerate(picks))
        out.defect(
            item, rel, defect, f"{_rows(picks.size)} written twice, identically (lines {lines} repeated)"
        )
    elif defect == "wrong_vintage_area_code" and len(item.frame):
        _plant_wrong_vintage(out, item, rng, region)
    elif defect == "arrival_before_incident" and (item.frame["incident_time"] != "").any():
        _plant_ed_defects(out, item, rng)
    else:  # nothing to plant in (an empty delivery at a tiny scale): deliver it as it is, record nothing
        out.write(item)


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _plant_wrong_vintage(out: _Output, item: _Delivery, rng: np.random.Generator, region: _Region) -> None:
    """A few rows carry the 2019 ward code (and name) instead of the 2015 one, as when a team's GIS layer
    is updated mid-year; distinct 2019 codes so no two rows collide on the same cell."""
    frame = item.frame.copy()
    chosen: list[int] = []
    seen: set[str] = set()
    for row in rng.permutation(len(frame)):
        wd19 = region.wd15_to_wd19[frame["ward_code"].iloc[row]][0]
        if wd19 not in seen:
            seen.add(wd19)
            chosen.append(int(row))
        if len(chosen) == 3:
            break
    chosen.sort()
    pairs = [region.wd15_to_wd19[frame["ward_code"].iloc[row]] for row in chosen]
    frame.loc[chosen, "ward_code"] = [code for code, _ in pairs]
    frame.loc[chosen, "ward_name"] = [name for _, name in pairs]
    item.frame = frame
    rel = out.write(item)
    codes = ", ".join(code for code, _ in pairs)
    out.defect(item, rel, "wrong_vintage_area_code", f"{_rows(len(chosen))} carry 2019 ward codes ({codes})")


def _plant_ed_defects(out: _Output, item: _Delivery, rng: np.random.Generator) -> None:
    """Three rows arrive before the incident and one incident is dated a decade ahead (a typed year);
    the hospital then re-delivers the month corrected as ``..._v2.csv`` a day later."""
    clean = item.frame
    frame = clean.copy()
    timed = np.flatnonzero(frame["incident_time"].to_numpy() != "")
    picks = np.sort(rng.choice(timed, size=min(4, timed.size), replace=False))
    rng.shuffle(picks)
    early, future = np.sort(picks[:3]), picks[3:]
    when = pd.to_datetime(frame.loc[early, "incident_date"] + "T" + frame.loc[early, "incident_time"])
    before = when - pd.to_timedelta(rng.integers(15, 240, size=early.size), unit="min")
    frame.loc[early, "arrival_datetime"] = before.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy()
    ids = ", ".join(frame.loc[early, "patient_id"])
    v1 = _Delivery(item.dataset, item.agency, item.period, frame)
    if future.size:
        old = frame.loc[future[0], "incident_date"]
        frame.loc[future[0], "incident_date"] = f"{int(old[:4]) + 10:04d}{old[4:]}"
    rel = out.write(v1)
    out.defect(
        v1,
        rel,
        "arrival_before_incident",
        f"{_rows(early.size)} with arrival_datetime before the incident ({ids})",
    )
    if future.size:
        row = int(future[0])
        day, patient = frame.loc[row, "incident_date"], frame.loc[row, "patient_id"]
        detail = f"incident_date {day} is in the future ({patient})"
        out.defect(v1, rel, "future_date", detail)
    fixed = _Delivery(item.dataset, item.agency, item.period, clean, suffix="_v2")
    fixed.mtime = out.mtimes[rel] + timedelta(days=1, hours=2)
    rel2 = out.write(fixed)
    fixes = "arrival_before_incident and future_date" if future.size else "arrival_before_incident"
    detail = f"corrected re-delivery of {rel.rsplit('/', 1)[-1]} (fixes {fixes}), delivered a day later"
    out.defect(fixed, rel2, "redelivery", detail)
