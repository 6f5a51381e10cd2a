"""police.uk rows on another LSOA vintage are restated onto the region's LSOAs, not quarantined (issue 17).

police.uk moved from 2011 to 2021 LSOA codes; older extracts (and some agencies) carry 2001 codes. A small
police-only demo region on 2011 LSOAs names two census change lookups (``geography.apportionment`` entries
of ``area_type: lsoa``): a generated LSOA11 -> LSOA21 file, read backwards for rows on 2021 codes, and a
generated LSOA01 -> LSOA11 file for rows on 2001 codes. Rows of the police files are moved onto those
codes, one case of each change indicator, and the region is run through ``csp-audit run``. Every moved row
must be counted where its old code's LSOAs are (whole for unchanged, split and merged-into codes, by
population for a code merged from several region LSOAs), except the one a change spreads over two
partnerships, which is quarantined with its reason. The build's own dbt tests (conservation, monthly =
yearly, area rates = partnership counts) ran and passed for the run to succeed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import run_cli
from csp_audit_demo.region import generate_demo_region

pytestmark = pytest.mark.integration

NEW = iter(f"E0199{n:04d}" for n in range(5001, 9999))  # codes that are in no lookup of the region


def _lsoas(region: Path) -> pd.DataFrame:
    lookup = pd.read_csv(region / "lookups" / "LSOA11_WD19_LAD19_lookup_EW.csv", dtype=str)
    parts = pd.read_csv(region / "lookups" / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv", dtype=str,
                        encoding="utf-8-sig")  # fmt: skip
    return lookup.merge(parts[["LAD19CD", "CSP19CD"]], on="LAD19CD")


def _police_rows(region: Path) -> pd.DataFrame:
    frames = []
    for path in sorted((region / "police").glob("*/*-street.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frames.append(
            frame.assign(path=str(path), line=range(1, len(frame) + 1))
        )  # row_number: data rows from 1
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def restated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    region = tmp_path_factory.mktemp("vintages")
    generate_demo_region(region, months=1, scale=0.3)
    lsoas = _lsoas(region)
    rows = _police_rows(region)
    busy = rows[rows["LSOA code"] != ""]["LSOA code"].value_counts()
    by_csp = lsoas.set_index("LSOA11CD")["CSP19CD"]
    busy = busy[busy.index.isin(by_csp.index)]
    first_csp = by_csp[busy.index[0]]
    same = [c for c in busy.index if by_csp[c] == first_csp]
    other = [c for c in busy.index if by_csp[c] != first_csp]
    split, merged_a, merged_b, irregular, old_split_a, old_split_b, old_merged = same[:7]
    across = other[0]

    # LSOA11 -> LSOA21: every region LSOA unchanged (U) except `split` (into two 2021 LSOAs, S), `merged_a`
    # and `merged_b` (into one, M), `irregular` (redrawn, X), and `old_merged` merged with `across` of another
    # partnership (M across a partnership boundary)
    s1, s2, m, x, crossing = (next(NEW) for _ in range(5))
    changes21 = [(c, c, "U") for c in lsoas["LSOA11CD"] if c not in {split, merged_a, merged_b, irregular,
                                                                    old_merged, across}]  # fmt: skip
    changes21 += [(split, s1, "S"), (split, s2, "S"), (merged_a, m, "M"), (merged_b, m, "M"),
                  (irregular, x, "X"), (old_merged, crossing, "M"), (across, crossing, "M")]  # fmt: skip
    with open(region / "lookups" / "LSOA11_LSOA21_LAD22_lookup_EW.csv", "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["LSOA11CD", "LSOA11NM", "CHGIND", "LSOA21CD", "LSOA21NM", "LAD22CD", "ObjectId"])
        out.writerows([o, f"{o} name", chg, n, f"{n} name", "E06000001", i + 1]
                      for i, (o, n, chg) in enumerate(changes21))  # fmt: skip
    # LSOA01 -> LSOA11: an old LSOA split into `old_split_a` and `old_split_b` (S), and one merged into
    # `old_merged` with itself (M); the region's other LSOAs unchanged
    o_split, o_merged = next(NEW), next(NEW)
    changes01 = [(c, c, "U") for c in lsoas["LSOA11CD"] if c not in {old_split_a, old_split_b, old_merged}]
    changes01 += [(o_split, old_split_a, "S"), (o_split, old_split_b, "S"), (o_merged, old_merged, "M"),
                  (old_merged, old_merged, "M")]  # fmt: skip
    with open(
        region / "lookups" / "LSOA01_LSOA11_LAD11_lookup_EW_with_CHGIND.csv", "w", newline=""
    ) as handle:
        out = csv.writer(handle)
        out.writerow(["LSOA01CD", "LSOA01NM", "LSOA11CD", "LSOA11NM", "CHGIND", "LAD11CD", "LAD11NM", "FID"])
        out.writerows([o, f"{o} name", n, f"{n} name", chg, "E06000001", "x", i + 1]
                      for i, (o, n, chg) in enumerate(changes01))  # fmt: skip
    yaml = (region / "region.yaml").read_text(encoding="utf-8")
    yaml = yaml.replace(
        "  population: lookups/lsoa_population_mid_year.csv\n",
        "  population: lookups/lsoa_population_mid_year.csv\n  apportionment:\n"
        "    - {area_type: lsoa, vintage: 2021, lookup: lookups/LSOA11_LSOA21_LAD22_lookup_EW.csv}\n"
        "    - {area_type: lsoa, vintage: 2001, lookup: lookups/LSOA01_LSOA11_LAD11_lookup_EW_with_CHGIND.csv}\n",
    )
    (region / "region.yaml").write_text(yaml, encoding="utf-8")

    # move rows onto the other vintages' codes: row -> (code written, expected region LSOAs)
    moves = {split: [s1, s2], merged_a: [m], merged_b: [m], irregular: [x], across: [crossing],
             old_split_a: [o_split], old_split_b: [o_split], old_merged: [o_merged]}  # fmt: skip
    moved: list[tuple[str, int, str, str]] = []  # (file, line, delivered code, original 2011 code)
    for path, frame in rows.groupby("path"):
        frame = frame.copy()
        for original, codes in moves.items():
            hit = frame.index[frame["LSOA code"] == original][:4]
            for i, index in enumerate(hit):
                frame.loc[index, "LSOA code"] = codes[i % len(codes)]
                moved.append((Path(path).relative_to(region / "police").as_posix(), int(frame.loc[index, "line"]),
                              codes[i % len(codes)], original))  # fmt: skip
        frame.drop(columns=["path", "line"]).to_csv(path, index=False)
    warehouse = region / "wh" / "warehouse.duckdb"
    proc = run_cli("run", "--region", str(region / "region.yaml"), "--warehouse", str(warehouse))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {
        "warehouse": warehouse, "moved": pd.DataFrame(moved, columns=["source_file", "row_number", "delivered", "original"]),
        "lsoas": lsoas, "crossing": crossing, "merged": (merged_a, merged_b), "split": split, "irregular": irregular,
        "old_split": (old_split_a, old_split_b), "old_merged": old_merged,
    }  # fmt: skip


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_rows_on_other_vintages_are_counted_not_quarantined(restated: dict) -> None:
    moved = restated["moved"]
    assert len(moved) >= 16
    classified = _query(
        restated["warehouse"],
        "select source_file, row_number, lsoa_code, row_status, quarantine_reason, restated_from "
        "from intermediate.int_police_street_rows_classified",
    ).merge(moved, on=["source_file", "row_number"])
    assert len(classified) == len(moved) and (classified["lsoa_code"] == classified["delivered"]).all()
    crossing = classified["delivered"] == restated["crossing"]
    assert crossing.any()
    assert set(classified.loc[crossing, "quarantine_reason"]) == {"lsoa_change_crosses_partnerships"}
    rest = classified[~crossing]
    assert set(rest["row_status"]) <= {"counted", "duplicate"} and (rest["row_status"] == "counted").any()
    counted = rest[rest["row_status"] == "counted"]
    newer = counted["original"].isin([*restated["merged"], restated["split"], restated["irregular"]])
    assert set(counted.loc[newer, "restated_from"]) == {"lsoa_2021"}
    assert set(counted.loc[~newer, "restated_from"]) == {"lsoa_2001"}
    # what is still lsoa_not_in_lookup is the demo's own unknown codes, none of a change lookup
    unknown = _query(
        restated["warehouse"],
        "select distinct lsoa_code from intermediate.int_police_street_rows_classified "
        "where quarantine_reason = 'lsoa_not_in_lookup'",
    )["lsoa_code"]
    assert not set(unknown) & set(moved["delivered"])
    reconciliation = _query(restated["warehouse"], "select sum(rows_restated) as n from audit.reconciliation")
    assert reconciliation["n"][0] == len(counted)


def test_each_restated_row_lands_whole_or_by_population_on_its_lsoas(restated: dict) -> None:
    fact = _query(
        restated["warehouse"],
        "select source_file, row_number, lsoa_code, partnership_code, method, incidents "
        "from intermediate.int_incidents_harmonised where dataset = 'police_uk_street'",
    ).merge(restated["moved"], on=["source_file", "row_number"])
    by_row = fact.groupby(["source_file", "row_number"])
    assert (by_row["incidents"].sum() - 1).abs().max() < 1e-9  # every restated row counts once in all
    lsoa_csp = restated["lsoas"].set_index("LSOA11CD")["CSP19CD"]
    assert (fact["partnership_code"] == fact["lsoa_code"].map(lsoa_csp)).all()
    merged = fact["original"].isin(restated["merged"])
    # a 2021 LSOA merged from two region LSOAs is spread over both, by population
    assert set(fact.loc[merged, "lsoa_code"]) == set(restated["merged"])
    assert set(fact.loc[merged, "method"]) == {"apportioned"} and (fact.loc[merged, "incidents"] < 1).all()
    # a 2021 LSOA split from a region LSOA goes back to it whole; an irregular one whole, flagged
    for original, method in ((restated["split"], "exact"), (restated["irregular"], "apportioned")):
        rows = fact[fact["original"] == original]
        assert set(rows["lsoa_code"]) == {original} and set(rows["method"]) == {method}
        assert (rows["incidents"] == 1).all()
    # a 2001 LSOA merged into a region LSOA goes there whole; one split into two is spread by population
    rows = fact[fact["original"] == restated["old_merged"]]
    assert set(rows["lsoa_code"]) == {restated["old_merged"]} and set(rows["method"]) == {"exact"}
    rows = fact[fact["original"].isin(restated["old_split"])]
    assert set(rows["lsoa_code"]) == set(restated["old_split"]) and set(rows["method"]) == {"apportioned"}
