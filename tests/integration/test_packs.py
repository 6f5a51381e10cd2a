"""Audit packs on the demo region: every published file is checked as a reader (or an attacker) sees it.

One build of every partnership's pack from a copy of the demo warehouse in which an agency's category
and an LSOA's name were replaced by spreadsheet formulas; then one refresh after changing a few of
one partnership's figures. The shared ``demo_run`` is never modified.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import stat
import subprocess
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from csp_audit.packs import release as rel
from csp_audit.packs.build import PackRelease, build_packs, verify_manifest
from csp_audit.packs.disclosure import MARKER, find_disclosure_risks
from csp_audit.packs.extracts import is_formula_risk
from csp_audit.packs.source import plan_terms, read_source
from csp_audit.packs.tables import (
    CUBE_KEY,
    Cube,
    build_cube,
    cube_from_published,
    cube_spec,
    table_specs,
    terms_for,
)
from csp_audit.targets.progress import write_progress
from pypdf import PdfReader

pytestmark = pytest.mark.integration

HOSTILE_CATEGORY = '=HYPERLINK("http://x","y")'
HOSTILE_AREA = "+cmd|' /C calc'!A0"
RENAMED = ("la_asb_reports", "fly-tipping: tyres")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@dataclass
class World:
    demo: Path
    warehouse: Path
    out: Path
    plan: Path
    terms: dict
    releases: list[PackRelease]
    owner: dict[str, set[str]]  # partnership -> its ward and LSOA codes
    hostile_lsoa: str
    first: str
    notes: dict = field(default_factory=dict)


def plant_hostile_text(warehouse: Path) -> str:
    """Formula text in a category (every mart) and an LSOA name: what a careless or hostile agency sends."""
    with duckdb.connect(str(warehouse)) as con:
        lsoa = con.execute(
            "select min(area_code) from audit.area_rates where area_type = 'lsoa' and partnership_code = "
            "(select min(partnership_code) from audit.area_rates)"
        ).fetchone()[0]
        tables = con.execute(
            "select table_name, list(column_name) from information_schema.columns where table_schema = 'audit' "
            "group by table_name"
        ).fetchall()
        for table, columns in tables:
            if {"dataset", "category"} <= set(columns):
                con.execute(
                    f'update audit."{table}" set category = ? where dataset = ? and category = ?',  # noqa: S608
                    [HOSTILE_CATEGORY, *RENAMED],
                )
            for code_col, name_col in (("area_code", "area_name"), ("lsoa_code", "lsoa_name")):
                if {code_col, name_col} <= set(columns):
                    con.execute(
                        f'update audit."{table}" set "{name_col}" = ? where "{code_col}" = ?',  # noqa: S608
                        [HOSTILE_AREA, lsoa],
                    )
    return lsoa


def plant_small_survey_cell(warehouse: Path) -> tuple[str, str, str]:
    """One concern of one partnership's latest survey year named by only 6 responses (5.3 respondents)."""
    with duckdb.connect(str(warehouse)) as con:
        code, start, concern = con.execute(
            "select partnership_code, period_start, concern from audit.consultation_concerns "
            "where partnership_code = (select min(partnership_code) from audit.consultation_concerns) "
            "and period_start = (select max(period_start) from audit.consultation_concerns) "
            "order by respondents_naming, concern limit 1"
        ).fetchone()
        where = "partnership_code = ? and period_start = ? and concern = ?"
        con.execute(
            f"update audit.consultation_concerns set responses_naming = 6, respondents_naming = 5.3, "  # noqa: S608
            f"share_naming = round(5.3 / respondents, 4) where {where}",
            [code, start, concern],
        )
        con.execute(
            f"update audit.concern_vs_recorded set share_naming = round(5.3 / respondents, 4) where {where}",  # noqa: S608
            [code, start, concern],
        )
    return code, str(start), concern


def add_rejected_target(demo: Path, work: Path, warehouse: Path, code: str, foreign_lsoa: str) -> Path:
    """The demo registers plus one target that is not SMART (vague, no owner, another partnership's LSOA)."""
    folder = work / "targets"
    shutil.copytree(demo / "targets", folder)
    register = folder / f"{code}.yaml"
    register.write_text(
        register.read_text(encoding="utf-8")
        + f"""- id: BAD-1
  title: Tackle burglary
  metric: {{mart: area_rates, column: incidents, where: {{dataset: police_uk_street, category: Burglary}}}}
  area: {foreign_lsoa}
  baseline: {{period: 2021/22, value: 10}}
  target: {{relative_change: -10%}}
  deadline: 2025/26
""",
        encoding="utf-8",
    )
    write_progress(warehouse, folder)
    return folder


