"""The strategic assessment in every demo pack: its sections, every figure recomputed, the commentary merged.

The figures are checked the way an analyst holding the pack would: each traced figure names its table,
row key and column; the row is found in the pack's CSV (exactly one), formatted again and compared with
the text, and found in the warehouse mart it was published from. Every other digit in the text must be a
label (an audit year, a month, a code), so no number escapes the check.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from csp_audit.packs import release as rel
from csp_audit.packs.build import build_packs, verify_manifest
from csp_audit.packs.commentary import SECTION_IDS
from csp_audit.packs.disclosure import MARKER, flag_column
from csp_audit.packs.figures import FORMATS, rows_matching
from pypdf import PdfReader

pytestmark = pytest.mark.integration

OPEN_DATASETS = {"police_uk_street"}  # published as is: the pack's value is the mart's


class _Reader(HTMLParser):
    """Traced figures, the text outside them, and the section ids of an assessment's <main>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.figures: list[dict] = []
        self.loose: list[str] = []  # text in <main> outside figures, labels and commentary
        self.sections: list[str] = []
        self._stack: list[str] = []  # what each open element is: fig, lit, commentary, main or other
        self._fig: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        kind = "other"
        if tag == "main":
            kind = "main"
        elif tag == "span" and "fig" in classes:
            kind = "fig"
            self._fig = {k[5:]: v for k, v in a.items() if k.startswith("data-")} | {"text": ""}
        elif tag == "span" and "lit" in classes:
            kind = "lit"
        elif "commentary" in classes:
            kind = "commentary"
        if tag == "section" and a.get("id"):
            self.sections.append(str(a["id"]))
        self._stack.append(kind)

    def handle_endtag(self, tag: str) -> None:
        kind = self._stack.pop() if self._stack else "other"
        if kind == "fig" and self._fig is not None:
            self.figures.append(self._fig)
            self._fig = None

    def handle_data(self, data: str) -> None:
        if "fig" in self._stack and self._fig is not None:
            self._fig["text"] += data
        elif "main" in self._stack and not {"lit", "commentary"} & set(self._stack):
            self.loose.append(data)


def read_assessment(path: Path) -> _Reader:
    reader = _Reader()
    reader.feed(path.read_text(encoding="utf-8"))
    return reader


def pack_csv(pack: Path, table: str, cache: dict) -> pd.DataFrame:
    if table not in cache:
        cache[table] = pd.read_csv(pack / "csv" / f"{table}.csv", dtype=str, keep_default_na=False,
                                   na_values=[""], encoding="utf-8-sig")  # fmt: skip
    return cache[table]


def _one(frame: pd.DataFrame, key: dict, figure: dict) -> dict:
    found = rows_matching(frame, key)
    assert len(found) == 1, f"{figure}: {len(found)} rows match its key"
    return found.iloc[0].to_dict()


def recompute(pack: Path, figure: dict, cache: dict) -> str:
    """The figure's text, made again from the pack's CSV rows it names."""
    frame = pack_csv(pack, figure["table"], cache)
    op = figure.get("op")
    if op == "count":
        return FORMATS["int"](len(rows_matching(frame, json.loads(figure["where"]))))
    row = _one(frame, json.loads(figure["key"]), figure)
    column = figure["col"]
    assert row.get(flag_column(column)) != MARKER, f"{figure}: a withheld figure is narrated"
    value = row[column]
    assert not pd.isna(value), f"{figure}: an empty cell is narrated"
    if figure["fmt"] == "text":
        return str(value)
    if op == "diff":
        other = _one(frame, json.loads(figure["key2"]), figure)
        assert other.get(flag_column(column)) != MARKER and not pd.isna(other[column])
        return FORMATS[figure["fmt"]](round(float(value) - float(other[column]), 6))
    return FORMATS[figure["fmt"]](float(value))


