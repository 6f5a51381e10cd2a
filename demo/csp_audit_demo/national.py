"""A national-scale fictional region for benchmarks: about 43 forces, 300 partnerships, 35,000 LSOAs and
6.5 million police.uk street rows a year, in the same formats as the demo (see :mod:`.generator`).

The shape follows England and Wales (ONS Dec 2019: 43 PFAs, 314 CSPs, 342 LADs, 8,023 wards, 34,753
LSOAs; police.uk: about 6.5 million street rows a year in 516 force-month files) but every name and code
is fictional. Every force is in the region (``police_force_areas`` lists all PFAs), so there are no
``outside_region`` rows; every other quirk of the demo is planted, including unknown LSOA codes.

:func:`national_spec` only builds a :class:`DemoSpec`. :func:`write_national` writes it with the
generator's own row drawing and file writing, with two differences that the demo's
:func:`~csp_audit_demo.region.write_region` cannot express today:

* LSOA and ward codes are numbered from ``E01900001`` / ``E05900001`` (the demo numbers from
  ``E01990001``, which leaves room for only 9,989 LSOAs before codes collide with the planted unknown
  codes ``E01999990..`` and then overflow six digits);
* unknown LSOA codes come from ``E01999800..`` so each of the 43 forces can carry some (the demo allows at
  most 10 in all), and the spec's own ``unknown_lsoas_per_force`` is therefore 0;
* forces are written in parallel worker processes (each force's months stay in order, and every
  force-month draws from its own seeded stream, so the files are byte-identical to a serial run).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from csp_audit_demo import region as g
from csp_audit_demo.region import CspSpec, DemoSpec, ForceSpec, Geography, LadSpec

NATIONAL_SEED = 20260402
N_FORCES = 43
N_LADS = 340
N_CSPS = 310
WARDS_PER_LAD = (8, 38)  # inclusive; 38 is the size of the generator's ward-name pool
LSOAS_PER_WARD = (3, 6)  # mean 4.5 -> about 35,000 LSOAs from about 7,800 wards
ROWS_PER_YEAR = 6_500_000
UNKNOWN_LSOAS_PER_FORCE = 2
LSOA_CODE_FIRST = 900001  # E01900001..
WARD_CODE_FIRST = 900001  # E05900001..
UNKNOWN_CODE_FIRST = 999800  # E01999800.. (the demo's own planted codes start at E01999990)
# Fictional England-and-Wales-sized box the force areas tile: lon, lat.
NATIONAL_BOX = (-5.5, 1.7, 50.1, 55.7)

_FORCE_PREFIXES = (
    "North", "South", "East", "West", "Upper", "Lower", "Mid", "High", "Great", "Old", "New",
)  # fmt: skip
_FORCE_ROOTS = (
    "shire", "moor", "dale", "fell", "wold", "vale", "marsh", "ridge", "holm", "mere", "wick", "stowe",
    "combe", "ford", "lands",
)  # fmt: skip
_PLACE_HEADS = (
    "Harrow", "Ald", "Crane", "Kestle", "Thorn", "Brack", "Elles", "Grey", "Ash", "Beck", "Bram", "Broad",
    "Cold", "Dale", "Fair", "Fox", "Hall", "Hill", "Holme", "Kirk", "Lang", "Mill", "Moor", "Oak", "Raven",
    "Stone", "Wolds", "Wyke", "Marl", "Fen", "Birch", "Elm", "Hawk", "Lark", "Wren", "Rook", "Swan", "Hart",
    "Otter", "Badger",
)  # fmt: skip
_PLACE_TAILS = (
    "gate", "bury", "ton", "ham", "ley", "wick", "by", "thorpe", "field", "stead", "worth", "borough",
    "minster", "well", "combe", "den", "hurst", "bridge", "mouth", "cester",
)  # fmt: skip


@dataclass(frozen=True)
class GeneratedRegion:
    """What :func:`write_national` wrote, with how long each part took."""

    region_file: Path
    files: int
    rows: int
    lsoas: int
    seconds: dict[str, float]


def national_spec(
    months: int,
    start_month: str = "2021-04",
    seed: int = NATIONAL_SEED,
    *,
    n_forces: int = N_FORCES,
    n_lads: int = N_LADS,
    n_csps: int = N_CSPS,
    rows_per_year: int = ROWS_PER_YEAR,
    wards_per_lad: tuple[int, int] = WARDS_PER_LAD,
    name: str = "national",
) -> DemoSpec:
    """A national-shaped spec; the keyword arguments shrink it (the benchmark's ``--quick`` uses 3 forces).

    Forces differ in size (log-normal), most partnerships are one LAD and some cover two or three, as
    in the real lookup. ``rows_per_lsoa_month`` is set so a year has about ``rows_per_year`` rows.
    """
    if not 1 <= n_forces <= len(_FORCE_PREFIXES) * len(_FORCE_ROOTS):
        raise ValueError(f"n_forces must be 1..{len(_FORCE_PREFIXES) * len(_FORCE_ROOTS)}, got {n_forces}")
    if not n_forces <= n_csps <= n_lads <= len(_PLACE_HEADS) * len(_PLACE_TAILS):
        raise ValueError("need n_forces <= n_csps <= n_lads <= 800")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 99]))
    force_names = _unique_names(rng, _FORCE_PREFIXES, _FORCE_ROOTS, n_forces, joiner="")
    lad_names = _unique_names(rng, _PLACE_HEADS, _PLACE_TAILS, n_lads, joiner="")

    size = rng.lognormal(0.0, 0.6, size=n_forces)
    lads_per_force = 1 + rng.multinomial(n_lads - n_forces, size / size.sum())
    # a LAD joins the previous LAD's partnership (same force) for n_lads - n_csps of them
    first_of_force = np.cumsum(np.concatenate([[0], lads_per_force[:-1]]))
    joinable = np.setdiff1d(np.arange(n_lads), first_of_force)
    joins = set(rng.choice(joinable, size=min(n_lads - n_csps, joinable.size), replace=False).tolist())
    n_wards = rng.integers(wards_per_lad[0], wards_per_lad[1] + 1, size=n_lads)

    cells = _grid(n_forces)
    forces: list[ForceSpec] = []
    lad_i = csp_i = 0
    for f in range(n_forces):
        groups: list[list[LadSpec]] = []
        for _ in range(lads_per_force[f]):
            kind = ("E06", "E07", "E08", "E09")[lad_i % 4]
            lad = LadSpec(f"{kind}{990001 + lad_i:06d}", lad_names[lad_i], int(n_wards[lad_i]))
            if lad_i in joins and groups:
                groups[-1].append(lad)
            else:
                groups.append([lad])
            lad_i += 1
        csps = []
        for group in groups:
            csp_name = " and ".join(lad.name for lad in group)
            csps.append(CspSpec(f"E22{990001 + csp_i:06d}", csp_name, tuple(group)))
            csp_i += 1
        forces.append(
            ForceSpec(
                code=f"E23{990001 + f:06d}",
                name=force_names[f],
                slug=force_names[f].lower().replace(" ", "-"),
                in_region=True,
                bbox=cells[f],
                csps=tuple(csps),
            )
        )
    mean_lsoas = float(n_wards.sum()) * (LSOAS_PER_WARD[0] + LSOAS_PER_WARD[1]) / 2
    # seasonality averages out over a year; the +3%/year trend and planted copies add about 2%
    per_lsoa_month = rows_per_year / 12 / mean_lsoas / 1.02
    return DemoSpec(
        forces=tuple(forces),
        seed=seed,
        months=months,
        start_month=start_month,
        name=name,
        lsoas_per_ward=LSOAS_PER_WARD,
        rows_per_lsoa_month=per_lsoa_month,
        unknown_lsoas_per_force=0,  # planted by build_national_geography instead (see module doc)
    )


def quick_spec(months: int = 2, start_month: str = "2021-04", seed: int = NATIONAL_SEED) -> DemoSpec:
    """A tiny national-shaped spec (3 forces, 8 partnerships, about 1,000 LSOAs) for smoke tests."""
    return national_spec(
        months, start_month, seed, n_forces=3, n_lads=9, n_csps=8, rows_per_year=150_000,
        wards_per_lad=(20, 30), name="national-quick",
    )  # fmt: skip


def _unique_names(
    rng: np.random.Generator, heads: tuple[str, ...], tails: tuple[str, ...], n: int, joiner: str
) -> list[str]:
    combos = [f"{h}{joiner}{t}" for h in heads for t in tails]
    picks = rng.choice(len(combos), size=n, replace=False)
    return [combos[i] for i in picks]


def _grid(n: int) -> list[tuple[float, float, float, float]]:
    """n cells tiling NATIONAL_BOX row by row: (lon_min, lon_max, lat_min, lat_max)."""
    lon0, lon1, lat0, lat1 = NATIONAL_BOX
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    width, height = (lon1 - lon0) / cols, (lat1 - lat0) / rows
    return [
        (
            round(lon0 + (i % cols) * width, 4),
            round(lon0 + (i % cols + 1) * width, 4),
            round(lat0 + (i // cols) * height, 4),
            round(lat0 + (i // cols + 1) * height, 4),
        )
        for i in range(n)
    ]


# ---------------------------------------------------------------------------------------------- geography


def build_national_geography(spec: DemoSpec, unknown_per_force: int = UNKNOWN_LSOAS_PER_FORCE) -> Geography:
    """The generator's geography, numbered for national size, with unknown LSOAs for every force."""
    rng = g._rng(spec, 0)
    known = pd.concat([g._force_lsoas(spec, rng, pos) for pos in range(len(spec.forces))], ignore_index=True)
    known["code"] = [f"E01{LSOA_CODE_FIRST + i:06d}" for i in range(len(known))]
    ward_seq = pd.factorize(known["lad_code"] + ":" + known["ward"].astype(str))[0]
    known["ward_code"] = [f"E05{WARD_CODE_FIRST + i:06d}" for i in ward_seq]
    known = known.drop(columns=["ward"])
    if LSOA_CODE_FIRST + len(known) >= UNKNOWN_CODE_FIRST:
        raise ValueError(f"{len(known)} LSOAs do not fit below the unknown codes E01{UNKNOWN_CODE_FIRST}")
    unknown = _unknown_lsoas(spec, rng, known, unknown_per_force)
    lsoas = pd.concat([known, unknown], ignore_index=True)
    snap_lon, snap_lat, snap_location = g._snap_points(spec, rng, lsoas)
    ranks = np.zeros(len(lsoas), dtype=np.int64)
    ranks[np.argsort(lsoas["name"].to_numpy(dtype=str), kind="stable")] = np.arange(len(lsoas))
    p = 1.0 / np.arange(1, spec.snap_points_per_lsoa + 1) ** 0.8
    return Geography(
        lsoas=lsoas.drop(columns=["lon", "lat"]),
        snap_lon=snap_lon,
        snap_lat=snap_lat,
        snap_location=snap_location,
        snap_p=p / p.sum(),
        name_rank=ranks,
    )


def _unknown_lsoas(
    spec: DemoSpec, rng: np.random.Generator, known: pd.DataFrame, per_force: int
) -> pd.DataFrame:
    """Well-formed LSOA codes no lookup knows, placed beside random LSOAs of each force (vectorised)."""
    force = known["force"].to_numpy()
    anchors = np.concatenate(
        [np.sort(rng.choice(np.flatnonzero(force == pos), size=per_force, replace=False))
         for pos in range(len(spec.forces)) if spec.forces[pos].in_region and per_force]
        or [np.zeros(0, dtype=np.int64)]
    )  # fmt: skip
    a = known.iloc[anchors]
    n = len(a)
    return pd.DataFrame(
        {
            "name": [f"{lad} {90 + j % max(per_force, 1):03d}A" for j, lad in enumerate(a["lad_name"])],
            "ward_name": "",
            "lad_code": "",
            "lad_name": a["lad_name"].to_numpy(),
            "in_lookup": False,
            "weight": 1.0,
            "population": 0,
            "lon": a["lon"].to_numpy() + rng.normal(0.0, spec.snap_spread_deg, size=n),
            "lat": a["lat"].to_numpy() + rng.normal(0.0, spec.snap_spread_deg, size=n),
            "force": a["force"].to_numpy(),
            "code": [f"E01{UNKNOWN_CODE_FIRST + i:06d}" for i in range(n)],
            "ward_code": "",
        },
        columns=list(known.columns),
    )


# ------------------------------------------------------------------------------------------------ writing

_WORKER: dict[str, object] = {}


def _init_worker(out_dir: Path, spec: DemoSpec, geo: Geography) -> None:
    _WORKER.update(out_dir=out_dir, spec=spec, geo=geo)


def _write_force(pos: int) -> tuple[int, int]:
    """All months of one force, in order (reappearing crimes carry forward): files and rows written."""
    out_dir, spec, geo = _WORKER["out_dir"], _WORKER["spec"], _WORKER["geo"]
    assert isinstance(out_dir, Path) and isinstance(spec, DemoSpec) and isinstance(geo, Geography)
    force = spec.forces[pos]
    carry: dict[int, list[pd.DataFrame]] = defaultdict(list)
    rows_written = 0
    for m, label in enumerate(spec.month_labels()):
        rows = g._force_month_rows(spec, geo, pos, m, g._rng(spec, 1, pos, m), carry)
        path = out_dir / g.POLICE_DIR / label / f"{label}-{force.slug}-street.csv"
        g._to_csv(g._police_frame(rows, geo, force, label), path)
        g._set_published(path, label)
        rows_written += len(rows)
    return spec.months, rows_written


def write_national(out_dir: Path, spec: DemoSpec, *, workers: int | None = None) -> GeneratedRegion:
    """Write lookups, police files and region.yaml for a national spec; forces in parallel processes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    geo = build_national_geography(spec)
    seconds["geography"] = time.perf_counter() - t
    t = time.perf_counter()
    g._write_lookups(out_dir, spec, geo)
    region_file = g._write_region_yaml(out_dir, spec)
    seconds["lookups"] = time.perf_counter() - t
    t = time.perf_counter()
    positions = [pos for pos, force in enumerate(spec.forces) if force.in_region]
    # biggest forces first, so the last worker to finish is not stuck with a large one
    positions.sort(key=lambda pos: -sum(lad.n_wards for lad in spec.forces[pos].lads))
    workers = workers or min(len(positions), os.cpu_count() or 1)
    if workers <= 1:
        _init_worker(out_dir, spec, geo)
        results = [_write_force(pos) for pos in positions]
    else:
        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(out_dir, spec, geo)
        ) as pool:
            results = list(pool.map(_write_force, positions))
    seconds["police_files"] = time.perf_counter() - t
    return GeneratedRegion(
        region_file=region_file,
        files=sum(f for f, _ in results),
        rows=sum(r for _, r in results),
        lsoas=int(geo.lsoas["in_lookup"].sum()),
        seconds={k: round(v, 2) for k, v in seconds.items()},
    )


def with_months(spec: DemoSpec, months: int) -> DemoSpec:
    """The same region over a different number of months."""
    return replace(spec, months=months)
