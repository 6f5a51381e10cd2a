"""Statistical disclosure control for published tables, driven by each dataset's sharing terms.

A table is described by a :class:`TableSpec`: its key, its *count* columns (numbers of incidents,
people or records that a threshold applies to), *derived* columns (rates, shares, changes computed
from counts) and *groupings*: the additive relations a reader can use, such as "the partnership's
count is the sum of its LSOAs' counts" or "category 'All' is the sum of the categories". Each row's
terms come from its dataset (the data plan's ``sharing``: ``min_cell_size`` and ``rounding``).

:func:`protect` applies, to the rows of datasets that have terms:

1. **Primary suppression**: a count below ``min_cell_size`` (zero excepted unless
   ``suppress_zeros``) is withheld, and so is a count that rounding would bring below it.
2. **Secondary suppression**: for every equation ``total = sum(parts)`` of every grouping, a
   suppressed cell must never be the only unknown: the smallest non-zero published cell of the
   equation is suppressed too (zeros only when nothing else is left), repeated over all
   overlapping groupings until stable. Then an exact check: a suppressed cell is recoverable by
   linear differencing exactly when its unit vector lies in the row space of the equations
   restricted to the suppressed cells (published cells move to the right-hand side); that is
   tested with a singular value decomposition per connected block of equations, and every
   recoverable cell gets one more complementary suppression until none is.
3. **Rounding** (``nearest_5`` / ``nearest_10``): every published count is rounded half up to the
   base; the unrounded value is never published, and rates are recomputed from the rounded count.
   Apportioned datasets (placed on LSOAs by weights) are shown to 1 decimal.
4. **Derived values**: a rate, share or change computed from a suppressed count is suppressed too.
5. **Marking**: a withheld cell is null with ``<column>_flag`` = ``[c]`` (the ONS marker for
   confidential); ``disclosure_rule`` on every row says which rule applied.

Open data (police.uk: record level, no minimum cell) passes through unchanged.

:func:`find_disclosure_risks` verifies a published table (e.g. read back from CSV, Excel or
Parquet) against the same spec: no published count below its threshold, rounded counts really
rounded, no derived value beside a suppressed count, rates consistent with published counts, and no
suppressed cell recoverable from the published cells through the declared groupings (single
equations are recomputed, combinations of equations are checked by rank). It returns one line per
problem; an empty list means the table is safe under the declared groupings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MARKER = "[c]"
FLAG_SUFFIX = "_flag"
RULE_COLUMN = "disclosure_rule"
ROUNDING_BASES: dict[str, int | None] = {"none": None, "nearest_5": 5, "nearest_10": 10}
_TOLERANCE = 1e-6


class DisclosureError(RuntimeError):
    """A table could not be protected (or a protected table failed verification)."""


@dataclass(frozen=True)
class Terms:
    """The sharing terms that decide how a dataset's figures are published."""

    level: str = "record"
    min_cell_size: int | None = None
    rounding: str = "none"
    apportioned: bool = False
    suppress_zeros: bool = False

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING_BASES:
            raise ValueError(f"rounding must be one of {', '.join(ROUNDING_BASES)}, not {self.rounding!r}")
        if self.min_cell_size is not None and self.min_cell_size < 1:
            raise ValueError("min_cell_size must be at least 1")

    @property
    def base(self) -> int | None:
        return ROUNDING_BASES[self.rounding]

    @property
    def is_open(self) -> bool:
        """Published as is: no threshold, no rounding, not an estimate."""
        return not self.min_cell_size and self.base is None and not self.apportioned

    @property
    def controlled(self) -> bool:
        """Suppression applies (a threshold is set)."""
        return bool(self.min_cell_size)

    def rule(self) -> str:
        parts = []
        if self.min_cell_size:
            zeros = "" if not self.suppress_zeros else " (zeros included)"
            parts.append(
                f"counts below {self.min_cell_size}{zeros} suppressed [c], with secondary suppression "
                "so they cannot be worked out from totals"
            )
        if self.base:
            parts.append(f"counts rounded to the nearest {self.base}; rates from rounded counts")
        elif self.apportioned:
            parts.append("apportioned estimates shown to 1 decimal")
        if not parts:
            return f"open data ({self.level} level, no minimum cell size): published as is"
        return "; ".join(parts)

    def publish(self, value: float) -> float:
        """The value as published (rounded by the terms); NaN stays NaN."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return float("nan")
        if self.base:
            return float(math.floor(value / self.base + 0.5) * self.base)
        if self.apportioned:
            return round(float(value), 1)
        return float(value)


OPEN = Terms()


@dataclass(frozen=True)
class Not:
    """Selector: the column is anything but ``value``."""

    value: Any


@dataclass(frozen=True)
class Grouping:
    """An additive relation: within each group of ``by`` (and ``link``), total row = sum of part rows.

    ``total`` and ``parts`` select rows by column values (a value, a :class:`Not`, or a tuple/set of
    values); ``link`` = (column of the total, column of the parts) pairs a total with its parts when
    they are not identified by ``by`` alone (e.g. a ward's code and an LSOA's ``ward_code``).
    ``columns`` limits the relation to some count columns (default: all).
    """

    name: str
    by: tuple[str, ...]
    total: Mapping[str, Any]
    parts: Mapping[str, Any]
    link: tuple[str, str] | None = None
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Rate:
    """A rate recomputed from the published count: ``round(per * count / denominator, decimals)``."""

    count: str
    denominator: str
    per: float = 1000.0
    decimals: int = 3


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    counts: tuple[str, ...] = ()
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rates: Mapping[str, Rate] = field(default_factory=dict)
    groupings: tuple[Grouping, ...] = ()
    terms: Mapping[str, Terms] = field(default_factory=dict)
    dataset_column: str | None = "dataset"
    default_terms: Terms = OPEN

    @property
    def protected_columns(self) -> tuple[str, ...]:
        """Every column that can carry a [c] flag: counts, then derived values and rates."""
        cols = list(self.counts)
        for col in [*self.derived, *self.rates]:
            if col not in cols:
                cols.append(col)
        return tuple(cols)

    def sources(self, column: str) -> tuple[str, ...]:
        """The counts a derived column is computed from."""
        found = list(self.derived.get(column, ()))
        if column in self.rates and self.rates[column].count not in found:
            found.append(self.rates[column].count)
        return tuple(found)

    def terms_of(self, table: pd.DataFrame) -> list[Terms]:
        if self.dataset_column is None or self.dataset_column not in table.columns:
            return [self.default_terms] * len(table)
        return [self.terms.get(str(d), self.default_terms) for d in table[self.dataset_column]]

    def rules(self) -> dict[str, str]:
        """Rule text per dataset named in the terms (for notes sheets and report footers)."""
        return {dataset: terms.rule() for dataset, terms in sorted(self.terms.items())}


# ------------------------------------------------------------------------------------------ helpers


def flag_column(column: str) -> str:
    return f"{column}{FLAG_SUFFIX}"


def _select(table: pd.DataFrame, selector: Mapping[str, Any]) -> np.ndarray:
    mask = np.ones(len(table), dtype=bool)
    for column, wanted in selector.items():
        values = table[column]
        if isinstance(wanted, Not):
            mask &= (values != wanted.value).to_numpy() | values.isna().to_numpy()
        elif isinstance(wanted, tuple | list | set | frozenset):
            mask &= values.isin(list(wanted)).to_numpy()
        else:
            mask &= (values == wanted).to_numpy()
    return mask


def _norm(value: Any) -> Any:
    """Key value with NaN/None/NaT folded together so they group."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def _normalised(column: pd.Series) -> list[Any]:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return [_norm(v) for v in column.tolist()]
    return column.astype(object).where(column.notna(), None).tolist()


