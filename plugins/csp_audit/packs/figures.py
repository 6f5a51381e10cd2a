"""Figures that can be traced: every number the assessment prints names the published row it came from.

A figure is rendered as ``<span class="fig" ...>`` carrying the table, the row's key (the table's
published key columns, as JSON), the column, how it was formatted and, for a difference, the second
row's key. A verifier (the integration tests, or an analyst with the pack's CSVs) finds each row in
``csv/<table>.csv`` and formats the value again: the text must match. Text copied whole from a mart
cell (a target's status rule, a caveat) is a ``fig`` of format ``text``. Counts of rows (how many
changes were tested, how many inputs are stale) are ``op="count"`` over the rows that match ``where``.

Literal labels that contain digits but are no figure (an audit year such as 2023/24, an area code, a
month) are wrapped as ``<span class="lit">`` so that a verifier can tell that every other digit in
the text is a traced figure.

The formats live here, once, so the assessment and its verifier cannot drift apart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from markupsafe import Markup, escape

from csp_audit.packs.disclosure import MARKER, flag_column


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _count(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _p(v: float) -> str:
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


FORMATS: dict[str, Callable[[Any], str]] = {
    "count": lambda v: _count(float(v)),  # whole numbers; an apportioned estimate to 1 decimal
    "rate": lambda v: f"{float(v):,.2f}",  # per 1,000
    "pct": lambda v: f"{float(v):+.1f}%",  # a percentage change, signed
    "abs_pct": lambda v: f"{abs(float(v)):.1f}%",  # the size of a percentage change (direction in words)
    "share": lambda v: f"{100 * float(v):.1f}%",  # a proportion 0..1 as a percentage
    "ratio": lambda v: f"{float(v):.2f}",
    "p": lambda v: _p(float(v)),
    "score": lambda v: f"{float(v):.2f}".rstrip("0").rstrip("."),
    "int": lambda v: f"{int(float(v)):,d}",
    "signed": lambda v: f"{float(v):+,.0f}" if float(v).is_integer() else f"{float(v):+,.1f}",
    "text": lambda v: str(v),
}


def withheld(row: Mapping[str, Any], column: str) -> bool:
    return row.get(flag_column(column)) == MARKER


def usable(row: Mapping[str, Any] | None, column: str) -> bool:
    """A value that may be narrated: present and not withheld."""
    return row is not None and not withheld(row, column) and not missing(row.get(column))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    return None if missing(value) else str(value)


class Tracer:
    """Makes traced figures over one partnership's published tables.

    ``keys`` gives each table's key columns (the published spec's key, as far as the table has them).
    """

    def __init__(self, keys: Mapping[str, tuple[str, ...]]) -> None:
        self.keys = dict(keys)

    def key_of(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _plain(row.get(k)) for k in self.keys.get(table, ())}

    def fig(self, table: str, row: Mapping[str, Any], column: str, fmt: str) -> Markup:
        """The value of ``row[column]`` formatted, traced to its row. The caller checks :func:`usable`."""
        text = FORMATS[fmt](row[column])
        return self._span(text, table=table, key=self.key_of(table, row), col=column, fmt=fmt)

    def diff(
        self, table: str, row: Mapping[str, Any], minus: Mapping[str, Any], column: str, fmt: str = "signed"
    ) -> Markup:
        """``row[column] - minus[column]``: a difference of two published figures of one table."""
        value = float(row[column]) - float(minus[column])
        return self._span(FORMATS[fmt](round(value, 6)), table=table, key=self.key_of(table, row), col=column,
                          fmt=fmt, op="diff", key2=self.key_of(table, minus))  # fmt: skip

    def count(self, table: str, where: Mapping[str, Any], n: int) -> Markup:
        """How many rows of ``table`` match ``where`` (a value, or a list of values, per column)."""
        return self._span(FORMATS["int"](n), table=table, op="count", where=dict(where), fmt="int")

    @staticmethod
    def lit(text: Any) -> Markup:
        """A label with digits that is no figure (an audit year, a month, an area code)."""
        return Markup('<span class="lit">{}</span>').format(str(text))

    @staticmethod
    def _span(text: str, **attrs: Any) -> Markup:
        parts = []
        for name, value in attrs.items():
            if value is None:
                continue
            data = json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict) else str(value)
            parts.append(f' data-{name}="{escape(data)}"')
        return Markup(f'<span class="fig"{"".join(parts)}>{escape(text)}</span>')


def rows_matching(frame: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``frame`` whose columns equal ``where``'s values (a list: any of them), as text."""
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        cells = frame[column].astype("string")
        wanted = [str(v) for v in value] if isinstance(value, list) else [_plain(value)]
        mask &= cells.isin(wanted).fillna(False).astype(bool)
    return frame[mask]
