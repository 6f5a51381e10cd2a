"""Unit tests for csp_audit.geography: real ONS lookups from ../shared/realdata plus small synthetic files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from csp_audit.geography import (
    GeographyError,
    Lookup,
    read_lsoa_lookup,
    read_partnership_lookup,
    read_population,
    resolve_lsoa_partnerships,
    select_partnerships,
)
from csp_audit.geography.lookups import latest_population

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
GEO = REALDATA / "geography"

WELSH_PFAS = [
    "W15000001",
    "W15000002",
    "W15000003",
    "W15000004",
]  # North Wales, Gwent, South Wales, Dyfed-Powys
CITY_OF_LONDON_CSP = "E22000180"
DORSET_PFA = "E23000039"
SUFFOLK_PFA = "E23000025"
BCP = "E06000058"  # Bournemouth, Christchurch and Poole (2019 merger)
EAST_SUFFOLK = "E07000244"
BCP_CSPS = {"E22000063", "E22000067", "E22000367"}  # Bournemouth, Poole, Dorset
EAST_SUFFOLK_CSPS = {"E22000274", "E22000278"}  # Suffolk Coastal, Waveney

OUT_COLUMNS = [
    "lsoa_code",
    "lsoa_name",
    "ward_code",
    "ward_name",
    "lad_code",
    "lad_name",
    "csp_code",
    "csp_name",
    "pfa_code",
    "pfa_name",
    "in_region",
    "resolution",
]


def _real(name: str) -> Path:
    path = GEO / name
    if not path.is_file():
        pytest.skip(f"real data not available: {path}")
    return path


# ---------------------------------------------------------------------------------------------------------
# Real files (loaded once per module: the LSOA lookups have 34,753 rows each)
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lsoa19() -> Lookup:
    return read_lsoa_lookup(_real("LSOA11_WD19_LAD19_lookup_EW.csv"))


@pytest.fixture(scope="module")
def lsoa18() -> Lookup:
    return read_lsoa_lookup(_real("LSOA11_WD18_LAD18_lookup_EW_v3.csv"))


@pytest.fixture(scope="module")
def csp19() -> Lookup:
    return read_partnership_lookup(_real("LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"))


@pytest.fixture(scope="module")
def csp18() -> Lookup:
    return read_partnership_lookup(_real("LAD18_CSP18_PFA18_lookup_EW_Dec2018.csv"))


def _assert_one_row_per_lsoa(resolved: pd.DataFrame, lsoas: Lookup) -> None:
    assert list(resolved.columns) == OUT_COLUMNS
    assert len(resolved) == len(lsoas.frame)
    assert resolved["lsoa_code"].is_unique
    assert set(resolved["lsoa_code"]) == set(lsoas.frame["lsoa_code"])
    assert resolved["lsoa_code"].is_monotonic_increasing
    assert resolved["in_region"].dtype == bool


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "vintages", "rows", "lads"),
    [
        ("LSOA11_WD19_LAD19_lookup_EW.csv", {"lsoa": "11", "ward": "19", "lad": "19"}, 34753, 339),
        ("LSOA11_WD18_LAD18_lookup_EW_v3.csv", {"lsoa": "11", "ward": "18", "lad": "18"}, 34753, 348),
    ],
)
def test_real_lsoa_lookups_parse(name: str, vintages: dict[str, str], rows: int, lads: int) -> None:
    # 2019 has FID first; the WD18 file has FID last and an extra WD18NMW column that must be ignored.
    lookup = read_lsoa_lookup(_real(name))
    assert lookup.vintages == vintages
    assert list(lookup.frame.columns) == [
        "lsoa_code",
        "lsoa_name",
        "ward_code",
        "ward_name",
        "lad_code",
        "lad_name",
    ]
    assert len(lookup.frame) == rows and lookup.frame["lsoa_code"].is_unique
    assert lookup.frame["lad_code"].nunique() == lads
    assert all(lookup.frame[c].dtype == "str" for c in lookup.frame.columns)
    assert lookup.source.name == name


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "vintage", "rows", "lads"),
    [
        ("LAD17_CSP17_PFA17_lookup_EW_Jan2017_v2.csv", "17", 348, 348),  # UTF-8 BOM, FID last
        ("LAD18_CSP18_PFA18_lookup_EW_Dec2018.csv", "18", 348, 348),  # FID last
        ("LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv", "19", 342, 339),  # FID first, split LADs
    ],
)
def test_real_partnership_lookups_parse(name: str, vintage: str, rows: int, lads: int) -> None:
    lookup = read_partnership_lookup(_real(name))
    assert lookup.vintages == {"lad": vintage, "csp": vintage, "pfa": vintage}
    assert list(lookup.frame.columns) == [
        "lad_code",
        "lad_name",
        "csp_code",
        "csp_name",
        "pfa_code",
        "pfa_name",
    ]
    assert len(lookup.frame) == rows
    assert lookup.frame["lad_code"].nunique() == lads
    assert lookup.frame["csp_code"].nunique() == 314
    assert lookup.frame["pfa_code"].nunique() == 43
    assert lookup.frame["lad_code"].iloc[0].startswith("E")  # the BOM did not end up in a column name
    # quoted commas survive: "Bristol, City of"
    assert "Bristol, City of" in set(lookup.frame["lad_name"])


@pytest.mark.realdata
def test_real_files_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(GeographyError, match=r"IMD2019.*no ward code column.*LSOA11CD, LSOA11NM, LAD19CD"):
        read_lsoa_lookup(_real("IMD2019_LSOA11_lookup_England.csv"))
    with pytest.raises(GeographyError, match=r"several LSOA code columns.*LSOA01CD, LSOA11CD"):
        read_lsoa_lookup(_real("LSOA01_LSOA11_LAD11_lookup_EW_with_CHGIND.csv"))
    with pytest.raises(GeographyError, match=r"LAD19_FRA19.*no CSP code column"):
        read_partnership_lookup(_real("LAD19_FRA19_lookup_EW_Dec2019.csv"))
    with pytest.raises(GeographyError, match=r"no CSP code column.*LSOA11CD"):
        read_partnership_lookup(_real("LSOA11_WD19_LAD19_lookup_EW.csv"))


@pytest.mark.realdata
def test_real_welsh_pfas_select_all_welsh_csps(csp19: Lookup) -> None:
    pfa_names = pd.read_csv(_real("PFA19_names_codes_UK_Dec2019.csv"), dtype=str).set_index("PFA19CD")[
        "PFA19NM"
    ]
    assert {pfa_names[c] for c in WELSH_PFAS} == {"Dyfed-Powys", "Gwent", "North Wales", "South Wales"}
    csps = select_partnerships(csp19, police_force_areas=WELSH_PFAS)
    # 22 Welsh LADs but 21 CSPs: Rhondda Cynon Taf and Merthyr Tydfil share Cwm Taf (W14000023).
    welsh = sorted(
        c
        for c in pd.read_csv(_real("CSP19_names_codes_EW_Dec2019.csv"), dtype=str)["CSP19CD"]
        if c.startswith("W")
    )
    assert csps == welsh
    assert len(csps) == 21 and "W14000023" in csps
    assert csps == sorted(csps)
    assert select_partnerships(csp19, codes=[" W14000001", "W14000002"]) == ["W14000001", "W14000002"]


@pytest.mark.realdata
def test_real_wales_and_city_of_london_resolve(lsoa19: Lookup, csp19: Lookup) -> None:
    region = select_partnerships(csp19, police_force_areas=[*WELSH_PFAS, "E23000034"])
    assert CITY_OF_LONDON_CSP in region
    resolved = resolve_lsoa_partnerships(lsoa19, csp19, region)
    _assert_one_row_per_lsoa(resolved, lsoa19)
    inside = resolved[resolved["in_region"]]
    assert len(inside) == 1909 + 6  # all Welsh LSOAs and the 6 City of London LSOAs
    assert set(inside["csp_code"]) == set(region)
    assert (inside["resolution"] == "lad").all()
    # split LADs exist elsewhere but do not block a region that does not touch them
    split = resolved[resolved["lad_code"].isin([BCP, EAST_SUFFOLK])]
    assert (split["resolution"] == "split_outside_region").all() and len(split) == 233 + 146
    assert (split[["csp_code", "csp_name", "pfa_code", "pfa_name"]] == "").all().all()
    assert not split["in_region"].any()
    assert (resolved.loc[resolved["resolution"] == "lad", "csp_code"] != "").all()


@pytest.mark.realdata
def test_real_dorset_without_finer_is_refused(lsoa19: Lookup, csp19: Lookup) -> None:
    region = select_partnerships(csp19, police_force_areas=[DORSET_PFA])
    assert set(region) == BCP_CSPS
    with pytest.raises(GeographyError) as info:
        resolve_lsoa_partnerships(lsoa19, csp19, region)
    message = str(info.value)
    assert BCP in message and "Bournemouth, Christchurch and Poole" in message
    assert all(code in message for code in BCP_CSPS)
    assert "finer" in message and "explicit" in message
    assert EAST_SUFFOLK not in message  # only the split LADs that touch the region are named


@pytest.mark.realdata
def test_real_dorset_with_finer_2018_pair(
    lsoa19: Lookup, csp19: Lookup, lsoa18: Lookup, csp18: Lookup
) -> None:
    region = select_partnerships(csp19, police_force_areas=[DORSET_PFA])
    resolved = resolve_lsoa_partnerships(lsoa19, csp19, region, finer=(lsoa18, csp18))
    _assert_one_row_per_lsoa(resolved, lsoa19)
    bcp = resolved[resolved["lad_code"] == BCP]
    assert len(bcp) == 233
    assert (bcp["resolution"] == "finer_lookup").all()
    assert set(bcp["csp_code"]) <= BCP_CSPS
    # 2018 LADs Bournemouth, Poole and Christchurch (-> Dorset CSP); CSP codes unchanged 2018 -> 2019
    assert bcp.groupby("csp_code").size().to_dict() == {"E22000063": 110, "E22000067": 93, "E22000367": 30}
    assert (bcp["pfa_code"] == DORSET_PFA).all() and bcp["in_region"].all()
    dorset_csp = resolved[resolved["csp_code"] == "E22000367"]
    assert set(dorset_csp["lad_code"]) == {BCP, "E06000059"}
    # East Suffolk is split too but outside the Dorset region
    assert (resolved.loc[resolved["lad_code"] == EAST_SUFFOLK, "resolution"] == "split_outside_region").all()
    assert resolved["in_region"].sum() == resolved["pfa_code"].eq(DORSET_PFA).sum()


@pytest.mark.realdata
def test_real_suffolk_with_finer(lsoa19: Lookup, csp19: Lookup, lsoa18: Lookup, csp18: Lookup) -> None:
    region = select_partnerships(csp19, police_force_areas=[SUFFOLK_PFA])
    resolved = resolve_lsoa_partnerships(lsoa19, csp19, region, finer=(lsoa18, csp18))
    east = resolved[resolved["lad_code"] == EAST_SUFFOLK]
    assert east.groupby("csp_code").size().to_dict() == {"E22000274": 73, "E22000278": 73}
    assert east["in_region"].all()


@pytest.mark.realdata
def test_real_vintage_mismatch_is_refused(lsoa18: Lookup, csp19: Lookup) -> None:
    with pytest.raises(GeographyError, match=r"14 LAD code\(s\).*LAD18.*LAD19.*E06000028.*same LAD vintage"):
        resolve_lsoa_partnerships(lsoa18, csp19, ["W14000001"])


# ---------------------------------------------------------------------------------------------------------
# Synthetic files
# ---------------------------------------------------------------------------------------------------------

LSOA_CSV = (
    "FID,LSOA19CD,LSOA19NM,WD19CD,WD19NM,LAD19CD,LAD19NM\n"
    "1,E01000001,Alpha 001A,E05000001,North,E06000001,Alpha\n"
    "2,E01000002,Alpha 001B,E05000001,North,E06000001,Alpha\n"
    "3,E01000003,Beta 001A,E05000002,Middle,E06000002,Beta\n"
    "4,E01000004,Beta 001B,E05000003,South,E06000002,Beta\n"
    "5,E01000005,Gamma 001A,E05000004,East,E06000003,Gamma\n"
)
PARTNERSHIP_CSV = (
    "FID,LAD19CD,LAD19NM,CSP19CD,CSP19NM,PFA19CD,PFA19NM\n"
    "1,E06000001,Alpha,E22000001,Alpha CSP,E23000001,Force One\n"
    "2,E06000002,Beta,E22000002,Beta North,E23000001,Force One\n"
    "3,E06000002,Beta,E22000003,Beta South,E23000001,Force One\n"
    "4,E06000003,Gamma,E22000004,Gamma CSP,E23000002,Force Two\n"
)
# An older vintage in which Beta was two LADs, one per CSP.
FINER_LSOA_CSV = (
    "LSOA11CD,LSOA11NM,WD18CD,WD18NM,WD18NMW,LAD18CD,LAD18NM,FID\n"
    "E01000001,Alpha 001A,E05000001,North,,E07000001,Alpha,1\n"
    "E01000002,Alpha 001B,E05000001,North,,E07000001,Alpha,2\n"
    "E01000003,Beta 001A,E05000002,Middle,,E07000002,Beta North,3\n"
    "E01000004,Beta 001B,E05000003,South,,E07000003,Beta South,4\n"
    "E01000005,Gamma 001A,E05000004,East,,E07000004,Gamma,5\n"
)
FINER_PARTNERSHIP_CSV = (
    "LAD18CD,LAD18NM,CSP18CD,CSP18NM,PFA18CD,PFA18NM,FID\n"
    "E07000001,Alpha,E22000001,Alpha CSP,E23000001,Force One,1\n"
    "E07000002,Beta North,E22000002,Beta North,E23000001,Force One,2\n"
    "E07000003,Beta South,E22000003,Beta South,E23000001,Force One,3\n"
    "E07000004,Gamma,E22000004,Gamma CSP,E23000002,Force Two,4\n"
)


def _write(tmp_path: Path, name: str, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[Lookup, Lookup, tuple[Lookup, Lookup]]:
    lsoas = read_lsoa_lookup(_write(tmp_path, "lsoa.csv", LSOA_CSV))
    parts = read_partnership_lookup(_write(tmp_path, "csp.csv", PARTNERSHIP_CSV))
    finer = (
        read_lsoa_lookup(_write(tmp_path, "lsoa18.csv", FINER_LSOA_CSV)),
        read_partnership_lookup(_write(tmp_path, "csp18.csv", FINER_PARTNERSHIP_CSV)),
    )
    return lsoas, parts, finer


def test_bom_quoted_commas_lower_case_and_fid_last(tmp_path: Path) -> None:
    text = (
        "lad17cd,lad17nm,csp17cd,csp17nm,pfa17cd,pfa17nm,FID\n"
        'E06000023," Bristol, City of ",E22000002,"Bristol, City of",E23000036,Avon and Somerset,1\n'
        "E06000001 ,Hartlepool,E22000027,Hartlepool,E23000013,Cleveland,2\n"
        "E06000001,Hartlepool,E22000027,Hartlepool,E23000013,Cleveland,2\n"  # exact duplicate
    )
    lookup = read_partnership_lookup(_write(tmp_path, "bom.csv", text, bom=True))
    assert lookup.vintages == {"lad": "17", "csp": "17", "pfa": "17"}
    assert lookup.frame.to_dict("records") == [
        {
            "lad_code": "E06000023",
            "lad_name": "Bristol, City of",
            "csp_code": "E22000002",
            "csp_name": "Bristol, City of",
            "pfa_code": "E23000036",
            "pfa_name": "Avon and Somerset",
        },
        {
            "lad_code": "E06000001",
            "lad_name": "Hartlepool",
            "csp_code": "E22000027",
            "csp_name": "Hartlepool",
            "pfa_code": "E23000013",
            "pfa_name": "Cleveland",
        },
    ]


def test_missing_level_names_level_and_columns(tmp_path: Path) -> None:
    no_ward = "LSOA11CD,LSOA11NM,LAD19CD,LAD19NM\nE01000001,A 001A,E06000001,A\n"
    with pytest.raises(GeographyError) as info:
        read_lsoa_lookup(_write(tmp_path, "noward.csv", no_ward))
    message = str(info.value)
    assert "noward.csv" in message and "ward code column" in message and "wd" in message
    assert "LSOA11CD, LSOA11NM, LAD19CD, LAD19NM" in message
    # an LSOA lookup passed as partnership lookup
    with pytest.raises(GeographyError, match=r"lsoa\.csv: no CSP code column"):
        read_partnership_lookup(_write(tmp_path, "lsoa.csv", LSOA_CSV))
    no_name = "LAD19CD,CSP19CD,CSP19NM,PFA19CD,PFA19NM\nE06000001,E22000001,A,E23000001,F\n"
    with pytest.raises(GeographyError, match=r"no LAD name column"):
        read_partnership_lookup(_write(tmp_path, "noname.csv", no_name))


def test_duplicate_candidate_columns(tmp_path: Path) -> None:
    text = (
        "LAD17CD,LAD20CD,LAD20NM,CSP19CD,CSP19NM,PFA19CD,PFA19NM\n"
        "E06000001,E06000001,A,E22000001,A,E23000001,F\n"
    )
    with pytest.raises(GeographyError, match=r"several LAD code columns.*LAD17CD, LAD20CD"):
        read_partnership_lookup(_write(tmp_path, "two.csv", text))
    same = (
        "LAD19CD,lad19cd,LAD19NM,CSP19CD,CSP19NM,PFA19CD,PFA19NM\n"
        "E06000001,E06000001,A,E22000001,A,E23000001,F\n"
    )
    with pytest.raises(GeographyError, match=r"'LAD19CD' and 'lad19cd'"):
        read_partnership_lookup(_write(tmp_path, "same.csv", same))


def test_bad_codes_empty_files_and_ragged_rows(tmp_path: Path) -> None:
    bad = LSOA_CSV.replace("E01000004", "E0100004")
    with pytest.raises(GeographyError, match=r"bad\.csv: line 5: LSOA code 'E0100004' in column LSOA19CD"):
        read_lsoa_lookup(_write(tmp_path, "bad.csv", bad))
    with pytest.raises(GeographyError, match=r"empty\.csv: empty file"):
        read_lsoa_lookup(_write(tmp_path, "empty.csv", ""))
    with pytest.raises(GeographyError, match=r"header only"):
        read_lsoa_lookup(_write(tmp_path, "header.csv", LSOA_CSV.splitlines()[0] + "\n"))
    ragged = LSOA_CSV + "6,E01000006,Gamma 001B,E05000004\n"
    with pytest.raises(GeographyError, match=r"ragged\.csv: line 7 has 4 fields"):
        read_lsoa_lookup(_write(tmp_path, "ragged.csv", ragged))
    with pytest.raises(GeographyError, match=r"not found"):
        read_lsoa_lookup(tmp_path / "missing.csv")


def test_conflicting_lsoa_rows(tmp_path: Path) -> None:
    text = LSOA_CSV + "6,E01000003,Beta 001A,E05000002,Middle,E06000002,Beta\n"  # exact duplicate: fine
    assert len(read_lsoa_lookup(_write(tmp_path, "dup.csv", text)).frame) == 5
    text += "7,E01000003,Beta 001A,E05000009,Other,E06000009,Delta\n"
    with pytest.raises(GeographyError, match=r"conflicting ward/LAD: E01000003 .*E06000002.*E06000009"):
        read_lsoa_lookup(_write(tmp_path, "conflict.csv", text))


def test_csp_in_two_pfas_is_refused(tmp_path: Path) -> None:
    text = PARTNERSHIP_CSV + "5,E06000009,Delta,E22000004,Gamma CSP,E23000001,Force One\n"
    with pytest.raises(GeographyError, match=r"CSP\(s\) in more than one PFA: E22000004"):
        read_partnership_lookup(_write(tmp_path, "twopfa.csv", text))


def test_lad_vintage_mismatch(
    tmp_path: Path, synthetic: tuple[Lookup, Lookup, tuple[Lookup, Lookup]]
) -> None:
    lsoas, _, (_, parts18) = synthetic
    with pytest.raises(GeographyError) as info:
        resolve_lsoa_partnerships(lsoas, parts18, ["E22000001"])
    message = str(info.value)
    assert "E06000001, E06000002, E06000003" in message
    assert "LAD19" in message and "LAD18" in message and "same LAD vintage" in message


def test_select_partnerships(synthetic: tuple[Lookup, Lookup, tuple[Lookup, Lookup]]) -> None:
    _, parts, _ = synthetic
    assert select_partnerships(parts, police_force_areas=["E23000001"]) == [
        "E22000001",
        "E22000002",
        "E22000003",
    ]
    assert select_partnerships(parts, codes=["E22000004", "E22000001", "E22000004"]) == [
        "E22000001",
        "E22000004",
    ]
    with pytest.raises(GeographyError, match=r"unknown PFA19 code\(s\) E23000099.*E23000001 Force One"):
        select_partnerships(parts, police_force_areas=["E23000001", "E23000099"])
    with pytest.raises(GeographyError, match=r"unknown CSP19 code\(s\) E22000099"):
        select_partnerships(parts, codes=["E22000099"])
    with pytest.raises(GeographyError, match="exactly one"):
        select_partnerships(parts)
    with pytest.raises(GeographyError, match="exactly one"):
        select_partnerships(parts, police_force_areas=["E23000001"], codes=["E22000001"])
    with pytest.raises(GeographyError, match="empty"):
        select_partnerships(parts, codes=[])


def test_resolve_split_lad(synthetic: tuple[Lookup, Lookup, tuple[Lookup, Lookup]]) -> None:
    lsoas, parts, finer = synthetic
    # region away from the split LAD Beta: Beta's LSOAs are neither counted nor double counted
    out = resolve_lsoa_partnerships(lsoas, parts, ["E22000004"])
    _assert_one_row_per_lsoa(out, lsoas)
    assert out["resolution"].tolist() == ["lad", "lad", "split_outside_region", "split_outside_region", "lad"]
    assert out["in_region"].tolist() == [False, False, False, False, True]
    assert out.loc[2, "csp_code"] == "" and out.loc[0, "csp_code"] == "E22000001"
    # region touching Beta without finer lookups
    with pytest.raises(GeographyError) as info:
        resolve_lsoa_partnerships(lsoas, parts, ["E22000002"])
    message = str(info.value)
    for text in ("E06000002 Beta", "E22000002 Beta North", "E22000003 Beta South", "finer", "explicit"):
        assert text in message
    # with finer lookups each Beta LSOA lands in exactly one CSP
    out = resolve_lsoa_partnerships(lsoas, parts, ["E22000002"], finer=finer)
    _assert_one_row_per_lsoa(out, lsoas)
    beta = out[out["lad_code"] == "E06000002"]
    assert beta["csp_code"].tolist() == ["E22000002", "E22000003"]
    assert beta["csp_name"].tolist() == ["Beta North", "Beta South"]
    assert beta["resolution"].tolist() == ["finer_lookup", "finer_lookup"]
    assert beta["in_region"].tolist() == [True, False]
    assert (beta["lad_name"] == "Beta").all()  # names of the current vintage are kept


def test_resolve_finer_mismatch_and_bad_region(
    tmp_path: Path, synthetic: tuple[Lookup, Lookup, tuple[Lookup, Lookup]]
) -> None:
    lsoas, parts, (finer_lsoas, _) = synthetic
    wrong = read_partnership_lookup(
        _write(
            tmp_path,
            "wrong18.csv",
            FINER_PARTNERSHIP_CSV.replace("E22000003,Beta South", "E22000001,Alpha CSP"),
        )
    )
    with pytest.raises(
        GeographyError,
        match=r"LSOA E01000004 of split LAD E06000002 resolves to CSP E22000001"
        r".*E22000002 Beta North, E22000003 Beta South",
    ):
        resolve_lsoa_partnerships(lsoas, parts, ["E22000002"], finer=(finer_lsoas, wrong))
    with pytest.raises(GeographyError, match=r"expected a LAD -> CSP -> PFA lookup"):
        resolve_lsoa_partnerships(lsoas, parts, ["E22000002"], finer=(finer_lsoas, finer_lsoas))
    with pytest.raises(GeographyError, match=r"region CSP code\(s\) E22000099"):
        resolve_lsoa_partnerships(lsoas, parts, ["E22000099"])
    with pytest.raises(GeographyError, match=r"expected an LSOA -> ward -> LAD lookup"):
        resolve_lsoa_partnerships(parts, parts, ["E22000001"])
    partial = read_lsoa_lookup(_write(tmp_path, "partial.csv", "\n".join(LSOA_CSV.splitlines()[:-1]) + "\n"))
    with pytest.raises(GeographyError, match=r"no LSOA for LAD19 code\(s\) E06000003"):
        resolve_lsoa_partnerships(partial, parts, ["E22000004"])


def test_population(tmp_path: Path) -> None:
    text = 'LSOA Code,LSOA Name,All Ages\nE01000002,B,"1,234"\nE01000001,"A, x", 1500 \n'
    pop = read_population(_write(tmp_path, "pop.csv", text, bom=True))
    assert pop[["lsoa_code", "population"]].to_dict("list") == {
        "lsoa_code": ["E01000001", "E01000002"],
        "population": [1500, 1234],
    }
    assert pop["year"].isna().all()  # no year column: one figure serves every year
    assert pop["population"].dtype == "int64" and pop["lsoa_code"].dtype == "str"
    pop = read_population(_write(tmp_path, "pop2.csv", "lsoa11cd,Population\nW01000001,10\n"))
    assert pop["population"].tolist() == [10]


def test_population_by_mid_year_estimate(tmp_path: Path) -> None:
    text = "LSOA11CD,mid_year,population\nE01000001,2022,110\nE01000001,2021,100\nE01000002,2021,50\n"
    pop = read_population(_write(tmp_path, "pop.csv", text))
    assert pop[["households", "aged_10_17"]].isna().all().all()  # no such columns: no such figures
    assert pop[["lsoa_code", "population", "year"]].astype({"year": int}).to_dict("list") == {
        "lsoa_code": ["E01000001", "E01000001", "E01000002"],
        "population": [100, 110, 50],
        "year": [2021, 2022, 2021],
    }
    latest = latest_population(pop)
    assert latest.to_dict("list") == {"lsoa_code": ["E01000001", "E01000002"], "population": [110, 50]}
    with pytest.raises(GeographyError, match=r"line 3: LSOA E01000001 already given for 2022 on line 2"):
        read_population(
            _write(tmp_path, "dup.csv", "LSOA11CD,mid_year,population\nE01000001,2022,1\nE01000001,2022,2\n")
        )
    with pytest.raises(GeographyError, match=r"line 2: year 'mid-2022' in column mid_year is not a year"):
        read_population(_write(tmp_path, "bad.csv", "LSOA11CD,mid_year,population\nE01000001,mid-2022,1\n"))


def test_population_with_households_and_ages_10_17(tmp_path: Path) -> None:
    text = (
        "LSOA11CD,mid_year,population,Households,Aged 10-17\n"
        'E01000001,2021,1500,620,140\nE01000002,2021,1200,,95\nE01000001,2022,1510,"1,001",\n'
    )
    pop = read_population(_write(tmp_path, "pop.csv", text))
    rows = pop.astype(object).where(pop.notna(), None)
    assert rows[["lsoa_code", "year", "households", "aged_10_17"]].values.tolist() == [
        ["E01000001", 2021, 620, 140],
        ["E01000001", 2022, 1001, None],  # a blank cell: that LSOA has no figure for that year
        ["E01000002", 2021, None, 95],
    ]
    with pytest.raises(
        GeographyError, match=r"line 2: households '-3' for E01000001 in column hh is not a non-neg"
    ):
        read_population(_write(tmp_path, "bad.csv", "LSOA11CD,population,hh\nE01000001,10,-3\n"))
    with pytest.raises(GeographyError, match=r"several aged_10_17 columns: age 10-17, pop_10_to_17"):
        read_population(
            _write(tmp_path, "two.csv", "LSOA11CD,population,age 10-17,pop_10_to_17\nE01000001,1,1,1\n")
        )


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        (
            "E01000001,10\nE01000002,12.5\n",
            r"line 3: population '12\.5' for E01000002.*not a non-negative integer",
        ),
        ("E01000001,-4\n", r"line 2: negative population '-4' for E01000001"),
        ("E01000001,\n", r"line 2: population '' for E01000001"),
        ("E01000001,abc\n", r"line 2: population 'abc'"),
        ("E01000001,1\n\nE01000001,2\n", r"line 4: LSOA E01000001 already given on line 2"),
        ("E0100001,1\n", r"line 2: LSOA code 'E0100001'"),
    ],
)
def test_population_errors_name_the_line(tmp_path: Path, body: str, pattern: str) -> None:
    path = _write(tmp_path, "pop.csv", "LSOA11CD,count\n" + body)
    with pytest.raises(GeographyError, match=pattern):
        read_population(path)


def test_population_column_detection_errors(tmp_path: Path) -> None:
    with pytest.raises(GeographyError, match=r"no population column"):
        read_population(_write(tmp_path, "a.csv", "LSOA11CD,people\nE01000001,1\n"))
    with pytest.raises(GeographyError, match=r"no LSOA code column"):
        read_population(_write(tmp_path, "b.csv", "area,population\nE01000001,1\n"))
    with pytest.raises(GeographyError, match=r"several population columns: Population, Total"):
        read_population(_write(tmp_path, "c.csv", "LSOA11CD,Population,Total\nE01000001,1,1\n"))