@dataclass(frozen=True)
class Equation:
    grouping: str
    column: str
    total: int  # row position
    parts: tuple[int, ...]


def equations(table: pd.DataFrame, spec: TableSpec, rows: np.ndarray | None = None) -> list[Equation]:
    """Every ``total = sum(parts)`` equation the spec's groupings define on ``table`` (row positions).

    ``rows`` (a boolean mask) restricts the equations to some rows, e.g. those under control.
    """
    found: list[Equation] = []
    active = np.ones(len(table), dtype=bool) if rows is None else rows
    for g in spec.groupings:
        missing = [c for c in (*g.by, *g.total, *g.parts, *(g.link or ())) if c not in table.columns]
        if missing:
            continue  # the table does not carry this grouping (e.g. a subset of columns)
        totals = np.flatnonzero(_select(table, g.total) & active)
        parts = np.flatnonzero(_select(table, g.parts) & active)
        if not len(totals) or not len(parts):
            continue
        by_cols = [_normalised(table[c]) for c in g.by]
        if g.link:
            by_t = [*by_cols, _normalised(table[g.link[0]])]
            by_p = [*by_cols, _normalised(table[g.link[1]])]
        else:
            by_t = by_p = by_cols
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for pos in parts.tolist():
            groups[tuple(col[pos] for col in by_p)].append(pos)
        columns = [c for c in spec.counts if g.columns is None or c in g.columns]
        for pos in totals.tolist():
            members = tuple(p for p in groups.get(tuple(col[pos] for col in by_t), ()) if p != pos)
            if members:
                for column in columns:
                    found.append(Equation(g.name, column, int(pos), members))
    return found


