"""LSOA boundaries for the packs' map: read once per publish, cut to each partnership, made small.

The region YAML may name an ONS LSOA boundary file (``geography.lsoa_boundaries``, GeoJSON, in
longitude/latitude or British National Grid metres). It is presentation, not a data path: nothing is
counted from it. The file can be the national one (tens of thousands of features, hundreds of MB), so
DuckDB parses it (the features stay in DuckDB until they are cut to the region's LSOAs; only those are
turned into Python lists), once per publish (:func:`read_boundaries`); each partnership then gets the
shapes of its own LSOAs only (:meth:`Boundaries.only`), so no report carries another partnership's
small-area geometry.

For the report the shapes are projected to a plane (equirectangular with the cosine of the latitude,
or the grid itself), fitted to the chart and simplified (Douglas-Peucker at half a pixel, coordinates
to a tenth of a pixel, relative path commands) so a partnership's inline SVG stays tens of kilobytes
even from a full-resolution file (:func:`fit_paths`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from csp_audit.config.region import LsoaBoundaries, RegionConfigError

KEY = "geography.lsoa_boundaries"
Point = tuple[float, float]
Ring = list[Point]
Polygon = list[Ring]  # outer ring first, then holes
Shape = list[Polygon]  # one LSOA: one or more polygons (MultiPolygon)
# England, Wales and Scotland in British National Grid metres; anything beyond is not BNG
BNG_RANGE = (0.0, 0.0, 700_000.0, 1_300_000.0)
# how the lookup's LSOA vintage names the code column in ONS boundary files (LSOA11CD, LSOA21CD)
_ANY_LSOA_CODE = re.compile(r"^lsoa\d{0,2}cd$", re.IGNORECASE)


class BoundaryError(RegionConfigError):
    """The boundary file cannot be used: the message names the region file, the key and the file."""


@dataclass(frozen=True)
class Boundaries:
    """LSOA shapes in the file's own coordinates (``grid``: BNG metres, else longitude/latitude)."""

    shapes: dict[str, Shape]
    grid: bool
    source: Path
    code_property: str
    attribution: str | None = None

    def only(self, codes: Iterable[str]) -> Boundaries:
        """The shapes of ``codes`` alone: what one partnership's report may draw."""
        wanted = set(codes)
        return Boundaries(
            {c: s for c, s in self.shapes.items() if c in wanted},
            self.grid,
            self.source,
            self.code_property,
            self.attribution,
        )


def _fail(region_file: Path, key: str, file: Path, problem: str) -> BoundaryError:
    return BoundaryError(f"{region_file}: key '{key}': {file}: {problem}")


def _duckdb_problem(exc: Exception) -> str:
    """DuckDB's first line, without its advice on reader options (which the user cannot set here)
    and cut short: a transform error quotes the offending JSON value, which can be the whole file."""
    first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    first = first.strip()
    return first if len(first) <= 300 else first[:300] + "..."