@pytest.fixture(scope="module")
def world(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    work = tmp_path_factory.mktemp("packs")
    warehouse = work / "warehouse.duckdb"
    shutil.copyfile(demo_run / "warehouse.duckdb", warehouse)
    lsoa = plant_hostile_text(warehouse)
    small = plant_small_survey_cell(warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (foreign,) = con.execute(
            "select min(area_code) from audit.area_rates where area_type = 'lsoa' and partnership_code <> ?",
            [small[0]],
        ).fetchone()
    add_rejected_target(demo_run, work, warehouse, small[0], foreign)
    plan = demo_run / "plan.yaml"
    out = work / "publish"
    releases = build_packs(warehouse, out, plan_file=plan, refresh_label="r1")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        areas = con.execute(
            "select distinct partnership_code, area_code from audit.area_rates where area_type in ('lsoa', 'ward')"
        ).fetchall()
        datasets = [r[0] for r in con.execute("select distinct dataset from audit.area_rates").fetchall()]
    owner: dict[str, set[str]] = {}
    for code, area in areas:
        owner.setdefault(code, set()).add(area)
    terms = terms_for(sorted(datasets), plan_terms(plan))
    first = sorted(owner)[0]
    assert small[0] == first
    return World(demo_run, warehouse, out, plan, terms, releases, owner, lsoa, first,
                 {"small_survey_cell": small, "foreign_lsoa": foreign})  # fmt: skip


def version_dir(world: World, code: str, version: str = "v0001") -> Path:
    return world.out / code / version


def read_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return frame.astype(object).where(frame != "", None)


def read_sheets(path: Path) -> dict[str, pd.DataFrame]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    out = {}
    for ws in book.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        if ws.title in ("Contents", "Notes") or not rows:
            continue
        header = [c for c in rows[0] if c is not None]
        body = [list(r[: len(header)]) + [None] * (len(header) - len(r)) for r in rows[1:]]
        out[ws.title] = pd.DataFrame(body, columns=header)
    book.close()
    return out


# ------------------------------------------------------------------------------------------ the packs


def test_a_pack_for_every_partnership(world: World) -> None:
    codes = {r.partnership_code for r in world.releases}
    assert codes == set(world.owner) and len(codes) == 5
    for release in world.releases:
        folder = version_dir(world, release.partnership_code)
        assert release.outcome == "new" and release.version == "v0001" and release.path == folder
        for name in ("report.html", "report.pdf", "tables.xlsx", "manifest.json", "restatements.csv"):
            assert (folder / name).is_file(), name
        manifest = json.loads((folder / "manifest.json").read_text())
        assert set(manifest["tables"]) >= {
            "area_rates",
            "trends",
            "hotspots",
            "comparisons",
            "region_rates",
            "caveats",
        }
        for table, info in manifest["tables"].items():
            assert (folder / info["csv"]).is_file() and (folder / info["parquet"]).is_file(), table
        assert manifest["refresh_label"] == "r1" and manifest["version"] == "v0001"
        assert manifest["data_vintage"]["lookups"] and manifest["deliveries"]
        assert {"source_file", "sha256"} <= set(manifest["deliveries"][0])
        assert rel.read_latest(world.out / release.partnership_code) == "v0001"


def test_manifest_checksums_verify(world: World) -> None:
    for release in world.releases:
        assert verify_manifest(release.path) == []


def test_no_published_cell_is_below_its_threshold_or_recoverable(world: World) -> None:
    specs = table_specs(world.terms)
    checked_xlsx = 0
    for release in world.releases:
        folder = release.path
        manifest = json.loads((folder / "manifest.json").read_text())
        csvs = {t: read_csv(folder / info["csv"]) for t, info in manifest["tables"].items()}
        for table, frame in csvs.items():
            # the cube tables' differencing is checked once, across them, on the union below
            linear = table not in ("area_rates", "area_monthly", "region_rates")
            assert find_disclosure_risks(frame, specs[table], linear=linear) == [], (
                release.partnership_code,
                table,
            )
            with duckdb.connect() as con:
                parquet = con.execute(
                    "select * from read_parquet(?)", [str(folder / f"parquet/{table}.parquet")]
                ).df()
            assert list(parquet.columns) == list(frame.columns)
            assert find_disclosure_risks(parquet, specs[table], linear=False) == [], (
                release.partnership_code,
                table,
            )
            for column in specs[table].counts:  # the same figures as the CSV, so the same (safe) pattern
                a = pd.to_numeric(frame[column], errors="coerce").fillna(-1).to_numpy()
                b = pd.to_numeric(parquet[column], errors="coerce").fillna(-1).to_numpy()
                assert (abs(a - b) < 1e-9).all(), (table, column)
        # within and across the cube tables: areas, categories, a year against its months, the region
        # against its partnerships
        union = cube_from_published(csvs)
        assert find_disclosure_risks(union, cube_spec(world.terms)) == [], release.partnership_code
        if release.partnership_code in (
            world.first,
            sorted(world.owner)[-1],
        ):  # the workbook is slow to parse
            sheets = read_sheets(folder / "tables.xlsx")
            assert set(sheets) == {t[:31] for t in manifest["tables"]}
            for table, sheet in sheets.items():
                assert find_disclosure_risks(sheet, specs[table], linear=False) == [], table
                for column in specs[table].counts:
                    withheld = (csvs[table][f"{column}_flag"] == MARKER).to_numpy()
                    assert (sheet.loc[withheld, column] == MARKER).all(), (table, column)
            checked_xlsx += 1
        check_html_counts(folder / "report.html")
    assert checked_xlsx == 2


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[dict[str, str], str]] = []
        self.external: list[str] = []
        self._open: dict[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href"):
            if key in a and not a[key].startswith("#"):
                self.external.append(f"{tag} {key}={a[key]}")
        if tag == "td":
            self._open, self._text = a, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._open is not None:
            self.cells.append((self._open, "".join(self._text).strip()))
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)


def check_html_counts(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    parser = _Cells()
    parser.feed(html)
    assert parser.external == [], parser.external[:3]
    # url() only for the map's own hatching pattern (a fragment of the page), never anything outside it
    assert set(re.findall(r"url\(\s*([^)]*?)\s*\)", html)) <= {"#lsoa-map-withheld"}
    assert "@import" not in html and "<script" not in html
    counts = [(a, t) for a, t in parser.cells if "data-min" in a]
    assert counts, "the report shows counts of controlled datasets"
    for attrs, text in counts:
        if text in (MARKER, "–"):
            continue
        value = float(text.replace(",", ""))
        assert value == 0 or value >= float(attrs["data-min"]), (attrs, text)


def test_no_other_partnerships_small_areas_in_any_file(world: World) -> None:
    for release in world.releases:
        code = release.partnership_code
        others = set().union(*(areas for c, areas in world.owner.items() if c != code)) - world.owner[code]
        pattern = re.compile("|".join(sorted(others)))
        for path in sorted(release.path.rglob("*")):
            if not path.is_file():
                continue
            if path.suffix == ".xlsx":
                with zipfile.ZipFile(path) as z:
                    text = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
            elif path.suffix == ".parquet":
                with duckdb.connect() as con:
                    text = con.execute("select * from read_parquet(?)", [str(path)]).df().to_csv()
            elif path.suffix == ".pdf":
                text = "".join(page.extract_text() for page in PdfReader(path).pages)
            else:
                text = path.read_text(encoding="utf-8")
            found = pattern.search(text)
            assert found is None, f"{code} {path.name}: {found.group(0) if found else ''}"
        own = next(iter(sorted(world.owner[code])))
        assert own in (release.path / "csv" / "area_rates.csv").read_text(encoding="utf-8-sig")


def test_formula_text_is_neutralised_in_csv_and_xlsx(world: World) -> None:
    folder = version_dir(world, world.first)
    rates = (folder / "csv" / "area_rates.csv").read_text(encoding="utf-8-sig")
    assert "'" + HOSTILE_CATEGORY.replace('"', '""') in rates
    assert "'" + HOSTILE_AREA in rates
    for release in world.releases:
        for path in sorted((release.path / "csv").glob("*.csv")) + [release.path / "restatements.csv"]:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            for column in frame.columns:
                values = frame[column]
                risky = values[values.map(is_formula_risk)]
                numeric = pd.to_numeric(risky, errors="coerce")
                assert numeric.notna().all(), (path.name, column, list(risky[numeric.isna()])[:3])
    from openpyxl import load_workbook

    book = load_workbook(folder / "tables.xlsx")  # not read-only: cell types are visible
    seen = 0
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    assert not is_formula_risk(cell.value), (ws.title, cell.coordinate, cell.value)
                    seen += cell.value in ("'" + HOSTILE_CATEGORY, "'" + HOSTILE_AREA)
    assert seen >= 2
    sheet = book["area_rates"]
    header = [c.value for c in sheet[1]]
    numbers = [r[header.index("incidents")] for r in sheet.iter_rows(min_row=2, max_row=50, values_only=True)]
    assert all(isinstance(v, int | float) or v == MARKER for v in numbers)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_renders_headless_with_its_charts(world: World, tmp_path: Path) -> None:
    report = version_dir(world, world.first) / "report.html"
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        [*args, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert dom.count("<svg") >= 5
    paths = re.findall(r'<path d="([^"]*)"', dom)
    assert paths and all(p.strip() for p in paths)
    assert re.search(r'<rect [^>]*width="[1-9]', dom) and re.search(
        r'<path d="M[^"]+" fill="#[0-9a-f]{6}"', dom
    )
    for section in ("Summary", "Levels and patterns", "Changes and whether they are real", "Hotspots", "Comparisons",
                    "Multi-agency themes", "Strategy", "Data quality and caveats", "What changed since the last refresh"):  # fmt: skip
        assert f">{section}</h2>" in dom, section
    for width in (390, 1280):
        png = tmp_path / f"report-{width}.png"
        subprocess.run([*args, f"--screenshot={png}", f"--window-size={width},2000", report.as_uri()],
                       capture_output=True, timeout=120, check=True)  # fmt: skip
        assert png.stat().st_size > 20_000


# ------------------------------------------------------------------------------------------ the map

MAP = re.compile(r"<svg[^>]*\bchart-map\b.*?</svg>", re.S)
SVG = "{http://www.w3.org/2000/svg}"


def report_map(report: Path) -> str:
    (svg,) = MAP.findall(report.read_text(encoding="utf-8"))
    return svg


def test_each_report_maps_its_own_lsoas_from_the_demo_boundaries_and_no_other(world: World) -> None:
    """The demo region's boundary file (written by the demo generator) gives a choropleth: one path per
    own LSOA, and no other partnership's LSOA anywhere in the map."""
    from xml.etree import ElementTree

    from csp_audit.config import load_region

    boundaries = load_region(world.demo / "region.yaml").lsoa_boundaries
    assert boundaries is not None and boundaries.file.parent == world.demo / "lookups"
    in_file = {f["properties"]["LSOA11CD"] for f in json.loads(boundaries.file.read_text())["features"]}
    for release in world.releases:
        code = release.partnership_code
        own = {a for a in world.owner[code] if a.startswith("E01")}
        svg = report_map(release.path / "report.html")
        root = ElementTree.fromstring(svg)
        paths = [p for p in root.iter(f"{SVG}path") if p.get("data-code")]
        assert sorted(p.get("data-code") for p in paths) == sorted(own), code  # one path per own LSOA
        assert own <= in_file
        others = (in_file | set().union(*world.owner.values())) - own
        assert not {c for c in re.findall(r"[EW]\d{8}", svg) if c in others}, code
        assert all(re.fullmatch(r"(M[-\d.,]+l[-\d., ]+z)+", p.get("d", "")) for p in paths)
        assert "<circle" not in svg and root.find(f"{SVG}desc") is not None
        assert len(svg.encode()) < 40_000, (code, len(svg))
        report = (release.path / "report.html").read_text(encoding="utf-8")
        assert "Fictional boundaries drawn for the demo region" in report
        assert "is drawn from its boundary in LSOA_Dec_2011_Boundaries_EW_BGC.geojson" in report


def _region_copy(world: World, folder: Path, boundaries: dict | None) -> Path:
    """The demo region with absolute paths (so it can live elsewhere) and the given lsoa_boundaries."""
    import yaml

    doc = yaml.safe_load((world.demo / "region.yaml").read_text(encoding="utf-8"))
    geography = doc["geography"]
    for key in ("lsoa_lookup", "partnership_lookup", "population"):
        geography[key] = str(world.demo / geography[key])
    for entry in geography.get("apportionment", []):
        entry["lookup"] = str(world.demo / entry["lookup"])
    geography.pop("lsoa_boundaries")
    if boundaries is not None:
        geography["lsoa_boundaries"] = boundaries
    doc["sources"]["police_uk"] = str(world.demo / doc["sources"]["police_uk"])
    for key in ("partnership_rates", "characteristics", "groups"):
        if key in doc.get("comparators", {}):
            doc["comparators"][key] = str(world.demo / doc["comparators"][key])
    doc["data_roots"] = [str(world.demo)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "region.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_without_a_boundary_file_the_report_keeps_the_dot_map_and_says_how(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSP_AUDIT_PACK_PDF", "0")  # the HTML's map is under test
    region = _region_copy(world, tmp_path / "region", None)
    code = world.first
    (release,) = build_packs(world.warehouse, tmp_path / "publish", plan_file=world.plan, region_file=region,
                             partnerships=[code])  # fmt: skip
    svg = report_map(release.path / "report.html")
    own = {a for a in world.owner[code] if a.startswith("E01")}
    assert svg.count("<circle") == len(own) and 'data-class="' not in svg
    report = (release.path / "report.html").read_text(encoding="utf-8")
    assert "the region names no LSOA boundary file" in report
    assert "<code>geography.lsoa_boundaries</code> in the region YAML" in report


def test_a_broken_boundary_file_stops_the_build_naming_the_file_and_key(world: World, tmp_path: Path) -> None:
    from csp_audit.packs.boundaries import BoundaryError

    broken = tmp_path / "region" / "lsoa.geojson"
    broken.parent.mkdir()
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")  # cut short
    region = _region_copy(world, tmp_path / "region", {"file": "lsoa.geojson"})
    with pytest.raises(BoundaryError) as caught:
        build_packs(world.warehouse, tmp_path / "publish", plan_file=world.plan, region_file=region)
    assert str(caught.value).startswith(
        f"{region}: key 'geography.lsoa_boundaries.file': {broken}: not a GeoJSON"
    )
    assert not (tmp_path / "publish").exists() or not any((tmp_path / "publish").glob("E22*/v0001"))
    region = _region_copy(world, tmp_path / "region", {"file": "lsoa.geojson", "code_property": "LSOA21CD"})
    broken.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"LSOA11CD": "E01990001"},
         "geometry": {"type": "Polygon", "coordinates": [[[-2.2, 54.3], [-2.1, 54.3], [-2.1, 54.4], [-2.2, 54.3]]]}}]}))  # fmt: skip
    with pytest.raises(BoundaryError, match=r"key 'geography.lsoa_boundaries.code_property': .*'LSOA21CD'"):
        build_packs(world.warehouse, tmp_path / "publish", plan_file=world.plan, region_file=region)