def _suppressed_mask(table: pd.DataFrame, column: str) -> np.ndarray:
    flag = flag_column(column)
    if flag in table.columns:
        return (table[flag].astype("string").fillna("") == MARKER).to_numpy()
    return np.zeros(len(table), dtype=bool)


class _Cells:
    """Cells of the count columns as integers: ``position * n_columns + column index``."""

    def __init__(self, spec: TableSpec) -> None:
        self.columns = list(spec.counts)
        self.index = {c: i for i, c in enumerate(self.columns)}

    def cell(self, pos: int, column: str) -> int:
        return pos * len(self.columns) + self.index[column]

    def split(self, cell: int) -> tuple[int, str]:
        pos, ci = divmod(cell, len(self.columns))
        return pos, self.columns[ci]


def _linear_rows(eqs: list[Equation], cells: _Cells, unknown: set[int]) -> list[dict[int, float]]:
    out = []
    for eq in eqs:
        coeffs: dict[int, float] = {}
        total = cells.cell(eq.total, eq.column)
        if total in unknown:
            coeffs[total] = 1.0
        for p in eq.parts:
            c = cells.cell(p, eq.column)
            if c in unknown:
                coeffs[c] = coeffs.get(c, 0.0) - 1.0
        if coeffs:
            out.append(coeffs)
    return out


def determined_cells(eqs: list[Equation], cells: _Cells, unknown: set[int]) -> set[int]:
    """Unknown cells whose value the equations fix (their unit vector is in the row space)."""
    rows = _linear_rows(eqs, cells, unknown)
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for coeffs in rows:
        first, *rest = coeffs
        for other in rest:
            a, b = find(first), find(other)
            if a != b:
                parent[a] = b
    blocks: dict[int, list[dict[int, float]]] = defaultdict(list)
    for coeffs in rows:
        blocks[find(next(iter(coeffs)))].append(coeffs)
    determined: set[int] = set()
    for block in blocks.values():
        unique_rows = tuple(sorted({tuple(sorted(coeffs.items())) for coeffs in block}))
        determined.update(_determined_in_block(unique_rows))
    return determined


_BLOCK_CACHE: dict[tuple[tuple[tuple[int, float], ...], ...], frozenset[int]] = {}


