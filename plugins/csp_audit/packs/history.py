"""What earlier releases published, so a new release cannot undo their disclosure control.

Two releases read side by side are one more table to a reader: a cell withheld in v0001 but shown in
v0002 (because a small re-delivery moved the secondary suppressions) gives v0001's withheld value
back by differencing; a cell withheld in v0002 whose neighbours v0001 already showed is worked out
from them. So every release is protected knowing every earlier one:

* a cube cell withheld in any earlier release stays withheld (the pattern is carried forward);
* a cell whose value an earlier release already showed is *known*: withholding it hides nothing, so
  it is never relied on as a complementary suppression (see :func:`disclosure.protect`).

The history is read from the published packs themselves (every version of every partnership under
the publish root), so it is what readers really have, whatever the warehouse says now.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from csp_audit.packs import release as rel
from csp_audit.packs.disclosure import MARKER
from csp_audit.packs.tables import CUBE_KEY, cube_from_published

CUBE_TABLES = ("area_rates", "area_monthly", "region_rates")
HISTORY_COLUMNS = (*CUBE_KEY, "value", "withheld")


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(columns=list(HISTORY_COLUMNS))


def _read_parquet(path: Path) -> pd.DataFrame:
    """A pack's Parquet extract (exact values, unlike the formula-guarded CSV), dates as ISO text."""
    with duckdb.connect() as con:
        frame = con.execute("select * from read_parquet(?)", [str(path)]).df()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    return frame.astype(object).where(frame.notna(), None)


def version_cells(version_dir: Path) -> pd.DataFrame | None:
    """The cube cells one released pack shows or withholds: CUBE_KEY as text, value, withheld."""
    tables = {
        name: _read_parquet(path)
        for name in CUBE_TABLES
        if (path := version_dir / "parquet" / f"{name}.parquet").exists()
    }
    if not tables:
        return None
    cells = cube_from_published(tables)
    withheld = cells["incidents_flag"].astype("string").fillna("") == MARKER
    value = pd.to_numeric(cells["incidents"], errors="coerce").where(~withheld)
    out = cells[list(CUBE_KEY)].astype(str)
    return out.assign(value=value.to_numpy(dtype=float), withheld=withheld.to_numpy(dtype=bool))


def published_history(out_root: str | Path) -> pd.DataFrame:
    """Every cube cell any release under ``out_root`` showed or withheld, one row per release and cell."""
    frames = []
    root = Path(out_root)
    if root.is_dir():
        for partnership in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
            for version in rel.versions(partnership):
                found = version_cells(partnership / version)
                if found is not None:
                    frames.append(found)
    if not frames:
        return empty_history()
    history = pd.concat(frames, ignore_index=True)
    return history.drop_duplicates().reset_index(drop=True)


def carried_and_known(
    keys: pd.DataFrame, shown: np.ndarray, history: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``keys`` (CUBE_KEY columns): withheld in an earlier release; shown before at ``shown``.

    ``shown`` is the value this release would publish (after rounding), NaN where none.
    """
    n = len(keys)
    if history.empty or n == 0:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    index = pd.MultiIndex.from_frame(keys[list(CUBE_KEY)].astype(str))
    past = history.set_index(list(CUBE_KEY))
    carried = index.isin(past.index[past["withheld"].to_numpy(dtype=bool)])
    values = past.loc[~past["withheld"].to_numpy(dtype=bool), "value"]
    rows = pd.DataFrame({"row": np.arange(n), "shown": shown}, index=index)
    matched = rows.join(values.rename("before"), how="inner")
    same = matched.loc[np.isclose(matched["shown"], matched["before"], rtol=0, atol=1e-9), "row"]
    known = np.zeros(n, dtype=bool)
    known[same.to_numpy(dtype=int)] = True
    return carried, known