def in_mart(con: duckdb.DuckDBPyConnection, figure: dict, marts: set[str]) -> None:
    """The row a figure names is a row of the mart it was published from (same key; same value when open)."""
    table = figure["table"]
    if table not in marts or figure.get("op") == "count":
        return
    key = json.loads(figure["key"])
    where = " and ".join(f'cast("{k}" as varchar) = ?' for k in key)
    rows = con.execute(f'select cast("{figure["col"]}" as varchar) from audit."{table}" where {where}',  # noqa: S608
                       list(key.values())).fetchall()  # fmt: skip
    assert len(rows) == 1, f"{figure}: {len(rows)} rows of audit.{table} have its key"
    if key.get("dataset") in OPEN_DATASETS and figure["fmt"] != "text" and figure.get("op") is None:
        assert FORMATS[figure["fmt"]](float(rows[0][0])) == figure["text"], figure


def packs_of(demo_run: Path) -> list[Path]:
    root = demo_run / "publish"
    return sorted(p / "latest" for p in root.iterdir() if (p / "releases.csv").is_file())


def test_every_pack_has_the_assessment_with_its_eight_sections(demo_run: Path) -> None:
    packs = packs_of(demo_run)
    assert len(packs) == 5
    for pack in packs:
        reader = read_assessment(pack / "assessment.html")
        assert reader.sections == list(SECTION_IDS), pack
        pdf = PdfReader(pack / "assessment.pdf")
        text = "\n".join(page.extract_text() or "" for page in pdf.pages)
        assert "Levels and patterns" in text and "Recommendations" in text, pack
        manifest = json.loads((pack / "manifest.json").read_text())
        assert {"assessment.html", "assessment.pdf"} <= set(manifest["files"])
        assert verify_manifest(pack.resolve()) == []


def test_every_number_in_the_text_is_recomputed_from_the_pack_and_found_in_the_mart(demo_run: Path) -> None:
    with duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True) as con:
        marts = {r[0] for r in con.execute("select table_name from information_schema.tables "
                                           "where table_schema = 'audit'").fetchall()}  # fmt: skip
        kinds: set[str] = set()
        for pack in packs_of(demo_run):
            reader = read_assessment(pack / "assessment.html")
            assert len(reader.figures) > 30, pack
            cache: dict = {}
            for figure in reader.figures:
                assert recompute(pack, figure, cache) == figure["text"], (pack, figure)
                in_mart(con, figure, marts)
                kinds.add(f"{figure['table']}:{figure.get('op') or figure['fmt']}")
            loose = " ".join(reader.loose)
            stray = re.findall(r"\S*\d\S*", loose)
            assert not stray, f"{pack}: numbers that are not traced figures: {stray[:10]}"
    # the check reached every kind of figure the assessment writes
    assert {"area_rates:count", "area_rates:rate", "comparisons:ratio", "trends:count", "trends:signed",
            "area_rates:diff", "area_monthly:diff", "priority_scores:int", "target_progress:text",
            "consultation_concerns:share", "coterminosity:share"} <= kinds, sorted(kinds)  # fmt: skip


def test_no_withheld_incomplete_or_foreign_figure_is_narrated(demo_run: Path) -> None:
    with duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True) as con:
        areas = con.execute("select distinct partnership_code, area_code, area_name from audit.area_rates "
                            "where area_type in ('ward', 'lsoa')").fetchall()  # fmt: skip
    for pack in packs_of(demo_run):
        code = pack.parent.name
        html = (pack / "assessment.html").read_text(encoding="utf-8")
        own = {a for p, a, _ in areas if p == code}
        foreign = {a for p, a, _ in areas if p != code} - own
        assert not [a for a in foreign if a in html], code
        trends = pd.read_csv(pack / "csv" / "trends.csv", dtype=str, encoding="utf-8-sig")
        # a change is a finding only when its verdict is significant on q < 0.05, never over incomplete data
        for figure in read_assessment(pack / "assessment.html").figures:
            if figure["table"] == "trends" and figure.get("col") == "q_value":
                row = _one(trends, json.loads(figure["key"]), figure)
                assert float(row["q_value"]) < 0.05 and row["verdict"].startswith("significant")
                assert pd.isna(row.get("incomplete_data"))