def _determined_in_block(unique_rows: tuple[tuple[tuple[int, float], ...], ...]) -> frozenset[int]:
    """Cells of one connected block of equations that the block fixes.

    x_j is fixed iff e_j lies in the row space of A, i.e. the j-th diagonal entry of the orthogonal
    projector onto that row space is 1. The projector comes from an eigendecomposition of the smaller
    Gram matrix (A A^T or A^T A), which is much cheaper than an SVD of A for the wide, sparse blocks
    that hierarchical tables produce. Results are cached: secondary suppression re-checks the same
    blocks many times.
    """
    cached = _BLOCK_CACHE.get(unique_rows)
    if cached is not None:
        return cached
    variables = sorted({v for row in unique_rows for v, _ in row})
    if len(variables) == 1:
        result = frozenset(variables)
    else:
        col = {v: i for i, v in enumerate(variables)}
        matrix = np.zeros((len(unique_rows), len(variables)))
        for r, row in enumerate(unique_rows):
            for v, a in row:
                matrix[r, col[v]] = a
        m, n = matrix.shape
        if m <= n:
            gram = matrix @ matrix.T
            values, vectors = np.linalg.eigh(gram)
            keep = values > 1e-9 * max(1.0, float(values[-1]))
            basis = (
                vectors[:, keep] / np.sqrt(values[keep])
            ).T @ matrix  # orthonormal rows spanning A's rows
        else:
            values, vectors = np.linalg.eigh(matrix.T @ matrix)
            keep = values > 1e-9 * max(1.0, float(values[-1]))
            basis = vectors[:, keep].T
        weight = (basis**2).sum(axis=0)
        result = frozenset(v for v, w in zip(variables, weight, strict=True) if w > 1 - 1e-7)
    if len(_BLOCK_CACHE) > 50_000:
        _BLOCK_CACHE.clear()
    _BLOCK_CACHE[unique_rows] = result
    return result


# ------------------------------------------------------------------------------------------ protect


