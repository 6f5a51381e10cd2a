"""The comparator files a region names (``comparators`` in region.yaml), as raw tables.

Partnerships compare themselves with England and Wales and with their *most similar group* (the
Home Office's and iQuanta's core view), not only with their neighbours. Both need figures from
outside the region: published recorded crime for every partnership (``partnership_rates``) and,
to find the group, characteristics of every partnership (``characteristics``) or the published
groups (``groups``). This module reads and checks those files; the rates, the nearest-neighbour
groups and the comparison rows are made in dbt (``int_most_similar_groups``, ``comparisons``).

Each file is refused whole, naming the file, the line and the rule, when a row breaks a rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from csp_audit.config.region import Comparators
from csp_audit.geography.lookups import GeographyError

CODE = re.compile(r"^[EW][0-9]{8}$")
RATE_COLUMNS = ("partnership_code", "partnership_name", "dataset", "category", "period_start", "incidents",
                "population")  # fmt: skip


class ComparatorFileError(GeographyError):
    """A comparator file broke a rule; the message names the file, line and rule."""


def _read(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ComparatorFileError(f"{path}, line 1: rule header: missing column {missing[0]!r}")
    return frame


def _refuse(path: Path, bad: pd.Series, rule: str) -> None:
    if bad.any():
        line = int(bad.to_numpy().nonzero()[0][0]) + 2  # the header is line 1
        raise ComparatorFileError(f"{path}, line {line}: rule {rule}")


def _codes(path: Path, values: pd.Series, column: str) -> None:
    _refuse(path, ~values.str.strip().str.match(CODE), f"{column}_is_an_ons_partnership_code")


def _numbers(path: Path, values: pd.Series, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    _refuse(path, numbers.isna() | (numbers < 0), f"{column}_is_a_number_of_0_or_more")
    return numbers.astype(float)


def partnership_rates(path: Path | None) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("incidents", "population") else "str")
                             for c in RATE_COLUMNS})  # fmt: skip
    frame = _read(path, RATE_COLUMNS)[list(RATE_COLUMNS)].copy()
    _codes(path, frame["partnership_code"], "partnership_code")
    starts = pd.to_datetime(frame["period_start"], format="%Y-%m-%d", errors="coerce")
    _refuse(path, starts.isna(), "period_start_is_a_date")
    for column in ("incidents", "population"):
        frame[column] = _numbers(path, frame[column], column)
    _refuse(path, frame.duplicated(["partnership_code", "dataset", "category", "period_start"]),
            "one_row_per_partnership_dataset_category_and_year")  # fmt: skip
    frame["partnership_code"] = frame["partnership_code"].str.strip()
    return frame


def characteristics(path: Path | None) -> pd.DataFrame:
    """Long form: partnership_code, characteristic, value (every column but the code is one)."""
    empty = pd.DataFrame({"partnership_code": pd.Series(dtype="str"), "characteristic": pd.Series(dtype="str"),
                          "value": pd.Series(dtype="float64")})  # fmt: skip
    if path is None:
        return empty
    frame = _read(path, ("partnership_code",))
    _codes(path, frame["partnership_code"], "partnership_code")
    _refuse(path, frame["partnership_code"].duplicated(), "one_row_per_partnership")
    names = [c for c in frame.columns if c != "partnership_code" and not c.endswith("_name")]
    if not names:
        raise ComparatorFileError(f"{path}, line 1: rule header: no characteristic column")
    for column in names:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        _refuse(path, numbers.isna(), f"{column}_is_a_number")
        frame[column] = numbers.astype(float)
    long = frame.melt(id_vars="partnership_code", value_vars=names, var_name="characteristic")
    return long.astype({"value": "float64"}) if len(long) else empty


def groups(path: Path | None) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame(
            {"partnership_code": pd.Series(dtype="str"), "member_code": pd.Series(dtype="str")}
        )
    frame = _read(path, ("partnership_code", "member_code"))[["partnership_code", "member_code"]].copy()
    for column in ("partnership_code", "member_code"):
        _codes(path, frame[column], column)
        frame[column] = frame[column].str.strip()
    _refuse(path, frame["partnership_code"] == frame["member_code"], "a_partnership_is_not_its_own_member")
    _refuse(path, frame.duplicated(), "one_row_per_member")
    return frame


def comparator_tables(config: Comparators) -> dict[str, pd.DataFrame]:
    """``comparator_partnership_rates``, ``comparator_characteristics``, ``comparator_groups`` and
    ``comparator_settings`` (the group size), empty where the region names no file."""
    return {
        "comparator_partnership_rates": partnership_rates(config.partnership_rates),
        "comparator_characteristics": characteristics(config.characteristics),
        "comparator_groups": groups(config.groups),
        "comparator_settings": pd.DataFrame({"group_size": [config.group_size]}),
    }