def read_boundaries(
    spec: LsoaBoundaries,
    codes: Iterable[str],
    *,
    region_file: Path,
    lsoa_vintage: str = "",
) -> Boundaries:
    """The shapes of ``codes`` (the region's LSOAs) from the boundary file, parsed once.

    The code property is ``spec.code_property``, else the one of the LSOA lookup's vintage
    (``LSOA{lsoa_vintage}CD``, in any case), else the file's only ``LSOA..CD`` property. Raises
    :class:`BoundaryError` naming the region file, the key and the boundary file when the file is
    missing, not a GeoJSON FeatureCollection, lacks the code property, holds none of the region's LSOAs,
    has a geometry that is not a (Multi)Polygon, or coordinates that are neither degrees nor BNG.
    """
    file = spec.file
    file_key = f"{KEY}.file"
    wanted = sorted(set(codes))
    if not file.is_file():
        raise _fail(region_file, file_key, file, "does not exist (or is not a file)")
    size = file.stat().st_size
    if not wanted:
        return Boundaries({}, False, file, spec.code_property or "", spec.attribution)
    with duckdb.connect() as con:
        try:
            con.execute(
                "create temp table fc as select type, features from read_json(?, "
                "columns = {'type': 'VARCHAR', 'features': 'JSON[]'}, format = 'unstructured', "
                "maximum_object_size = ?)",
                [str(file), max(16 << 20, size + 1024)],
            )
        except duckdb.Error as exc:
            raise _fail(region_file, file_key, file, f"not a GeoJSON file: {_duckdb_problem(exc)}") from exc
        rows = con.execute("select type, len(features) from fc").fetchall()
        if len(rows) != 1 or rows[0][0] != "FeatureCollection" or rows[0][1] is None:
            what = (
                "several JSON values"
                if len(rows) > 1
                else f"type {str(rows[0][0])[:40]!r}"
                if rows
                else "nothing"
            )
            raise _fail(
                region_file, file_key, file, f"not a GeoJSON FeatureCollection with features ({what})"
            )
        con.execute("create temp table f as select unnest(features) as f from fc")
        con.execute("drop table fc")
        seen = [
            r[0]
            for r in con.execute(
                "select distinct unnest(json_keys(f -> '$.properties')) from (select f from f limit 1000) "
                "order by 1"
            ).fetchall()
        ]
        prop = _code_property(spec, seen, lsoa_vintage, region_file)
        try:
            found = con.execute(
                "select f ->> ? as code, f ->> '$.geometry.type' as kind, "
                "(f -> '$.geometry.coordinates')::varchar as coordinates "
                "from f where list_contains(?, f ->> ?) order by code",
                [f'$.properties."{prop}"', wanted, f'$.properties."{prop}"'],
            ).fetchall()
        except duckdb.Error as exc:
            raise _fail(
                region_file, file_key, file, f"features cannot be read: {_duckdb_problem(exc)}"
            ) from exc
    if wanted and not found:
        raise _fail(
            region_file, f"{KEY}.code_property", file,
            f"no feature's '{prop}' is one of the region's {len(wanted)} LSOAs (e.g. {wanted[0]}): "
            "is the file of the LSOA lookup's vintage, and is this the property holding the LSOA code?",
        )  # fmt: skip
    shapes: dict[str, Shape] = {}
    for code, kind, coordinates in found:
        shapes.setdefault(code, []).extend(_polygons(code, kind, coordinates, region_file, file))
    return Boundaries(shapes, _is_grid(shapes, region_file, file), file, prop, spec.attribution)


def _code_property(spec: LsoaBoundaries, seen: list[str], vintage: str, region_file: Path) -> str:
    """The property holding the LSOA code: the configured one, else the lookup vintage's."""
    key = f"{KEY}.code_property"
    listed = ", ".join(seen[:20]) or "none"
    if spec.code_property is not None:
        if seen and spec.code_property not in seen:
            raise _fail(
                region_file,
                key,
                spec.file,
                f"no feature has the property '{spec.code_property}' (properties: {listed})",
            )
        return spec.code_property
    candidates = [p for p in seen if _ANY_LSOA_CODE.match(p)]
    if vintage:  # another vintage's codes would silently leave the changed LSOAs out
        same = [p for p in candidates if p.upper() == f"LSOA{vintage}CD"]
        if same:
            return same[0]
    elif len(candidates) == 1:
        return candidates[0]
    wanted = f"LSOA{vintage}CD (the LSOA lookup's vintage)" if vintage else "one LSOA..CD property"
    raise _fail(
        region_file, key, spec.file,
        f"the features have no {wanted} to take the LSOA code from (properties: {listed}); "
        "name the property holding the LSOA code in code_property",
    )  # fmt: skip


