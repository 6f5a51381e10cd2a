"""Tests of the demo region generator.

The expectations are computed here from the written files alone (the generator writes no answers), and the
formats are spelled out literally rather than imported, so a change to the generator's constants cannot
silently change what is being checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from csp_audit_demo.region import generate_demo_region

POLICE_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
LSOA_LOOKUP = "lookups/LSOA11_WD19_LAD19_lookup_EW.csv"
PARTNERSHIP_LOOKUP = "lookups/LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"
POPULATION = "lookups/lsoa_population.csv"
BOUNDARIES = "lookups/LSOA_Dec_2011_Boundaries_EW_BGC.geojson"
CRIME_TYPES = {
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
}
OUTCOMES = {
    "Investigation complete; no suspect identified",
    "Unable to prosecute suspect",
    "Under investigation",
    "Status update unavailable",
    "Awaiting court outcome",
    "Local resolution",
    "Offender given a caution",
    "Court result unavailable",
    "Action to be taken by another organisation",
    "Further investigation is not in the public interest",
    "Formal action is not in the public interest",
}
SUU = "Status update unavailable"
FORCES = {"northshire": "Northshire Police", "southmoor": "Southmoor Police"}
MONTHS = 4
MONTH_LABELS = ["2021-04", "2021-05", "2021-06", "2021-07"]
PLANTED_UNKNOWN = re.compile(r"^E0199999\d$")


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A four-month demo, shared by the read-only tests to keep the file fast."""
    out = tmp_path_factory.mktemp("demo")
    yaml_path = generate_demo_region(out, months=MONTHS)
    assert yaml_path == out / "region.yaml"
    return out


