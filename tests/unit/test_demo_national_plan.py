"""The national benchmark's data plan and agency deliveries (csp_audit_demo.national_plan), on a small spec."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from csp_audit.plan import load_plan
from csp_audit.plan.periods import CADENCE_MONTHS, Month
from csp_audit.quality.contract_suites import AREA_PATTERNS
from csp_audit_demo.agencies import DEFECTS_FILE, PCDS_LOOKUP_PATH, WD15_LOOKUP_PATH
from csp_audit_demo.national import national_spec, write_national
from csp_audit_demo.national_plan import MANIFEST, write_national_agencies, write_national_plan

MONTHS = 12
DATASETS = {"police_uk_street", "fire_incidents", "ed_assaults", "la_asb_reports", "yot_first_time_entrants",
            "probation_caseload", "housing_asb_complaints", "substance_misuse_treatment", "proven_reoffending",
            "domestic_abuse_incidents", "consultation_survey"}  # fmt: skip


def _spec():  # type: ignore[no-untyped-def]
    return national_spec(MONTHS, n_forces=3, n_lads=6, n_csps=5, rows_per_year=20_000, wards_per_lad=(8, 10),
                         name="national-test")  # fmt: skip


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("national") / "region"
    write_national(out, _spec(), workers=1)
    write_national_plan(out)
    write_national_agencies(out, MONTHS, workers=2)
    return out


def _files(root: Path) -> dict[str, tuple[bytes, int | None]]:
    """Every file's bytes, and for deliveries their modification time (the arrival time)."""
    out: dict[str, tuple[bytes, int | None]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        delivery = rel.parts[0] in ("police", "landing") and path.suffix == ".csv"
        out[rel.as_posix()] = (path.read_bytes(), int(path.stat().st_mtime) if delivery else None)
    return out


def test_plan_has_every_demo_dataset_and_agencies_per_force_area(region: Path) -> None:
    plan = load_plan(region / "plan.yaml")
    assert set(plan.datasets) == DATASETS
    lookup = pd.read_csv(region / "lookups" / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv", dtype=str,
                         encoding="utf-8-sig")  # fmt: skip
    force_of = dict(zip(lookup["CSP19CD"], lookup["PFA19NM"], strict=True))
    by_type: dict[str, int] = {}
    for agency in plan.agencies.values():
        by_type[agency.type] = by_type.get(agency.type, 0) + 1
        assert len({force_of[c] for c in agency.serves}) == 1, agency  # no agency crosses a force area
    forces, lads = lookup["PFA19NM"].nunique(), lookup["LAD19CD"].nunique()
    assert by_type["police"] == by_type["fire_and_rescue"] == by_type["youth_offending"] == forces
    assert by_type["probation"] == by_type["housing"] == by_type["consultation"] == forces
    assert by_type["public_health"] == forces
    assert by_type["local_authority"] == lads
    assert forces <= by_type["emergency_department"] <= 2 * forces
    served = {c for a in plan.agencies.values() if a.type == "emergency_department" for c in a.serves}
    assert served == set(lookup["CSP19CD"])  # every partnership has a hospital


def test_every_agency_dataset_is_delivered_and_the_manifest_lists_every_file(region: Path) -> None:
    plan = load_plan(region / "plan.yaml")
    manifest = json.loads((region / MANIFEST).read_text())
    landed = {p.relative_to(region / "landing").as_posix() for p in (region / "landing").rglob("*.csv")}
    assert {m["file"] for m in manifest} == landed
    assert {m["dataset"] for m in manifest} == DATASETS - {"police_uk_street"}
    last = Month.parse("2021-04").plus(MONTHS - 1)
    for item in manifest:
        start = Month.parse(item["period"])
        cadence = plan.datasets[item["dataset"]].cadence
        assert item["period_end"] == str(start.plus(CADENCE_MONTHS[cadence] - 1)), item
        assert Month.parse(item["period_end"]) <= last, item
        assert f"/{item['period']}/{item['dataset']}_" in f"/{item['file']}", item


def test_area_codes_are_distinct_across_force_areas_and_well_formed(region: Path) -> None:
    wd15 = pd.read_csv(region / WD15_LOOKUP_PATH, dtype=str)
    pcds = pd.read_csv(region / PCDS_LOOKUP_PATH, dtype=str)
    lsoas = pd.read_csv(region / "lookups" / "LSOA11_WD19_LAD19_lookup_EW.csv", dtype=str)
    district = re.compile(AREA_PATTERNS["postcode_district"])
    assert all(district.match(code) for code in pcds["PCDS"].unique())
    # every LSOA is covered once by each lookup's shares, and no 2015 ward spans two districts (LADs)
    assert set(wd15["LSOA11CD"]) == set(pcds["LSOA11CD"]) == set(lsoas["LSOA11CD"])
    lad_of = dict(zip(lsoas["LSOA11CD"], lsoas["LAD19CD"], strict=True))
    assert (wd15.assign(lad=wd15["LSOA11CD"].map(lad_of)).groupby("WD15CD")["lad"].nunique() == 1).all()
    assert not set(wd15["WD15CD"]) & set(lsoas["WD19CD"])
    ed = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False)
                    for p in (region / "landing").rglob("ed_assaults_*.csv")])  # fmt: skip
    assert set(ed["patient_postcode_district"]) - {""} <= set(pcds["PCDS"])


def test_each_defect_is_planted_once(region: Path) -> None:
    defects = json.loads((region / "landing" / DEFECTS_FILE).read_text())
    kinds = sorted(d["defect"] for d in defects)
    assert kinds == sorted(["wrong_vintage_area_code", "arrival_before_incident", "future_date", "redelivery",
                            "missing_period", "duplicate_rows", "malformed_header", "late_delivery"])  # fmt: skip


def test_files_do_not_depend_on_the_number_of_workers(region: Path, tmp_path: Path) -> None:
    other = tmp_path / "region"
    shutil.copytree(region, other, ignore=shutil.ignore_patterns("landing", MANIFEST, "plan.yaml"))
    write_national_plan(other)
    write_national_agencies(other, MONTHS, workers=1)
    assert _files(other) == _files(region)
