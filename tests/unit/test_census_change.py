"""Census geography change (ONS best-fit lookups with CHGIND): restating counts from LSOA01 to LSOA11.

The real ``LSOA01_LSOA11_LAD11_lookup_EW_with_CHGIND.csv`` from ../shared/realdata is read once; synthetic
counts on every 2001 LSOA are restated on 2011 LSOAs with its weights and checked case by case (U, S, M, X)
and in total.  The 2011 -> 2021 lookup is not in ../shared, so a small file in its published format stands
in for it.  Also covered: the region YAML key and the raw.geo_apportionment frame the build writes.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from csp_audit.config import Apportionment, Region, RegionConfigError, load_region
from csp_audit.geography import GeographyError, read_lsoa_change, read_lsoa_lookup
from csp_audit.geography.apportionment import APPORTIONMENT_COLUMNS, apportionment_weights

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
GEO = REALDATA / "geography"
LSOA_CHANGE = "LSOA01_LSOA11_LAD11_lookup_EW_with_CHGIND.csv"
MSOA_CHANGE = "MSOA01_MSOA11_LAD11_lookup_EW_with_CHGIND.csv"
COLUMNS = ["area_code", "lsoa_code", "chgind", "weight", "like_for_like", "basis"]

# Real examples from the 2001 -> 2011 lookup
UNCHANGED = ("E01031349", "E01031349")  # Adur 001A, the same LSOA in both censuses
SPLIT_OLD = "E01024018"  # Ashford 009E -> Ashford 009F, 009G, 009J
SPLIT_NEW = ["E01032815", "E01032817", "E01032824"]
SPLIT_11_OLD = "E01015470"  # Swindon 002A -> 11 LSOAs, the largest split
MERGED_OLD = ["E01029935", "E01029936", "E01029943"]  # Forest Heath 002A, 002B, 002D ->
MERGED_NEW = "E01033453"  # Forest Heath 002F
MERGED_4_OLD = ["E01001622", "E01001626", "E01001627", "E01001628"]  # Greenwich 024A-D ->
MERGED_4_NEW = "E01033726"  # Greenwich 034E
IRREGULAR_OLD = ["E01007401", "E01007407"]  # Barnsley 010A and 010B (both X) ->
IRREGULAR_NEW = "E01032550"  # Barnsley 010G
IRREGULAR_SINGLE = ("E01019466", "E01032613")  # Amber Valley 014E -> Amber Valley 017E (X)
WELSH_SPLIT_OLD = "W01000988"  # Bridgend 017A -> Bridgend 017E, 017F, 017G, 017H (S)


def _real(name: str) -> Path:
    path = GEO / name
    if not path.is_file():
        pytest.skip(f"real data not available: {path}")
    return path


def _restate(change: pd.DataFrame, counts: pd.Series) -> pd.Series:
    """Counts on old codes -> counts on new codes with the lookup's weights (what the dbt model does)."""
    placed = change.assign(count=change["area_code"].map(counts) * change["weight"])
    return placed.groupby("lsoa_code")["count"].sum()


@pytest.fixture(scope="module")
def real_rows() -> list[dict[str, str]]:
    with _real(LSOA_CHANGE).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def change() -> pd.DataFrame:
    return read_lsoa_change(_real(LSOA_CHANGE))


@pytest.fixture(scope="module")
def population(change: pd.DataFrame) -> pd.DataFrame:
    """A 2011 population for every new LSOA (random but fixed), with known values for the split example."""
    codes = sorted(change["lsoa_code"].unique())
    values = np.random.default_rng(2011).integers(1000, 3000, size=len(codes))
    frame = pd.DataFrame({"lsoa_code": codes, "population": values})
    frame.loc[frame["lsoa_code"].isin(SPLIT_NEW), "population"] = [1000, 2000, 5000]
    return frame


@pytest.fixture(scope="module")
def weighted(population: pd.DataFrame) -> pd.DataFrame:
    return read_lsoa_change(_real(LSOA_CHANGE), population=population)


@pytest.fixture(scope="module")
def counts(change: pd.DataFrame) -> pd.Series:
    """Random whole counts on every 2001 LSOA."""
    old = sorted(change["area_code"].unique())
    return pd.Series(np.random.default_rng(2001).integers(0, 500, size=len(old)), index=old, dtype="float64")


# ---------------------------------------------------------------------------------------------------------
# The real 2001 -> 2011 lookup
# ---------------------------------------------------------------------------------------------------------