# ------------------------------------------------------------------------------------------ strategy

STRATEGY = (
    "target_progress",
    "priority_scores",
    "consultation_concerns",
    "consultation_safety",
    "concern_vs_recorded",
)


def mart(world: World, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


def report_cells(path: Path, key: str) -> dict[tuple[str, str], tuple[dict[str, str], str]]:
    """Cells of the report keyed by (data-<key>, data-col): (attributes, text)."""
    parser = _Cells()
    parser.feed(path.read_text(encoding="utf-8"))
    return {
        (a[f"data-{key}"], a["data-col"]): (a, t)
        for a, t in parser.cells
        if f"data-{key}" in a and "data-col" in a
    }


def same(published: object, expected: object) -> bool:
    if expected is None or (isinstance(expected, float) and pd.isna(expected)):
        return published in (None, "", "–")
    if isinstance(expected, int | float):
        return abs(float(published) - float(expected)) <= 1e-6 * max(1.0, abs(float(expected)))
    return str(published) == str(expected)


def test_strategy_targets_match_target_progress(world: World) -> None:
    checks = mart(world, "select * from audit.target_checks")
    for release in world.releases:
        code = release.partnership_code
        expected = mart(
            world, "select * from audit.target_progress where partnership_code = ? order by target_id", [code]
        )
        assert len(expected) >= 3
        published = read_csv(release.path / "csv" / "target_progress.csv").set_index("target_id")
        assert sorted(published.index) == sorted(expected["target_id"])
        cells = report_cells(release.path / "report.html", "target")
        for row in expected.to_dict("records"):
            shown = published.loc[row["target_id"]]
            check = checks[
                (checks["partnership_code"] == code) & (checks["target_id"] == row["target_id"])
            ].iloc[0]
            assert (
                shown["smart_check"]
                == check["check_result"]
                == cells[(row["target_id"], "smart_check")][0]["data-value"]
            )
            assert (shown["smart_problems"] or None) == (
                None if not isinstance(check["problems"], str) else check["problems"].replace(world.notes["foreign_lsoa"],
                                                                                 "[another partnership's area]")
            )  # fmt: skip
            for column in ("status", "baseline_period", "current_period", "deadline_period"):
                assert same(shown[column], row[column]), (code, row["target_id"], column)
                if isinstance(row[column], str):
                    assert cells[(row["target_id"], column)][0]["data-value"] == row[column], column
            rule = row["status_rule"].replace(world.notes["foreign_lsoa"], "[another partnership's area]")
            assert shown["status_rule"] == rule == cells[(row["target_id"], "status_rule")][0]["data-value"]
            for column in ("baseline_value", "current_value", "target_value", "expected_value", "p_value"):
                assert same(shown[column], row[column]), (code, row["target_id"], column)
                if column != "p_value" and row[column] is not None and not pd.isna(row[column]):
                    assert same(cells[(row["target_id"], column)][0]["data-value"], row[column]), column
        if code == world.first:  # the planted non-SMART target: rejected, with its reasons, and grey
            bad = published.loc["BAD-1"]
            assert bad["smart_check"] == "rejected" and bad["status"] == "grey"
            assert "S: title 'Tackle burglary' is vague" in bad["smart_problems"]
            assert "S: no owner" in bad["smart_problems"]
            assert "area [another partnership's area] is not in partnership" in bad["smart_problems"]
            report = html.unescape((release.path / "report.html").read_text(encoding="utf-8"))
            assert "<li>S: title 'Tackle burglary' is vague" in report and "<li>S: no owner" in report
    statuses = mart(world, "select distinct status from audit.target_progress")["status"]
    assert {"green", "amber", "red", "grey"} <= set(statuses)


def test_no_withheld_rank_can_be_recovered(world: World) -> None:
    """An attacker with a published priority list: ranks 1-8 and 10-12 shown beside a withheld one
    would give it away (9), and so would its place in the list. Published ranks must be a function
    of the published scores alone, and rows are listed by key."""
    leaks_before = 0
    for release in world.releases:
        published = read_csv(release.path / "csv" / "priority_scores.csv")
        mart_ranks = mart(
            world,
            "select strftime(period_start, '%Y-%m-%d') as period_start, issue, priority_rank "
            "from audit.priority_scores where partnership_code = ?",
            [release.partnership_code],
        ).set_index(["period_start", "issue"])["priority_rank"]
        for start, group in published.groupby("period_start", sort=False):
            withheld = (group["priority_rank_flag"] == MARKER).to_numpy()
            scores = pd.to_numeric(group["priority_score"], errors="coerce").where(~withheld)
            expected = scores.rank(method="min", ascending=False)
            shown = pd.to_numeric(group["priority_rank"], errors="coerce")
            assert (shown.fillna(-1) == expected.fillna(-1)).all(), (start, list(shown), list(expected))
            assert (pd.to_numeric(group["issues_ranked"]) == scores.notna().sum()).all()
            assert list(group["issue"]) == sorted(group["issue"]), "rows are listed by key, not by rank"
            if withheld.any():
                # the mart's own ranks, published beside a withheld one, would have left a gap
                true = [int(mart_ranks[(start, i)]) for i in group["issue"]]
                hidden = {r for r, w in zip(true, withheld, strict=True) if w}
                leaks_before += any(r < max(true) for r in hidden)
    assert leaks_before, "the demo withholds no rank the mart's ranking would have given away"


def test_strategy_priorities_and_consultation_match_the_marts(world: World) -> None:
    code, start, concern = world.notes["small_survey_cell"]
    for release in world.releases:
        code_here = release.partnership_code
        csv_dir = release.path / "csv"
        scores = mart(world, "select * from audit.priority_scores where partnership_code = ?", [code_here])
        published = read_csv(csv_dir / "priority_scores.csv")
        assert len(published) == len(scores)
        merged = published.merge(scores.assign(period_start=scores["period_start"].dt.strftime("%Y-%m-%d")),
                                 on=["period_start", "issue"], suffixes=("", "_mart"))  # fmt: skip
        assert len(merged) == len(scores)
        for _, r in merged.iterrows():
            # (ranks and rank changes count the published scores only: test_no_withheld_rank_can_be_recovered)
            for column in ("priority_score", "likelihood", "impact", "volume_score", "trend_score",
                           "harm_score", "capacity", "incidents", "rate_per_1000"):  # fmt: skip
                if r.get(f"{column}_flag") == MARKER:
                    assert (
                        r[column] is None
                        and r["dataset"] != "police_uk_street"
                        or column
                        in ("rank_change", "priority_rank", "priority_score", "likelihood", "impact")
                    ), (column, r["issue"])
                    continue
                value = r[f"{column}_mart"]
                if r["dataset"] != "police_uk_street" and column in ("incidents", "rate_per_1000"):
                    # an issue's count sums up to 8 published categories, each to 1 decimal (an estimate) or
                    # to the dataset's rounding base (e.g. nearest 5)
                    base = world.terms[r["dataset"]].base if r["dataset"] in world.terms else None
                    step = base / 2 if base else 0.05
                    assert abs(float(r[column]) - float(value)) <= step * 8 + 1e-6 * abs(float(value)), column
                else:
                    assert same(r[column], None if pd.isna(value) else float(value)), (r["issue"], column)
        latest = scores[scores["period_start"] == scores["period_start"].max()]
        cells = report_cells(release.path / "report.html", "issue")
        assert {i for i, _ in cells} == set(latest["issue"])
        for r in latest.to_dict("records"):
            shown = cells[(r["issue"], "priority_rank")]
            row = merged[
                (merged["issue"] == r["issue"]) & (merged["period_start"] == str(r["period_start"].date()))
            ]
            if row["priority_rank_flag"].iloc[0] == MARKER:
                assert shown[1] == MARKER
            else:
                assert int(shown[0]["data-value"]) == int(row["priority_rank"].iloc[0])
                assert same(cells[(r["issue"], "priority_score")][0]["data-value"], r["priority_score"])
        # consultation: shares as the marts; counts as the marts to 1 decimal (fractional respondents)
        concerns = mart(
            world, "select * from audit.consultation_concerns where partnership_code = ?", [code_here]
        )
        shown = read_csv(csv_dir / "consultation_concerns.csv")
        assert len(shown) == len(concerns) > 0 and set(shown["partnership_code"]) == {code_here}
        merged = shown.merge(concerns.assign(period_start=concerns["period_start"].dt.strftime("%Y-%m-%d")),
                             on=["period_start", "concern"], suffixes=("", "_mart"))  # fmt: skip
        for _, r in merged.iterrows():
            small = (code_here, r["period_start"], r["concern"]) == (code, start[:10], concern)
            if small:
                for column in (
                    "respondents_naming",
                    "responses_naming",
                    "share_naming",
                    "share_low_95",
                    "concern_rank",
                ):
                    assert r[column] is None and r[f"{column}_flag"] == MARKER, column
                continue
            assert float(r["respondents_naming"]) == pytest.approx(
                round(r["respondents_naming_mart"], 1), abs=1e-9
            )
            assert int(r["responses_naming"]) == r["responses_naming_mart"]
            assert same(r["share_naming"], r["share_naming_mart"]) and same(
                r["concern_rank"], r["concern_rank_mart"]
            )
        safety = mart(
            world, "select * from audit.consultation_safety where partnership_code = ?", [code_here]
        )
        shown = read_csv(csv_dir / "consultation_safety.csv")
        assert len(shown) == len(safety) > 0
        for (_, a), (_, b) in zip(shown.sort_values("period_start").iterrows(), safety.sort_values("period_start").iterrows(),
                                  strict=True):  # fmt: skip
            for column in ("share_safe_day", "share_unsafe_day", "share_safe_night", "share_unsafe_night"):
                assert same(a[column], b[column]), column
                answered = b[f"respondents_answered_{column.split('_')[-1]}"]
                count = a[column.replace("share", "respondents")]
                assert float(count) == pytest.approx(round(b[column] * answered, 1), abs=0.051)
        cells = report_cells(release.path / "report.html", "survey-year")
        for r in safety.to_dict("records"):
            assert same(cells[(r["audit_year"], "share_safe_night")][0]["data-value"], r["share_safe_night"])
        versus = read_csv(csv_dir / "concern_vs_recorded.csv")
        expected = mart(
            world, "select * from audit.concern_vs_recorded where partnership_code = ?", [code_here]
        )
        assert len(versus) == len(expected) and set(versus["partnership_code"]) == {code_here}
        police = versus.merge(expected.assign(period_start=expected["period_start"].dt.strftime("%Y-%m-%d")),
                              on=["period_start", "concern"], suffixes=("", "_mart"))  # fmt: skip
        police = police[police["recorded_dataset"] == "police_uk_street"]
        for _, r in police.iterrows():
            if r["recorded_incidents_flag"] != MARKER:
                assert same(r["recorded_incidents"], r["recorded_incidents_mart"])
            if r["mismatch_flag"] != MARKER:
                assert r["mismatch"] == r["mismatch_mart"]
    # the planted small cell: withheld wherever it, or a share made from it, would appear
    folder = version_dir(world, code)
    versus = read_csv(folder / "csv" / "concern_vs_recorded.csv")
    row = versus[(versus["period_start"] == start[:10]) & (versus["concern"] == concern)].iloc[0]
    assert row["share_naming"] is None and row["share_naming_flag"] == MARKER
    priorities = read_csv(folder / "csv" / "priority_scores.csv")
    for _, r in priorities[
        (priorities["concern"] == concern) & (priorities["period_start"] == start[:10])
    ].iterrows():
        assert (
            r["share_naming"] is None
            and r["public_concern_score"] is None
            and r["priority_rank_flag"] == MARKER
        )
    cells = report_cells(folder / "report.html", "concern")
    for column in ("respondents_naming", "responses_naming", "share_naming"):
        attrs, text = cells[(concern, column)]
        assert text == MARKER and "data-value" not in attrs, column
    sheets = read_sheets(folder / "tables.xlsx")
    sheet = sheets["consultation_concerns"]
    small = sheet[
        (sheet["concern"] == concern) & (sheet["period_start"].astype(str).str[:10] == start[:10])
    ].iloc[0]
    assert small["respondents_naming"] == small["responses_naming"] == small["share_naming"] == MARKER
    assert not ((sheet["respondents_naming"] != MARKER) & (pd.to_numeric(sheet["respondents_naming"], errors="coerce") < 10)
                & (pd.to_numeric(sheet["respondents_naming"], errors="coerce") > 0)).any()  # fmt: skip
    targets = sheets["target_progress"]
    expected = mart(world, "select target_id, status, status_rule from audit.target_progress where partnership_code = ?",
                    [code]).set_index("target_id")  # fmt: skip
    assert sorted(targets["target_id"]) == sorted(expected.index)
    for _, r in targets.iterrows():
        assert r["status"] == expected.loc[r["target_id"], "status"]
    ranks = sheets["priority_scores"]
    assert len(ranks) == len(
        mart(world, "select 1 from audit.priority_scores where partnership_code = ?", [code])
    )


def test_a_pack_holds_no_other_partnerships_strategy_rows(world: World) -> None:
    targets = mart(world, "select partnership_code, target_id from audit.target_progress")
    for release in world.releases:
        code = release.partnership_code
        for table in STRATEGY:
            frame = read_csv(release.path / "csv" / f"{table}.csv")
            assert len(frame) and set(frame["partnership_code"]) == {code}, table
        foreign = sorted(set(targets.loc[targets["partnership_code"] != code, "target_id"]))
        pattern = re.compile("|".join(re.escape(t) for t in foreign))
        for path in (release.path / "report.html", *sorted((release.path / "csv").glob("*.csv"))):
            found = pattern.search(path.read_text(encoding="utf-8-sig"))
            assert found is None, (code, path.name, found and found.group(0))
        with zipfile.ZipFile(release.path / "tables.xlsx") as z:
            text = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        assert pattern.search(text) is None, code


def test_strategy_section_says_plainly_when_there_is_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSP_AUDIT_PACK_PDF", "0")  # the HTML's wording is under test
    """Without target registers or survey marts the section says so instead of failing."""
    warehouse = tmp_path / "bare.duckdb"
    shutil.copyfile(world.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw.target_progress")  # audit.target_progress is a view of it
        for table in ("consultation_concerns", "consultation_safety", "concern_vs_recorded"):
            con.execute(f"drop table audit.{table}")
    code = world.first
    (release,) = build_packs(warehouse, tmp_path / "publish", plan_file=world.plan, partnerships=[code])
    report = (release.path / "report.html").read_text(encoding="utf-8")
    assert ">Strategy</h2>" in report
    assert "This partnership has no SMART target register yet" in report
    assert "No consultation survey results for this partnership" in report
    assert 'data-table="priority_scores"' in report
    manifest = json.loads((release.path / "manifest.json").read_text())
    assert (
        "consultation_concerns" not in manifest["tables"]
        and manifest["tables"]["target_progress"]["rows"] == 0
    )


# ------------------------------------------------------------------------------------------ releases


def test_a_refresh_versions_changed_packs_and_records_unchanged_ones(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSP_AUDIT_PACK_PDF", "0")  # versions and restatements are under test
    code = world.first
    v1 = version_dir(world, code)
    before = {p: p.read_bytes() for p in v1.rglob("*") if p.is_file()}
    with duckdb.connect(str(world.warehouse)) as con:  # change a few figures of one partnership only
        (year,) = con.execute(
            "select max(period_start) from audit.harm where partnership_code = ?", [code]
        ).fetchone()
        con.execute(
            "delete from audit.harm where partnership_code = ? and category = 'Robbery' and period_start = ?",
            [code, year],
        )
        con.execute(
            "update audit.repeat_locations set locations = locations + 7 where partnership_code = ? "
            "and category = 'All' and dataset = 'police_uk_street' and period_start = ?",
            [code, year],
        )
    releases = {r.partnership_code: r for r in build_packs(world.warehouse, world.out, plan_file=world.plan,
                                                           refresh_label="r2")}  # fmt: skip
    changed = releases[code]
    assert changed.outcome == "new" and changed.version == "v0002" and changed.previous_version == "v0001"
    assert rel.read_latest(world.out / code) == "v0002"
    assert (world.out / code / "latest" / "report.html").is_file()  # a link: the newest pack opens
    restated = pd.read_csv(
        changed.path / "restatements.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    assert set(restated["table"]) == {"harm", "repeat_locations"}
    revised = restated[restated["table"] == "repeat_locations"].iloc[0]
    assert revised["column"] == "locations" and revised["change"] == "revised"
    assert int(revised["new_value"]) == int(revised["old_value"]) + 7
    withdrawn = restated[restated["table"] == "harm"].iloc[0]
    assert withdrawn["change"] == "withdrawn" and "Robbery" in withdrawn["key"]
    assert changed.restatements == len(restated) == 2
    report = (changed.path / "report.html").read_text(encoding="utf-8")
    assert (
        "Compared with release v0001" in report and "<strong>2</strong> published figures restated" in report
    )
    assert json.loads((changed.path / "manifest.json").read_text())["previous_version"] == "v0001"
    assert verify_manifest(changed.path) == []
    # the first release is untouched
    assert {p: p.read_bytes() for p in v1.rglob("*") if p.is_file()} == before
    # every other partnership's tables are identical: recorded as unchanged, no new version
    for other, release in releases.items():
        if other == code:
            continue
        assert release.outcome == "unchanged" and release.version == "v0001", other
        assert rel.versions(world.out / other) == ["v0001"]
        log = rel.read_log(world.out / other)
        assert [r["outcome"] for r in log] == ["new", "unchanged"] and log[-1]["refresh_label"] == "r2"
    assert [r["outcome"] for r in rel.read_log(world.out / code)] == ["new", "new"]
    # publish/index.html: every partnership, its newest pack through the link, and every refresh
    index = (world.out / "index.html").read_text(encoding="utf-8")
    for other in releases:
        assert f'href="{other}/latest/report.html"' in index, other
        assert f'href="{other}/v0001/report.html"' in index, other
    assert f'href="{code}/v0002/report.html"' in index and "2 published figures restated" in index
    assert index.count("no figure changed") == len(releases) - 1
    assert "http://" not in index and "https://" not in index


def test_versions_are_read_only_and_never_overwritten(world: World) -> None:
    for release in world.releases:
        for path in [release.path, *release.path.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o222 == 0, (path, oct(mode))
    folder = world.out / world.first
    with pytest.raises(rel.ReleaseError, match="immutable"):
        rel.write_version(folder, "v0001", lambda staging: (staging / "x").write_text("x"))
    assert not any(p.name.startswith(".staging") for p in folder.iterdir())
    if os.geteuid() != 0:  # root ignores file modes
        with pytest.raises(PermissionError):
            (version_dir(world, world.first) / "report.html").write_text("changed")


def _region_cube(out: Path, codes: Iterable[str], version: str) -> pd.DataFrame:
    """The cube cells every partnership's ``version`` shows, read back from the pack CSVs."""
    tables = {
        name: pd.concat([read_csv(out / code / version / "csv" / f"{name}.csv") for code in sorted(codes)])
        for name in ("area_rates", "area_monthly", "region_rates")
    }
    return cube_from_published(tables)


def test_a_second_release_reveals_nothing_the_first_withheld(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small re-delivery between two releases: v0002 keeps v0001's suppressions and never relies on
    a complement v0001 already showed, so the two releases together reveal no withheld cell."""
    monkeypatch.setenv("CSP_AUDIT_PACK_PDF", "0")  # the tables are compared; the print is the world's
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(world.warehouse, warehouse)
    out = tmp_path / "publish"
    for code in world.owner:
        shutil.copytree(world.out / code / "v0001", out / code / "v0001")
        rel.point_latest(out / code, "v0001")
    with duckdb.connect(str(warehouse)) as con:
        # a fire cell withheld in v0001 (a small partnership-month) grows by 4 in a re-delivery, in one
        # LSOA, its ward, the partnership and the category 'All', for the year and the month alike
        dataset, category, code, month, start = con.execute(
            """
            select dataset, category, partnership_code, "month", period_start from audit.area_monthly
            where area_type = 'partnership' and dataset = 'fire_incidents' and category <> 'All'
              and incidents between 1 and 3
            order by partnership_code, "month", category limit 1
            """
        ).fetchone()
        lsoa, ward = con.execute(
            "select area_code, ward_code from audit.area_monthly where area_type = 'lsoa' and dataset = ? "
            'and category = ? and partnership_code = ? and "month" = ? order by area_code limit 1',
            [dataset, category, code, month],
        ).fetchone()
        for table, period, value in (
            ("area_rates", "period_start", start),
            ("area_monthly", '"month"', month),
        ):
            con.execute(
                f"update audit.{table} set incidents = incidents + 4 where dataset = ? "  # noqa: S608
                f"and category in (?, 'All') and area_code in (?, ?, ?) and {period} = ?",
                [dataset, category, lsoa, ward, code, value],
            )
    key = list(CUBE_KEY)
    planted = ("partnership", code, code, dataset, category, "month", str(month))
    before = _region_cube(out, world.owner, "v0001").astype({c: str for c in key}).set_index(key)
    assert before.loc[planted, "incidents_flag"] == MARKER  # v0001 withheld it (1-3)

    source = read_source(warehouse, plan_file=world.plan)
    raw = build_cube(source.marts["area_rates"], source.marts["area_monthly"], source.region_name)
    alone = Cube(raw, world.terms)  # v0002 protected as if v0001 had never been published
    assert not alone.suppressed[planted], "alone, v0002 would show the cell (now 5-7)"

    releases = build_packs(warehouse, out, plan_file=world.plan, refresh_label="re-delivery")
    assert {r.version for r in releases} == {"v0002"}
    after = _region_cube(out, world.owner, "v0002").astype({c: str for c in key}).set_index(key)
    assert after.loc[planted, "incidents_flag"] == MARKER
    withheld_before = before.index[before["incidents_flag"] == MARKER]
    assert (after.loc[withheld_before, "incidents_flag"] == MARKER).all()  # every suppression carried forward

    # a reader holding both releases fills in every v0002 cell that v0001 showed with the same value
    true = alone.true.reindex(after.index).to_numpy(dtype=float)
    shown = pd.to_numeric(before["incidents"].reindex(after.index), errors="coerce").to_numpy(dtype=float)
    known = (after["incidents_flag"] == MARKER).to_numpy() & np.isclose(true, shown)
    reader = after.reset_index()
    reader.loc[known, "incidents"] = shown[known]
    reader.loc[known, "incidents_flag"] = None
    assert find_disclosure_risks(reader, cube_spec(world.terms)) == []
