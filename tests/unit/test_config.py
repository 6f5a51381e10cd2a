"""Region YAML: the public keys, path resolution and errors that name the key."""

from __future__ import annotations

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