def test_real_lookup_is_read_whole(change: pd.DataFrame) -> None:
    assert list(change.columns) == COLUMNS
    assert len(change) == 34_917
    assert change["chgind"].value_counts().to_dict() == {"U": 33_519, "S": 922, "M": 313, "X": 163}
    assert change["area_code"].nunique() == 34_378  # 2001 LSOAs
    assert change["lsoa_code"].nunique() == 34_749  # 2011 LSOAs in the lookup
    assert change.attrs["level"] == "lsoa"
    assert (change.attrs["old_vintage"], change.attrs["new_vintage"]) == ("01", "11")
    assert (change["weight"] > 0).all()
    sums = change.groupby("area_code")["weight"].sum()
    assert np.allclose(sums, 1.0, rtol=0, atol=1e-12)
    assert change["like_for_like"].dtype == bool
    assert set(change.loc[~change["like_for_like"], "chgind"]) == {"X"}
    assert change.loc[change["chgind"] == "X", "like_for_like"].eq(False).all()


def test_real_lookup_read_backwards_restates_2011_codes_onto_2001(change: pd.DataFrame) -> None:
    """Read the other way (a region on 2001 LSOAs, rows on 2011 codes): each 2011 part of a split goes
    whole to its 2001 LSOA, a 2011 LSOA merged from several is spread over them, X stays flagged."""
    back = read_lsoa_change(_real(LSOA_CHANGE), reverse=True)
    assert (back.attrs["from_vintage"], back.attrs["to_vintage"]) == ("11", "01")
    assert len(back) == len(change) and back["area_code"].nunique() == 34_749  # every 2011 LSOA
    assert np.allclose(back.groupby("area_code")["weight"].sum(), 1.0, rtol=0, atol=1e-12)
    for new in SPLIT_NEW:
        row = back[back["area_code"] == new]
        assert row[["lsoa_code", "chgind", "weight", "basis"]].values.tolist() == [
            [SPLIT_OLD, "S", 1.0, "whole"]
        ]
    merged = back[back["area_code"] == MERGED_NEW].set_index("lsoa_code")
    assert sorted(merged.index) == MERGED_OLD and set(merged["basis"]) == {"equal"}
    assert merged["weight"].to_numpy() == pytest.approx([1 / 3] * 3)
    irregular = back[back["area_code"] == IRREGULAR_NEW]
    assert sorted(irregular["lsoa_code"]) == IRREGULAR_OLD and not irregular["like_for_like"].any()
    # counts on every 2011 LSOA restated onto 2001 LSOAs keep their total
    counts = pd.Series(1.0, index=sorted(back["area_code"].unique()))
    assert _restate(back, counts).sum() == pytest.approx(len(counts))


def test_unchanged_lsoas_keep_their_counts(change: pd.DataFrame, counts: pd.Series) -> None:
    row = change[change["area_code"] == UNCHANGED[0]]
    assert row[["lsoa_code", "chgind", "weight", "like_for_like", "basis"]].values.tolist() == [
        [UNCHANGED[1], "U", 1.0, True, "whole"]
    ]
    unchanged = change[change["chgind"] == "U"]
    restated = _restate(unchanged, counts)
    assert restated.loc[unchanged["lsoa_code"]].to_numpy() == pytest.approx(
        counts.loc[unchanged["area_code"]].to_numpy(), abs=0
    )


def test_split_lsoa_is_spread_by_the_new_lsoas_population(weighted: pd.DataFrame) -> None:
    rows = weighted[weighted["area_code"] == SPLIT_OLD].set_index("lsoa_code")
    assert sorted(rows.index) == SPLIT_NEW
    assert set(rows["chgind"]) == {"S"} and rows["like_for_like"].all()
    assert set(rows["basis"]) == {"population"}
    restated = _restate(weighted, pd.Series({SPLIT_OLD: 100.0}))
    assert restated.loc[SPLIT_NEW].tolist() == pytest.approx([12.5, 25.0, 62.5], abs=1e-12)  # 1:2:5
    assert math.fsum(restated.loc[SPLIT_NEW]) == pytest.approx(100.0, abs=1e-12)


