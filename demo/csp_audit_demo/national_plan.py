"""The national benchmark region's data plan, and every agency's deliveries at national scale.

:func:`write_national_plan` writes ``plan.yaml`` beside a national region (:mod:`.national`) with the demo
plan's eleven data contracts (:func:`csp_audit_demo.plan.datasets_yaml`) and the agencies a national plan
has, per police force area: the force (police.uk street files and domestic abuse counts), a fire and rescue
service, one or two emergency departments (a force with two or more partnerships has a second hospital that
also treats the first one's border partnership), a council community safety team per local authority
district, a youth justice service, a probation service (caseload and proven reoffending), a housing
provider, a drug and alcohol treatment service and a community safety survey.

:func:`write_national_agencies` writes their deliveries with the demo generator's own row drawing
(:func:`csp_audit_demo.agencies.write_deliveries`), one force area at a time in parallel worker processes,
so every agency's volume follows the wards, districts and LSOAs it serves, as in the demo. Differences
from the demo's :func:`~csp_audit_demo.agencies.generate_agency_deliveries`, which models the whole region
at once:

* each force area gets its own model of 2015 wards and postcode districts (numbered after the previous
  forces', with a two-letter postcode area per force and at most 99 districts, about 12 LSOAs each), so
  no matrix crosses the country;
* the police weights (violence, ASB, criminal damage and arson per LSOA) come from the first twelve
  months of police files, counted by DuckDB, instead of every file read by pandas;
* the planted defects are chosen once over the whole plan (one of each, in the first year), and
  ``generated-agencies.json`` (beside ``landing/``) lists every file with its dataset and period, so
  the benchmark can land a month (or the periods that end in it) at a time.

Each (dataset, agency, period) draws from its own stream, so the files are byte-identical whatever the
number of workers.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
from csp_audit.config import load_region
from csp_audit.plan import load_plan
from csp_audit.plan.periods import CADENCE_MONTHS, Month

from csp_audit_demo import agencies as a
from csp_audit_demo.plan import _codes, _cycle_start, _domain, _Force, _forces, _q, _slug, datasets_yaml

NATIONAL_AGENCY_SEED = 20260403
WEIGHT_MONTHS = 12  # police months the agency volumes are weighted by
LSOAS_PER_DISTRICT = 12  # England and Wales: about 2,900 postcode districts for 35,000 LSOAs
MAX_DISTRICTS = 99  # the contract's postcode district pattern allows one or two digits
MANIFEST = "generated-agencies.json"


@dataclass(frozen=True)
class GeneratedAgencies:
    """What :func:`write_national_agencies` wrote."""

    rows: dict[str, int]  # per dataset
    files: dict[str, int]  # per dataset
    defects: int
    seconds: dict[str, float]


# ------------------------------------------------------------------------------------------------- plan


def _agencies(forces: list[_Force]) -> tuple[str, dict[str, list[str]]]:
    """The ``agencies:`` section and, per kind of dataset, the agency ids that deliver it."""
    lines = ["agencies:"]
    kinds: dict[str, list[str]] = {k: [] for k in ("police", "fire", "eds", "councils", "yot", "probation",
                                                      "housing", "survey", "treatment")}  # fmt: skip

    def add(kind: str, key: str, name: str, agency_type: str, contact: str, serves: tuple[str, ...]) -> None:
        kinds[kind].append(key)
        lines.append(f"  {key}:")
        lines.append(f"    name: {_q(name)}")
        lines.append(f"    type: {agency_type}")
        lines.append(f"    contact: {contact}")
        lines.append(f"    serves: {_codes(serves)}")

    for force in forces:
        slug, domain, csps = _slug(force.name), _domain(force.name), force.csps
        add("police", f"{slug}_police", f"{force.name} Police", "police", f"data@{domain}.police.example", csps)  # fmt: skip
        add("fire", f"{slug}_fire", f"{force.name} Fire and Rescue Service", "fire_and_rescue",
            f"information@{domain}-fire.example", csps)  # fmt: skip
        first_hub, last_hub = force.lads[0][1], force.lads[-1][1]
        if len(csps) >= 2:
            half = (len(csps) + 1) // 2
            # the second hospital's catchment crosses the border
            general, royal = csps[:half], csps[half - 1 :]
        else:
            general, royal = csps, ()
        add("eds", f"{_slug(first_hub)}_general_ed", f"{first_hub} General Hospital Emergency Department",
            "emergency_department", f"istv@{_domain(first_hub)}-hospital.nhs.example", general)  # fmt: skip
        if royal:
            add("eds", f"{_slug(last_hub)}_royal_ed", f"{last_hub} Royal Infirmary Emergency Department",
                "emergency_department", f"istv@{_domain(last_hub)}-royal.nhs.example", royal)  # fmt: skip
        for _code, name, lad_csps in force.lads:
            add("councils", f"{_slug(name)}_council", f"{name} Council community safety team", "local_authority",
                f"community.safety@{_domain(name)}.gov.example", lad_csps)  # fmt: skip
        add("yot", f"{slug}_youth_justice", f"{force.name} Youth Justice Service", "youth_offending",
            f"performance@{domain}-youthjustice.gov.example", csps)  # fmt: skip
        add("probation", f"{slug}_probation", f"Probation Service ({force.name})", "probation",
            f"performance@{domain}.probation.gov.example", csps)  # fmt: skip
        add("housing", f"{slug}_homes", f"{force.name} Homes", "housing", f"asb.team@{domain}-homes.example", csps)  # fmt: skip
        add("treatment", f"{slug}_treatment", f"{force.name} Drug and Alcohol Treatment Service", "public_health",
            f"ndtms.returns@{domain}-treatment.nhs.example", csps)  # fmt: skip
        add("survey", f"{slug}_survey", f"{force.name} Community Safety Survey", "consultation",
            f"surveys@{domain}-survey.example", csps)  # fmt: skip
    return "\n".join(lines), kinds


def write_national_plan(region_dir: Path) -> Path:
    """Write ``plan.yaml`` beside a national region's ``region.yaml`` (every force area) and return its path."""
    region_dir = Path(region_dir)
    region_file = region_dir / "region.yaml"
    region_name, forces = _forces(region_file)
    start_month = load_region(region_file).audit_year_start_month
    agencies, kinds = _agencies(forces)
    lists = {kind: "[" + ", ".join(ids) + "]" for kind, ids in kinds.items()}
    # the police, ED and council lists sit inside brackets in the template
    lists |= {kind: ", ".join(kinds[kind]) for kind in ("police", "eds", "councils")}
    text = (
        "# Data plan of the national benchmark region (fictional). Keys: docs/data-plan.md\n"
        f"name: {region_name}-plan\n"
        f"description: {_q(f'One co-ordinated data request per agency for the {len(forces)} force areas.')}\n"
        "region: region.yaml\n"
        "coordinator: {name: National community safety data group, contact: csp-data@national.gov.example}\n"
        f"cycle: {{start: {_cycle_start(region_dir, start_month)}, months: 12}}\n"
        "\n"
        f"{agencies}\n"
        "\n"
        f"{datasets_yaml(**lists)}"
    )
    path = region_dir / "plan.yaml"
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