def _polygons(code: str, kind: str | None, text: str | None, region_file: Path, file: Path) -> Shape:
    """A feature's polygons as lists of rings of (x, y), checked: a map drawn from a broken geometry
    would mislead without saying so."""

    def bad(problem: str) -> BoundaryError:
        return _fail(region_file, f"{KEY}.file", file, f"feature {code}: {problem}")

    if kind not in ("Polygon", "MultiPolygon"):
        raise bad(f"geometry type {kind!r}; LSOA boundaries must be Polygon or MultiPolygon")
    try:
        coordinates: Any = json.loads(text or "null")
    except ValueError as exc:  # DuckDB has parsed it already: only a defensive check
        raise bad("coordinates are not JSON") from exc
    polygons = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(polygons, list) or not polygons:
        raise bad(f"a {kind} needs a non-empty list of coordinates")
    out: Shape = []
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            raise bad("a polygon needs at least one ring")
        rings: Polygon = []
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4:
                raise bad("a ring needs at least four positions (the first repeated last)")
            points: Ring = []
            for position in ring:
                if (
                    not isinstance(position, list)
                    or len(position) < 2
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position[:2])
                    or not all(math.isfinite(v) for v in position[:2])
                ):
                    raise bad(f"position {str(position)[:60]} is not [x, y] with finite numbers")
                points.append((float(position[0]), float(position[1])))
            rings.append(points)
        out.append(rings)
    return out