def test_split_without_population_is_spread_equally(change: pd.DataFrame) -> None:
    rows = change[change["area_code"] == SPLIT_11_OLD]
    assert len(rows) == 11 and set(rows["chgind"]) == {"S"} and set(rows["basis"]) == {"equal"}
    assert rows["weight"].tolist() == pytest.approx([1 / 11] * 11, abs=1e-15)
    welsh = change[change["area_code"] == WELSH_SPLIT_OLD]
    assert welsh["lsoa_code"].tolist() == ["W01001918", "W01001919", "W01001920", "W01001921"]
    assert welsh["weight"].tolist() == pytest.approx([0.25] * 4)


def test_split_parts_sum_to_the_original_for_every_split(weighted: pd.DataFrame, counts: pd.Series) -> None:
    split = weighted[weighted["chgind"] == "S"]
    assert split["area_code"].nunique() == 383
    assert (split["basis"] == "population").all()
    parts = split.assign(part=split["area_code"].map(counts) * split["weight"])
    by_old = parts.groupby("area_code")["part"].sum()
    assert np.allclose(by_old, counts.loc[by_old.index], rtol=1e-12, atol=1e-9)
    assert split.groupby("lsoa_code")["area_code"].nunique().eq(1).all()  # a new LSOA has one source


def test_merged_lsoas_sum_on_the_new_lsoa(change: pd.DataFrame) -> None:
    for olds, new in ((MERGED_OLD, MERGED_NEW), (MERGED_4_OLD, MERGED_4_NEW)):
        rows = change[change["area_code"].isin(olds)]
        assert rows["lsoa_code"].tolist() == [new] * len(olds)
        assert set(rows["chgind"]) == {"M"} and rows["like_for_like"].all()
        assert rows["weight"].tolist() == [1.0] * len(olds)
        delivered = pd.Series([100.0, 7.0, 13.0, 40.0][: len(olds)], index=olds)
        assert _restate(rows, delivered).to_dict() == {new: delivered.sum()}
    assert change[change["chgind"] == "M"].groupby("area_code").size().eq(1).all()


def test_irregular_changes_are_flagged_and_conserved(weighted: pd.DataFrame) -> None:
    rows = weighted[weighted["lsoa_code"] == IRREGULAR_NEW]
    assert sorted(rows["area_code"]) == IRREGULAR_OLD
    assert set(rows["chgind"]) == {"X"} and not rows["like_for_like"].any()
    restated = _restate(rows, pd.Series([31.0, 12.0], index=IRREGULAR_OLD))
    assert restated.to_dict() == {IRREGULAR_NEW: 43.0}
    single = weighted[weighted["area_code"] == IRREGULAR_SINGLE[0]]
    assert single[["lsoa_code", "chgind", "weight", "like_for_like"]].values.tolist() == [
        [IRREGULAR_SINGLE[1], "X", 1.0, False]
    ]


@pytest.mark.parametrize("frame", ["change", "weighted"])
def test_grand_total_is_conserved(frame: str, request: pytest.FixtureRequest, counts: pd.Series) -> None:
    lookup = request.getfixturevalue(frame)
    assert len(lookup) == 34_917
    restated = _restate(lookup, counts)
    delivered, placed = math.fsum(counts), math.fsum(restated)
    assert abs(placed - delivered) <= 1e-9 * delivered
    # and 100 on every 2001 LSOA gives 100 x the number of 2001 LSOAs
    hundred = _restate(lookup, pd.Series(100.0, index=counts.index))
    assert math.fsum(hundred) == pytest.approx(100.0 * 34_378, rel=1e-12)


def test_counts_by_lad11_are_conserved(
    weighted: pd.DataFrame, counts: pd.Series, real_rows: list[dict[str, str]]
) -> None:
    old_lad = {r["LSOA01CD"]: r["LAD11CD"] for r in real_rows}
    new_lad = {r["LSOA11CD"]: r["LAD11CD"] for r in real_rows}
    before = counts.groupby(counts.index.map(old_lad)).sum()
    restated = _restate(weighted, counts)
    after = restated.groupby(restated.index.map(new_lad)).sum()
    assert len(before) == 348
    pd.testing.assert_series_equal(before.sort_index(), after.sort_index(), rtol=1e-12, check_names=False)


