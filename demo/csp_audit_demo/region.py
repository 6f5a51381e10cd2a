"""Deterministic generator of a fictional demo region in the real police.uk and ONS file formats.

The audit pipeline is built and demonstrated against this region instead of real data, so the demo needs
to look like the real thing in every way the pipeline has to cope with: the same file layout and headers,
codes in the real ONS formats (but fictional, so nobody mistakes the demo for real figures), a plausible
spread of crime over space and time, and the quirks that real police.uk extracts have (see
``../shared/realdata/MANIFEST.md``). It writes no answers: tests and checks derive expectations from the
files themselves.

Determinism: every random draw comes from ``numpy.random.default_rng`` seeded from ``seed`` plus a fixed
stream tag (geography, or force and month), so the same arguments always give byte-identical files and a
force-month's own draws do not depend on how many months are generated after it (only which earlier
crimes reappear in the last few months does: reappearances are kept inside the generated range).

Speed: rows are drawn as whole numpy arrays per force-month (Poisson counts per LSOA, then vectorised
choices); the only Python loops run over forces, months and geography, never over rows, so the same code
can later generate a national year (about 6.5 million rows) from a bigger :class:`DemoSpec`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from csp_audit.sources.police_uk import HEADER

POLICE_COLUMNS: tuple[str, ...] = HEADER  # the exact police.uk street header
LSOA_LOOKUP_COLUMNS: tuple[str, ...] = (
    "FID",
    "LSOA11CD",
    "LSOA11NM",
    "WD19CD",
    "WD19NM",
    "LAD19CD",
    "LAD19NM",
)
PARTNERSHIP_LOOKUP_COLUMNS: tuple[str, ...] = (
    "FID",
    "LAD19CD",
    "LAD19NM",
    "CSP19CD",
    "CSP19NM",
    "PFA19CD",
    "PFA19NM",
)
LSOA_LOOKUP_PATH = "lookups/LSOA11_WD19_LAD19_lookup_EW.csv"
PARTNERSHIP_LOOKUP_PATH = "lookups/LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"
POPULATION_PATH = "lookups/lsoa_population.csv"
# mid-year estimates by year (the region's population file): the latest year's equal the file above;
# the demo's last audit year has no estimate of its own, so its rates use the nearest (flagged)
POPULATION_BY_YEAR_PATH = "lookups/lsoa_population_mid_year.csv"
# named like the ONS's generalised, clipped LSOA boundaries (code property LSOA11CD too); beside the
# lookups, so whatever copies a region's lookups/ copies its boundaries with them
BOUNDARIES_PATH = "lookups/LSOA_Dec_2011_Boundaries_EW_BGC.geojson"
BOUNDARIES_ATTRIBUTION = "Fictional boundaries drawn for the demo region (not ONS data)"
POLICE_DIR = "police"
# fictional "published" figures for every partnership of a fictional England and Wales, and their
# characteristics, for the national and most-similar-group comparators (region key comparators)
COMPARATOR_RATES_PATH = "lookups/csp_recorded_crime_published.csv"
COMPARATOR_CHARACTERISTICS_PATH = "lookups/csp_characteristics.csv"
COMPARATOR_GROUP_SIZE = 5
COUNTY_CODE = "E10990001"
OTHER_PARTNERSHIPS = 30  # partnerships of the fictional nation outside the demo's forces

ANTI_SOCIAL_BEHAVIOUR = "Anti-social behaviour"
STATUS_UPDATE_UNAVAILABLE = "Status update unavailable"
NO_LOCATION = "No Location"
ON_OR_NEAR = "On or near "

# The 14 police.uk categories with a mix close to England and Wales (ASB ~30%, violence ~28%).
CRIME_TYPE_SHARES: dict[str, float] = {
    ANTI_SOCIAL_BEHAVIOUR: 0.300,
    "Violence and sexual offences": 0.280,
    "Public order": 0.070,
    "Criminal damage and arson": 0.070,
    "Other theft": 0.060,
    "Shoplifting": 0.055,
    "Burglary": 0.045,
    "Vehicle crime": 0.045,
    "Drugs": 0.025,
    "Other crime": 0.017,
    "Theft from the person": 0.010,
    "Bicycle theft": 0.010,
    "Robbery": 0.008,
    "Possession of weapons": 0.005,
}
# Real police.uk "Last outcome category" labels, roughly in their real proportions.
OUTCOME_SHARES: dict[str, float] = {
    "Investigation complete; no suspect identified": 0.360,
    "Unable to prosecute suspect": 0.320,
    STATUS_UPDATE_UNAVAILABLE: 0.080,
    "Under investigation": 0.060,
    "Court result unavailable": 0.060,
    "Local resolution": 0.030,
    "Awaiting court outcome": 0.020,
    "Offender given a caution": 0.020,
    "Further investigation is not in the public interest": 0.020,
    "Formal action is not in the public interest": 0.015,
    "Action to be taken by another organisation": 0.015,
}
CRIME_TYPES = np.array(list(CRIME_TYPE_SHARES), dtype=object)
OUTCOMES = np.array(list(OUTCOME_SHARES), dtype=object)
_ASB_INDEX = list(CRIME_TYPE_SHARES).index(ANTI_SOCIAL_BEHAVIOUR)
_SUU_INDEX = list(OUTCOME_SHARES).index(STATUS_UPDATE_UNAVAILABLE)

WARD_NAME_POOL: tuple[str, ...] = (
    "Abbey", "Ashfield", "Beckside", "Bramley Green", "Broadwater", "Castle", "Church Fenton", "Coldwell",
    "Dalesend", "Eastgate", "Fairholme", "Foxhill", "Grange Park", "Hallgarth", "Hillcrest", "Holme Valley",
    "Kirkby Moor", "Langley", "Low Green", "Market", "Marsh End", "Millbrook", "Moorside", "Northgate",
    "Oakwood", "Priory", "Ravenscar", "Riverside", "St Mary's", "St Oswald's", "Southfield", "Stonebridge",
    "Thornley", "Town Centre", "Westfield", "Whinmoor", "Wolds Edge", "Wyke",
)  # fmt: skip
STREET_NAME_POOL: tuple[str, ...] = (
    "High Street", "Church Street", "Station Road", "Mill Lane", "Market Place", "Victoria Road",
    "Park Avenue", "Chapel Row", "Bridge Street", "Queen Street", "King's Road", "The Crescent",
    "Moor Lane", "Beck Side", "Fell View", "Hawthorn Close", "Orchard Way", "Priory Walk", "School Lane",
    "Westgate", "Northgate", "Cross Street", "Albion Terrace", "Garth Road", "Ings Lane", "Kirk Gate",
    "Low Road", "Tanner's Yard", "Ropewalk", "Quarry Hill", "Parking Area", "Supermarket", "Petrol Station",
    "Shopping Area", "Sports/Recreation Area", "Nightclub", "Bus/Coach Station", "Hospital",
    "Further/Higher Educational Building", "Conference/Exhibition Centre",
)  # fmt: skip

_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_UNKNOWN_LSOA_FIRST = 999990  # E01999990.. : well-formed LSOA codes that no lookup knows


@dataclass(frozen=True)
class LadSpec:
    """One local authority district: its code, name and how many wards it has."""

    code: str
    name: str
    n_wards: int


@dataclass(frozen=True)
class CspSpec:
    """One Community Safety Partnership; several LADs make a multi-LAD partnership, as in real data."""

    code: str
    name: str
    lads: tuple[LadSpec, ...]


@dataclass(frozen=True)
class ForceSpec:
    """A police force area. Only in-region forces get police files; the others only receive snapped rows.

    ``bbox`` is (lon_min, lon_max, lat_min, lat_max); the force's LADs split it into columns of longitude.
    """

    code: str
    name: str
    slug: str
    in_region: bool
    bbox: tuple[float, float, float, float]
    csps: tuple[CspSpec, ...]

    @property
    def police_name(self) -> str:
        """The "Reported by" / "Falls within" value, e.g. "Northshire Police"."""
        return f"{self.name} Police"

    @property
    def lads(self) -> tuple[LadSpec, ...]:
        """All LADs of the force, in partnership order."""
        return tuple(lad for csp in self.csps for lad in csp.lads)


@dataclass(frozen=True)
class QuirkSpec:
    """Rates of the planted real-data quirks, per eligible row of a force-month.

    During the first ``guaranteed_months`` months each quirk occurs at least ``minimum`` times per force
    (``duplicate_id_minimum`` for duplicate-ID pairs, so each of their three variants shows up), so even a
    short or small demo contains every quirk.
    """

    neighbour_snap: float = 0.007  # row carries an LSOA of the other in-region force
    outside_snap: float = 0.003  # row carries an LSOA of a force outside the region
    unknown_lsoa: float = 1 / 5000  # row carries a well-formed LSOA code unknown to the lookup
    no_location: float = 0.02  # empty coordinates and LSOA, Location "No Location"
    empty_street: float = 0.002  # Location "On or near " with nothing after it (LSOA kept)
    duplicate_id: float = 0.004  # a crime listed twice in one month under the same Crime ID
    reappear: float = 0.001  # a crime's Crime ID reappears in a later month of the same force
    asb_exact_duplicate: float = 0.01  # an ASB row written twice, identically (separate incidents)
    minimum: int = 1
    duplicate_id_minimum: int = 3
    guaranteed_months: int = 2


@dataclass(frozen=True)
class DemoSpec:
    """Everything that shapes a generated region; a national-scale version only needs a bigger one."""

    forces: tuple[ForceSpec, ...]
    seed: int = 20260401
    months: int = 36
    start_month: str = "2021-04"
    scale: float = 1.0  # multiplies the crime volume, not the geography
    name: str = "demo-region"
    audit_year_start_month: int = 4
    lsoas_per_ward: tuple[int, int] = (3, 5)  # inclusive range
    lsoas_per_msoa: int = 5  # LSOA names "<LAD> 001A".."<LAD> 001E", then 002A..
    rows_per_lsoa_month: float = 24.0  # mean police rows per LSOA and month at scale 1
    weight_sigma: float = 0.45  # log-normal spread of LSOA crime weights
    town_centres_per_lad: int = 1
    town_centre_factor: float = 5.0
    seasonal_amplitude: float = 0.15  # +-15%, peaking in July
    annual_trend: float = 0.03  # +3% a year
    snap_points_per_lsoa: int = 16
    snap_spread_deg: float = 0.004
    unknown_lsoas_per_force: int = 3
    population_range: tuple[int, int] = (1000, 3000)
    quirks: QuirkSpec = field(default_factory=QuirkSpec)

    def __post_init__(self) -> None:
        """Reject arguments that would silently produce an empty or malformed region."""
        if not _MONTH_RE.match(self.start_month):
            raise ValueError(f"start_month must look like YYYY-MM, got {self.start_month!r}")
        if self.months < 1:
            raise ValueError(f"months must be at least 1, got {self.months}")
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        n_unknown = self.unknown_lsoas_per_force * sum(f.in_region for f in self.forces)
        if n_unknown > 10:
            raise ValueError("at most 10 unknown LSOA codes (E01999990..E01999999) are available")

    @property
    def region_forces(self) -> tuple[ForceSpec, ...]:
        """The forces whose partnerships make up the region (and which get police files)."""
        return tuple(f for f in self.forces if f.in_region)

    def month_labels(self) -> list[str]:
        """``YYYY-MM`` of every generated month, in order."""
        year, month = (int(part) for part in self.start_month.split("-"))
        first = year * 12 + month - 1
        return [f"{(first + i) // 12:04d}-{(first + i) % 12 + 1:02d}" for i in range(self.months)]


def default_forces() -> tuple[ForceSpec, ...]:
    """The demo region: Northshire (3 CSPs, one of them over two LADs) and Southmoor (2 CSPs) in the region,
    plus Westdale (1 CSP) outside it, all inside lon -2.6..-1.4, lat 53.9..54.7."""
    northshire = ForceSpec(
        code="E23990001",
        name="Northshire",
        slug="northshire",
        in_region=True,
        bbox=(-2.3, -1.4, 54.3, 54.7),
        csps=(
            CspSpec(
                "E22990001",
                "Vale of Harrow and Aldbury",
                (LadSpec("E07990001", "Harrowgate", 3), LadSpec("E07990002", "Aldbury, Crane and Holt", 3)),
            ),
            CspSpec("E22990002", "Kestlebury", (LadSpec("E06990001", "Kestlebury", 6),)),
            CspSpec("E22990003", "Thornbeck", (LadSpec("E06990002", "Thornbeck", 5),)),
        ),
    )
    southmoor = ForceSpec(
        code="E23990002",
        name="Southmoor",
        slug="southmoor",
        in_region=True,
        bbox=(-2.3, -1.4, 53.9, 54.3),
        csps=(
            CspSpec("E22990004", "Brackwater", (LadSpec("E06990003", "Brackwater", 6),)),
            CspSpec("E22990005", "Ellesmoor", (LadSpec("E06990004", "Ellesmoor", 5),)),
        ),
    )
    westdale = ForceSpec(
        code="E23990003",
        name="Westdale",
        slug="westdale",
        in_region=False,
        bbox=(-2.6, -2.3, 53.9, 54.7),
        csps=(CspSpec("E22990006", "Greyfell", (LadSpec("E06990005", "Greyfell", 5),)),),
    )
    return (northshire, southmoor, westdale)


@dataclass(frozen=True)
class Geography:
    """The generated geography: one row per LSOA (lookup LSOAs first, then the unknown ones) and snap points.

    ``lsoas`` columns: code, name, ward_code, ward_name, lad_code, lad_name, force (position in
    ``spec.forces``), in_lookup, weight (mean 1 over a force's lookup LSOAs), population, and lon, lat
    (the LSOA's generated location: snap points scatter around it, its boundary cell is drawn around it).
    Snap-point arrays have shape (n_lsoas, snap_points_per_lsoa) and hold ready-formatted strings.
    """

    lsoas: pd.DataFrame
    snap_lon: np.ndarray
    snap_lat: np.ndarray
    snap_location: np.ndarray
    snap_p: np.ndarray  # probability of each snap point within an LSOA (a few streets get most crime)
    name_rank: np.ndarray  # sort key: police.uk files are ordered by LSOA name


def generate_demo_region(
    out_dir: Path,
    *,
    seed: int = 20260401,
    months: int = 36,
    start_month: str = "2021-04",
    scale: float = 1.0,
) -> Path:
    """Write a fictional region under out_dir and return the path of its region.yaml."""
    spec = DemoSpec(forces=default_forces(), seed=seed, months=months, start_month=start_month, scale=scale)
    return write_region(Path(out_dir), spec)


def write_region(out_dir: Path, spec: DemoSpec) -> Path:
    """Write lookups, police files and region.yaml for any spec (the demo or a bigger one)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    geo = build_geography(spec)
    _write_lookups(out_dir, spec, geo)
    _write_boundaries(out_dir, spec, geo)
    _write_police_files(out_dir, spec, geo)
    _write_comparators(out_dir, spec, geo)
    return _write_region_yaml(out_dir, spec, boundaries=True)


def _rng(spec: DemoSpec, *stream: int) -> np.random.Generator:
    """An independent, reproducible stream per purpose, so one part's draws never shift another's."""
    return np.random.default_rng(np.random.SeedSequence([spec.seed, *stream]))


# ---------------------------------------------------------------------------------------------- geography


def build_geography(spec: DemoSpec) -> Geography:
    """Draw wards, LSOAs, centroids, crime weights, populations and snap points for every force."""
    rng = _rng(spec, 0)
    frames = [_force_lsoas(spec, rng, pos) for pos in range(len(spec.forces))]
    known = pd.concat(frames, ignore_index=True)
    known = _number_codes(known)
    unknown = _unknown_lsoas(spec, rng, known)
    lsoas = pd.concat([known, unknown], ignore_index=True)
    snap_lon, snap_lat, snap_location = _snap_points(spec, rng, lsoas)
    ranks = np.full(len(lsoas), 0, dtype=np.int64)
    ranks[np.argsort(lsoas["name"].to_numpy(dtype=str), kind="stable")] = np.arange(len(lsoas))
    p = 1.0 / np.arange(1, spec.snap_points_per_lsoa + 1) ** 0.8
    return Geography(
        lsoas=lsoas,
        snap_lon=snap_lon,
        snap_lat=snap_lat,
        snap_location=snap_location,
        snap_p=p / p.sum(),
        name_rank=ranks,
    )


def _force_lsoas(spec: DemoSpec, rng: np.random.Generator, force_pos: int) -> pd.DataFrame:
    """LSOAs of one force; each LAD gets its own column of the force's bounding box."""
    force = spec.forces[force_pos]
    frames = []
    for lad, box in zip(force.lads, _lad_boxes(force), strict=True):
        frame = _lad_lsoas(spec, rng, lad, box)
        frame["force"] = force_pos
        frames.append(frame)
    lsoas = pd.concat(frames, ignore_index=True)
    lsoas["weight"] = lsoas["weight"] / lsoas["weight"].mean()
    return lsoas


def _lad_boxes(force: ForceSpec) -> list[tuple[float, float, float, float]]:
    """(lon_min, lon_max, lat_min, lat_max) of each LAD: columns of longitude of the force's box."""
    lon_min, lon_max, lat_min, lat_max = force.bbox
    edges = np.linspace(lon_min, lon_max, len(force.lads) + 1)
    return [(float(edges[i]), float(edges[i + 1]), lat_min, lat_max) for i in range(len(force.lads))]


def _lad_lsoas(
    spec: DemoSpec, rng: np.random.Generator, lad: LadSpec, box: tuple[float, float, float, float]
) -> pd.DataFrame:
    """Wards and LSOAs of one LAD, named like real ones ("<LAD name> 001A"), with skewed crime weights."""
    lo, hi = spec.lsoas_per_ward
    ward_sizes = rng.integers(lo, hi + 1, size=lad.n_wards)
    ward_names = np.sort(rng.choice(np.array(WARD_NAME_POOL, dtype=object), size=lad.n_wards, replace=False))
    n = int(ward_sizes.sum())
    seq = np.arange(n)
    names = [
        f"{lad.name} {m:03d}{chr(65 + k)}"
        for m, k in zip(seq // spec.lsoas_per_msoa + 1, seq % spec.lsoas_per_msoa, strict=True)
    ]
    weight = rng.lognormal(0.0, spec.weight_sigma, size=n)
    centres = rng.choice(n, size=min(spec.town_centres_per_lad, n), replace=False)
    weight[centres] *= spec.town_centre_factor
    pop_lo, pop_hi = spec.population_range
    population = np.clip(rng.lognormal(np.log((pop_lo + pop_hi) / 2.4), 0.2, size=n), pop_lo, pop_hi)
    margin = spec.snap_spread_deg * 3
    return pd.DataFrame(
        {
            "name": names,
            "ward": np.repeat(np.arange(lad.n_wards), ward_sizes),
            "ward_name": np.repeat(ward_names, ward_sizes),
            "lad_code": lad.code,
            "lad_name": lad.name,
            "in_lookup": True,
            "weight": weight,
            "population": np.rint(population).astype(np.int64),
            "lon": rng.uniform(box[0] + margin, box[1] - margin, size=n),
            "lat": rng.uniform(box[2] + margin, box[3] - margin, size=n),
        }
    )


def _number_codes(known: pd.DataFrame) -> pd.DataFrame:
    """Give LSOAs (E01990001..) and wards (E05990001..) fictional codes in generation order."""
    known = known.copy()
    known["code"] = [f"E01{990001 + i:06d}" for i in range(len(known))]
    ward_key = known["lad_code"] + ":" + known["ward"].astype(str)
    ward_seq = pd.factorize(ward_key)[0]
    known["ward_code"] = [f"E05{990001 + i:06d}" for i in ward_seq]
    return known.drop(columns=["ward"])


def _unknown_lsoas(spec: DemoSpec, rng: np.random.Generator, known: pd.DataFrame) -> pd.DataFrame:
    """LSOAs with well-formed codes (E01999990..) that are in no lookup, placed among a force's LSOAs.

    Real extracts occasionally carry codes from another vintage; the pipeline must report them, not drop
    them silently or crash.
    """
    rows = []
    counter = 0
    for pos, force in enumerate(spec.forces):
        if not force.in_region:
            continue
        mine = known[known["force"] == pos]
        anchors = mine.iloc[np.sort(rng.choice(len(mine), size=spec.unknown_lsoas_per_force, replace=False))]
        for j, anchor in enumerate(anchors.itertuples(index=False)):
            rows.append(
                {
                    "name": f"{anchor.lad_name} {90 + j:03d}A",
                    "ward_name": "",
                    "lad_code": "",
                    "lad_name": anchor.lad_name,
                    "in_lookup": False,
                    "weight": 1.0,
                    "population": 0,
                    "lon": anchor.lon + rng.normal(0.0, spec.snap_spread_deg),
                    "lat": anchor.lat + rng.normal(0.0, spec.snap_spread_deg),
                    "force": pos,
                    "code": f"E01{_UNKNOWN_LSOA_FIRST + counter:06d}",
                    "ward_code": "",
                }
            )
            counter += 1
    return pd.DataFrame(rows, columns=list(known.columns))


def _snap_points(
    spec: DemoSpec, rng: np.random.Generator, lsoas: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A finite set of anonymised map points per LSOA, each on a named street, as police.uk does.

    Returns formatted longitude, latitude and Location strings, each of shape (n_lsoas, points).
    """
    n, k = len(lsoas), spec.snap_points_per_lsoa
    lon = lsoas["lon"].to_numpy()[:, None] + rng.normal(0.0, spec.snap_spread_deg, size=(n, k))
    lat = lsoas["lat"].to_numpy()[:, None] + rng.normal(0.0, spec.snap_spread_deg * 0.6, size=(n, k))
    streets = np.array(STREET_NAME_POOL, dtype=object)
    pool = np.tile(np.arange(len(streets)), (n, 1))
    picks = rng.permuted(pool, axis=1)[:, :k]
    location = ON_OR_NEAR + streets[picks]
    return np.char.mod("%.6f", lon).astype(object), np.char.mod("%.6f", lat).astype(object), location


# ------------------------------------------------------------------------------------------------- lookups


def _write_lookups(out_dir: Path, spec: DemoSpec, geo: Geography) -> None:
    """Write the three ONS-style lookups (the partnership one with a BOM, as some real ONS files have)."""
    (out_dir / "lookups").mkdir(parents=True, exist_ok=True)
    known = geo.lsoas[geo.lsoas["in_lookup"]].sort_values("code", kind="stable")
    lsoa_lookup = pd.DataFrame(
        {
            "FID": np.arange(1, len(known) + 1),
            "LSOA11CD": known["code"].to_numpy(),
            "LSOA11NM": known["name"].to_numpy(),
            "WD19CD": known["ward_code"].to_numpy(),
            "WD19NM": known["ward_name"].to_numpy(),
            "LAD19CD": known["lad_code"].to_numpy(),
            "LAD19NM": known["lad_name"].to_numpy(),
        }
    )
    _to_csv(lsoa_lookup, out_dir / LSOA_LOOKUP_PATH)

    lads = [
        (lad.code, lad.name, csp.code, csp.name, force.code, force.name)
        for force in spec.forces
        for csp in force.csps
        for lad in csp.lads
    ]
    partnership = pd.DataFrame(sorted(lads), columns=list(PARTNERSHIP_LOOKUP_COLUMNS[1:]))
    partnership.insert(0, "FID", np.arange(1, len(partnership) + 1))
    _to_csv(partnership, out_dir / PARTNERSHIP_LOOKUP_PATH, encoding="utf-8-sig")

    population = pd.DataFrame(
        {"LSOA11CD": known["code"].to_numpy(), "population": known["population"].to_numpy()}
    )
    _to_csv(population, out_dir / POPULATION_PATH)
    start = spec.audit_year_start_month
    years = sorted({int(m[:4]) - (int(m[5:7]) < start) for m in spec.month_labels()})
    estimates = years[:-1] or years
    by_year = pd.concat(
        [
            population.assign(
                mid_year=y,
                population=np.rint(population["population"] * (1 - 0.008 * (estimates[-1] - y))).astype(
                    np.int64
                ),
            )
            for y in estimates
        ]
    )[["LSOA11CD", "mid_year", "population"]]
    # households (about 2.4 residents each) and residents aged 10-17 (7-11%), without a random draw
    # so every other figure of the region stays as it was
    spread = (np.arange(len(by_year)) * 7919 % 101) / 100.0
    by_year["households"] = np.rint(by_year["population"] / (2.2 + 0.4 * spread)).astype(np.int64)
    by_year["aged_10_17"] = np.rint(by_year["population"] * (0.07 + 0.04 * spread)).astype(np.int64)
    _to_csv(by_year, out_dir / POPULATION_BY_YEAR_PATH)


def _write_comparators(out_dir: Path, spec: DemoSpec, geo: Geography) -> None:
    """Published-style recorded crime per partnership and audit year, and two characteristics
    (deprivation as a mean IMD rank, density in residents per hectare), for the demo's partnerships
    and OTHER_PARTNERSHIPS more: the demo's own England and Wales. Fictional, like the rest."""
    rng = _rng(spec, 9)
    known = geo.lsoas[geo.lsoas["in_lookup"]]
    by_lad = known.groupby("lad_code")["population"].sum()
    partnerships = [(csp.code, csp.name, int(sum(by_lad.get(lad.code, 0) for lad in csp.lads)))
                    for force in spec.forces for csp in force.csps]  # fmt: skip
    partnerships += [(f"E2299{100 + n:04d}", f"Elsewhere {n + 1}", int(rng.integers(80_000, 400_000)))
                     for n in range(OTHER_PARTNERSHIPS)]  # fmt: skip
    characteristics = pd.DataFrame(
        {
            "partnership_code": [p[0] for p in partnerships],
            "partnership_name": [p[1] for p in partnerships],
            "imd_mean_rank": np.round(rng.uniform(6_000, 27_000, len(partnerships))),
            "residents_per_hectare": np.round(rng.lognormal(np.log(8), 0.9, len(partnerships)), 2),
        }
    )
    _to_csv(characteristics, out_dir / COMPARATOR_CHARACTERISTICS_PATH)
    start = spec.audit_year_start_month
    years = sorted({int(m[:4]) - (int(m[5:7]) < start) for m in spec.month_labels()})
    shares = np.array(list(CRIME_TYPE_SHARES.values()))
    rows = []
    for (code, name, population), deprivation in zip(
        partnerships, characteristics["imd_mean_rank"], strict=True
    ):
        level = 110 - 60 * (deprivation - 6_000) / 21_000  # more deprived (lower rank), more crime
        for year in years:
            counts = np.rint(population / 1000 * level * shares * rng.lognormal(0, 0.12, len(shares))).astype(
                int
            )
            period = f"{year:04d}-{start:02d}-01"
            rows += [(code, name, "police_uk_street", c, period, int(n), population)
                     for c, n in zip(CRIME_TYPES, counts, strict=True)]  # fmt: skip
            rows.append((code, name, "police_uk_street", "All", period, int(counts.sum()), population))
    columns = [
        "partnership_code",
        "partnership_name",
        "dataset",
        "category",
        "period_start",
        "incidents",
        "population",
    ]
    _to_csv(pd.DataFrame(rows, columns=columns), out_dir / COMPARATOR_RATES_PATH)


def _write_boundaries(out_dir: Path, spec: DemoSpec, geo: Geography) -> None:
    """LSOA boundaries as the ONS publishes them (a GeoJSON FeatureCollection in longitude/latitude,
    properties FID, LSOA11CD, LSOA11NM), for every LSOA of the lookup, in and outside the region.

    Each LSOA's area is the part of its LAD's box nearer to its location than to any other LSOA of the
    LAD (a Voronoi cell clipped to the LAD), so the cells tile every LAD, and so every partnership and
    force, without gaps or overlaps. Distances are measured with longitude scaled by the cosine of the
    latitude, so the cells look like cells on the map. LSOAs that no lookup knows get no boundary, as
    codes of another vintage have none in a real file.
    """
    known = geo.lsoas[geo.lsoas["in_lookup"]]
    lats = [lat for force in spec.forces for lat in force.bbox[2:]]
    k = math.cos(math.radians((min(lats) + max(lats)) / 2))
    cells: list[tuple[str, str, list[list[float]]]] = []
    for force in spec.forces:
        for lad, (x0, x1, y0, y1) in zip(force.lads, _lad_boxes(force), strict=True):
            mine = known[known["lad_code"] == lad.code].sort_values("code", kind="stable")
            sites = list(zip(mine["lon"].to_numpy() * k, mine["lat"].to_numpy(), strict=True))
            box = [(x0 * k, y0), (x1 * k, y0), (x1 * k, y1), (x0 * k, y1)]  # anticlockwise, as RFC 7946 asks
            for i, (code, name) in enumerate(zip(mine["code"], mine["name"], strict=True)):
                cell = box
                for j, other in enumerate(sites):
                    if j != i:
                        cell = _nearer_half(cell, sites[i], other)
                ring = [[round(x / k, 6), round(y, 6)] for x, y in cell]
                cells.append((str(code), str(name), [*ring, ring[0]]))
    features = [
        {
            "type": "Feature",
            "properties": {"FID": n, "LSOA11CD": code, "LSOA11NM": name},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        for n, (code, name, ring) in enumerate(sorted(cells), start=1)
    ]
    path = out_dir / BOUNDARIES_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"type": "FeatureCollection", "name": Path(BOUNDARIES_PATH).stem, "features": features}
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8", newline="\n")


def _nearer_half(
    polygon: list[tuple[float, float]], site: tuple[float, float], other: tuple[float, float]
) -> list[tuple[float, float]]:
    """The part of a convex polygon nearer to ``site`` than to ``other`` (one Sutherland-Hodgman step
    against their perpendicular bisector)."""
    nx, ny = other[0] - site[0], other[1] - site[1]
    c = (nx * (site[0] + other[0]) + ny * (site[1] + other[1])) / 2

    def side(p: tuple[float, float]) -> float:  # <= 0: on site's side
        return nx * p[0] + ny * p[1] - c

    out: list[tuple[float, float]] = []
    for a, b in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        sa, sb = side(a), side(b)
        if sa <= 0:
            out.append(a)
        if (sa < 0 < sb) or (sb < 0 < sa):
            t = sa / (sa - sb)
            out.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
    return out


def _to_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> None:
    """Plain CSV as the real files have it: LF endings, quoting only where needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding=encoding, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)


def _write_region_yaml(out_dir: Path, spec: DemoSpec, *, boundaries: bool = False) -> Path:
    """Write region.yaml by hand so its layout is exactly the documented contract.

    ``boundaries`` names the LSOA boundary file (:func:`_write_boundaries`); its code property is left to
    the default (the lookup's vintage: LSOA11CD), as most regions will.
    """
    codes = ", ".join(f.code for f in spec.region_forces)
    # a two-tier county over the first force's partnerships (fictional E10 code): its district partnerships
    # agree a county community safety agreement, which the publish rolls up (region key counties)
    first = spec.region_forces[0] if spec.region_forces else None
    county = (
        "counties:\n"
        f"  - code: {COUNTY_CODE}\n"
        f"    name: {first.name} County\n"
        f"    partnerships: [{', '.join(c.code for c in first.csps)}]\n"
        if first is not None and len(first.csps) > 1
        else ""
    )
    text = (
        f"name: {spec.name}\n"
        f"audit_year_start_month: {spec.audit_year_start_month}\n"
        "geography:\n"
        f"  lsoa_lookup: {LSOA_LOOKUP_PATH}\n"
        f"  partnership_lookup: {PARTNERSHIP_LOOKUP_PATH}\n"
        f"  population: {POPULATION_BY_YEAR_PATH if (out_dir / POPULATION_BY_YEAR_PATH).exists() else POPULATION_PATH}\n"
        + (
            f"  lsoa_boundaries:\n    file: {BOUNDARIES_PATH}\n    attribution: {BOUNDARIES_ATTRIBUTION}\n"
            if boundaries
            else ""
        )
        + "partnerships:\n"
        f"  police_force_areas: [{codes}]\n"
        "sources:\n"
        f"  police_uk: {POLICE_DIR}/\n"
        + (
            "comparators:\n"
            f"  partnership_rates: {COMPARATOR_RATES_PATH}\n"
            f"  characteristics: {COMPARATOR_CHARACTERISTICS_PATH}\n"
            f"  group_size: {COMPARATOR_GROUP_SIZE}\n"
            if (out_dir / COMPARATOR_RATES_PATH).exists()
            else ""
        )
        + county
    )
    path = out_dir / "region.yaml"
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


# ----------------------------------------------------------------------------------------------- police


def _write_police_files(out_dir: Path, spec: DemoSpec, geo: Geography) -> None:
    """One street-level file per in-region force and month, in the police.uk archive layout.

    Months run in order per force because a few crimes reappear in a later month's file (``carry``).
    """
    months = spec.month_labels()
    for pos, force in enumerate(spec.forces):
        if not force.in_region:
            continue
        carry: dict[int, list[pd.DataFrame]] = defaultdict(list)
        for m, label in enumerate(months):
            rng = _rng(spec, 1, pos, m)
            rows = _force_month_rows(spec, geo, pos, m, rng, carry)
            path = out_dir / POLICE_DIR / label / f"{label}-{force.slug}-street.csv"
            _to_csv(_police_frame(rows, geo, force, label), path)
            _set_published(path, label)


def _set_published(path: Path, label: str) -> None:
    """police.uk publishes a month's files around the 10th of the next month; stamp the file so
    (deterministically, whenever the demo is generated) arrival tracking sees a timely delivery."""
    year, month = int(label[:4]), int(label[5:7])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    stamp = datetime(year, month, 10, 9, 0, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))


def _intensity(spec: DemoSpec, month_index: int) -> float:
    """Seasonality (peak in July) times a mild trend, relative to an average month."""
    calendar_month = int(spec.month_labels()[month_index][5:])
    season = 1.0 + spec.seasonal_amplitude * np.sin(2 * np.pi * (calendar_month - 4) / 12)
    return float(season * (1.0 + spec.annual_trend * month_index / 12))


def _quirk_count(rng: np.random.Generator, eligible: int, rate: float, minimum: int, guaranteed: bool) -> int:
    """How many eligible rows get a quirk: binomial, with a floor in the guaranteed months."""
    count = int(rng.binomial(eligible, rate)) if eligible else 0
    if guaranteed:
        count = max(count, minimum)
    return min(count, eligible)


def _force_month_rows(
    spec: DemoSpec,
    geo: Geography,
    force_pos: int,
    month_index: int,
    rng: np.random.Generator,
    carry: dict[int, list[pd.DataFrame]],
) -> pd.DataFrame:
    """All rows of one force-month as integer codes (materialised to strings later).

    Columns: lsoa (row of ``geo.lsoas``, -1 = no location), snap, ctype, outcome (-1 = empty), crime_id
    ("" for ASB), empty_street.
    """
    lsoas = geo.lsoas
    force_of = lsoas["force"].to_numpy()
    in_lookup = lsoas["in_lookup"].to_numpy()
    weight = lsoas["weight"].to_numpy()
    home = np.flatnonzero((force_of == force_pos) & in_lookup)

    lam = spec.rows_per_lsoa_month * spec.scale * _intensity(spec, month_index) * weight[home]
    lsoa = np.repeat(home, rng.poisson(lam))
    n = lsoa.size
    ctype = rng.choice(len(CRIME_TYPES), size=n, p=list(CRIME_TYPE_SHARES.values()))
    guaranteed = month_index < spec.quirks.guaranteed_months

    pools = _relocation_pools(spec, force_of, in_lookup, force_pos)
    lsoa, no_location, empty_street = _relocate(spec, rng, lsoa, weight, pools, guaranteed)
    snap = rng.choice(spec.snap_points_per_lsoa, size=n, p=geo.snap_p)
    outcome = rng.choice(len(OUTCOMES), size=n, p=list(OUTCOME_SHARES.values()))
    outcome[ctype == _ASB_INDEX] = -1
    crime_id = _hex_ids(rng, n)
    crime_id[ctype == _ASB_INDEX] = ""
    rows = pd.DataFrame(
        {
            "lsoa": np.where(no_location, -1, lsoa),
            "snap": snap,
            "ctype": ctype,
            "outcome": outcome,
            "crime_id": crime_id,
            "empty_street": empty_street,
        }
    )
    carried = _carry_forward(spec, rng, rows, month_index, carry)
    rows = _plant_duplicate_ids(spec, rng, rows, carried, guaranteed)
    rows = _plant_asb_duplicates(spec, rng, rows, guaranteed)
    return pd.concat([rows, *carry.pop(month_index, [])], ignore_index=True)


def _relocation_pools(
    spec: DemoSpec, force_of: np.ndarray, in_lookup: np.ndarray, force_pos: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LSOAs a force's rows can be snapped into: other region forces, forces outside, unknown codes."""
    in_region = np.array([f.in_region for f in spec.forces])[force_of]
    other = force_of != force_pos
    neighbour = np.flatnonzero(other & in_region & in_lookup)
    outside = np.flatnonzero(~in_region & in_lookup)
    unknown = np.flatnonzero((force_of == force_pos) & ~in_lookup)
    return neighbour, outside, unknown


def _relocate(
    spec: DemoSpec,
    rng: np.random.Generator,
    lsoa: np.ndarray,
    weight: np.ndarray,
    pools: tuple[np.ndarray, np.ndarray, np.ndarray],
    guaranteed: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give disjoint random subsets of rows a foreign or unknown LSOA, no location, or an empty street.

    Disjoint so that each planted quirk stays visible (a snapped row is never also blanked).
    """
    q = spec.quirks
    n = lsoa.size
    rates = (q.neighbour_snap, q.outside_snap, q.unknown_lsoa, q.no_location, q.empty_street)
    counts = [_quirk_count(rng, n, rate, q.minimum, guaranteed) for rate in rates]
    bounds = np.cumsum([0, *counts])
    order = rng.permutation(n)
    chunks = [order[bounds[i] : bounds[i + 1]] for i in range(len(counts))]
    lsoa = lsoa.copy()
    for chunk, pool in zip(chunks[:3], pools, strict=True):
        if chunk.size and pool.size:
            lsoa[chunk] = rng.choice(pool, size=chunk.size, p=weight[pool] / weight[pool].sum())
    no_location = np.zeros(n, dtype=bool)
    no_location[chunks[3]] = True
    empty_street = np.zeros(n, dtype=bool)
    empty_street[chunks[4]] = True
    return lsoa, no_location, empty_street


_HEX_PAIRS = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


def _hex_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random 64-character lowercase hex Crime IDs, built without a per-row Python loop."""
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    ids = np.ascontiguousarray(_HEX_PAIRS[raw]).view("S64").reshape(n)
    return ids.astype(str).astype(object)


def _plant_duplicate_ids(
    spec: DemoSpec, rng: np.random.Generator, rows: pd.DataFrame, exclude: np.ndarray, guaranteed: bool
) -> pd.DataFrame:
    """List some crimes twice under one Crime ID, in the three ways real extracts do.

    Variant 0: same place, one copy "Status update unavailable", the other a real outcome.
    Variant 1: the copy has no location and the real outcome; the located original says "Status update
    unavailable". Variant 2: the copy sits at another snap point of the same LSOA, "Status update
    unavailable". Variants cycle so that each appears whenever there are three or more pairs. Rows in
    ``exclude`` (those queued to reappear later) are left alone so each planted case stays simple.
    """
    q = spec.quirks
    eligible = (rows["ctype"].to_numpy() != _ASB_INDEX) & (rows["lsoa"].to_numpy() >= 0)
    eligible[exclude] = False
    candidates = np.flatnonzero(eligible)
    count = _quirk_count(rng, candidates.size, q.duplicate_id, q.duplicate_id_minimum, guaranteed)
    picks = np.sort(rng.choice(candidates, size=count, replace=False))
    variant = np.arange(count) % 3
    real = _real_outcomes(rng, count)
    outcome = rows["outcome"].to_numpy().copy()
    outcome[picks] = np.where(variant == 1, _SUU_INDEX, real)
    rows = rows.assign(outcome=outcome)

    copies = rows.iloc[picks].copy()
    copies["outcome"] = np.where(variant == 1, real, _SUU_INDEX)
    copies["lsoa"] = np.where(variant == 1, -1, copies["lsoa"].to_numpy())
    k = spec.snap_points_per_lsoa
    moved = (copies["snap"].to_numpy() + rng.integers(1, k, size=count)) % k
    copies["snap"] = np.where(variant == 2, moved, copies["snap"].to_numpy())
    copies["empty_street"] = np.where(variant == 2, False, copies["empty_street"].to_numpy())
    return pd.concat([rows, copies], ignore_index=True)


def _real_outcomes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Outcomes drawn from the usual mix, excluding "Status update unavailable"."""
    shares = np.array(list(OUTCOME_SHARES.values()))
    shares[_SUU_INDEX] = 0.0
    return rng.choice(len(OUTCOMES), size=count, p=shares / shares.sum())


def _plant_asb_duplicates(
    spec: DemoSpec, rng: np.random.Generator, rows: pd.DataFrame, guaranteed: bool
) -> pd.DataFrame:
    """Write some located ASB rows twice, identically: separate incidents that look like duplicates."""
    q = spec.quirks
    candidates = np.flatnonzero((rows["ctype"].to_numpy() == _ASB_INDEX) & (rows["lsoa"].to_numpy() >= 0))
    count = _quirk_count(rng, candidates.size, q.asb_exact_duplicate, q.minimum, guaranteed)
    picks = np.sort(rng.choice(candidates, size=count, replace=False))
    return pd.concat([rows, rows.iloc[picks]], ignore_index=True)


def _carry_forward(
    spec: DemoSpec,
    rng: np.random.Generator,
    rows: pd.DataFrame,
    month_index: int,
    carry: dict[int, list[pd.DataFrame]],
) -> np.ndarray:
    """Queue a few located crimes to reappear, same Crime ID and place, in one of the next three months.

    The reappearance carries an updated outcome, as when police.uk re-lists a crime. Returns the positions
    of the queued rows. Draws happen even when no later month exists, so a month's rows never depend on
    how many months follow it.
    """
    q = spec.quirks
    left = spec.months - 1 - month_index
    candidates = np.flatnonzero((rows["ctype"].to_numpy() != _ASB_INDEX) & (rows["lsoa"].to_numpy() >= 0))
    count = _quirk_count(rng, candidates.size, q.reappear, q.minimum, month_index < q.guaranteed_months)
    picks = np.sort(rng.choice(candidates, size=count, replace=False))
    lag = rng.integers(1, 4, size=count)
    later = rows.iloc[picks].assign(outcome=_real_outcomes(rng, count))
    if left >= 1:
        lag = np.minimum(lag, left)
        for step in np.unique(lag):
            carry[month_index + int(step)].append(later[lag == step])
    return picks


def _police_frame(rows: pd.DataFrame, geo: Geography, force: ForceSpec, month: str) -> pd.DataFrame:
    """Turn integer-coded rows into police.uk columns, ordered by LSOA name with no-location rows last."""
    lsoa = rows["lsoa"].to_numpy()
    no_location = lsoa < 0
    li = np.where(no_location, 0, lsoa)
    si = rows["snap"].to_numpy()
    outcome = rows["outcome"].to_numpy()
    empty = np.full(len(rows), "", dtype=object)
    location = np.where(rows["empty_street"].to_numpy(), ON_OR_NEAR, geo.snap_location[li, si])
    frame = pd.DataFrame(
        {
            "Crime ID": rows["crime_id"].to_numpy(dtype=object),
            "Month": month,
            "Reported by": force.police_name,
            "Falls within": force.police_name,
            "Longitude": np.where(no_location, "", geo.snap_lon[li, si]),
            "Latitude": np.where(no_location, "", geo.snap_lat[li, si]),
            "Location": np.where(no_location, NO_LOCATION, location),
            "LSOA code": np.where(no_location, "", geo.lsoas["code"].to_numpy(dtype=object)[li]),
            "LSOA name": np.where(no_location, "", geo.lsoas["name"].to_numpy(dtype=object)[li]),
            "Crime type": CRIME_TYPES[rows["ctype"].to_numpy()],
            "Last outcome category": np.where(outcome < 0, "", OUTCOMES[np.maximum(outcome, 0)]),
            "Context": empty,
        },
        columns=list(POLICE_COLUMNS),
    )
    key = np.where(no_location, len(geo.name_rank), geo.name_rank[li])
    return frame.iloc[np.argsort(key, kind="stable")]
