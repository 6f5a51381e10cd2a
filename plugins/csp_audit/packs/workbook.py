"""The pack's Excel workbook: a contents sheet, a notes sheet, then one sheet per table (openpyxl).

ONS conventions: a withheld cell holds the marker ``[c]`` (so the ``_flag`` columns are left out),
the Contents sheet says which disclosure rule applied to each table and the Notes sheet to each
dataset (so the per-row ``disclosure_rule``, the partnership's name and ``period_end`` are not
repeated on every row), numbers are stored as numbers. Every text
cell goes through :func:`extracts.safe_text` and is written as a string, so nothing in a workbook
can run as a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from csp_audit.packs.disclosure import FLAG_SUFFIX, MARKER, RULE_COLUMN, flag_column
from csp_audit.packs.extracts import safe_text

_BOLD = Font(bold=True)


def _value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, bool | int | float):
        return value
    return safe_text(str(value))


def _cell(ws: Worksheet, value: Any, *, bold: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=_value(value))
    if isinstance(cell.value, str):
        cell.data_type = "s"  # a string, never a formula
    if bold:
        cell.font = _BOLD
    return cell


# repeated on every row of a partnership's pack; the Contents and Notes sheets say them once
OMITTED = ("partnership_name", "period_end", RULE_COLUMN)


def sheet_rows(frame: pd.DataFrame) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows as written: value columns carry [c] where withheld; flag columns dropped."""
    flags = [c for c in frame.columns if c.endswith(FLAG_SUFFIX) and c[: -len(FLAG_SUFFIX)] in frame.columns]
    columns = [c for c in frame.columns if c not in flags and c not in OMITTED]
    body = frame[columns].astype(object).where(frame[columns].notna(), None)
    for column in columns:
        flag = flag_column(column)
        if flag in frame.columns:
            withheld = (frame[flag] == MARKER).to_numpy()
            body.loc[withheld, column] = MARKER
    return columns, body.values.tolist()


def write_workbook(
    path: Path,
    *,
    title: str,
    contents: Sequence[tuple[str, str, str, int, str]],  # sheet, title, description, rows, disclosure
    notes: Sequence[tuple[str, str]],
    tables: dict[str, pd.DataFrame],
    created: datetime,
) -> None:
    wb = Workbook(write_only=True)
    wb.properties.creator = "csp-audit"
    wb.properties.created = created
    wb.properties.modified = created
    ws = wb.create_sheet("Contents")
    ws.append([_cell(ws, title, bold=True)])
    ws.append([])
    ws.append(
        [_cell(ws, h, bold=True) for h in ("Sheet", "Table", "Description", "Rows", "Disclosure control")]
    )
    for row in contents:
        ws.append([_cell(ws, v) for v in row])
    ws = wb.create_sheet("Notes")
    ws.append([_cell(ws, "Notes", bold=True)])
    for key, text in notes:
        ws.append([_cell(ws, key, bold=True), _cell(ws, text)])
    for name, frame in tables.items():
        ws = wb.create_sheet(name[:31])
        columns, rows = sheet_rows(frame)
        ws.freeze_panes = "A2"
        ws.append([_cell(ws, c, bold=True) for c in columns])
        for row in rows:
            # plain values are fast in write-only mode; _value() leaves no text that starts with "=",
            # so openpyxl stores every text cell as a string, never as a formula
            ws.append([_value(v) for v in row])
    wb.save(path)