def test_counts_by_unchanged_lad_match_the_2019_lookup(weighted: pd.DataFrame, counts: pd.Series) -> None:
    """Restated on LSOA11 and placed with the region lookup (LAD19): equal where the LAD did not change."""
    real_rows = pd.read_csv(_real(LSOA_CHANGE), dtype=str)
    lad19 = read_lsoa_lookup(_real("LSOA11_WD19_LAD19_lookup_EW.csv")).frame.set_index("lsoa_code")[
        "lad_code"
    ]
    lsoas11 = real_rows.groupby("LAD11CD")["LSOA11CD"].agg(frozenset)
    lsoas19 = lad19.groupby(lad19).apply(lambda s: frozenset(s.index))
    unchanged = [lad for lad in lsoas11.index if lad in lsoas19.index and lsoas11[lad] == lsoas19[lad]]
    assert len(unchanged) > 300  # 2011 -> 2019 mergers touched a few dozen LADs
    old_lad = real_rows.drop_duplicates("LSOA01CD").set_index("LSOA01CD")["LAD11CD"]
    before = counts.groupby(counts.index.map(old_lad)).sum()
    restated = _restate(weighted, counts)
    after = restated.groupby(restated.index.map(lad19)).sum()
    assert np.allclose(before.loc[unchanged], after.loc[unchanged], rtol=1e-12, atol=0)


def test_real_msoa_lookup_reads_the_same_way() -> None:
    msoa = read_lsoa_change(_real(MSOA_CHANGE))
    assert len(msoa) == 7_230 and msoa.attrs["level"] == "msoa"
    assert msoa["chgind"].value_counts().to_dict() == {"U": 7_040, "S": 68, "X": 62, "M": 60}
    assert np.allclose(msoa.groupby("area_code")["weight"].sum(), 1.0)
    assert msoa["area_code"].str.match(r"^[EW]02\d{6}$").all()


# ---------------------------------------------------------------------------------------------------------
# 2011 -> 2021 (synthetic file in the published column order)
# ---------------------------------------------------------------------------------------------------------

HEADER_2021 = "LSOA11CD,LSOA11NM,CHGIND,LSOA21CD,LSOA21NM,LAD22CD,LAD22NM,LAD22NMW,ObjectId"
ROWS_2021 = [
    "E01000001,City of London 001A,U,E01000001,City of London 001A,E09000001,City of London,,1",
    "E01000002,Camden 001A,S,E01035000,Camden 001F,E09000007,Camden,,2",
    "E01000002,Camden 001A,S,E01035001,Camden 001G,E09000007,Camden,,3",
    "E01000003,Camden 001B,M,E01035002,Camden 001H,E09000007,Camden,,4",
    "E01000004,Camden 001C,M,E01035002,Camden 001H,E09000007,Camden,,5",
    "E01000005,Camden 002A,X,E01035003,Camden 002E,E09000007,Camden,,6",
    "E01000005,Camden 002A,X,E01035004,Camden 002F,E09000007,Camden,,7",
    "E01000006,Camden 002B,X,E01035004,Camden 002F,E09000007,Camden,,8",
    '"W01000001","Isle of Anglesey 001A","U","W01000001","Isle of Anglesey 001A","W06000001","Isle of '
    'Anglesey","Ynys Môn",9',
]