def _is_grid(shapes: Mapping[str, Shape], region_file: Path, file: Path) -> bool:
    """Longitude/latitude (False) or British National Grid metres (True), told by the coordinate range."""
    xs = [x for shape in shapes.values() for polygon in shape for ring in polygon for x, _ in ring]
    ys = [y for shape in shapes.values() for polygon in shape for ring in polygon for _, y in ring]
    if not xs:
        return False
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    if -180 <= lo_x and hi_x <= 180 and -90 <= lo_y and hi_y <= 90:
        return False
    if BNG_RANGE[0] <= lo_x and hi_x <= BNG_RANGE[2] and BNG_RANGE[1] <= lo_y and hi_y <= BNG_RANGE[3]:
        return True
    raise _fail(
        region_file, f"{KEY}.file", file,
        f"coordinates (x {lo_x:g} to {hi_x:g}, y {lo_y:g} to {hi_y:g}) are neither longitude/latitude "
        "nor British National Grid metres",
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ to the page


def planar(boundaries: Boundaries) -> dict[str, Shape]:
    """Shapes on a plane with y up and equal units on both axes: BNG as it is; degrees with longitude
    scaled by the cosine of the middle latitude (good enough over a partnership, and no dependency)."""
    if boundaries.grid:
        return boundaries.shapes
    lats = [
        y for shape in boundaries.shapes.values() for polygon in shape for ring in polygon for _, y in ring
    ]
    if not lats:
        return {}
    k = math.cos(math.radians((min(lats) + max(lats)) / 2))
    return {
        code: [[[(x * k, y) for x, y in ring] for ring in polygon] for polygon in shape]
        for code, shape in boundaries.shapes.items()
    }


@dataclass(frozen=True)
class Fitted:
    """SVG path data per LSOA code in a ``width`` x ``height`` box."""

    paths: dict[str, str]
    width: int
    height: int


def fit_paths(
    shapes: Mapping[str, Shape],
    *,
    width: int = 720,
    min_height: float = 200.0,
    max_height: float = 560.0,
    pad: float = 12.0,
    tolerance: float = 0.5,
) -> Fitted:
    """Planar shapes scaled into the chart (aspect kept, y flipped) and simplified to ``tolerance`` px.

    Every LSOA keeps a path even when it is smaller than the tolerance (its extreme points), so the
    map has one path per LSOA drawn.
    """
    points = [p for shape in shapes.values() for polygon in shape for ring in polygon for p in ring]
    if not points:
        return Fitted({}, width, int(min_height))
    lo_x, hi_x = min(p[0] for p in points), max(p[0] for p in points)
    lo_y, hi_y = min(p[1] for p in points), max(p[1] for p in points)
    span_x, span_y = max(hi_x - lo_x, 1e-9), max(hi_y - lo_y, 1e-9)
    plot_w = width - 2 * pad
    plot_h = max(min_height, min(max_height, plot_w * span_y / span_x))
    scale = min(plot_w / span_x, plot_h / span_y)
    off_x = pad + (plot_w - span_x * scale) / 2
    off_y = pad + (plot_h - span_y * scale) / 2
    height = math.ceil(plot_h + 2 * pad)

    def to_page(p: Point) -> Point:
        return off_x + (p[0] - lo_x) * scale, off_y + (hi_y - p[1]) * scale

    paths = {}
    for code, shape in sorted(shapes.items()):
        rings = [[to_page(p) for p in ring] for polygon in shape for ring in polygon]
        kept = [r for r in (simplify_ring(ring, tolerance) for ring in rings) if len(r) >= 3]
        if not kept:  # smaller than the tolerance: its extreme points still show where it is
            kept = [_extremes(max(rings, key=len))]
        paths[code] = "".join(path_data(ring) for ring in kept)
    return Fitted(paths, width, height)


def simplify_ring(ring: Ring, tolerance: float) -> Ring:
    """A closed ring simplified (Douglas-Peucker), rounded to 0.1 and without repeated points; the
    closing point is left implicit (SVG's ``z``)."""
    pts = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else list(ring)
    if len(pts) < 3:
        return []
    # split at the point farthest from the first, so both halves are open polylines
    far = max(range(len(pts)), key=lambda i: (pts[i][0] - pts[0][0]) ** 2 + (pts[i][1] - pts[0][1]) ** 2)
    if far == 0:
        return []
    first = _douglas_peucker(pts[: far + 1], tolerance)
    second = _douglas_peucker(pts[far:] + [pts[0]], tolerance)
    out: Ring = []
    for x, y in first[:-1] + second[:-1]:
        p = (round(x, 1), round(y, 1))
        if not out or out[-1] != p:
            out.append(p)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out if len(out) >= 3 else []


def _douglas_peucker(pts: list[Point], tolerance: float) -> list[Point]:
    """Keep the points farther than ``tolerance`` from the chord of their span (iterative)."""
    keep = [False] * len(pts)
    keep[0] = keep[-1] = True
    stack = [(0, len(pts) - 1)]
    while stack:
        a, b = stack.pop()
        (ax, ay), (bx, by) = pts[a], pts[b]
        dx, dy = bx - ax, by - ay
        norm = math.hypot(dx, dy)
        worst, index = -1.0, -1
        for i in range(a + 1, b):
            px, py = pts[i]
            d = abs(dy * (px - ax) - dx * (py - ay)) / norm if norm else math.hypot(px - ax, py - ay)
            if d > worst:
                worst, index = d, i
        if index >= 0 and worst > tolerance:
            keep[index] = True
            stack += [(a, index), (index, b)]
    return [p for p, k in zip(pts, keep, strict=True) if k]


def _extremes(ring: Ring) -> Ring:
    """The leftmost, topmost, rightmost and lowest points of a tiny ring, rounded: a speck, not nothing."""
    picks = [min(ring), min(ring, key=lambda p: p[1]), max(ring), max(ring, key=lambda p: p[1])]
    out: Ring = []
    for x, y in picks:
        p = (round(x, 1), round(y, 1))
        if p not in out:
            out.append(p)
    while len(out) < 3:  # a point: a 0.2 px triangle around it
        x, y = out[0]
        out = [(x, y), (round(x + 0.2, 1), y), (x, round(y + 0.2, 1))]
    return out


def _tenths(n: int) -> str:
    """A whole number of tenths as a coordinate with no trailing zero (``120`` -> ``12``, ``-35`` -> ``-3.5``)."""
    sign = "-" if n < 0 else ""
    whole, tenth = divmod(abs(n), 10)
    return f"{sign}{whole}.{tenth}" if tenth else f"{sign}{whole}"


def path_data(ring: Ring) -> str:
    """``Mx,yl dx,dy ... z``: relative steps between the rounded points keep the text short without
    accumulating rounding error (each step is the difference of two rounded points)."""
    ints = [(round(x * 10), round(y * 10)) for x, y in ring]
    steps = " ".join(
        f"{_tenths(b[0] - a[0])},{_tenths(b[1] - a[1])}" for a, b in zip(ints, ints[1:], strict=False)
    )
    return f"M{_tenths(ints[0][0])},{_tenths(ints[0][1])}l{steps}z"