@pytest.fixture(scope="module")
def lookup(region: Path) -> pd.DataFrame:
    """LSOA lookup joined to the partnership lookup: one row per LSOA with its CSP and PFA."""
    lsoas = pd.read_csv(region / LSOA_LOOKUP, dtype=str, keep_default_na=False)
    lads = pd.read_csv(region / PARTNERSHIP_LOOKUP, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lads = lads.drop(columns="FID")
    return lsoas.merge(lads, on=["LAD19CD", "LAD19NM"], how="left", validate="many_to_one")


@pytest.fixture(scope="module")
def police(region: Path) -> pd.DataFrame:
    """Every police row, with the force slug and month taken from its file name."""
    frames = []
    for path in sorted((region / "police").glob("*/*-street.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frames.append(frame.assign(file_month=path.name[:7], slug=path.name[8:-11]))
    return pd.concat(frames, ignore_index=True)


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    generate_demo_region(tmp_path / "a", months=3, seed=7)
    generate_demo_region(tmp_path / "b", months=3, seed=7)
    first, second = _all_bytes(tmp_path / "a"), _all_bytes(tmp_path / "b")
    # region.yaml, three lookups and the boundaries, the mid-year estimates, the two comparator files,
    # police files
    assert len(first) == 1 + 4 + 1 + 2 + 3 * 2
    assert first == second


def test_other_seed_gives_other_rows(tmp_path: Path) -> None:
    generate_demo_region(tmp_path / "a", months=1, seed=1)
    generate_demo_region(tmp_path / "b", months=1, seed=2)
    name = "police/2021-04/2021-04-northshire-street.csv"
    assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "b" / name).read_bytes()


def test_region_yaml_has_exactly_the_contract_keys(region: Path) -> None:
    assert yaml.safe_load((region / "region.yaml").read_text(encoding="utf-8")) == {
        "name": "demo-region",
        "audit_year_start_month": 4,
        "geography": {
            "lsoa_lookup": LSOA_LOOKUP,
            "partnership_lookup": PARTNERSHIP_LOOKUP,
            "population": "lookups/lsoa_population_mid_year.csv",
            "lsoa_boundaries": {
                "file": BOUNDARIES,
                "attribution": "Fictional boundaries drawn for the demo region (not ONS data)",
            },
        },
        "partnerships": {"police_force_areas": ["E23990001", "E23990002"]},
        "sources": {"police_uk": "police/"},
        "comparators": {
            "partnership_rates": "lookups/csp_recorded_crime_published.csv",
            "characteristics": "lookups/csp_characteristics.csv",
            "group_size": 5,
        },
        "counties": [
            {
                "code": "E10990001",
                "name": "Northshire County",
                "partnerships": ["E22990001", "E22990002", "E22990003"],
            }
        ],
    }
    for relative in (LSOA_LOOKUP, PARTNERSHIP_LOOKUP, POPULATION, BOUNDARIES):
        assert (region / relative).is_file()


def test_lookup_headers_and_bom(region: Path) -> None:
    partnership = (region / PARTNERSHIP_LOOKUP).read_bytes()
    assert partnership.startswith(b"\xef\xbb\xbfFID,LAD19CD,LAD19NM,CSP19CD,CSP19NM,PFA19CD,PFA19NM\n")
    assert b'"Aldbury, Crane and Holt"' in partnership
    assert (
        (region / LSOA_LOOKUP)
        .read_bytes()
        .startswith(b"FID,LSOA11CD,LSOA11NM,WD19CD,WD19NM,LAD19CD,LAD19NM\n")
    )
    assert (region / POPULATION).read_bytes().startswith(b"LSOA11CD,population\n")
    for relative in (LSOA_LOOKUP, PARTNERSHIP_LOOKUP, POPULATION):
        assert b"\r" not in (region / relative).read_bytes()


def test_police_files_follow_the_archive_layout(region: Path) -> None:
    files = sorted(
        str(p.relative_to(region / "police")) for p in (region / "police").rglob("*") if p.is_file()
    )
    expected = sorted(f"{m}/{m}-{slug}-street.csv" for m in MONTH_LABELS for slug in FORCES)
    assert files == expected
    for name in files:
        raw = (region / "police" / name).read_bytes()
        assert raw.startswith(POLICE_HEADER.encode() + b"\n")
        assert b"\r" not in raw
        raw.decode("utf-8")


def test_months_roll_over_the_year_end(tmp_path: Path) -> None:
    generate_demo_region(tmp_path, months=3, start_month="2021-11")
    months = sorted(p.name for p in (tmp_path / "police").iterdir())
    assert months == ["2021-11", "2021-12", "2022-01"]


def test_police_values_are_well_formed(police: pd.DataFrame) -> None:
    assert (police["Month"] == police["file_month"]).all()
    assert (police["Reported by"] == police["slug"].map(FORCES)).all()
    assert (police["Falls within"] == police["Reported by"]).all()
    assert (police["Context"] == "").all()
    assert police["Crime ID"].str.fullmatch(r"|[0-9a-f]{64}").all()
    assert set(police["Crime type"]) == CRIME_TYPES
    assert set(police["Last outcome category"]) - {""} <= OUTCOMES
    located = police[police["Longitude"] != ""]
    assert located["Longitude"].str.fullmatch(r"-\d\.\d{6}").all()
    assert located["Latitude"].str.fullmatch(r"5\d\.\d{6}").all()
    assert located["Longitude"].astype(float).between(-2.6, -1.4).all()
    assert located["Latitude"].astype(float).between(53.9, 54.7).all()
    assert (located["Location"].str.startswith("On or near ")).all()
    assert (police["Location"] != "").all()


def test_crime_mix_is_realistic(police: pd.DataFrame) -> None:
    shares = police["Crime type"].value_counts(normalize=True)
    assert 0.25 <= shares["Anti-social behaviour"] <= 0.35
    assert 0.23 <= shares["Violence and sexual offences"] <= 0.32


def test_crime_is_concentrated_in_a_few_lsoas(police: pd.DataFrame, lookup: pd.DataFrame) -> None:
    per_lsoa = police["LSOA code"].value_counts().reindex(lookup["LSOA11CD"], fill_value=0)
    region_lsoas = lookup.loc[lookup["PFA19NM"] != "Westdale", "LSOA11CD"]
    per_lsoa = per_lsoa[region_lsoas]
    assert per_lsoa.max() >= 3 * per_lsoa.median()


def test_every_lsoa_code_is_known_empty_or_planted(police: pd.DataFrame, lookup: pd.DataFrame) -> None:
    codes = police["LSOA code"]
    unknown = codes[(codes != "") & ~codes.isin(lookup["LSOA11CD"])]
    assert unknown.str.match(PLANTED_UNKNOWN).all()
    names = dict(zip(lookup["LSOA11CD"], lookup["LSOA11NM"], strict=True))
    known = police[codes.isin(lookup["LSOA11CD"])]
    assert (known["LSOA name"] == known["LSOA code"].map(names)).all()
    assert ((police["LSOA code"] == "") == (police["LSOA name"] == "")).all()


def test_geography_has_five_region_partnerships_and_westdale_outside(lookup: pd.DataFrame) -> None:
    lads = lookup.drop_duplicates("LAD19CD")
    region = lads[lads["PFA19CD"].isin(["E23990001", "E23990002"])]
    assert region["CSP19CD"].nunique() == 5
    assert region.groupby("PFA19NM")["CSP19CD"].nunique().to_dict() == {"Northshire": 3, "Southmoor": 2}
    lads_per_csp = region.groupby("CSP19CD")["LAD19CD"].nunique()
    assert (lads_per_csp == 2).sum() == 1
    assert (lads_per_csp == 1).sum() == 4
    westdale = lads[lads["PFA19CD"] == "E23990003"]
    assert westdale["PFA19NM"].tolist() == ["Westdale"]
    assert westdale["CSP19CD"].nunique() == 1
    assert lookup["CSP19CD"].notna().all()


def test_geography_codes_and_names_look_real(lookup: pd.DataFrame) -> None:
    assert lookup["FID"].astype(int).tolist() == list(range(1, len(lookup) + 1))
    assert lookup["LSOA11CD"].is_unique
    assert lookup["LSOA11CD"].str.fullmatch(r"E0199\d{4}").all()
    assert lookup["WD19CD"].str.fullmatch(r"E0599\d{4}").all()
    assert lookup["LAD19CD"].str.fullmatch(r"E0[67]99\d{4}").all()
    assert lookup["CSP19CD"].str.fullmatch(r"E2299\d{4}").all()
    stems = lookup["LSOA11NM"].str.extract(r"^(.*) \d{3}[A-Z]$")[0]
    assert (stems == lookup["LAD19NM"]).all()
    per_csp = lookup.groupby("CSP19CD")["LSOA11CD"].size()
    assert per_csp.between(15, 30).all()
    assert (lookup.groupby("LAD19CD")["WD19CD"].nunique() >= 3).all()


def test_population_covers_every_lsoa(region: Path, lookup: pd.DataFrame) -> None:
    population = pd.read_csv(region / POPULATION)
    assert population["LSOA11CD"].is_unique
    assert set(population["LSOA11CD"]) == set(lookup["LSOA11CD"])
    assert pd.api.types.is_integer_dtype(population["population"])
    assert population["population"].between(1000, 3000).all()


def _inside(x: float, y: float, ring: list[list[float]]) -> bool:
    """Point in polygon (even-odd ray casting)."""
    inside = False
    for (ax, ay), (bx, by) in zip(ring, ring[1:], strict=False):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def _area(ring: list[list[float]]) -> float:
    return sum(ax * by - bx * ay for (ax, ay), (bx, by) in zip(ring, ring[1:], strict=False)) / 2


def test_boundaries_tile_every_lad_with_one_cell_per_lsoa(
    region: Path, lookup: pd.DataFrame, police: pd.DataFrame
) -> None:
    doc = json.loads((region / BOUNDARIES).read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    rings: dict[str, list[list[float]]] = {}
    for n, f in enumerate(doc["features"], start=1):
        assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
        assert f["properties"]["FID"] == n
        (ring,) = f["geometry"]["coordinates"]
        assert len(ring) >= 4 and ring[0] == ring[-1] and _area(ring) > 0  # closed, anticlockwise
        rings[f["properties"]["LSOA11CD"]] = ring
    # every LSOA of the lookup (Westdale's too, as a national file has them), none it does not know
    assert sorted(rings) == sorted(lookup["LSOA11CD"])
    names = dict(zip(lookup["LSOA11CD"], lookup["LSOA11NM"], strict=True))
    assert all(f["properties"]["LSOA11NM"] == names[f["properties"]["LSOA11CD"]] for f in doc["features"])
    for _, lsoas in lookup.groupby("LAD19CD")["LSOA11CD"]:
        cells = [rings[c] for c in lsoas]
        xs = [x for ring in cells for x, _ in ring]
        ys = [y for ring in cells for _, y in ring]
        box = (max(xs) - min(xs)) * (max(ys) - min(ys))
        assert abs(sum(_area(ring) for ring in cells) - box) < 1e-6 * box  # no gap, no overlap in area
        for i in range(15):  # and every sampled point of the LAD lies in exactly one cell
            for j in range(15):
                x = min(xs) + (i + 0.5) / 15 * (max(xs) - min(xs))
                y = min(ys) + (j + 0.5) / 15 * (max(ys) - min(ys))
                assert sum(_inside(x, y, ring) for ring in cells) == 1, (x, y)
    # each cell is drawn around its LSOA: the middle of the LSOA's police.uk points lies in it
    located = police[police["LSOA code"].isin(rings) & (police["Longitude"] != "")]
    middle = located.assign(lon=located["Longitude"].astype(float), lat=located["Latitude"].astype(float))
    middle = middle.groupby("LSOA code")[["lon", "lat"]].median()
    inside = [_inside(r.lon, r.lat, rings[code]) for code, r in middle.iterrows()]
    assert len(inside) > 100 and sum(inside) >= 0.95 * len(inside)


# ------------------------------------------------------------------------------------------- planted quirks


def test_asb_rows_have_no_crime_id_and_no_outcome(police: pd.DataFrame) -> None:
    asb = police["Crime type"] == "Anti-social behaviour"
    assert asb.sum() > 1000
    assert (police.loc[asb, "Crime ID"] == "").all()
    assert (police.loc[asb, "Last outcome category"] == "").all()
    assert (police.loc[~asb, "Crime ID"] != "").all()
    assert (police.loc[~asb, "Last outcome category"] != "").all()


def _duplicate_id_groups(police: pd.DataFrame) -> pd.core.groupby.DataFrameGroupBy:
    crimes = police[police["Crime ID"] != ""]
    repeated = crimes[crimes.duplicated(["file_month", "slug", "Crime ID"], keep=False)]
    return repeated.groupby(["file_month", "slug", "Crime ID"])


def test_duplicate_crime_ids_pair_a_status_update_with_a_real_outcome(police: pd.DataFrame) -> None:
    groups = _duplicate_id_groups(police)
    assert groups.ngroups >= 5
    status_pairs = groups["Last outcome category"].agg(lambda s: (s == SUU).any() and (s != SUU).any())
    assert status_pairs.sum() >= 3
    with_and_without_location = groups["Location"].agg(
        lambda s: (s == "No Location").any() and s.nunique() > 1
    )
    assert with_and_without_location.sum() >= 2


def test_some_crime_ids_reappear_in_a_later_month(police: pd.DataFrame) -> None:
    crimes = police[police["Crime ID"] != ""]
    months_per_id = crimes.groupby(["slug", "Crime ID"])["file_month"].nunique()
    assert (months_per_id > 1).sum() >= 2


def test_rows_without_location(police: pd.DataFrame) -> None:
    no_location = police[police["Location"] == "No Location"]
    assert 0.01 <= len(no_location) / len(police) <= 0.03
    for column in ("Longitude", "Latitude", "LSOA code", "LSOA name"):
        assert (no_location[column] == "").all()
    assert ((police["Longitude"] == "") == (police["Location"] == "No Location")).all()
    empty_street = police[police["Location"] == "On or near "]
    assert len(empty_street) >= 3
    assert (empty_street["LSOA code"] != "").all()


def test_exact_duplicate_asb_rows(police: pd.DataFrame) -> None:
    asb = police[(police["Crime type"] == "Anti-social behaviour") & (police["LSOA code"] != "")]
    assert asb.duplicated().sum() >= 3


def test_rows_snapped_into_other_force_areas(police: pd.DataFrame, lookup: pd.DataFrame) -> None:
    pfa = police["LSOA code"].map(dict(zip(lookup["LSOA11CD"], lookup["PFA19NM"], strict=True)))
    own = police["slug"].str.capitalize()
    neighbour = pfa.isin(["Northshire", "Southmoor"]) & (pfa != own)
    outside = pfa == "Westdale"
    for slug in FORCES:
        mine = police["slug"] == slug
        share = neighbour[mine].sum() / mine.sum()
        assert 0.003 <= share <= 0.015, (slug, share)
        assert 1 <= outside[mine].sum() < neighbour[mine].sum()


def test_a_handful_of_unknown_lsoa_codes(police: pd.DataFrame, lookup: pd.DataFrame) -> None:
    codes = police["LSOA code"]
    unknown = police[(codes != "") & ~codes.isin(lookup["LSOA11CD"])]
    assert 3 <= len(unknown) <= len(police) / 1000
    assert (unknown["LSOA name"].str.fullmatch(r".+ \d{3}[A-Z]")).all()
    assert (unknown["Longitude"] != "").all()


# ------------------------------------------------------------------------------------- size and arguments


def test_default_demo_size(tmp_path: Path) -> None:
    generate_demo_region(tmp_path)
    files = sorted((tmp_path / "police").glob("*/*-street.csv"))
    assert len(files) == 72
    rows = sum(path.read_bytes().count(b"\n") - 1 for path in files)
    assert 80_000 <= rows <= 150_000


def test_scale_multiplies_the_volume(tmp_path: Path) -> None:
    generate_demo_region(tmp_path / "half", months=2, scale=0.5)
    generate_demo_region(tmp_path / "full", months=2)

    def rows(root: Path) -> int:
        return sum(p.read_bytes().count(b"\n") - 1 for p in (root / "police").glob("*/*.csv"))

    assert 0.4 <= rows(tmp_path / "half") / rows(tmp_path / "full") <= 0.6


@pytest.mark.parametrize(
    "kwargs",
    [{"months": 0}, {"start_month": "2021-13"}, {"start_month": "April 2021"}, {"scale": 0.0}],
)
def test_bad_arguments_are_rejected(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate_demo_region(tmp_path, **kwargs)  # type: ignore[arg-type]
