"""Tests of the demo agency deliveries (fire, ED, councils, youth justice, probation, housing, treatment,
domestic abuse, survey).

Expectations come from the plan, the region's lookups and the written files themselves; formats and
vocabularies are spelled out literally rather than imported, so a change to the generator's constants
cannot silently change what is checked. Every planted defect must be both listed in ``_defects.json`` and
detectable from the files alone, the way the pipeline will have to find it.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from csp_audit.plan import DataPlan, Dataset, load_plan
from csp_audit.plan.periods import Period
from csp_audit_demo.agencies import generate_agency_deliveries
from csp_audit_demo.plan import write_demo_plan
from csp_audit_demo.region import generate_demo_region

MONTHS = 12
WD15 = "lookups/WD15_LSOA11_weights.csv"
PCDS = "lookups/PCDS_LSOA11_address_weights.csv"
LSOA_LOOKUP = "lookups/LSOA11_WD19_LAD19_lookup_EW.csv"
PARTNERSHIP_LOOKUP = "lookups/LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"
POPULATION = "lookups/lsoa_population.csv"
REGION_PFAS = {"E23990001", "E23990002"}
DEFECT_KINDS = {
    "wrong_vintage_area_code": "fire_incidents",
    "arrival_before_incident": "ed_assaults",
    "future_date": "ed_assaults",
    "redelivery": "ed_assaults",
    "missing_period": "la_asb_reports",
    "duplicate_rows": "la_asb_reports",
    "malformed_header": "housing_asb_complaints",
    "late_delivery": "probation_caseload",
}
TYPE_PATTERNS = {
    "month": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    "date": re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"),
    "datetime": re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d$"),
    "integer": re.compile(r"^\d+$"),
}
ONS_CODE = re.compile(r"^E0[1-9]\d{6}$")
DISTRICT = re.compile(r"^(NS[1-9]|SM[1-6])$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
ED_LOCATIONS = {"street", "pub or bar", "nightclub", "home", "workplace", "school", "other"}
ED_MEANS = {
    "body part (fist, feet)",
    "blunt object",
    "bottle or glass",
    "knife or sharp object",
    "firearm",
    "other",
}
SAFETY = {"very safe", "fairly safe", "neither", "fairly unsafe", "very unsafe"}
CONCERNS = {
    "anti-social behaviour",
    "drug dealing",
    "burglary",
    "speeding traffic",
    "violence",
    "vandalism",
    "fly-tipping",
    "knife crime",
    "litter",
    "vehicle crime",
    "street drinking",
}
VOCABULARIES = {
    ("fire_incidents", "fire_category"): {"deliberate primary", "deliberate secondary"},
    ("ed_assaults", "incident_location"): ED_LOCATIONS,
    ("ed_assaults", "means_of_assault"): ED_MEANS,
    ("la_asb_reports", "report_type"): {"anti-social behaviour", "fly-tipping"},
    ("yot_first_time_entrants", "age_band"): {"10-14", "15-17"},
    ("probation_caseload", "offence_group"): {"violence", "acquisitive", "drugs", "sexual", "other"},
    ("substance_misuse_treatment", "substance_group"): {
        "opiate",
        "non-opiate",
        "alcohol",
        "alcohol and non-opiate",
    },
    ("proven_reoffending", "cohort_type"): {"adult", "juvenile"},
    ("domestic_abuse_incidents", "record_type"): {"incident", "crime"},
    ("domestic_abuse_incidents", "repeat_victim"): {"yes", "no"},
    ("consultation_survey", "feel_safe_day"): SAFETY,
    ("consultation_survey", "feel_safe_night"): SAFETY,
}
PATIENT_ID = re.compile(r"\b[A-Z]{2,4}\d{6}\b")


@dataclass(frozen=True)
class Built:
    root: Path
    copy: Path  # the same region before deliveries, for the determinism test
    plan: DataPlan
    counts: dict[str, int]
    region_before: dict[str, Any]

    @property
    def landing(self) -> Path:
        return self.root / "landing"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("agencies")
    root = base / "region"
    generate_demo_region(root, months=MONTHS)
    write_demo_plan(root)
    plan = load_plan(root / "plan.yaml")
    region_before = yaml.safe_load((root / "region.yaml").read_text(encoding="utf-8"))
    copy = base / "copy"
    shutil.copytree(root, copy)
    counts = generate_agency_deliveries(root, months=MONTHS)
    return Built(root, copy, plan, counts, region_before)


# ----------------------------------------------------------------------------------------------- helpers


def agency_datasets(plan: DataPlan) -> list[Dataset]:
    return [ds for ds in plan.datasets.values() if ds.id != "police_uk_street"]


def rel(ds: Dataset, agency: str, period: Period, suffix: str = "") -> str:
    return f"{ds.landing_folder(agency)}/{period.key}/{ds.id}_{agency}_{period.key}{suffix}.csv"


def defects(built: Built) -> list[dict[str, str]]:
    return json.loads((built.landing / "_defects.json").read_text(encoding="utf-8"))


def only(built: Built, kind: str) -> dict[str, str]:
    found = [d for d in defects(built) if d["defect"] == kind]
    assert len(found) == 1, (kind, found)
    return found[0]


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle))


def deliveries(built: Built) -> list[tuple[Dataset, str, Period, str]]:
    """Every (dataset, agency, period, relative file) written, the re-delivery included."""
    out = []
    for ds in agency_datasets(built.plan):
        for agency in ds.agencies:
            for period in built.plan.cycle.periods(ds.cadence):
                for suffix in ("", "_v2"):
                    name = rel(ds, agency, period, suffix)
                    if (built.landing / name).is_file():
                        out.append((ds, agency, period, name))
    return out


def region_lookups(root: Path) -> pd.DataFrame:
    lookup = pd.read_csv(root / LSOA_LOOKUP, dtype=str)
    parts = pd.read_csv(root / PARTNERSHIP_LOOKUP, dtype=str, encoding="utf-8-sig")
    frame = lookup.merge(parts[["LAD19CD", "CSP19CD", "PFA19CD", "PFA19NM"]], on="LAD19CD")
    return frame[frame["PFA19CD"].isin(REGION_PFAS)].reset_index(drop=True)


def period_months(period: Period) -> set[str]:
    months, month = set(), period.start
    while month <= period.end:
        months.add(str(month))
        month = month.plus(1)
    return months


def due_end(period: Period, ds: Dataset) -> datetime:
    due = period.due_date(ds.due_day)
    return datetime(due.year, due.month, due.day) + timedelta(days=1)


def incident_times(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    timed = frame["incident_time"] != ""
    when = pd.to_datetime(frame["incident_date"] + "T" + frame["incident_time"].where(timed, "00:00"))
    arrival = pd.to_datetime(frame["arrival_datetime"], format="%Y-%m-%dT%H:%M:%S")
    return when.where(timed), arrival


# ---------------------------------------------------------------------------------------------- the files


def test_same_arguments_give_byte_identical_files_and_times(built: Built) -> None:
    counts = generate_agency_deliveries(built.copy, months=MONTHS)
    assert counts == built.counts

    def snapshot(root: Path) -> dict[str, tuple[bytes, float | None]]:
        """Contents of everything written, and the delivery times of the deliveries (the rest is 'now')."""
        out: dict[str, tuple[bytes, float | None]] = {}
        for path in (root / "landing").rglob("*"):
            if path.is_file():
                when = path.stat().st_mtime if path.suffix == ".csv" else None
                out[path.relative_to(root).as_posix()] = (path.read_bytes(), when)
        for name in (WD15, PCDS, "region.yaml"):
            out[name] = ((root / name).read_bytes(), None)
        return out

    first = snapshot(built.root)
    assert snapshot(built.copy) == first
    generate_agency_deliveries(built.copy, months=MONTHS, seed=7)
    assert snapshot(built.copy) != first
    generate_agency_deliveries(built.copy, months=MONTHS)  # a rerun leaves no stale file behind
    assert snapshot(built.copy) == first


def test_every_expected_delivery_is_there_except_the_missing_one(built: Built) -> None:
    missing = {d["file"] for d in defects(built) if d["defect"] == "missing_period"}
    redelivered = {d["file"] for d in defects(built) if d["defect"] == "redelivery"}
    expected = set()
    for ds in agency_datasets(built.plan):
        for agency in ds.agencies:
            for period in built.plan.cycle.periods(ds.cadence):
                expected.add(rel(ds, agency, period))
    assert len(missing) == 1 and missing <= expected
    written = {p.relative_to(built.landing).as_posix() for p in built.landing.rglob("*") if p.is_file()}
    assert written == (expected - missing) | redelivered | {"_defects.json"}
    assert not (built.landing / "police").exists()
    assert set(built.counts) == {ds.id for ds in agency_datasets(built.plan)}
    assert all(count > 0 for count in built.counts.values())


def test_headers_equal_the_plan_columns_except_the_malformed_file(built: Built) -> None:
    malformed = only(built, "malformed_header")["file"]
    for ds, _agency, _period, name in deliveries(built):
        columns = [c.name for c in ds.columns]
        got = header(built.landing / name)
        if name == malformed:
            assert len(got) == len(columns) and got != columns
            assert sum(a != b for a, b in zip(got, columns, strict=True)) == 1
        else:
            assert got == columns, name


def test_values_have_the_declared_formats_and_rows_belong_to_their_period(built: Built) -> None:
    future = only(built, "future_date")
    for ds, _agency, period, name in deliveries(built):
        frame = read(built.landing / name)
        frame.columns = [c.name for c in ds.columns]
        assert len(frame) > 0, name
        months = period_months(period)
        temporal = next(c for c in ds.columns if c.type in ("month", "date", "datetime"))
        outside = frame[~frame[temporal.name].str[:7].isin(months)]
        if name == future["file"]:
            assert len(outside) == 1
        else:
            assert outside.empty, (name, outside.head())
        for col in ds.columns:
            values = frame[col.name]
            if col.required:
                assert (values != "").all(), (name, col.name)
            present = values[values != ""]
            if col.type in TYPE_PATTERNS:
                assert present.str.match(TYPE_PATTERNS[col.type]).all(), (name, col.name)
            if col.type == "date":
                pd.to_datetime(present, format="%Y-%m-%d")  # real calendar dates
            if col.type == "code":
                fallback = ds.geography.fallback
                geo = fallback if fallback and col.name == fallback.column else ds.geography
                pattern = DISTRICT if geo.type == "postcode_district" else ONS_CODE
                assert present.str.match(pattern).all(), (name, col.name)
            vocabulary = VOCABULARIES.get((ds.id, col.name))
            if vocabulary:
                assert set(present) <= vocabulary, (name, col.name)
        if ds.id == "ed_assaults":
            assert frame["incident_time"][frame["incident_time"] != ""].str.match(HHMM).all()
        if ds.id == "consultation_survey":
            concerns = frame[["top_concern_1", "top_concern_2", "top_concern_3"]]
            picked = [[c for c in row if c] for row in concerns.itertuples(index=False)]
            assert all(set(row) <= CONCERNS and len(set(row)) == len(row) for row in picked)
            assert not ((frame["top_concern_2"] == "") & (frame["top_concern_3"] != "")).any()
            assert frame["response_id"].is_unique


def test_areas_come_from_the_right_lookup_and_agency(built: Built) -> None:
    lookups = region_lookups(built.root)
    wd15 = set(pd.read_csv(built.root / WD15, dtype=str)["WD15CD"])
    districts = set(pd.read_csv(built.root / PCDS, dtype=str)["PCDS"])
    wrong = only(built, "wrong_vintage_area_code")["file"]
    plan = built.plan
    for ds, agency, _period, name in deliveries(built):
        frame = read(built.landing / name)
        frame.columns = [c.name for c in ds.columns]
        served = lookups[lookups["CSP19CD"].isin(ds.covers(plan.agencies[agency]))]
        if ds.id == "fire_incidents" and name != wrong:
            assert set(frame["ward_code"]) <= wd15
        elif ds.id == "la_asb_reports":
            lad = {
                code
                for code, lad_name in zip(served["LAD19CD"], served["LAD19NM"], strict=True)
                if agency == re.sub(r"[^a-z0-9]+", "_", lad_name.lower()).strip("_") + "_council"
            }
            assert len(lad) == 1
            assert set(frame["ward_code"]) <= set(served.loc[served["LAD19CD"].isin(lad), "WD19CD"])
        elif ds.id == "probation_caseload":
            assert set(frame["ward_code"]) == set(served["WD19CD"])
        elif ds.id == "yot_first_time_entrants":
            assert set(frame["lad_code"]) == set(served["LAD19CD"])
            assert frame["first_time_entrants"].astype(int).between(0, 15).all()
        elif ds.id == "housing_asb_complaints":
            assert set(frame["lsoa_code"]) <= set(served["LSOA11CD"])
        elif ds.id == "substance_misuse_treatment":
            assert set(frame["lad_code"]) == set(served["LAD19CD"])
            assert len(frame) == 4 * len(set(served["LAD19CD"]))  # every cell, zeros included
            assert (frame["in_treatment"].astype(int) >= frame["new_presentations"].astype(int)).all()
        elif ds.id == "proven_reoffending":
            assert set(frame["lad_code"]) == set(served["LAD19CD"])
            offenders, reoffenders = frame["offenders"].astype(int), frame["reoffenders"].astype(int)
            assert (reoffenders <= offenders).all()
            assert (frame["reoffences"].astype(int) >= reoffenders).all()
        elif ds.id == "domestic_abuse_incidents":
            assert agency in {"northshire_police", "southmoor_police"}
            assert set(frame["lsoa_code"]) <= set(served["LSOA11CD"])
            assert (frame["incidents"].astype(int) > 0).all()
            # one force records repeat victims, the other leaves the optional column blank
            assert (frame["repeat_victim"] == "").all() == (agency == "southmoor_police")
        elif ds.id == "ed_assaults":
            assert set(frame["patient_postcode_district"]) - {""} <= districts
            # where the assault happened: an LSOA the department serves (blank where not coded)
            coded = frame["incident_lsoa_code"] != ""
            assert set(frame.loc[coded, "incident_lsoa_code"]) <= set(served["LSOA11CD"])
            assert frame["patient_id"].str.match(r"^[A-Z]{2,4}\d{6}$").all()
        elif ds.id == "consultation_survey":
            assert set(frame["respondent_area"]) <= districts


def test_volumes_and_patterns_are_plausible(built: Built) -> None:
    lsoas = len(region_lookups(built.root))
    ed = pd.concat([read(built.landing / n) for ds, _a, _p, n in deliveries(built) if ds.id == "ed_assaults"])
    assert 1 <= len(ed) / lsoas <= 10  # a few assault attendances per LSOA and year
    assert 0.85 < (ed["incident_lsoa_code"] != "").mean() < 0.99  # most with a coded location
    hour = ed["incident_time"][ed["incident_time"] != ""].str[:2].astype(int)
    assert ((hour >= 20) | (hour < 4)).mean() > 0.4  # the night-time economy
    venue = ed["incident_location"].isin(["pub or bar", "nightclub"])
    assert venue.any() and (ed["incident_location"] == "home").any()
    survey = pd.concat(
        [read(built.landing / n) for ds, _a, _p, n in deliveries(built) if ds.id == "consultation_survey"]
    )
    assert 5 * 350 <= len(survey) <= 5 * 450  # about 400 per partnership
    population = pd.read_csv(built.root / POPULATION)["population"]
    served = population[
        pd.read_csv(built.root / POPULATION, dtype=str)["LSOA11CD"].isin(
            region_lookups(built.root)["LSOA11CD"]
        )
    ]
    per_1000 = 1000 / served.sum()  # a year of data (MONTHS = 12) per 1,000 residents

    def total(dataset: str, column: str) -> int:
        frames = [read(built.landing / n) for ds, _a, _p, n in deliveries(built) if ds.id == dataset]
        return int(pd.concat(frames)[column].astype(int).sum())

    assert 12 <= total("domestic_abuse_incidents", "incidents") * per_1000 <= 22  # about 15-20 per 1,000
    assert 1.5 <= total("substance_misuse_treatment", "new_presentations") * per_1000 <= 3.5
    reoffending = pd.concat(
        [read(built.landing / n) for ds, _a, _p, n in deliveries(built) if ds.id == "proven_reoffending"]
    )
    by_cohort = (
        reoffending[["offenders", "reoffenders"]].astype(int).groupby(reoffending["cohort_type"]).sum()
    )
    rate = by_cohort["reoffenders"] / by_cohort["offenders"]
    assert 0.2 <= rate["adult"] <= 0.3 and 0.2 <= rate["juvenile"] <= 0.5  # about 25% and 35%
    assert survey["response_date"].str[:7].nunique() == 1
    for ds in agency_datasets(built.plan):
        if ds.sharing.level != "aggregate":
            continue
        counts = pd.concat(
            [read(built.landing / n).iloc[:, -1] for d, _a, _p, n in deliveries(built) if d.id == ds.id]
        ).astype(int)
        small = counts.between(1, ds.sharing.min_cell_size - 1)
        assert small.any(), ds.id  # counts the agency should have suppressed are there, as in real life


# ------------------------------------------------------------------------------------------------ lookups


def test_wd15_lookup_splits_lsoa_populations_across_invented_2015_wards(built: Built) -> None:
    lookups = region_lookups(built.root)
    population = pd.read_csv(built.root / POPULATION, dtype={"LSOA11CD": str}).set_index("LSOA11CD")
    wd15 = pd.read_csv(built.root / WD15, dtype={"WD15CD": str, "WD15NM": str, "LSOA11CD": str})
    assert list(wd15.columns) == ["WD15CD", "WD15NM", "LSOA11CD", "population"]
    assert wd15["WD15CD"].str.match(r"^E0598\d{4}$").all()
    assert not set(wd15["WD15CD"]) & set(lookups["WD19CD"])
    assert (wd15["population"] > 0).all()
    assert (wd15.groupby("WD15CD")["population"].sum() > 0).all()
    assert set(wd15["LSOA11CD"]) == set(lookups["LSOA11CD"])
    per_lsoa = wd15.groupby("LSOA11CD")["population"].sum()
    assert (per_lsoa == population.loc[per_lsoa.index, "population"]).all()
    shares = wd15["population"] / wd15["LSOA11CD"].map(per_lsoa)
    assert (shares.groupby(wd15["LSOA11CD"]).sum().round(12) == 1).all()
    wards_per_lsoa = wd15.groupby("LSOA11CD")["WD15CD"].nunique()
    assert 2 <= (wards_per_lsoa == 2).sum() and wards_per_lsoa.max() == 2
    assert (wards_per_lsoa == 1).mean() > 0.8  # most LSOAs lie wholly in one 2015 ward
    # Boundaries changed: some 2015 wards span two 2019 wards (later split), some 2019 wards span two 2015
    # wards (later merged).
    joined = wd15.merge(lookups[["LSOA11CD", "WD19CD", "LAD19CD"]], on="LSOA11CD")
    assert (joined.groupby("WD15CD")["WD19CD"].nunique() >= 2).any()
    assert (joined.groupby("WD19CD")["WD15CD"].nunique() >= 2).any()
    assert (joined.groupby("WD15CD")["LAD19CD"].nunique() == 1).all()


def test_pcds_lookup_is_many_to_many_over_the_region(built: Built) -> None:
    lookups = region_lookups(built.root)
    pcds = pd.read_csv(built.root / PCDS, dtype={"PCDS": str, "LSOA11CD": str})
    assert list(pcds.columns) == ["PCDS", "LSOA11CD", "addresses"]
    assert set(pcds["PCDS"]) == {f"NS{i}" for i in range(1, 10)} | {f"SM{i}" for i in range(1, 7)}
    assert (pcds["addresses"] > 0).all()
    assert set(pcds["LSOA11CD"]) == set(lookups["LSOA11CD"])
    assert (pcds.groupby("PCDS")["LSOA11CD"].nunique() >= 2).all()  # a district covers several LSOAs
    assert (pcds.groupby("LSOA11CD")["PCDS"].nunique() == 2).any()  # an LSOA can straddle two
    force = pcds.merge(lookups[["LSOA11CD", "PFA19NM"]], on="LSOA11CD")
    assert set(force.loc[force["PCDS"].str.startswith("NS"), "PFA19NM"]) == {"Northshire"}
    assert set(force.loc[force["PCDS"].str.startswith("SM"), "PFA19NM"]) == {"Southmoor"}


def test_region_yaml_gains_apportionment_and_keeps_everything_else(built: Built) -> None:
    doc = yaml.safe_load((built.root / "region.yaml").read_text(encoding="utf-8"))
    before = built.region_before
    assert list(doc) == list(before)
    assert list(doc["geography"]) == [*before["geography"], "apportionment"]
    assert {k: v for k, v in doc["geography"].items() if k != "apportionment"} == before["geography"]
    assert {k: v for k, v in doc.items() if k != "geography"} == {
        k: v for k, v in before.items() if k != "geography"
    }
    assert doc["geography"]["apportionment"] == [
        {"area_type": "ward", "vintage": 2015, "lookup": WD15, "weight": "population"},
        {"area_type": "postcode_district", "lookup": PCDS, "weight": "addresses"},
    ]


# ------------------------------------------------------------------------------------------------ defects


def test_the_manifest_lists_each_planted_defect_once_in_the_first_year(built: Built) -> None:
    found = defects(built)
    assert sorted(d["defect"] for d in found) == sorted(DEFECT_KINDS)
    first_year = {str(p.start) for p in built.plan.cycle.periods("monthly")}
    for d in found:
        assert set(d) == {"dataset", "agency", "period", "file", "defect", "detail"}
        assert d["dataset"] == DEFECT_KINDS[d["defect"]] and d["detail"]
        assert d["period"] in first_year
        ds = built.plan.datasets[d["dataset"]]
        assert d["file"].startswith(f"{ds.landing_folder(d['agency'])}/{d['period']}/")
        assert (built.landing / d["file"]).is_file() == (d["defect"] != "missing_period")


def test_wrong_vintage_codes_are_2019_wards_in_one_fire_file(built: Built) -> None:
    entry = only(built, "wrong_vintage_area_code")
    wd15 = set(pd.read_csv(built.root / WD15, dtype=str)["WD15CD"])
    wd19 = set(region_lookups(built.root)["WD19CD"])
    frame = read(built.landing / entry["file"])
    stray = frame[~frame["ward_code"].isin(wd15)]
    assert 1 <= len(stray) <= 5
    assert set(stray["ward_code"]) <= wd19
    assert all(code in entry["detail"] for code in stray["ward_code"])
    keys = ["month", "ward_code", "fire_category", "property_type"]
    assert not frame.duplicated(keys).any()


def test_ed_file_has_arrivals_before_incidents_and_a_future_date(built: Built) -> None:
    early, future = only(built, "arrival_before_incident"), only(built, "future_date")
    assert early["file"] == future["file"]
    ds = built.plan.datasets["ed_assaults"]
    for d, _agency, period, name in deliveries(built):
        if d.id != "ed_assaults":
            continue
        frame = read(built.landing / name)
        when, arrival = incident_times(frame)
        in_period = frame["incident_date"].str[:7].isin(period_months(period))
        before = frame[in_period & (arrival < when)]
        same_day_ok = arrival.dt.normalize() >= pd.to_datetime(frame["incident_date"])
        if name == early["file"]:
            assert len(before) == 3
            assert set(before["patient_id"]) == set(PATIENT_ID.findall(early["detail"]))
            late = frame[~in_period]
            assert len(late) == 1
            assert pd.Timestamp(late["incident_date"].iloc[0]) > pd.Timestamp(due_end(period, ds))
            assert pd.Timestamp(late["incident_date"].iloc[0]) > pd.Timestamp(date.today())
            assert late["incident_date"].iloc[0] in future["detail"]
            assert late["patient_id"].iloc[0] in future["detail"]
        else:
            assert before.empty, name
            assert same_day_ok.all(), name
            # arrivals follow incidents, usually within hours
            gap = (arrival - when).dropna()
            assert (gap > pd.Timedelta(0)).all() and gap.median() < pd.Timedelta(hours=4)


def test_ed_redelivery_v2_corrects_the_file_and_arrives_later(built: Built) -> None:
    entry, early = only(built, "redelivery"), only(built, "arrival_before_incident")
    v1, v2 = built.landing / early["file"], built.landing / entry["file"]
    assert v2.parent == v1.parent and v2.name == v1.name.replace(".csv", "_v2.csv")
    assert v2.stat().st_mtime > v1.stat().st_mtime
    assert header(v2) == header(v1)
    old, new = read(v1), read(v2)
    assert len(old) == len(new)
    assert 1 <= (old != new).any(axis=1).sum() <= 4  # only the defective rows changed
    when, arrival = incident_times(new)
    assert not (arrival < when).any()
    assert new["incident_date"].str[:7].eq(early["period"]).all()


def test_missing_period_leaves_a_gap_the_plan_expects(built: Built) -> None:
    entry = only(built, "missing_period")
    assert not (built.landing / entry["file"]).exists()
    ds = built.plan.datasets[entry["dataset"]]
    assert entry["agency"] in ds.agencies
    assert entry["period"] in {p.key for p in built.plan.cycle.periods(ds.cadence)}
    others = [a for a in ds.agencies if a != entry["agency"]]
    period = next(p for p in built.plan.cycle.periods(ds.cadence) if p.key == entry["period"])
    assert all((built.landing / rel(ds, a, period)).is_file() for a in others)


def test_duplicate_rows_only_in_the_planted_file(built: Built) -> None:
    entry = only(built, "duplicate_rows")
    for ds, _agency, _period, name in deliveries(built):
        if ds.sharing.level != "aggregate":
            continue
        frame = read(built.landing / name)
        keys = list(frame.columns[:-1])
        if name == entry["file"]:
            assert frame.duplicated().sum() == 3
            assert frame.duplicated(keys).sum() == 3
        else:
            assert not frame.duplicated(keys).any(), name


def test_malformed_header_renames_a_column(built: Built) -> None:
    entry = only(built, "malformed_header")
    ds = built.plan.datasets[entry["dataset"]]
    got = header(built.landing / entry["file"])
    renamed = [(want.name, have) for want, have in zip(ds.columns, got, strict=True) if want.name != have]
    assert len(renamed) == 1
    assert all(name in entry["detail"] for name in renamed[0])


def test_delivery_times_are_before_due_dates_except_the_late_file(built: Built) -> None:
    late = only(built, "late_delivery")
    for ds, _agency, period, name in deliveries(built):
        when = datetime.fromtimestamp((built.landing / name).stat().st_mtime)
        due = period.due_date(ds.due_day)
        if name == late["file"]:
            assert when.date() > due
            assert due.isoformat() in late["detail"]
        else:
            assert due_end(period, ds) - timedelta(days=10) <= when < due_end(period, ds), name
            assert when.date() <= due


def test_arguments_are_checked(built: Built) -> None:
    with pytest.raises(ValueError, match="start"):
        generate_agency_deliveries(built.copy, months=MONTHS, start_month="2021-05")
    with pytest.raises(ValueError, match="months"):
        generate_agency_deliveries(built.copy, months=0)
    with pytest.raises(ValueError, match="scale"):
        generate_agency_deliveries(built.copy, months=MONTHS, scale=0)
