"""A demo data plan for the fictional demo region, so the request and arrival tooling can be shown end to end.

The agencies are derived from the region's own lookups (one police force per force area, one council
community safety team per local authority district), so the plan always matches the region it sits beside;
the rest is a realistic mix of the partners a crime and disorder audit draws on, several of them serving more
than one partnership, which is exactly the case the shared plan exists for.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from csp_audit.config import load_region
from csp_audit.geography import read_partnership_lookup, select_partnerships
from csp_audit.plan.periods import MONTH_RE, Month

DEFAULT_START = "2021-04"


@dataclass(frozen=True)
class _Force:
    code: str
    name: str
    csps: tuple[str, ...]
    lads: tuple[tuple[str, str, tuple[str, ...]], ...]  # (code, name, CSPs it serves)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _q(text: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML), so commas and colons in names are safe."""
    return json.dumps(text, ensure_ascii=False)


def _domain(text: str) -> str:
    return _slug(text).replace("_", "-")


def _codes(codes: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(codes) + "]"


def _forces(region_file: Path) -> tuple[str, list[_Force]]:
    """The region's force areas with their partnerships and districts, read from its own lookups."""
    region = load_region(region_file)
    lookup = read_partnership_lookup(region.partnership_lookup)
    chosen = set(
        select_partnerships(
            lookup,
            police_force_areas=list(region.police_force_areas) or None,
            codes=list(region.partnership_codes) or None,
        )
    )
    frame = lookup.frame[lookup.frame["csp_code"].isin(chosen)]
    forces = []
    for pfa, rows in sorted(frame.groupby("pfa_code"), key=lambda item: item[0]):
        lads = tuple(
            (lad, str(group["lad_name"].iloc[0]), tuple(sorted(group["csp_code"].unique())))
            for lad, group in sorted(rows.groupby("lad_code"), key=lambda item: item[0])
        )
        forces.append(
            _Force(str(pfa), str(rows["pfa_name"].iloc[0]), tuple(sorted(rows["csp_code"].unique())), lads)
        )
    return region.name, forces


def _cycle_start(region_dir: Path, start_month: int) -> str:
    """The first audit-year start at or after the demo's first police month, so the cycle has data."""
    police = region_dir / "police"
    months = sorted(p.name for p in police.iterdir() if MONTH_RE.match(p.name)) if police.is_dir() else []
    first = Month.parse(months[0] if months else DEFAULT_START)
    while first.month != start_month:
        first = first.plus(1)
    return str(first)


def _agencies(forces: list[_Force]) -> str:
    every = tuple(sorted(c for f in forces for c in f.csps))
    north, south = forces[0], forces[-1]
    area = " and ".join(f.name for f in forces)
    north_hub, south_hub = north.lads[0][1], south.lads[0][1]
    # A border hospital: the southern ED also treats patients from the last northern partnership.
    south_ed = tuple(sorted({*south.csps, north.csps[-1]}))
    south_homes = tuple(sorted({*south.csps, north.csps[min(1, len(north.csps) - 1)]}))
    lines = ["agencies:"]

    def add(key: str, name: str, kind: str, contact: str, serves: tuple[str, ...]) -> None:
        lines.append(f"  {key}:")
        lines.append(f"    name: {_q(name)}")
        lines.append(f"    type: {kind}")
        lines.append(f"    contact: {contact}")
        lines.append(f"    serves: {_codes(serves)}")

    for force in forces:
        add(f"{_slug(force.name)}_police", f"{force.name} Police", "police",
            f"data@{_domain(force.name)}.police.example", force.csps)  # fmt: skip
    add("fire_and_rescue", f"{area} Fire and Rescue Service", "fire_and_rescue",
        "information@fire.example", every)  # fmt: skip
    add(f"{_slug(north_hub)}_general_ed", f"{north_hub} General Hospital Emergency Department",
        "emergency_department", f"istv@{_domain(north_hub)}-hospital.nhs.example", north.csps)  # fmt: skip
    add(f"{_slug(south_hub)}_royal_ed", f"{south_hub} Royal Infirmary Emergency Department",
        "emergency_department", f"istv@{_domain(south_hub)}-royal.nhs.example", south_ed)  # fmt: skip
    for force in forces:
        for _code, name, csps in force.lads:
            add(f"{_slug(name)}_council", f"{name} Council community safety team", "local_authority",
                f"community.safety@{_domain(name)}.gov.example", csps)  # fmt: skip
    add("youth_justice_service", f"{area} Youth Justice Service", "youth_offending",
        "performance@youthjustice.gov.example", every)  # fmt: skip
    add("probation_service", f"Probation Service ({area})", "probation",
        "performance@probation.gov.example", every)  # fmt: skip
    add("drug_alcohol_treatment", f"{area} Drug and Alcohol Treatment Service", "public_health",
        "ndtms.returns@treatment.nhs.example", every)  # fmt: skip
    add("moorland_homes", "Moorland Homes", "housing", "asb.team@moorlandhomes.example", north.csps)
    add("southern_dales_housing", "Southern Dales Housing Association", "housing",
        "tenancy.enforcement@southerndales.example", south_homes)  # fmt: skip
    add("community_safety_survey", "Community Safety Survey (Fieldwork Research Ltd)", "consultation",
        "surveys@fieldwork-research.example", every)  # fmt: skip
    return "\n".join(lines)


def _datasets(forces: list[_Force]) -> str:
    police = ", ".join(f"{_slug(f.name)}_police" for f in forces)
    north_hub, south_hub = forces[0].lads[0][1], forces[-1].lads[0][1]
    eds = f"{_slug(north_hub)}_general_ed, {_slug(south_hub)}_royal_ed"
    councils = ", ".join(f"{_slug(name)}_council" for f in forces for _c, name, _s in f.lads)
    return datasets_yaml(
        police=police, eds=eds, councils=councils, fire="fire_and_rescue", yot="youth_justice_service",
        probation="probation_service", housing="[moorland_homes, southern_dales_housing]",
        survey="community_safety_survey", treatment="drug_alcohol_treatment",
    )  # fmt: skip


def datasets_yaml(**agencies: str) -> str:
    """The ``datasets:`` section of the demo's plan with these agencies (YAML scalars or flow lists) per
    dataset: ``police``, ``eds``, ``councils`` (lists without brackets), ``fire``, ``yot``, ``probation``,
    ``housing``, ``survey`` and ``treatment``. The police forces also deliver ``domestic_abuse_incidents``
    and the probation service ``proven_reoffending``. The national benchmark's plan has the same contracts with its own agencies."""
    return _DATASETS.format(**agencies)


_DATASETS = """\
datasets:
  police_uk_street:
    agency: [{police}]
    description: >-
      Street-level crime and anti-social behaviour records in the police.uk format, one file per force and month.
    format: csv
    columns:
      - {{name: Crime ID, type: string, required: false, description: "Blank for anti-social behaviour"}}
      - {{name: Month, type: month}}
      - {{name: Reported by, type: string}}
      - {{name: Falls within, type: string}}
      - {{name: Longitude, type: number, required: false}}
      - {{name: Latitude, type: number, required: false}}
      - {{name: Location, type: string}}
      - {{name: LSOA code, type: code, required: false}}
      - {{name: LSOA name, type: string, required: false}}
      - {{name: Crime type, type: string}}
      - {{name: Last outcome category, type: string, required: false}}
      - {{name: Context, type: string, required: false}}
    geography: {{type: lsoa, vintage: 2011}}
    time_grain: record
    cadence: monthly
    due_day: 15
    partnerships: all
    sharing: {{level: record, retention_months: 36}}
    landing: {{path: "police/{{agency}}"}}

  fire_incidents:
    agency: {fire}
    description: Deliberate primary and secondary fires, counted by month, ward and kind of property.
    format: csv
    columns:
      - {{name: month, type: month}}
      - {{name: ward_code, type: code, description: "Ward code, 2015 boundaries"}}
      - {{name: ward_name, type: string}}
      - {{name: fire_category, type: string, description: "deliberate primary or deliberate secondary"}}
      - {{name: property_type, type: string, description: "e.g. dwelling, vehicle, refuse, grassland"}}
      - {{name: incidents, type: integer}}
    geography: {{type: ward, vintage: 2015}}
    time_grain: month
    cadence: quarterly
    due_day: 20
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 5, retention_months: 60, rounding: none}}

  ed_assaults:
    agency: [{eds}]
    description: >-
      Assault attendances at the emergency department (Information Sharing to Tackle Violence minimum dataset).
    format: csv
    columns:
      - {{name: patient_id, type: string, description: "The hospital's patient reference"}}
      - {{name: incident_date, type: date}}
      - {{name: incident_time, type: string, required: false, description: "HH:MM, blank if not known"}}
      - {{name: arrival_datetime, type: datetime, description: "Arrival at the emergency department"}}
      - {{name: incident_location, type: string, description: "Where it happened, e.g. street, pub or bar, home"}}
      - {{name: incident_location_name, type: string, required: false, description: "Venue or street name"}}
      - {{name: incident_lsoa_code, type: code, required: false, description: "LSOA (2011) where it happened, blank if not coded"}}
      - {{name: means_of_assault, type: string, description: "e.g. body part, bottle, knife"}}
      - {{name: patient_postcode_district, type: code, required: false, description: "e.g. NS1, not the full postcode"}}
    # placed where the assault happened; a record without it by the patient's home area, flagged
    geography: {{type: lsoa, vintage: 2011, column: incident_lsoa_code,
                 fallback: {{type: postcode_district, column: patient_postcode_district}}}}
    time_grain: record
    cadence: monthly
    due_day: 15
    partnerships: all
    sharing: {{level: deidentified, min_cell_size: 5, pseudonymise: [patient_id], retention_months: 24}}
    expectations:
      - type: expect_column_pair_values_a_to_be_greater_than_b
        kwargs: {{column_A: arrival_datetime, column_B: incident_datetime, or_equal: true}}
        meta: {{severity: warning, rule: arrival_after_incident, why: "A patient cannot arrive before the assault."}}

  la_asb_reports:
    agency: [{councils}]
    description: Anti-social behaviour and fly-tipping reports made to the council, counted by month and ward.
    format: csv
    columns:
      - {{name: month, type: month}}
      - {{name: ward_code, type: code}}
      - {{name: ward_name, type: string}}
      - {{name: report_type, type: string, description: "anti-social behaviour or fly-tipping"}}
      - {{name: category, type: string, required: false}}
      - {{name: reports, type: integer}}
    geography: {{type: ward, vintage: 2019}}
    time_grain: month
    cadence: monthly
    due_day: 15
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 5, retention_months: 36}}

  yot_first_time_entrants:
    agency: {yot}
    description: Young people aged 10-17 entering the youth justice system for the first time, by quarter.
    format: csv
    columns:
      - {{name: quarter_start, type: month}}
      - {{name: lad_code, type: code}}
      - {{name: lad_name, type: string}}
      - {{name: age_band, type: string, description: "10-14 or 15-17"}}
      - {{name: first_time_entrants, type: integer}}
    geography: {{type: local_authority, vintage: 2019}}
    time_grain: quarter
    cadence: quarterly
    due_day: 28
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 10, retention_months: 60, rounding: nearest_5}}

  probation_caseload:
    agency: {probation}
    description: People supervised by probation at the end of each quarter, by home ward and offence group.
    format: csv
    columns:
      - {{name: quarter_start, type: month}}
      - {{name: ward_code, type: code}}
      - {{name: ward_name, type: string}}
      - {{name: offence_group, type: string}}
      - {{name: caseload, type: integer}}
    geography: {{type: ward, vintage: 2019}}
    time_grain: quarter
    cadence: quarterly
    due_day: 28
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 10, retention_months: 60}}

  housing_asb_complaints:
    agency: {housing}
    description: Anti-social behaviour complaints from tenants, counted by month, neighbourhood (LSOA) and category.
    format: csv
    columns:
      - {{name: month, type: month}}
      - {{name: lsoa_code, type: code}}
      - {{name: complaint_category, type: string, description: "e.g. noise, harassment, drugs, vandalism"}}
      - {{name: complaints, type: integer}}
    geography: {{type: lsoa, vintage: 2011}}
    time_grain: month
    cadence: monthly
    due_day: 20
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 5, retention_months: 36}}

  substance_misuse_treatment:
    agency: {treatment}
    description: >-
      Adults in drug and alcohol treatment (NDTMS-style), by quarter, local authority and substance group.
      new_presentations (adults starting a new treatment journey in the quarter) is the count the audit's
      rates and trends use: it is a flow that adds up over quarters, whereas in_treatment is a stock (everyone
      in treatment at any point in the quarter) that would count the same person in every quarter of a year.
    format: csv
    columns:
      - {{name: quarter_start, type: month}}
      - {{name: lad_code, type: code}}
      - {{name: lad_name, type: string}}
      - {{name: substance_group, type: string, description: "opiate, non-opiate, alcohol, or alcohol and non-opiate"}}
      - {{name: in_treatment, type: integer, description: "Adults in treatment at any point in the quarter"}}
      - {{name: new_presentations, type: integer, description: "Adults starting a new treatment journey in the quarter"}}
    geography: {{type: local_authority, vintage: 2019}}
    time_grain: quarter
    cadence: quarterly
    due_day: 28
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 10, retention_months: 60, rounding: nearest_5}}

  proven_reoffending:
    agency: {probation}
    description: >-
      Proven reoffending (Ministry of Justice measure) by quarterly offender cohort, local authority and cohort
      type: offenders in the cohort, those who committed a proven reoffence within a year, and their reoffences.
      reoffenders is the count the audit's rates and trends use (people, so the reoffending rate is
      reoffenders / offenders); reoffences counts the offences of the same people.
    format: csv
    columns:
      - {{name: quarter_start, type: month, description: "First month of the cohort's quarter"}}
      - {{name: lad_code, type: code}}
      - {{name: lad_name, type: string}}
      - {{name: cohort_type, type: string, description: "adult or juvenile"}}
      - {{name: offenders, type: integer, description: "Offenders in the cohort"}}
      - {{name: reoffences, type: integer, description: "Proven reoffences within the one-year follow-up"}}
      - {{name: reoffenders, type: integer, description: "Offenders with at least one proven reoffence"}}
    geography: {{type: local_authority, vintage: 2019}}
    time_grain: quarter
    cadence: quarterly
    due_day: 28
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 10, retention_months: 60}}

  domestic_abuse_incidents:
    agency: [{police}]
    description: >-
      Police-recorded domestic abuse: incidents and crimes flagged as domestic abuse, counted by month,
      neighbourhood (LSOA), record type and, where the force records it, whether the victim is a repeat victim.
    format: csv
    columns:
      - {{name: month, type: month}}
      - {{name: lsoa_code, type: code}}
      - {{name: record_type, type: string, description: "incident (not a crime) or crime"}}
      - {{name: repeat_victim, type: string, required: false, description: "yes or no; blank if not recorded"}}
      - {{name: incidents, type: integer}}
    geography: {{type: lsoa, vintage: 2011}}
    time_grain: month
    cadence: monthly
    due_day: 15
    partnerships: all
    sharing: {{level: aggregate, min_cell_size: 10, retention_months: 36}}

  consultation_survey:
    agency: {survey}
    description: Responses to the annual community safety survey, without names or addresses.
    format: csv
    columns:
      - {{name: response_id, type: string}}
      - {{name: response_date, type: date}}
      - {{name: respondent_area, type: code, description: "Postcode district of the respondent, e.g. NS1"}}
      - {{name: top_concern_1, type: string}}
      - {{name: top_concern_2, type: string, required: false}}
      - {{name: top_concern_3, type: string, required: false}}
      - {{name: feel_safe_day, type: string, description: "very safe .. very unsafe"}}
      - {{name: feel_safe_night, type: string, description: "very safe .. very unsafe"}}
    geography: {{type: postcode_district}}
    time_grain: record
    cadence: yearly
    due_day: 28
    partnerships: all
    sharing: {{level: deidentified, min_cell_size: 10, pseudonymise: [response_id], retention_months: 36}}
"""


def write_demo_plan(region_dir: Path) -> Path:
    """Write ``plan.yaml`` beside the demo region's ``region.yaml`` and return its path."""
    region_dir = Path(region_dir)
    region_file = region_dir / "region.yaml"
    region_name, forces = _forces(region_file)
    start_month = load_region(region_file).audit_year_start_month
    area = " and ".join(f.name for f in forces)
    text = (
        "# Shared data plan of the demo region's partnerships (fictional). Keys: docs/data-plan.md\n"
        f"name: {region_name}-plan\n"
        f"description: {_q(f'One co-ordinated data request per agency for the {area} partnerships.')}\n"
        "region: region.yaml\n"
        f"coordinator: {{name: {_q(f'{area} community safety data group')}, "
        "contact: csp-data@northshire.gov.example}\n"
        f"cycle: {{start: {_cycle_start(region_dir, start_month)}, months: 12}}\n"
        "\n"
        f"{_agencies(forces)}\n"
        "\n"
        f"{_datasets(forces)}"
    )
    path = region_dir / "plan.yaml"
    path.write_text(text, encoding="utf-8", newline="\n")
    return path