# ----------------------------------------------------------------------------------------------- deliveries


def police_counts_duckdb(region_dir: Path, months: int = WEIGHT_MONTHS) -> dict[str, pd.Series] | None:
    """Rows per LSOA code of each kind the agency volumes follow, in the first ``months`` months of police files."""
    import duckdb

    police = region_dir / "police"
    labels = sorted(p.name for p in police.iterdir() if p.is_dir())[:months] if police.is_dir() else []
    files = [str(f) for label in labels for f in sorted((police / label).glob("*-street.csv"))]
    if not files:
        return None
    kinds = {crime_type: key for key, crime_type in a.POLICE_KINDS.items()}
    con = duckdb.connect()
    frame = con.execute(
        """
        select "Crime type" as crime_type, "LSOA code" as code, count(*) as n
        from read_csv(?, header = true, all_varchar = true)
        where "Crime type" in (select unnest(?)) and "LSOA code" is not null
        group by all
        """,
        [files, list(kinds)],
    ).df()
    con.close()
    return {
        kinds[crime_type]: frame.loc[frame["crime_type"] == crime_type].set_index("code")["n"]
        for crime_type in kinds
    }


def _district_prefixes(names: list[str]) -> dict[str, str]:
    """A distinct two-letter postcode area per force: its initial and a later letter of its name."""
    taken: set[str] = set()
    out: dict[str, str] = {}
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    for name in names:
        upper = "".join(ch for ch in name.upper() if "A" <= ch <= "Z") or "X"
        choices = [upper[0] + ch for ch in upper[1:]] + [upper[0] + ch for ch in letters]
        choices += [x + y for x in letters for y in letters]
        prefix = next(c for c in choices if c not in taken)
        taken.add(prefix)
        out[name] = prefix
    return out


_WORKER: dict[str, Any] = {}


def _write_force(force: str) -> dict[str, Any]:
    """Every delivery of the agencies serving one force area (a :class:`_Region` of that area alone)."""
    w = _WORKER
    frame: pd.DataFrame = w["frame"]
    plan = w["plan"]
    job = w["jobs"][force]
    region = a.build_region(
        frame, set(job["csps"]), w["counts"], w["seed"], label=force,
        wd15_first=job["wd15_first"], districts={force: job["districts"]}, stream=(force,),
    )  # fmt: skip
    mine = {k: v for k, v in plan.agencies.items() if k in job["agencies"]}
    sub_plan = replace(plan, agencies=mine)
    datasets = [replace(ds, agencies=tuple(x for x in ds.agencies if x in mine)) for ds in w["datasets"]]
    out = a._Output(w["landing"], w["seed"])
    a.write_deliveries(out, region, sub_plan, datasets, w["planned"], w["targets"], w["scale"])
    return {"rows": out.rows, "defects": out.defects, "files": sorted(out.mtimes), "wd15": region.wd15,
            "pcds": region.pcds}  # fmt: skip


