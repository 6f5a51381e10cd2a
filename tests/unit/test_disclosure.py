"""Statistical disclosure control: primary and secondary suppression, differencing, rounding, marking."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from csp_audit.packs import disclosure as sdc
from csp_audit.packs.disclosure import (
    MARKER,
    RULE_COLUMN,
    Grouping,
    Not,
    Rate,
    TableSpec,
    Terms,
    find_disclosure_risks,
    flag_column,
    protect,
)

FIRE = Terms(level="aggregate", min_cell_size=5)
YOT = Terms(level="aggregate", min_cell_size=10, rounding="nearest_5")
OPEN = Terms(level="record")


def suppressed(frame: pd.DataFrame, column: str = "incidents") -> set[str]:
    return set(frame.loc[frame[flag_column(column)] == MARKER, "area_code"])


# ------------------------------------------------------------------------------------------ an area hierarchy

# partnership P = wards W1 (L1, L2) + W2 (L3, L4); ward = sum of its LSOAs; P = sum of wards = sum of LSOAs
LSOAS = {"L1": ("W1", 3), "L2": ("W1", 20), "L3": ("W2", 15), "L4": ("W2", 12)}


def hierarchy(values: dict[str, float] | None = None, dataset: str = "fire") -> pd.DataFrame:
    values = values or {k: v for k, (_, v) in LSOAS.items()}
    rows = [
        {"area_type": "lsoa", "area_code": code, "ward_code": ward, "partnership_code": "P", "dataset": dataset,
         "category": "All", "incidents": float(values[code]), "population": 1500}
        for code, (ward, _) in LSOAS.items()
    ]  # fmt: skip
    for ward in ("W1", "W2"):
        total = sum(values[c] for c, (w, _) in LSOAS.items() if w == ward)
        rows.append({"area_type": "ward", "area_code": ward, "ward_code": ward, "partnership_code": "P",
                     "dataset": dataset, "category": "All", "incidents": float(total), "population": 3000})  # fmt: skip
    rows.append({"area_type": "partnership", "area_code": "P", "ward_code": None, "partnership_code": "P",
                 "dataset": dataset, "category": "All", "incidents": float(sum(values.values())), "population": 6000})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["rate_per_1000"] = (1000 * frame["incidents"] / frame["population"]).round(3)
    return frame


AREA_GROUPINGS = (
    Grouping("P = LSOAs", ("dataset", "category", "partnership_code"), {"area_type": "partnership"}, {"area_type": "lsoa"}),
    Grouping("P = wards", ("dataset", "category", "partnership_code"), {"area_type": "partnership"}, {"area_type": "ward"}),
    Grouping("ward = LSOAs", ("dataset", "category", "partnership_code"), {"area_type": "ward"}, {"area_type": "lsoa"},
             link=("area_code", "ward_code")),
    Grouping("All = categories", ("dataset", "area_type", "area_code", "partnership_code"), {"category": "All"},
             {"category": Not("All")}),
)  # fmt: skip


def area_spec(**terms: Terms) -> TableSpec:
    return TableSpec(
        name="area_rates",
        key=("area_type", "area_code", "dataset", "category"),
        counts=("incidents",),
        rates={"rate_per_1000": Rate("incidents", "population")},
        groupings=AREA_GROUPINGS,
        terms=terms or {"fire": FIRE},
    )


def test_terms_rule_text_and_rounding() -> None:
    assert "below 5 suppressed" in FIRE.rule()
    assert "nearest 5" in YOT.rule() and "rates from rounded counts" in YOT.rule()
    assert OPEN.rule().startswith("open data") and OPEN.is_open
    assert [YOT.publish(v) for v in (10, 12, 12.5, 13, 17.4, 0)] == [10, 10, 15, 15, 15, 0]
    assert Terms(min_cell_size=5, apportioned=True).publish(6.26) == 6.3
    assert math.isnan(FIRE.publish(float("nan")))
    with pytest.raises(ValueError):
        Terms(rounding="nearest_3")


def test_primary_suppression_marks_the_cell_and_its_rate() -> None:
    out = protect(hierarchy(), area_spec())
    row = out[out["area_code"] == "L1"].iloc[0]
    assert pd.isna(row["incidents"]) and row[flag_column("incidents")] == MARKER
    assert pd.isna(row["rate_per_1000"]) and row[flag_column("rate_per_1000")] == MARKER
    assert (out[RULE_COLUMN].str.contains("below 5 suppressed")).all()
    assert out.attrs["disclosure"]["primary"] == 1


def test_zeros_are_published_unless_the_terms_say_otherwise() -> None:
    frame = hierarchy({"L1": 0, "L2": 20, "L3": 15, "L4": 12})
    assert suppressed(protect(frame, area_spec())) == set()
    strict = Terms(level="aggregate", min_cell_size=5, suppress_zeros=True)
    assert "L1" in suppressed(protect(frame, area_spec(fire=strict)))


def test_secondary_suppression_protects_a_lone_cell_with_the_next_smallest() -> None:
    out = protect(hierarchy(), area_spec())
    # L1 (3) alone in ward W1 = L1 + L2 would be W1 - L2: the next smallest cell of that equation goes too
    assert suppressed(out) == {"L1", "L2"}
    assert out.attrs["disclosure"]["secondary"] == 1
    assert find_disclosure_risks(out, area_spec()) == []


def test_the_complement_is_the_smallest_non_zero_cell() -> None:
    frame = hierarchy({"L1": 3, "L2": 0, "L3": 15, "L4": 12})
    out = protect(frame, area_spec())
    # W1 = L1 + L2 with L2 = 0: hiding the zero would leave L1 = W1; the ward itself is the next non-zero cell
    assert "L1" in suppressed(out) and "L2" not in suppressed(out)
    assert find_disclosure_risks(out, area_spec()) == []


def test_secondary_suppression_iterates_across_overlapping_groupings() -> None:
    # two categories under 'All' in each area: a 2-D table with both margins published
    rows = []
    for area, (a, b) in {"L1": (2, 30), "L2": (40, 50), "L3": (60, 7)}.items():
        for cat, v in (("a", a), ("b", b), ("All", a + b)):
            rows.append({"area_type": "lsoa", "area_code": area, "ward_code": "W", "partnership_code": "P",
                         "dataset": "fire", "category": cat, "incidents": float(v), "population": 1000})  # fmt: skip
    for cat, v in (("a", 102), ("b", 87), ("All", 189)):
        rows.append({"area_type": "partnership", "area_code": "P", "ward_code": None, "partnership_code": "P",
                     "dataset": "fire", "category": cat, "incidents": float(v), "population": 3000})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["rate_per_1000"] = frame["incidents"]
    out = protect(frame, area_spec())
    hidden = out[out[flag_column("incidents")] == MARKER]
    # every row and every column of the table that has a hidden cell has at least two
    assert len(hidden) >= 4
    for _, group in hidden.groupby("area_code"):
        assert len(group) >= 2
    assert find_disclosure_risks(out, area_spec()) == []


def test_differencing_between_ward_lsoas_and_partnership_is_closed() -> None:
    # L1 and L3 small, in different wards: each ward equation, and P = wards, needs its own complement
    frame = hierarchy({"L1": 2, "L2": 30, "L3": 4, "L4": 25})
    out = protect(frame, area_spec())
    assert {"L1", "L3"} <= suppressed(out)
    assert find_disclosure_risks(out, area_spec()) == []
    # recompute every ward and the partnership from what is published: no hidden value falls out
    shown = out.set_index("area_code")["incidents"]
    for ward, members in (("W1", ["L1", "L2"]), ("W2", ["L3", "L4"])):
        hidden = [m for m in [ward, *members] if pd.isna(shown[m])]
        assert len(hidden) != 1


def three_way() -> tuple[pd.DataFrame, TableSpec]:
    """a, b, c small; each equation holds two of them, yet a+b, a+c, b+c together fix all three."""
    values = {"a": 2, "b": 3, "c": 4, "p1": 10, "p2": 11, "p3": 12}
    totals = {"T1": ("a", "b", "p1"), "T2": ("a", "c", "p2"), "T3": ("b", "c", "p3")}
    rows = [{"area_code": k, "dataset": "fire", "incidents": float(v)} for k, v in values.items()]
    rows += [
        {"area_code": t, "dataset": "fire", "incidents": float(sum(values[m] for m in ms))}
        for t, ms in totals.items()
    ]
    spec = TableSpec(
        name="three_way",
        key=("area_code",),
        counts=("incidents",),
        groupings=tuple(
            Grouping(t, ("dataset",), {"area_code": t}, {"area_code": ms}) for t, ms in totals.items()
        ),
        terms={"fire": FIRE},
    )
    return pd.DataFrame(rows), spec


def test_verifier_finds_recovery_by_combining_equations() -> None:
    frame, spec = three_way()
    leaky = frame.copy()
    small = leaky["area_code"].isin(["a", "b", "c"])
    leaky[flag_column("incidents")] = np.where(small, MARKER, None)
    leaky.loc[small, "incidents"] = np.nan
    risks = find_disclosure_risks(leaky, spec)
    assert len(risks) == 3 and all("combining" in r for r in risks)
    out = protect(frame, spec)
    assert find_disclosure_risks(out, spec) == []
    assert {"a", "b", "c"} <= suppressed(out) and len(suppressed(out)) > 3


def test_rounding_publishes_multiples_and_rates_from_rounded_counts() -> None:
    frame = hierarchy({"L1": 12, "L2": 23, "L3": 7, "L4": 31}, dataset="yot")
    spec = area_spec(yot=YOT)
    out = protect(frame, spec)
    published = out["incidents"].dropna()
    assert (published % 5 == 0).all() and (published >= 10).all()
    row = out[out["area_code"] == "L1"].iloc[0]
    assert row["incidents"] == 10 and row["rate_per_1000"] == round(1000 * 10 / 1500, 3)
    assert "L3" in suppressed(out)  # 7 < 10
    assert find_disclosure_risks(out, spec) == []
    # a count that rounding would bring below the minimum cell size is withheld (7 -> 5 < 7)
    strict = Terms(level="aggregate", min_cell_size=7, rounding="nearest_5")
    out = protect(hierarchy({"L1": 7, "L2": 23, "L3": 30, "L4": 31}, dataset="yot"), area_spec(yot=strict))
    assert "L1" in suppressed(out)


def test_apportioned_values_are_shown_to_one_decimal() -> None:
    apportioned = Terms(level="aggregate", min_cell_size=5, apportioned=True)
    frame = hierarchy({"L1": 5.04, "L2": 20.26, "L3": 15.55, "L4": 12.0})
    out = protect(frame, area_spec(fire=apportioned))
    assert out.set_index("area_code").loc["L2", "incidents"] == 20.3
    assert find_disclosure_risks(out, area_spec(fire=apportioned)) == []


def test_open_data_is_published_as_is() -> None:
    frame = hierarchy(dataset="police")
    out = protect(frame, area_spec(police=OPEN))
    assert suppressed(out) == set()
    pd.testing.assert_series_equal(out["incidents"], frame["incidents"], check_names=False)
    assert out[RULE_COLUMN].str.startswith("open data").all()


def test_protect_is_idempotent() -> None:
    for frame, spec in (
        (hierarchy(), area_spec()),
        (hierarchy({"L1": 12, "L2": 23, "L3": 7, "L4": 31}, dataset="yot"), area_spec(yot=YOT)),
        three_way(),
    ):
        once = protect(frame, spec)
        twice = protect(once, spec)
        pd.testing.assert_frame_equal(once, twice)


def test_verifier_catches_leaky_tables() -> None:
    spec = area_spec()
    raw = hierarchy()
    assert any("below the minimum cell size 5" in r for r in find_disclosure_risks(raw, spec))
    # only the small cell hidden: W1 - L2 gives it back, and the message says so
    leaky = raw.copy()
    leaky[flag_column("incidents")] = np.where(leaky["area_code"] == "L1", MARKER, None)
    leaky.loc[leaky["area_code"] == "L1", ["incidents", "rate_per_1000"]] = np.nan
    risks = find_disclosure_risks(leaky, spec)
    assert any("can be recovered" in r and "= 3" in r for r in risks), risks
    # a rate beside a withheld count reveals it
    safe = protect(raw, spec)
    bad = safe.copy()
    bad.loc[bad["area_code"] == "L1", "rate_per_1000"] = 2.0
    assert any(
        "rate_per_1000 is published although incidents is suppressed" in r
        for r in find_disclosure_risks(bad, spec)
    )
    # a value beside its own [c] marker
    bad = safe.copy()
    bad.loc[bad["area_code"] == "L1", "incidents"] = 3.0
    assert any("marked [c] but its value is published" in r for r in find_disclosure_risks(bad, spec))
    # unrounded counts and rates from unrounded counts
    yot = protect(hierarchy({"L1": 12, "L2": 23, "L3": 17, "L4": 31}, dataset="yot"), area_spec(yot=YOT))
    bad = yot.copy()
    bad.loc[bad["area_code"] == "L1", "incidents"] = 12.0
    assert any("not rounded to the nearest 5" in r for r in find_disclosure_risks(bad, area_spec(yot=YOT)))
    bad = yot.copy()
    bad.loc[bad["area_code"] == "L1", "rate_per_1000"] = round(1000 * 12 / 1500, 3)
    assert any("not computed from the published" in r for r in find_disclosure_risks(bad, area_spec(yot=YOT)))


def test_verifier_reads_markers_in_cells_as_in_a_spreadsheet() -> None:
    safe = protect(hierarchy(), area_spec())
    sheet = safe.drop(columns=[c for c in safe.columns if c.endswith("_flag")]).astype(object)
    for column in ("incidents", "rate_per_1000"):
        sheet.loc[safe[flag_column(column)] == MARKER, column] = MARKER
    assert find_disclosure_risks(sheet, area_spec()) == []
    # the same sheet with the marker removed from one cell of the pair leaks
    sheet.loc[sheet["area_code"] == "L2", "incidents"] = 20
    assert find_disclosure_risks(sheet, area_spec())


def test_determined_cells_agree_with_an_svd() -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        n, m = int(rng.integers(2, 9)), int(rng.integers(1, 7))
        matrix = rng.integers(-1, 2, size=(m, n)).astype(float)
        rows = {tuple((j, a) for j, a in enumerate(r) if a) for r in matrix}
        unique = tuple(sorted(r for r in rows if r))
        if not unique:
            continue
        variables = sorted({v for r in unique for v, _ in r})
        dense = np.array([[dict(r).get(v, 0.0) for v in variables] for r in unique])
        _, s, vt = np.linalg.svd(dense, full_matrices=False)
        weight = (vt[: int((s > 1e-9).sum())] ** 2).sum(axis=0)
        expected = {v for v, w in zip(variables, weight, strict=True) if w > 1 - 1e-7}
        assert set(sdc._determined_in_block(unique)) == expected, unique


def test_c_test_matches_the_marts_definition() -> None:
    from csp_audit.packs.tables import c_test

    assert c_test(2, 3) == (None, "insufficient data")
    p, verdict = c_test(10, 30)
    assert verdict == "significant increase" and 0 < p < 0.05
    p, verdict = c_test(20, 22)
    assert verdict == "no significant change" and p > 0.5
    scipy_stats = pytest.importorskip("scipy.stats")
    assert p == pytest.approx(scipy_stats.binomtest(22, 42, 0.5).pvalue)


# ------------------------------------------------------------------------------------------ across releases


def _shown_before(earlier: pd.DataFrame, now: pd.DataFrame) -> np.ndarray:
    """Cells the earlier release showed with the value they have now: a reader knows them."""
    return (earlier[flag_column("incidents")] != MARKER).to_numpy() & np.isclose(
        earlier["incidents"].to_numpy(dtype=float), now["incidents"].to_numpy(dtype=float)
    )


def _as_a_reader_sees_them(current: pd.DataFrame, earlier: pd.DataFrame, now: pd.DataFrame) -> pd.DataFrame:
    """The current release with every withheld cell whose value the earlier release showed filled in."""
    out = current.copy()
    flag = flag_column("incidents")
    filled = (out[flag] == MARKER).to_numpy() & _shown_before(earlier, now)
    out.loc[filled, "incidents"] = earlier.loc[filled, "incidents"].to_numpy()
    out.loc[filled, flag] = None
    return out


def test_a_cell_an_earlier_release_showed_is_never_relied_on_as_a_complement() -> None:
    earlier = protect(hierarchy({"L1": 8, "L2": 20, "L3": 15, "L4": 12}), area_spec())
    assert suppressed(earlier) == set()  # v0001 shows every cell
    now = hierarchy({"L1": 3, "L2": 20, "L3": 15, "L4": 12})  # a re-delivery brings L1 down to 3
    naive = protect(now, area_spec())
    assert suppressed(naive) == {"L1", "L2"}  # L2 is 20 in both releases: the complement hides nothing
    assert find_disclosure_risks(naive, area_spec()) == []
    assert find_disclosure_risks(_as_a_reader_sees_them(naive, earlier, now), area_spec()) != []

    safe = protect(now, area_spec(), known={"incidents": _shown_before(earlier, now)})
    assert "L1" in suppressed(safe)
    assert find_disclosure_risks(safe, area_spec()) == []
    assert find_disclosure_risks(_as_a_reader_sees_them(safe, earlier, now), area_spec()) == []


def test_a_cell_withheld_before_stays_withheld() -> None:
    earlier = protect(hierarchy(), area_spec())  # L1 = 3 withheld, L2 its complement
    assert suppressed(earlier) == {"L1", "L2"}
    later = hierarchy({"L1": 9, "L2": 20, "L3": 15, "L4": 12})  # L1 re-delivered as 9: above the threshold
    assert suppressed(protect(later, area_spec())) == set()  # alone, v0002 would show L1 and L2
    carried = later.assign(**{flag_column("incidents"): earlier[flag_column("incidents")]})
    out = protect(carried, area_spec())
    assert {"L1", "L2"} <= suppressed(out)
    assert find_disclosure_risks(out, area_spec()) == []
