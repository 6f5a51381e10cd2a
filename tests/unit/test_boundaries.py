"""The packs' LSOA map: the boundary reader (real DuckDB on real files), the simplification and the SVG.

Files are written here in the layout the ONS publishes (a GeoJSON FeatureCollection whose features carry
``LSOA11CD``/``LSOA21CD``, in longitude/latitude or British National Grid metres); nothing is mocked.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from csp_audit.config import LsoaBoundaries
from csp_audit.packs import charts
from csp_audit.packs.boundaries import (
    Boundaries,
    BoundaryError,
    fit_paths,
    path_data,
    planar,
    read_boundaries,
    simplify_ring,
)

REGION = Path("/regions/north/region.yaml")
SVG = "{http://www.w3.org/2000/svg}"


def square(x: float, y: float, size: float, points_per_side: int = 1) -> list[list[float]]:
    """An anticlockwise square ring, each side cut into ``points_per_side`` steps, closed."""
    corners = [(x, y), (x + size, y), (x + size, y + size), (x, y + size)]
    ring = []
    for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
        for i in range(points_per_side):
            t = i / points_per_side
            ring.append([ax + t * (bx - ax), ay + t * (by - ay)])
    return [*ring, ring[0]]


def feature(code: str, geometry: dict[str, Any], prop: str = "LSOA11CD") -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"FID": 1, prop: code, "LSOA11NM": f"Area {code}"},
        "geometry": geometry,
    }


def write(path: Path, features: list[dict[str, Any]], **extra: Any) -> Path:
    path.write_text(
        json.dumps({"type": "FeatureCollection", **extra, "features": features}), encoding="utf-8"
    )
    return path


@pytest.fixture
def lonlat(tmp_path: Path) -> Path:
    """Three LSOAs in longitude/latitude (one a MultiPolygon with a hole) and one of a neighbour."""
    return write(
        tmp_path / "lsoa.geojson",
        [
            feature("E01000001", {"type": "Polygon", "coordinates": [square(-1.50, 54.00, 0.01, 50)]}),
            feature(
                "E01000002",
                {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [square(-1.49, 54.00, 0.01), square(-1.487, 54.003, 0.004)],  # with a hole
                        [square(-1.47, 54.00, 0.005)],
                    ],
                },
            ),
            feature("E01000003", {"type": "Polygon", "coordinates": [square(-1.50, 54.01, 0.01)]}),
            feature("E01000999", {"type": "Polygon", "coordinates": [square(-1.40, 54.00, 0.01)]}),
        ],
        crs={"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
    )


def read(path: Path, codes: list[str], prop: str | None = None, vintage: str = "11") -> Boundaries:
    return read_boundaries(LsoaBoundaries(path, prop), codes, region_file=REGION, lsoa_vintage=vintage)


# ------------------------------------------------------------------------------------------ the reader


def test_reads_polygons_per_lsoa_and_keeps_only_the_given_ones(lonlat: Path) -> None:
    b = read(lonlat, ["E01000001", "E01000002", "E01000003", "E01000404"])
    assert set(b.shapes) == {"E01000001", "E01000002", "E01000003"}  # the neighbour is not kept
    assert b.code_property == "LSOA11CD" and not b.grid
    assert len(b.shapes["E01000001"]) == 1 and len(b.shapes["E01000001"][0][0]) == 201
    multi = b.shapes["E01000002"]
    assert len(multi) == 2 and len(multi[0]) == 2  # two polygons, the first with its hole
    assert set(b.only(["E01000003", "E01000999"]).shapes) == {"E01000003"}


def test_code_property_follows_the_lookup_vintage_or_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lsoa21.geojson",
        [
            {
                "type": "Feature",
                "properties": {"lsoa11cd": "E01000001", "LSOA21CD": "E01033333"},
                "geometry": {"type": "Polygon", "coordinates": [square(-1.5, 54.0, 0.01)]},
            }
        ],
    )
    assert set(read(path, ["E01033333"], vintage="21").shapes) == {"E01033333"}
    assert set(read(path, ["E01000001"], vintage="11").shapes) == {"E01000001"}  # any case
    assert read(path, ["E01000001"], prop="lsoa11cd", vintage="21").code_property == "lsoa11cd"
    # another vintage's code property is not taken silently: changed LSOAs would quietly drop out
    with pytest.raises(BoundaryError, match=r"no LSOA01CD \(the LSOA lookup's vintage\)"):
        read(path, ["E01000001"], vintage="01")


def test_british_national_grid_is_told_by_the_coordinate_range(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bng.geojson",
        [
            feature("E01000001", {"type": "Polygon", "coordinates": [square(430000, 450000, 500, 20)]}),
            feature("E01000002", {"type": "Polygon", "coordinates": [square(430500, 450000, 500, 20)]}),
        ],
    )
    b = read(path, ["E01000001", "E01000002"])
    assert b.grid and planar(b) == b.shapes  # metres already: no projection
    fitted = fit_paths(planar(b))
    assert set(fitted.paths) == {"E01000001", "E01000002"}
    # two equal squares side by side: twice as wide as high (696 px wide inside the 12 px padding)
    assert fitted.height == 696 // 2 + 24
    assert fitted.paths["E01000001"] == "M12,360l348,0 0,-348 -348,0z"  # y flipped: north is up


@pytest.mark.parametrize(
    ("content", "key", "problem"),
    [
        (None, "file", "does not exist"),
        ("not json at all", "file", "not a GeoJSON file: Malformed JSON"),
        ('[{"type": "Feature"}]', "file", "not a GeoJSON"),
        ('{"type": "Feature", "properties": {}}', "file", "not a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection", "features": {"a": 1}}', "file", "not a GeoJSON file"),
        ('{"type": "FeatureCollection", "features": []}{"x": 1}', "file", "several JSON values"),
        (
            {"type": "Point", "coordinates": [-1.5, 54.0]},
            "file",
            r"feature E01000001: geometry type 'Point'; LSOA boundaries must be Polygon or MultiPolygon",
        ),
        (
            {"type": "Polygon", "coordinates": [[[-1.5, 54.0], [-1.4, 54.0], [-1.5, 54.0]]]},
            "file",
            "feature E01000001: a ring needs at least four positions",
        ),
        (
            {"type": "Polygon", "coordinates": [[[-1.5, "54"], [-1.4, 54.0], [-1.4, 54.1], [-1.5, "54"]]]},
            "file",
            r"feature E01000001: position \[-1.5, '54'\] is not \[x, y\] with finite numbers",
        ),
        (
            {"type": "Polygon", "coordinates": [square(-1000.0, 54.0, 1.0)]},
            "file",
            "neither longitude/latitude nor British National Grid",
        ),
    ],
)
def test_a_broken_file_is_a_clear_error_naming_the_region_key_and_file(
    tmp_path: Path, content: str | dict[str, Any] | None, key: str, problem: str
) -> None:
    path = tmp_path / "broken.geojson"
    if isinstance(content, dict):
        write(path, [feature("E01000001", content)])
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(BoundaryError, match=problem) as caught:
        read(path, ["E01000001"])
    message = str(caught.value)
    assert message.startswith(f"{REGION}: key 'geography.lsoa_boundaries.{key}': {path}: "), message
    assert len(message) < 700


def test_the_wrong_code_property_or_vintage_is_a_clear_error(lonlat: Path) -> None:
    with pytest.raises(
        BoundaryError, match=r"no feature has the property 'LSOA21CD' \(properties: FID, LSOA11CD"
    ):
        read(lonlat, ["E01000001"], prop="LSOA21CD")
    with pytest.raises(
        BoundaryError, match=r"no feature's 'LSOA11CD' is one of the region's 2 LSOAs \(e.g. E01555"
    ):
        read(lonlat, ["E01555555", "E01555556"])
    with pytest.raises(BoundaryError, match=r"key 'geography.lsoa_boundaries.code_property'"):
        read(lonlat, ["E01000001"], vintage="21")


# ------------------------------------------------------------------------------------------ simplification


def numbers(d: str) -> list[str]:
    return re.findall(r"-?\d+(?:\.\d+)?", d)


def test_coordinates_are_simplified_rounded_and_deduplicated() -> None:
    circle = [
        (100 + 80 * math.cos(t / 1000 * 2 * math.pi), 100 + 80 * math.sin(t / 1000 * 2 * math.pi))
        for t in range(1000)
    ]
    ring = simplify_ring([*circle, circle[0]], 0.5)
    assert 12 <= len(ring) <= 60  # a 1,000-point circle of radius 80 px needs a few dozen points at 0.5 px
    assert all(p == (round(p[0], 1), round(p[1], 1)) for p in ring)
    # near-duplicates (closer than the rounding) collapse, and a ring smaller than the tolerance is dropped
    jitter = [
        (10.0, 10.0),
        (10.01, 10.0),
        (20.0, 10.0),
        (20.0, 20.0),
        (20.0, 20.04),
        (10.0, 20.0),
        (10.0, 10.0),
    ]
    assert simplify_ring(jitter, 0.01) == [(10.0, 10.0), (20.0, 10.0), (20.0, 20.0), (10.0, 20.0)]
    assert simplify_ring([(5.0, 5.0), (5.1, 5.0), (5.1, 5.1), (5.0, 5.0)], 0.5) == []
    d = path_data([(10.0, 10.0), (20.26, 10.0), (20.0, 20.0)])
    assert d == "M10,10l10.3,0 -0.3,10z"  # steps between the rounded points: no drift
    assert all(len(n.split(".")[1]) == 1 for n in numbers(d) if "." in n)


def test_fitted_paths_are_small_and_keep_every_lsoa(lonlat: Path) -> None:
    b = read(lonlat, ["E01000001", "E01000002", "E01000003"])
    raw = sum(len(ring) for shape in b.shapes.values() for polygon in shape for ring in polygon)
    fitted = fit_paths(planar(b))
    kept = sum(len(numbers(d)) // 2 for d in fitted.paths.values())
    assert set(fitted.paths) == set(b.shapes)
    assert kept < raw / 4  # the 200 collinear points of E01000001's sides are gone
    assert fitted.paths["E01000001"].count("M") == 1 and fitted.paths["E01000002"].count("M") == 3
    for d in fitted.paths.values():
        assert all(0 <= float(n) <= 720 or d.index(n) > 0 for n in numbers(d))
    # an LSOA far smaller than a pixel next to a large one still gets a (tiny) path
    speck = Boundaries(
        {"A": [[[(0.0, 0.0), (1000.0, 0.0), (1000.0, 1000.0), (0.0, 1000.0), (0.0, 0.0)]]],
         "B": [[[(0.0, 0.0), (0.01, 0.0), (0.01, 0.01), (0.0, 0.0)]]]},
        True, Path("x"), "LSOA11CD",
    )  # fmt: skip
    assert set(fit_paths(planar(speck)).paths) == {"A", "B"}


# ------------------------------------------------------------------------------------------ the SVG


def drawn(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {p.get("data-code", ""): p for p in root.iter(f"{SVG}path") if p.get("data-code")}


def test_choropleth_draws_one_path_per_given_lsoa_and_hatches_withheld(lonlat: Path) -> None:
    b = read(lonlat, ["E01000001", "E01000002", "E01000003", "E01000999"])
    own = b.only(["E01000001", "E01000002", "E01000003"])
    fitted = fit_paths(planar(own))
    areas = [
        charts.Area("E01000001", "Area 1", 12.5, "10 incidents"),
        charts.Area("E01000002", "Area 2", None, "[c] incidents", marked=True),  # withheld
        charts.Area("E01000003", "Area <3>", 40.0, "30 incidents"),
    ]
    svg = charts.choropleth(
        areas, fitted.paths, "Rate by LSOA", "Three LSOAs & one withheld", fitted.width, fitted.height
    )
    root = ET.fromstring(svg)  # well-formed XML: names are escaped
    paths = drawn(svg)
    assert set(paths) == {"E01000001", "E01000002", "E01000003"} and "E01000999" not in svg
    assert root.get("role") == "img" and root.find(f"{SVG}title").text == "Rate by LSOA"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Three LSOAs & one withheld"  # type: ignore[union-attr]
    withheld = paths["E01000002"]
    assert withheld.get("fill") == charts.HATCH_FILL and withheld.get("data-class") == "withheld"
    assert withheld.get("fill") not in charts.RAMP
    low, high = (charts.RAMP.index(paths[c].get("fill", "")) for c in ("E01000001", "E01000003"))
    assert low == 0 and high > low
    assert withheld.get("stroke") == "#000"  # a persistent hotspot, drawn last so nothing covers its outline
    assert list(paths)[-1] == "E01000002"
    assert re.findall(r"url\(([^)]*)\)", svg) == [f"#{charts.HATCH_ID}"]  # nothing outside the page
    assert "<script" not in svg and "href" not in svg


def test_a_withheld_value_never_sets_a_colour_or_a_legend_edge() -> None:
    paths = {c: f"M{i * 10},0l10,0 0,10 -10,0z" for i, c in enumerate("ABCDEF")}
    areas = [charts.Area(c, c, v) for c, v in zip("ABCDE", (1.0, 2.0, 3.0, 4.0, 5.0), strict=True)]
    areas.append(charts.Area("F", "F", None, "[c]"))
    svg = charts.choropleth(areas, paths, "t", "d", 100, 20)
    fills = {c: p.get("fill") for c, p in drawn(svg).items()}
    assert fills["F"] == charts.HATCH_FILL and list(fills.values()).count(charts.HATCH_FILL) == 1
    assert [fills[c] for c in "ABCDE"] == list(charts.RAMP)
    legend = charts.map_legend(areas, "Rate", areas=True)
    assert "1–2" in legend and "[c] withheld or no rate" in legend and "url(" not in legend


def test_only_areas_with_a_shape_are_drawn_and_none_is_an_empty_chart() -> None:
    paths = {"A": "M0,0l10,0 0,10z"}
    svg = charts.choropleth(
        [charts.Area("A", "a", 1.0), charts.Area("B", "b", 2.0)], paths, "t", "d", 100, 20
    )
    assert set(drawn(svg)) == {"A"}
    assert "No LSOA boundaries to map." in charts.choropleth(
        [charts.Area("B", "b", 2.0)], paths, "t", "d", 100, 20
    )