def _write(path: Path, header: str, rows: list[str], bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\r\n".join([header, *rows]) + "\r\n").encode())
    return path


def _by_pair(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[str, float, bool]]:
    return {
        (r.area_code, r.lsoa_code): (r.chgind, round(r.weight, 12), r.like_for_like)
        for r in frame.itertuples()
    }


def test_2011_to_2021_lookup(tmp_path: Path) -> None:
    path = _write(tmp_path / "LSOA11_LSOA21_LAD22_EW_LU.csv", HEADER_2021, ROWS_2021, bom=True)
    pop = pd.DataFrame(
        {"lsoa_code": ["E01035000", "E01035001", "E01035003", "E01035004"], "population": [300, 100, 1, 3]}
    )
    frame = read_lsoa_change(path, population=pop)
    assert (frame.attrs["old_vintage"], frame.attrs["new_vintage"]) == ("11", "21")
    assert _by_pair(frame) == {
        ("E01000001", "E01000001"): ("U", 1.0, True),
        ("E01000002", "E01035000"): ("S", 0.75, True),
        ("E01000002", "E01035001"): ("S", 0.25, True),
        ("E01000003", "E01035002"): ("M", 1.0, True),
        ("E01000004", "E01035002"): ("M", 1.0, True),
        ("E01000005", "E01035003"): ("X", 0.25, False),  # an irregular old LSOA over two new ones
        ("E01000005", "E01035004"): ("X", 0.75, False),
        ("E01000006", "E01035004"): ("X", 1.0, False),
        ("W01000001", "W01000001"): ("U", 1.0, True),
    }
    counts = pd.Series(
        [5.0, 40.0, 3.0, 4.0, 8.0, 2.0, 9.0], index=[f"E0100000{i}" for i in range(1, 7)] + ["W01000001"]
    )
    restated = _restate(frame, counts)
    assert restated.to_dict() == pytest.approx(
        {
            "E01000001": 5,
            "E01035000": 30,
            "E01035001": 10,
            "E01035002": 7,
            "E01035003": 2,
            "E01035004": 8,
            "W01000001": 9,
        }  # fmt: skip
    )
    assert math.fsum(restated) == pytest.approx(math.fsum(counts), rel=1e-12)
    equal = read_lsoa_change(path)  # no population: equal shares
    assert _by_pair(equal)[("E01000002", "E01035000")] == ("S", 0.5, True)


def test_population_missing_for_a_part_falls_back_to_equal_shares(tmp_path: Path) -> None:
    path = _write(tmp_path / "lu.csv", HEADER_2021, ROWS_2021)
    frame = read_lsoa_change(path, population=pd.DataFrame({"lsoa_code": ["E01035000"], "population": [9]}))
    split = frame[frame["area_code"] == "E01000002"]
    assert split["weight"].tolist() == [0.5, 0.5] and set(split["basis"]) == {"equal"}
    for zero in ([0, 0], [0, 7]):
        frame = pd.DataFrame({"lsoa_code": ["E01035000", "E01035001"], "population": zero})
        split = read_lsoa_change(path, population=frame).query("area_code == 'E01000002'")
        assert split["weight"].tolist() == [0.5, 0.5]


def test_lower_case_headers_and_any_column_order(tmp_path: Path) -> None:
    header = "fid,chgind,lsoa21cd,lsoa11nm,lsoa11cd"
    rows = ["1,U,E01000001,a,E01000001", "2,S,E01035000,b,E01000002", "3,S,E01035001,b,E01000002"]
    frame = read_lsoa_change(_write(tmp_path / "lu.csv", header, rows))
    assert frame["area_code"].tolist() == ["E01000001", "E01000002", "E01000002"]
    assert frame.attrs["old_vintage"] == "11"


# ---------------------------------------------------------------------------------------------------------
# Errors name the file and the line
# ---------------------------------------------------------------------------------------------------------

HEADER_2001 = "LSOA01CD,LSOA01NM,LSOA11CD,LSOA11NM,CHGIND,LAD11CD,LAD11NM,LAD11NMW,FID"
GOOD_2001 = [
    "E01000001,a,E01000001,a,U,E09000001,City,,1",
    "E01000002,b,E01032000,b,S,E09000007,Camden,,2",
    "E01000002,b,E01032001,c,S,E09000007,Camden,,3",
]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("E01000003,d,E01032002,d,Z,E09000007,Camden,,4", r"line 5: change indicator 'Z' in column CHGIND"),
        ("E01000003,d,E01032002,d,,E09000007,Camden,,4", r"line 5: change indicator '' in column CHGIND"),
        ("E01000003,d,E01032002,d,u,E09000007,Camden,,4", r"line 5: change indicator 'u'"),
        ("E0100003,d,E01032002,d,U,E09000007,Camden,,4", r"line 5: 'E0100003' in column LSOA01CD is not"),
        ("E01000003,d,,d,U,E09000007,Camden,,4", r"line 5: '' in column LSOA11CD is not a 9-character LSOA"),
        (
            "E02000003,d,E01032002,d,U,E09000007,Camden,,4",
            r"line 5: 'E02000003' in column LSOA01CD .*E01/W01",
        ),
        (
            "E01000003,d,E01000001,d,U,E09000007,Camden,,4",
            r"line 2: .*U \(unchanged\) but the new LSOA11 has",
        ),
        (
            "E01000001,a,E01032003,d,U,E09000007,Camden,,4",
            r"line 2: .*U \(unchanged\) but the old LSOA01 maps",
        ),
        (
            "E01000001,a,E01000001,a,S,E09000001,City,,4",
            r"line 5: E01000001 -> E01000001 has change .* U on li",
        ),
        (
            "E01000003,d,E01032001,c,S,E09000007,Camden,,4",
            r"line 4: .*S \(split\) but the new LSOA11 has sev",
        ),
    ],
)
def test_malformed_rows_are_refused_with_their_line(tmp_path: Path, row: str, message: str) -> None:
    path = _write(tmp_path / "bad.csv", HEADER_2001, [*GOOD_2001, row])
    with pytest.raises(GeographyError, match=message) as caught:
        read_lsoa_change(path)
    assert str(path) in str(caught.value)