def test_an_officers_commentary_is_merged_versioned_and_survives_a_refresh(
    demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSP_AUDIT_PACK_PDF", "0")  # the merge into assessment.html is under test
    code = "E22990003"
    out = tmp_path / "publish"
    shutil.copytree(demo_run / "publish" / code, out / code, symlinks=True)
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_run / "warehouse.duckdb", warehouse)
    files = sorted((out / code / "commentary").glob("*.md"))
    assert len(files) == 1 and all(f"## {s}" in files[0].read_text() for s in SECTION_IDS)  # the starter
    text = (
        files[0]
        .read_text()
        .replace(
            "## priorities\n",
            "## priorities\nThe board added <b>road safety</b> after the\nspring walkabouts.\n\n- Owner: the PCSO lead\n",
        )
    )
    files[0].write_text(text, encoding="utf-8")
    plan = demo_run / "plan.yaml"

    def merged(version_dir: Path) -> None:
        html = (version_dir / "assessment.html").read_text(encoding="utf-8")
        section = html[html.index('<section id="priorities">') : html.index('<section id="consultation">')]
        assert "The board added &lt;b&gt;road safety&lt;/b&gt; after the spring walkabouts." in section
        assert "<li>Owner: the PCSO lead</li>" in section
        assert (version_dir / "commentary.md").read_bytes() == files[0].read_bytes()
        manifest = json.loads((version_dir / "manifest.json").read_text())
        assert manifest["commentary"]["source"] == f"commentary/{files[0].name}"
        assert verify_manifest(version_dir) == []

    # the edit alone is a new version (the tables did not change)
    (edited,) = build_packs(warehouse, out, plan_file=plan, refresh_label="commentary", partnerships=[code])
    assert edited.outcome == "new" and edited.restatements == 0
    merged(edited.path)
    # a refresh with new figures keeps the officer's words
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update audit.repeat_locations set locations = locations + 3 where partnership_code = ? "
                    "and category = 'All' and dataset = 'police_uk_street'", [code])  # fmt: skip
    (refreshed,) = build_packs(warehouse, out, plan_file=plan, refresh_label="refresh", partnerships=[code])
    assert refreshed.outcome == "new" and refreshed.previous_version == edited.version
    merged(refreshed.path)
    assert rel.read_latest(out / code) == refreshed.version
    assert files[0].read_text(encoding="utf-8") == text  # the file itself is never rewritten


def test_the_county_roll_up_covers_its_districts_only_at_partnership_level(demo_run: Path) -> None:
    region = (demo_run / "region.yaml").read_text(encoding="utf-8")
    county = re.search(r"- code: (E10\d{6})\n\s+name: (.+)\n\s+partnerships: \[(.+)\]", region)
    assert county, "the demo region names a two-tier county"
    members = [c.strip() for c in county[3].split(",")]
    folder = demo_run / "publish" / "counties" / county[1] / "latest"
    html = (folder / "county-agreement.html").read_text(encoding="utf-8")
    assert "county community safety agreement" in html
    pdf = PdfReader(folder / "county-agreement.pdf")
    assert "Shared priorities" in "\n".join(page.extract_text() or "" for page in pdf.pages)
    reader = read_assessment(folder / "county-agreement.html")
    assert reader.sections == [
        "levels",
        "changes",
        "priorities",
        "delivery",
        "data-quality",
        "recommendations",
    ]
    cache: dict = {}
    for figure in reader.figures:
        assert recompute(folder, figure, cache) == figure["text"], figure
    assert len(reader.figures) > 20
    assert not re.findall(r"\S*\d\S*", " ".join(reader.loose))
    with duckdb.connect(str(demo_run / "warehouse.duckdb"), read_only=True) as con:
        areas = {r[0] for r in con.execute("select distinct area_code from audit.area_rates "
                                           "where area_type in ('ward', 'lsoa')").fetchall()}  # fmt: skip
        names = dict(
            con.execute("select distinct partnership_code, partnership_name from audit.area_rates").fetchall()
        )
    # no small area of any district, and no partnership outside the county
    assert not [a for a in areas if a in html]
    assert not [n for c, n in names.items() if c not in members and n in html]
    for table in cache.values():
        assert set(table["partnership_code"]) <= set(members)
        if "area_type" in table:
            assert set(table["area_type"]) == {"partnership"}
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [p["code"] for p in manifest["partnerships"]] == members