def write_national_agencies(
    region_dir: Path,
    months: int,
    *,
    start_month: str = "2021-04",
    seed: int = NATIONAL_AGENCY_SEED,
    scale: float = 1.0,
    workers: int | None = None,
) -> GeneratedAgencies:
    """Every agency delivery of the national plan (all but police.uk) (``plan.yaml``, :func:`write_national_plan`) for the
    periods that end within ``months`` months from ``start_month``, the apportionment lookups, the defects
    list (``landing/_defects.json``) and the manifest (``generated-agencies.json``)."""
    region_dir = Path(region_dir)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    plan = load_plan(region_dir / "plan.yaml")
    first = Month.parse(start_month)
    plan.cycle.shifted(first)  # a cycle must start there, so quarters and years stay aligned
    frame = a.region_frame(region_dir)
    counts = police_counts_duckdb(region_dir)
    datasets = a.agency_datasets(plan)
    planned = a.planned_periods(datasets, first, months)
    targets = a._choose_defects(seed, plan, planned, first)
    seconds["prepare"] = time.perf_counter() - t

    forces = sorted(frame["PFA19NM"].unique())
    prefixes = _district_prefixes(forces)
    jobs: dict[str, dict[str, Any]] = {}
    wd15_first = a.WD15_FIRST
    for force in forces:
        rows = frame[frame["PFA19NM"] == force]
        csps = set(rows["CSP19CD"])
        jobs[force] = {
            "csps": sorted(csps),
            # the forces too: they deliver domestic abuse counts (their police.uk files are written elsewhere)
            "agencies": {k for k, ag in plan.agencies.items() if set(ag.serves) <= csps},
            "wd15_first": wd15_first,
            "districts": (prefixes[force], max(1, min(MAX_DISTRICTS, round(len(rows) / LSOAS_PER_DISTRICT)))),
            "lsoas": len(rows),
        }
        # a district's 2015 wards: at most one more than its 2019 wards (one split, one merge)
        wd15_first += rows["WD19CD"].nunique() + rows["LAD19CD"].nunique()
    served = set().union(*(job["agencies"] for job in jobs.values()))
    stray = sorted(k for k in plan.agencies if k not in served)
    if stray:
        raise ValueError(f"agencies serving more than one force area are not generated: {', '.join(stray)}")

    landing = region_dir / a.LANDING_DIR
    _WORKER.update(frame=frame, plan=plan, jobs=jobs, counts=counts, seed=seed, datasets=datasets,
                   planned=planned, targets=targets, scale=scale, landing=landing)  # fmt: skip
    order = sorted(forces, key=lambda f: -jobs[f]["lsoas"])  # biggest first
    t = time.perf_counter()
    workers = workers or min(len(order), os.cpu_count() or 1)
    if workers <= 1:
        results = {force: _write_force(force) for force in order}
    else:
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            results = dict(zip(order, pool.map(_write_force, order), strict=True))
    seconds["deliveries"] = time.perf_counter() - t

    t = time.perf_counter()
    done = [results[f] for f in forces]
    a.write_apportionment_lookups(
        region_dir,
        pd.concat([r["wd15"] for r in done], ignore_index=True),
        pd.concat([r["pcds"] for r in done], ignore_index=True),
    )
    defects = sorted((d for r in done for d in r["defects"]), key=lambda d: (d["file"], d["defect"]))
    landing.mkdir(parents=True, exist_ok=True)
    (landing / a.DEFECTS_FILE).write_text(json.dumps(defects, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8", newline="\n")  # fmt: skip
    a.add_apportionment(region_dir / "region.yaml")
    rows = {ds.id: sum(r["rows"].get(ds.id, 0) for r in done) for ds in datasets}
    manifest = []
    for rel in sorted(f for r in done for f in r["files"]):
        dataset_id = _dataset_of(rel, datasets)
        start = Month.parse(rel.rsplit("/", 2)[-2])
        cadence = plan.datasets[dataset_id].cadence
        manifest.append({"file": rel, "dataset": dataset_id, "period": str(start),
                         "period_end": str(start.plus(CADENCE_MONTHS[cadence] - 1))})  # fmt: skip
    (region_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    files = {ds.id: sum(1 for m in manifest if m["dataset"] == ds.id) for ds in datasets}
    seconds["lookups"] = time.perf_counter() - t
    return GeneratedAgencies(rows=rows, files=files, defects=len(defects),
                             seconds={k: round(v, 2) for k, v in seconds.items()})  # fmt: skip


def _dataset_of(rel: str, datasets: list[Any]) -> str:
    """The dataset of a written file, from its name ``<dataset>_<agency>_<YYYY-MM>[_vN].csv``."""
    name = rel.rsplit("/", 1)[-1]
    for ds in sorted(datasets, key=lambda d: -len(d.id)):
        if name.startswith(ds.id + "_"):
            return str(ds.id)
    raise ValueError(f"{rel}: no dataset of the plan")