def test_merged_old_lsoa_with_two_new_ones_is_refused(tmp_path: Path) -> None:
    rows = ["E01000003,d,E01032002,d,M,E09000007,Camden,,4", "E01000003,d,E01032005,d,M,E09000007,Camden,,5"]
    with pytest.raises(GeographyError, match=r"line 2: .*M \(merged\) but the old LSOA01 maps to several"):
        read_lsoa_change(_write(tmp_path / "bad.csv", HEADER_2001, rows))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("LSOA01CD,LSOA11CD,FID", r"expected one change indicator column CHGIND, found none"),
        ("LSOA11CD,LSOA11NM,CHGIND", r"needs two code columns of one level and two vintages"),
        ("LSOA01CD,MSOA11CD,CHGIND", r"needs two code columns of one level"),
        ("LSOA01CD,LSOA11CD,LSOA21CD,CHGIND", r"found LSOA01CD, LSOA11CD, LSOA21CD"),
    ],
)
def test_files_that_are_not_change_lookups_are_refused(tmp_path: Path, header: str, message: str) -> None:
    width = len(header.split(","))
    path = _write(tmp_path / "bad.csv", header, [",".join(["E01000001"] * (width - 1) + ["U"])])
    with pytest.raises(GeographyError, match=message):
        read_lsoa_change(path)


def test_bad_population_frame_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "lu.csv", HEADER_2001, GOOD_2001)
    with pytest.raises(GeographyError, match="lacks column"):
        read_lsoa_change(path, population=pd.DataFrame({"code": [], "population": []}))
    twice = pd.DataFrame({"lsoa_code": ["E01032000", "E01032000"], "population": [1, 2]})
    with pytest.raises(GeographyError, match="more than once: E01032000"):
        read_lsoa_change(path, population=twice)
    negative = pd.DataFrame({"lsoa_code": ["E01032000"], "population": [-1]})
    with pytest.raises(GeographyError, match="negative"):
        read_lsoa_change(path, population=negative)


# ---------------------------------------------------------------------------------------------------------
# Region YAML and the raw.geo_apportionment frame
# ---------------------------------------------------------------------------------------------------------

LSOA_LOOKUP = "LSOA11CD,LSOA11NM,WD19CD,WD19NM,LAD19CD,LAD19NM\n" + "".join(
    f"{code},n,E05000001,w,E09000007,Camden\n" for code in ("E01000001", "E01032000", "E01032001")
)


def _region_yaml(tmp_path: Path, entry: str) -> Path:
    (tmp_path / "lookups").mkdir(exist_ok=True)
    (tmp_path / "lookups" / "lsoa.csv").write_text(LSOA_LOOKUP)
    (tmp_path / "lookups" / "lad_csp.csv").write_text("x\n")
    _write(tmp_path / "lookups" / "change.csv", HEADER_2001, GOOD_2001)
    (tmp_path / "police").mkdir(exist_ok=True)
    path = tmp_path / "region.yaml"
    path.write_text(
        "name: r\ngeography:\n  lsoa_lookup: lookups/lsoa.csv\n  partnership_lookup: lookups/lad_csp.csv\n"
        f"  apportionment:\n    - {entry}\npartnerships:\n  codes: [E22000001]\nsources:\n  police_uk: police/\n"
    )
    return path


def test_region_accepts_an_lsoa_change_lookup(tmp_path: Path) -> None:
    region = load_region(
        _region_yaml(tmp_path, "{area_type: lsoa, vintage: 2001, lookup: lookups/change.csv}")
    )
    (entry,) = region.apportionment
    assert entry.key == "lsoa_2001" and entry.census_change and entry.weight == "population"
    region = load_region(
        _region_yaml(tmp_path, "{area_type: lsoa, vintage: 2001, lookup: lookups/change.csv, weight: equal}")
    )
    assert region.apportionment[0].weight == "equal"


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ("{area_type: lsoa, lookup: lookups/change.csv}", r"apportionment\[0\].vintage.*required for lsoa"),
        ("{area_type: lsoa, vintage: 2001, lookup: lookups/change.csv, weight: households}", r"\[0\].weight"),
        ("{area_type: msoa, vintage: 2001, lookup: lookups/change.csv}", r"\[0\].area_type.*lsoa"),
    ],
)
def test_region_refuses_bad_change_entries(tmp_path: Path, entry: str, key: str) -> None:
    with pytest.raises(RegionConfigError, match=key):
        load_region(_region_yaml(tmp_path, entry))