def protect(
    table: pd.DataFrame,
    spec: TableSpec,
    *,
    secondary: bool = True,
    known: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The table as it may be published under each row's terms (see the module docstring).

    Cells already marked ``[c]`` stay suppressed, so protecting a protected table changes nothing
    (that is also how a later release carries an earlier one's suppressions forward).
    ``known`` marks, per count column, the cells a reader already knows from an earlier release (the
    same value was published before): withholding them now hides nothing, so they are never chosen
    as complementary suppressions and count as published when checking what can be worked out.
    The result carries ``<column>_flag`` for every count and derived column and ``disclosure_rule``;
    ``result.attrs['disclosure']`` holds counts of primary and secondary suppressions.
    ``secondary=False`` skips secondary suppression: only for tables whose cells come from an already
    protected table (their safety is then proved with :func:`find_disclosure_risks`).
    """
    out = table.reset_index(drop=True).copy()
    terms = spec.terms_of(out)
    controlled = np.array([t.controlled for t in terms], dtype=bool)
    cells = _Cells(spec)
    values = {c: pd.to_numeric(out[c], errors="coerce").to_numpy(dtype=float) for c in spec.counts}
    unknown: set[int] = set()
    primary = 0
    for column in spec.counts:
        already = _suppressed_mask(out, column)
        for pos in np.flatnonzero(already):
            unknown.add(cells.cell(int(pos), column))
        for pos in np.flatnonzero(controlled & ~already):
            value = values[column][pos]
            if math.isnan(value):
                continue
            t = terms[pos]
            assert t.min_cell_size is not None
            shown = t.publish(value)
            small = (value < t.min_cell_size or shown < t.min_cell_size) and (value != 0 or t.suppress_zeros)
            if small:
                unknown.add(cells.cell(int(pos), column))
                primary += 1
    before = len(unknown)
    seen = {
        cells.cell(int(pos), column)
        for column, mask in (known or {}).items()
        for pos in np.flatnonzero(np.asarray(mask, dtype=bool))
    }
    if secondary and spec.groupings and controlled.any():
        eqs = equations(out, spec, rows=controlled)
        _secondary(eqs, cells, values, unknown, seen)
    secondary = len(unknown) - before
    _write(out, spec, terms, cells, values, unknown)
    out.attrs["disclosure"] = {"table": spec.name, "primary": primary, "secondary": secondary}
    return out


def _secondary(
    eqs: list[Equation],
    cells: _Cells,
    values: dict[str, np.ndarray],
    unknown: set[int],
    known: set[int] | frozenset[int] = frozenset(),
) -> None:
    """Add complementary suppressions until no suppressed cell is recoverable.

    Cells in ``known`` (published before with the same value) are known to a reader whether or not
    they are withheld now: they never serve as a complement and count as published in every check.
    """
    by_cell: dict[int, list[Equation]] = defaultdict(list)
    for eq in eqs:
        for pos in (eq.total, *eq.parts):
            by_cell[cells.cell(pos, eq.column)].append(eq)

    def candidates(eq: Equation) -> list[tuple[bool, float, bool, int, int]]:
        found = []
        for pos in (eq.total, *eq.parts):
            cell = cells.cell(pos, eq.column)
            value = values[eq.column][pos]
            if cell in unknown or cell in known or math.isnan(value):
                continue
            # smallest non-zero part first; zeros and the total only when nothing else is left
            found.append((value == 0, value, pos == eq.total, pos, cell))
        return sorted(found)

    def hidden(cell: int) -> bool:
        return cell in unknown and cell not in known

    def unknowns(eq: Equation) -> int:
        n = hidden(cells.cell(eq.total, eq.column))
        return n + sum(hidden(cells.cell(p, eq.column)) for p in eq.parts)

    hopeless: set[int] = set()
    while True:
        queue = [eq for cell in list(unknown) for eq in by_cell.get(cell, ())]
        while queue:  # per-equation rule: never exactly one unknown
            eq = queue.pop()
            if unknowns(eq) != 1:
                continue
            options = candidates(eq)
            if not options:
                continue
            chosen = options[0][-1]
            unknown.add(chosen)
            queue.extend(by_cell.get(chosen, ()))
        risky = determined_cells(eqs, cells, unknown - set(known)) - hopeless
        if not risky:
            return
        for cell in sorted(risky):
            if cell in hopeless:
                continue
            options = sorted(
                (opt for eq in by_cell.get(cell, ()) for opt in candidates(eq)),
                key=lambda o: o[:4],
            )
            if options:
                unknown.add(options[0][-1])
            else:
                hopeless.add(
                    cell
                )  # fixed by the structure alone (e.g. forced zero); reported by the verifier


def _write(
    out: pd.DataFrame,
    spec: TableSpec,
    terms: list[Terms],
    cells: _Cells,
    values: dict[str, np.ndarray],
    unknown: set[int],
) -> None:
    n = len(out)
    suppressed = {c: np.zeros(n, dtype=bool) for c in spec.protected_columns}
    for cell in unknown:
        pos, column = cells.split(cell)
        suppressed[column][pos] = True
    for column in spec.counts:
        shown = np.array(
            [float("nan") if suppressed[column][i] else terms[i].publish(values[column][i]) for i in range(n)]
        )
        out[column] = shown
    for column in spec.protected_columns:
        if column in spec.counts:
            continue
        sources = spec.sources(column)
        mask = _suppressed_mask(out, column)
        for source in sources:
            mask |= suppressed.get(source, np.zeros(n, dtype=bool))
        suppressed[column] = mask
        if column in spec.rates:
            rate = spec.rates[column]
            count = pd.to_numeric(out[rate.count], errors="coerce").to_numpy(dtype=float)
            denominator = pd.to_numeric(out[rate.denominator], errors="coerce").to_numpy(dtype=float)
            current = pd.to_numeric(out[column], errors="coerce").to_numpy(dtype=float)
            recomputed = current.copy()
            for i in range(n):
                if terms[i].is_open:
                    continue
                if math.isnan(count[i]) or math.isnan(denominator[i]) or denominator[i] <= 0:
                    recomputed[i] = float("nan")
                else:
                    recomputed[i] = round(rate.per * count[i] / denominator[i], rate.decimals)
            out[column] = recomputed
        if column in out.columns and mask.any():
            if pd.api.types.is_numeric_dtype(out[column]) and not pd.api.types.is_bool_dtype(out[column]):
                out[column] = out[column].astype(float).mask(mask)
            else:
                out[column] = out[column].astype(object).mask(mask, None)
    for column in spec.protected_columns:
        if column in out.columns:
            out[flag_column(column)] = pd.Series(np.where(suppressed[column], MARKER, None), dtype=object)
    out[RULE_COLUMN] = [t.rule() for t in terms]


def suppression_summary(table: pd.DataFrame, spec: TableSpec) -> dict[str, int]:
    """Suppressed cells per protected column of a protected table."""
    return {c: int(_suppressed_mask(table, c).sum()) for c in spec.protected_columns if c in table.columns}


# ------------------------------------------------------------------------------------------ verifier


def _describe(table: pd.DataFrame, spec: TableSpec, pos: int) -> str:
    parts = []
    for column in spec.key:
        if column in table.columns:
            value = _norm(table[column].iloc[pos])
            parts.append(f"{column}={value}")
    return ", ".join(parts) or f"row {pos + 1}"


def find_disclosure_risks(table: pd.DataFrame, spec: TableSpec, *, linear: bool = True) -> list[str]:
    """Every way the published ``table`` breaks ``spec``'s terms; [] when it is safe.

    Accepts a table as read back from a file: counts may arrive as text (``[c]`` markers are read as
    suppressed even without a flag column), flag columns may be missing. ``linear=False`` skips the
    differencing check (for a table whose cells and groupings are a subset of an already verified one).
    """
    frame = table.reset_index(drop=True).copy()
    risks: list[str] = []
    terms = spec.terms_of(frame)
    controlled = np.array([t.controlled for t in terms], dtype=bool)
    n = len(frame)
    suppressed: dict[str, np.ndarray] = {}
    for column in spec.protected_columns:
        if column not in frame.columns:
            continue
        raw = frame[column]
        marker_in_cell = (raw.astype("string").str.strip() == MARKER).fillna(False).to_numpy(dtype=bool)
        flagged = _suppressed_mask(frame, column) | marker_in_cell
        raw = raw.astype(object).mask(marker_in_cell, None)
        frame[column] = raw
        if column in spec.counts or column in spec.rates:
            numeric = pd.to_numeric(raw, errors="coerce")
            bad_text = raw.notna().to_numpy() & numeric.isna().to_numpy() & ~marker_in_cell
            for pos in np.flatnonzero(bad_text):
                risks.append(
                    f"{spec.name}: {column} is not a number ({raw.iloc[pos]!r}) at {_describe(frame, spec, pos)}"
                )
            frame[column] = numeric
        leaked = flagged & frame[column].notna().to_numpy()
        for pos in np.flatnonzero(leaked):
            risks.append(
                f"{spec.name}: {column} is marked [c] but its value is published at {_describe(frame, spec, pos)}"
            )
        suppressed[column] = flagged
    cells = _Cells(spec)
    values = {
        c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float)
        if c in frame.columns
        else np.full(n, np.nan)
        for c in spec.counts
    }
    for column in spec.counts:
        if column not in frame.columns:
            continue
        for pos in np.flatnonzero(controlled):
            value = values[column][pos]
            if math.isnan(value):
                continue
            t = terms[pos]
            assert t.min_cell_size is not None
            if value < t.min_cell_size and (value != 0 or t.suppress_zeros):
                risks.append(
                    f"{spec.name}: {column}={value:g} is below the minimum cell size {t.min_cell_size} "
                    f"at {_describe(frame, spec, pos)}"
                )
        for pos in range(n):
            t, value = terms[pos], values[column][pos]
            if math.isnan(value):
                continue
            if t.base and abs(value / t.base - round(value / t.base)) > _TOLERANCE:
                risks.append(
                    f"{spec.name}: {column}={value:g} is not rounded to the nearest {t.base} at "
                    f"{_describe(frame, spec, pos)}"
                )
            elif t.apportioned and not t.base and abs(value * 10 - round(value * 10)) > 1e-6:
                risks.append(
                    f"{spec.name}: apportioned {column}={value:g} is not shown to 1 decimal at "
                    f"{_describe(frame, spec, pos)}"
                )
    for column in spec.protected_columns:
        if column in spec.counts or column not in frame.columns:
            continue
        present = frame[column].notna().to_numpy()
        for source in spec.sources(column):
            if source not in suppressed:
                continue
            for pos in np.flatnonzero(present & suppressed[source]):
                risks.append(
                    f"{spec.name}: {column} is published although {source} is suppressed at "
                    f"{_describe(frame, spec, pos)}"
                )
        if column in spec.rates:
            rate = spec.rates[column]
            if rate.count in frame.columns and rate.denominator in frame.columns:
                count = values[rate.count]
                den = pd.to_numeric(frame[rate.denominator], errors="coerce").to_numpy(dtype=float)
                shown = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
                for pos in range(n):
                    if terms[pos].is_open or math.isnan(shown[pos]) or math.isnan(count[pos]):
                        continue
                    if math.isnan(den[pos]) or den[pos] <= 0:
                        continue
                    expected = round(rate.per * count[pos] / den[pos], rate.decimals)
                    if abs(expected - shown[pos]) > 0.6 * 10 ** (-rate.decimals):
                        risks.append(
                            f"{spec.name}: {column}={shown[pos]:g} is not computed from the published "
                            f"{rate.count} ({expected:g} expected) at {_describe(frame, spec, pos)}"
                        )
    if linear:
        risks += _differencing_risks(frame, spec, cells, values, suppressed, controlled)
    return risks


def _differencing_risks(
    frame: pd.DataFrame,
    spec: TableSpec,
    cells: _Cells,
    values: dict[str, np.ndarray],
    suppressed: dict[str, np.ndarray],
    controlled: np.ndarray,
) -> list[str]:
    if not spec.groupings:
        return []
    unknown: set[int] = set()
    for column in spec.counts:
        if column not in suppressed:
            continue
        for pos in np.flatnonzero(suppressed[column] | np.isnan(values[column])):
            unknown.add(cells.cell(int(pos), column))
    flagged = {
        cells.cell(int(pos), column)
        for column in spec.counts
        if column in suppressed
        for pos in np.flatnonzero(suppressed[column])
    }
    if not flagged:
        return []
    eqs = equations(frame, spec, rows=controlled)
    risks: list[str] = []
    reported: set[int] = set()
    for eq in eqs:  # recompute: total minus published parts (or total minus parts) gives the cell
        members = (eq.total, *eq.parts)
        hidden = [p for p in members if cells.cell(p, eq.column) in unknown]
        if len(hidden) != 1:
            continue
        cell = cells.cell(hidden[0], eq.column)
        if cell not in flagged or cell in reported:
            continue
        col = values[eq.column]
        parts_sum = sum(col[p] for p in eq.parts if p != hidden[0])
        recovered = parts_sum if hidden[0] == eq.total else col[eq.total] - parts_sum
        reported.add(cell)
        risks.append(
            f"{spec.name}: suppressed {eq.column} at {_describe(frame, spec, hidden[0])} can be recovered "
            f"from grouping {eq.grouping!r}: total minus published parts = {recovered:g}"
        )
    for cell in sorted(determined_cells(eqs, cells, unknown) & flagged - reported):
        pos, column = cells.split(cell)
        risks.append(
            f"{spec.name}: suppressed {column} at {_describe(frame, spec, pos)} can be recovered by "
            "combining the published totals of several groupings"
        )
    return risks


def check_consistent(
    before: pd.DataFrame, after: pd.DataFrame, spec: TableSpec, columns: Iterable[str]
) -> None:
    """Raise if protecting a table derived from protected figures suppressed any of them again.

    Tables built from an already protected cube must not add suppressions of their own: a cell
    withheld in one table but published in another would let a reader undo the first table's
    secondary suppression.
    """
    for column in columns:
        was = before[column].notna().to_numpy() & ~_suppressed_mask(before, column)
        now = _suppressed_mask(after.reset_index(drop=True), column)
        extra = np.flatnonzero(was & now)
        if len(extra):
            where = _describe(after.reset_index(drop=True), spec, int(extra[0]))
            raise DisclosureError(
                f"{spec.name}: {len(extra)} {column} cells published in the protected cube would be "
                f"suppressed here (first at {where}); the table's groupings are not covered by the cube's"
            )
