"""Region YAML: the public keys, path resolution and errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from csp_audit.config import RegionConfigError, load_region


def _region(tmp_path: Path, body: str) -> Path:
    (tmp_path / "lookups").mkdir(exist_ok=True)
    for name in ("lsoa.csv", "lad_csp.csv", "pop.csv"):
        (tmp_path / "lookups" / name).write_text("x\n")
    (tmp_path / "police").mkdir(exist_ok=True)
    path = tmp_path / "region.yaml"
    path.write_text(body)
    return path


GOOD = """
name: north-east
audit_year_start_month: 4
geography:
  lsoa_lookup: lookups/lsoa.csv
  partnership_lookup: lookups/lad_csp.csv
  population: lookups/pop.csv
partnerships:
  police_force_areas: [E23000008, W15000001]
sources:
  police_uk: police/
"""


def test_good_region_resolves_paths_against_its_folder(tmp_path: Path) -> None:
    region = load_region(_region(tmp_path, GOOD))
    assert region.name == "north-east"
    assert region.audit_year_start_month == 4
    assert region.lsoa_lookup == (tmp_path / "lookups" / "lsoa.csv").resolve()
    assert region.population == (tmp_path / "lookups" / "pop.csv").resolve()
    assert region.police_force_areas == ("E23000008", "W15000001")
    assert region.partnership_codes == ()
    assert region.police_uk == (tmp_path / "police").resolve()


def test_defaults_audit_year_to_april_and_population_optional(tmp_path: Path) -> None:
    body = GOOD.replace("audit_year_start_month: 4\n", "").replace("  population: lookups/pop.csv\n", "")
    region = load_region(_region(tmp_path, body))
    assert region.audit_year_start_month == 4
    assert region.population is None


def test_explicit_partnership_codes(tmp_path: Path) -> None:
    body = GOOD.replace("police_force_areas: [E23000008, W15000001]", "codes: [E22000027, W14000023]")
    assert load_region(_region(tmp_path, body)).partnership_codes == ("E22000027", "W14000023")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("audit_year_start_month: 4", "audit_year_start_month: 13"), "audit_year_start_month"),
        (("lookups/lsoa.csv", "lookups/missing.csv"), "geography.lsoa_lookup"),
        (
            ("police_force_areas: [E23000008, W15000001]", "police_force_areas: [E22000008]"),
            "partnerships.police_force_areas",
        ),  # fmt: skip
        (("police_force_areas: [E23000008, W15000001]", "codes: []"), "partnerships.codes"),
        (("  police_uk: police/", "  police_uk: nowhere/"), "sources.police_uk"),
        (("  police_uk: police/", "  fire: fire/"), "sources.fire"),
        (("name: north-east", "name: ../evil"), "name"),
        (("geography:", "geograpy:"), "geograpy"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    with pytest.raises(RegionConfigError, match=rf"key '{key}'"):
        load_region(_region(tmp_path, GOOD.replace(*change)))


def test_both_pfas_and_codes_is_refused(tmp_path: Path) -> None:
    body = GOOD.replace("sources:", "  codes: [E22000027]\nsources:")
    with pytest.raises(RegionConfigError, match="exactly one of"):
        load_region(_region(tmp_path, body))


def test_not_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegionConfigError, match="not valid YAML"):
        load_region(_region(tmp_path, "name: [unclosed\n"))


BOUNDARIES = "  population: lookups/pop.csv\n  lsoa_boundaries:\n    file: lookups/lsoa.geojson\n"


def test_lsoa_boundaries_are_optional_and_resolved_like_the_lookups(tmp_path: Path) -> None:
    assert load_region(_region(tmp_path, GOOD)).lsoa_boundaries is None
    (tmp_path / "lookups" / "lsoa.geojson").write_text("{}")
    body = GOOD.replace("  population: lookups/pop.csv\n", BOUNDARIES)
    boundaries = load_region(_region(tmp_path, body)).lsoa_boundaries
    assert boundaries is not None
    assert boundaries.file == (tmp_path / "lookups" / "lsoa.geojson").resolve()
    assert boundaries.code_property is None and boundaries.attribution is None  # the lookup's vintage decides
    named = body.replace(
        "lsoa.geojson\n", "lsoa.geojson\n    code_property: LSOA21CD\n    attribution: ONS, OGL v3.0\n"
    )
    boundaries = load_region(_region(tmp_path, named)).lsoa_boundaries
    assert boundaries is not None and boundaries.code_property == "LSOA21CD"
    assert boundaries.attribution == "ONS, OGL v3.0"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("lookups/lsoa.geojson", "lookups/missing.geojson"), "geography.lsoa_boundaries.file"),
        (("lookups/lsoa.geojson", "lookups"), "geography.lsoa_boundaries.file"),  # a folder
        (("lookups/lsoa.geojson", "/etc/passwd"), "geography.lsoa_boundaries.file"),  # outside the roots
        (("    file: lookups/lsoa.geojson\n", "    code_property: LSOA11CD\n"), "geography.lsoa_boundaries.file"),
        (("    file:", "    path:"), "geography.lsoa_boundaries.path"),
        (("lsoa.geojson\n", "lsoa.geojson\n    code_property: [LSOA11CD]\n"), "geography.lsoa_boundaries.code_property"),
        (("lsoa.geojson\n", "lsoa.geojson\n    code_property: 'a b'\n"), "geography.lsoa_boundaries.code_property"),
        (("lsoa.geojson\n", "lsoa.geojson\n    attribution: ''\n"), "geography.lsoa_boundaries.attribution"),
        (("  lsoa_boundaries:\n    file: lookups/lsoa.geojson\n", "  lsoa_boundaries: lookups/lsoa.geojson\n"),
         "geography.lsoa_boundaries"),
    ],
)  # fmt: skip
def test_lsoa_boundaries_errors_name_the_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    (tmp_path / "lookups").mkdir()
    (tmp_path / "lookups" / "lsoa.geojson").write_text("{}")  # its content is read at publish time
    body = GOOD.replace("  population: lookups/pop.csv\n", BOUNDARIES).replace(*change)
    with pytest.raises(RegionConfigError, match=rf"key '{re.escape(key)}'"):
        load_region(_region(tmp_path, body))


COUNTY = (
    "counties:\n  - code: E10000034\n    name: Worcestershire\n    partnerships: [E22000001, E22000002]\n"
)


def test_counties_are_optional_and_name_their_district_partnerships(tmp_path: Path) -> None:
    assert load_region(_region(tmp_path, GOOD)).counties == ()
    (county,) = load_region(_region(tmp_path, GOOD + COUNTY)).counties
    assert (county.code, county.name, county.partnerships) == ("E10000034", "Worcestershire",
                                                              ("E22000001", "E22000002"))  # fmt: skip


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("E10000034", "E06000001"), "counties[0].code"),  # a unitary authority is no two-tier county
        (("[E22000001, E22000002]", "[E22000001, E22000001]"), "counties[0].partnerships"),
        (("[E22000001, E22000002]", "[E07000001]"), "counties[0].partnerships"),
        (("    name: Worcestershire\n", ""), "counties[0]"),
        (("    name: Worcestershire\n", "    name: W\n    tier: two\n"), "counties[0].tier"),
    ],
)
def test_county_errors_name_the_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    with pytest.raises(RegionConfigError, match=re.escape(f"key '{key}'")):
        load_region(_region(tmp_path, GOOD + COUNTY.replace(*change)))