def _region(tmp_path: Path, *entries: Apportionment, population: Path | None = None) -> Region:
    load_region(_region_yaml(tmp_path, "{area_type: lsoa, vintage: 2001, lookup: lookups/change.csv}"))
    return Region(
        name="r",
        source=tmp_path / "region.yaml",
        audit_year_start_month=4,
        lsoa_lookup=tmp_path / "lookups" / "lsoa.csv",
        partnership_lookup=tmp_path / "lookups" / "lad_csp.csv",
        population=population,
        partnership_codes=("E22000001",),
        apportionment=entries,
    )


def test_apportionment_frame_carries_like_for_like(tmp_path: Path) -> None:
    wards = tmp_path / "wards.csv"
    wards.write_text("WD15CD,LSOA11CD,population\nE05000009,E01032000,10\nE05000009,E01032001,30\n")
    pop = tmp_path / "pop.csv"
    pop.write_text("LSOA11CD,population\nE01000001,5\nE01032000,100\nE01032001,300\n")
    region = _region(
        tmp_path,
        Apportionment("ward", 2015, wards, "population"),
        Apportionment("lsoa", 2001, tmp_path / "lookups" / "change.csv", "population"),
        population=pop,
    )
    frame = apportionment_weights(region)
    assert list(frame.columns) == APPORTIONMENT_COLUMNS
    assert frame["like_for_like"].dtype == bool
    rows = {
        (r.geography, r.area_code, r.lsoa_code): (r.weight, r.basis, r.like_for_like)
        for r in frame.itertuples()
    }
    assert rows == {
        ("ward_2015", "E05000009", "E01032000"): (10.0, "population", True),
        ("ward_2015", "E05000009", "E01032001"): (30.0, "population", True),
        ("lsoa_2001", "E01000001", "E01000001"): (1.0, "whole", True),
        ("lsoa_2001", "E01000002", "E01032000"): (0.25, "population", True),  # the region's population
        ("lsoa_2001", "E01000002", "E01032001"): (0.75, "population", True),
    }
    empty = apportionment_weights(_region(tmp_path))
    assert list(empty.columns) == APPORTIONMENT_COLUMNS and empty.empty


def test_apportionment_refuses_a_change_lookup_of_other_vintages(tmp_path: Path) -> None:
    change = tmp_path / "lookups" / "change.csv"
    with pytest.raises(GeographyError, match="between LSOA01 and LSOA11 codes, not of 1991"):
        apportionment_weights(_region(tmp_path, Apportionment("lsoa", 1991, change, "population")))
    later = _write(tmp_path / "later.csv", HEADER_2021, ROWS_2021)
    with pytest.raises(GeographyError, match="onto LSOA21 codes but the region's LSOA lookup .* is LSOA11"):
        apportionment_weights(_region(tmp_path, Apportionment("lsoa", 2011, later, "population")))


def test_apportionment_reads_a_newer_vintage_backwards(tmp_path: Path) -> None:
    """A region on LSOA11 codes naming ``vintage: 2021`` with the LSOA11 -> LSOA21 file: rows on 2021 codes
    are restated onto the region's 2011 LSOAs (the file read backwards)."""
    later = _write(tmp_path / "later.csv", HEADER_2021, ROWS_2021)
    frame = apportionment_weights(_region(tmp_path, Apportionment("lsoa", 2021, later, "population")))
    pairs = {(r.area_code, r.lsoa_code): (r.weight, r.like_for_like) for r in frame.itertuples()}
    assert pairs[("E01035000", "E01000002")] == (1.0, True)  # a split 2011 LSOA's part goes back whole
    assert pairs[("E01035002", "E01000003")] == (
        0.5,
        True,
    )  # a merged 2021 LSOA is spread (equal: no population)
    assert pairs[("E01035002", "E01000004")] == (0.5, True)
    assert pairs[("E01035004", "E01000005")][1] is False  # irregular: flagged
    assert set(frame["geography"]) == {"lsoa_2021"}
