"""CSV and Parquet extracts of a pack's tables, and the formula-injection guard they share with Excel.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some read a
leading tab or carriage return the same way) as a formula, so an area or category name such as
``=HYPERLINK("http://x","y")`` delivered by an agency could run when a partner opens the file.
:func:`safe_text` prefixes such text with an apostrophe (the OWASP recommendation); numbers are
written as numbers and never altered. CSV is UTF-8 with a byte-order mark (so Excel reads accents),
one header row, suppressed cells empty with ``<column>_flag`` = ``[c]``. Parquet (for analysts'
tools, not spreadsheets) keeps the exact values and types.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_formula_risk(text: str) -> bool:
    return text.startswith(FORMULA_START) or text.lstrip(" ").startswith(("=", "+", "@"))


def safe_text(value: str) -> str:
    """Text as it is safe to put in a spreadsheet cell."""
    return "'" + value if is_formula_risk(value) else value


def format_number(value: float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".10g")


def cell_text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalar
        return cell_text(value.item())
    return safe_text(str(value))


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as deterministic, formula-safe CSV (same table, same bytes)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_text(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([cell_text(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def write_csv(frame: pd.DataFrame, path: Path) -> bytes:
    data = csv_bytes(frame)
    path.write_bytes(data)
    return data


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Parquet through DuckDB (no pyarrow needed); ISO date columns become DATE."""
    table = frame.copy()
    for column in table.columns:
        if pd.api.types.is_bool_dtype(table[column].dtype):
            continue
        if pd.api.types.is_object_dtype(table[column].dtype):
            values = table[column].dropna()
            if len(values) and all(isinstance(v, bool) for v in values):
                table[column] = table[column].astype("boolean")
            elif len(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                table[column] = pd.to_numeric(table[column], errors="coerce")
            else:
                table[column] = table[column].map(lambda v: None if v is None else str(v)).astype(object)
    dates = [
        c
        for c in table.columns
        if pd.api.types.is_object_dtype(table[c].dtype)
        and table[c].notna().any()
        and table[c].dropna().map(lambda v: bool(_DATE.match(v))).all()
    ]
    with duckdb.connect() as con:
        con.register("pack_table", table)
        select = ", ".join(
            f'cast("{c}" as date) as "{c}"' if c in dates else f'"{c}"'
            for c in (x.replace('"', '""') for x in table.columns)
        )
        target = str(path).replace("'", "''")
        con.execute(f"copy (select {select} from pack_table) to '{target}' (format parquet)")  # noqa: S608
