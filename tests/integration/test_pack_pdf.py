"""Each pack's report.pdf, read back from the demo's own publish (the session ``demo_run``: no pack is
built again, and only one report is printed again, to show the print is reproducible): listed and
checksummed in the manifest and linked from the index, A4 pages, nothing printed off the page, every
column of the target register present, table headers repeated on every page a table spans, and no
WeasyPrint warning about the report in the run log.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PageObject, PdfReader
from pypdf.generic import ContentStream

pytestmark = pytest.mark.integration

A4 = (595.28, 841.89)  # points: 210 x 297 mm
TOLERANCE = 0.5  # points


@dataclass
class Pack:
    code: str
    name: str
    folder: Path  # the latest version's folder
    manifest: dict
    pdf: PdfReader
    pages: list[str]  # each page's text, whitespace collapsed


def _flat(text: str) -> str:
    return " ".join(text.split())


def _latest_packs(publish: Path) -> list[Path]:
    """Every partnership's newest version folder (through its ``latest`` link)."""
    return [p / "latest" for p in sorted(publish.iterdir()) if (p / "releases.csv").is_file()]


@pytest.fixture(scope="module")
def packs(demo_run: Path) -> list[Pack]:
    """Every partnership's newest pack with its PDF opened and each page's text extracted once."""
    found = []
    for latest in _latest_packs(demo_run / "publish"):
        folder = latest.resolve()
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        reader = PdfReader(folder / "report.pdf")
        found.append(Pack(manifest["partnership"]["code"], manifest["partnership"]["name"], folder, manifest,
                          reader, [_flat(page.extract_text()) for page in reader.pages]))  # fmt: skip
    assert len(found) == 5, [p.code for p in found]
    return found


class _Tables(HTMLParser):
    """The report's tables as its HTML has them: caption and header cells, by ``data-table`` name (a name
    can have several tables, in page order)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, str, list[str]]] = []  # (data-table, caption, headers)
        self._caption: str | None = None
        self._text: list[str] | None = None
        self._headers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.tables.append((a.get("data-table", ""), a.get("aria-label", ""), []))
        elif tag == "th" and self.tables:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "th" and self._text is not None:
            self.tables[-1][2].append(_flat("".join(self._text)))
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def report_tables(folder: Path) -> list[tuple[str, str, list[str]]]:
    parser = _Tables()
    parser.feed((folder / "report.html").read_text(encoding="utf-8"))
    return parser.tables


_IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _times(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    """The affine matrix ``a`` then ``b`` (PDF's [a b c d e f] row-vector convention)."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3], a[2] * b[0] + a[3] * b[2],
            a[2] * b[1] + a[3] * b[3], a[4] * b[0] + a[5] * b[2] + b[4], a[4] * b[1] + a[5] * b[3] + b[5])  # fmt: skip


def text_starts(reader: PdfReader, page: PageObject) -> list[tuple[float, float]]:
    """Where each text-showing operator of the page's own content starts, in page space.

    The page's content stream is followed for the graphics state (q, Q, cm) and the text matrix (BT, Tm,
    Td); WeasyPrint places every line of text with its own matrix, so a column set beyond the page's edge
    shows as text starting off the page. The charts' text is drawn inside their SVG form objects, scaled
    to the width of the page, and is not followed here.
    """
    ctm, saved, line = _IDENTITY, [], _IDENTITY
    found = []
    for operands, operator in ContentStream(page.get_contents(), reader).operations:
        if operator == b"q":
            saved.append(ctm)
        elif operator == b"Q":
            ctm = saved.pop()
        elif operator == b"cm":
            ctm = _times(tuple(float(v) for v in operands), ctm)
        elif operator == b"BT":
            line = _IDENTITY
        elif operator == b"Tm":
            line = tuple(float(v) for v in operands)
        elif operator in (b"Td", b"TD"):
            line = _times((1.0, 0.0, 0.0, 1.0, float(operands[0]), float(operands[1])), line)
        elif operator in (b"Tj", b"TJ", b"'", b'"'):
            where = _times(line, ctm)
            found.append((where[4], where[5]))
    return found


def off_page(reader: PdfReader, page: PageObject) -> list[tuple[int, int]]:
    """Where text starts outside the page's MediaBox (a column set beyond the edge: cut on paper)."""
    box = page.mediabox
    left, bottom, right, top = float(box.left), float(box.bottom), float(box.right), float(box.top)
    return [(round(x), round(y)) for x, y in text_starts(reader, page)
            if not (left <= x < right and bottom <= y < top)]  # fmt: skip


def outline_pages(reader: PdfReader) -> list[tuple[str, int]]:
    """The report's top-level headings (h2, under the h1) and the page each starts on."""
    (top, children) = reader.outline[:2]
    return [
        (item["/Title"], reader.get_destination_page_number(item))
        for item in children
        if isinstance(item, dict)
    ]


# ------------------------------------------------------------------------------------------ tests


def test_every_latest_pack_has_its_pdf_listed_and_checksummed(demo_run: Path, packs: list[Pack]) -> None:
    index = (demo_run / "publish" / "index.html").read_text(encoding="utf-8")
    for pack in packs:
        pdf = pack.folder / "report.pdf"
        assert pdf.read_bytes().startswith(b"%PDF-"), pack.code
        assert pack.manifest["files"]["report.pdf"] == hashlib.sha256(pdf.read_bytes()).hexdigest(), pack.code
        # publish/index.html links the PDF beside the report, for the newest pack and for its version
        version = pack.folder.name
        assert f'href="{pack.code}/latest/report.pdf"' in index, pack.code
        assert (
            f'href="{pack.code}/{version}/report.html">{version}</a> · <a href="{pack.code}/{version}/report.pdf">'
            in index
        )


def test_pdf_pages_are_a4_and_nothing_is_printed_off_the_page(packs: list[Pack]) -> None:
    for pack in packs:
        landscape = 0
        for number, page in enumerate(pack.pdf.pages, start=1):
            box = page.mediabox
            width, height = float(box.width), float(box.height)
            assert sorted((width, height)) == pytest.approx(sorted(A4), abs=TOLERANCE), (pack.code, number, box)  # fmt: skip
            landscape += width > height
            # a column that does not fit is drawn beyond the page's right edge (and lost on paper): every
            # line of text must start on the page
            assert text_starts(pack.pdf, page), (pack.code, number)
            outside = off_page(pack.pdf, page)
            assert outside == [], (pack.code, f"page {number} has text starting off the page at", outside[:5])
        assert landscape, f"{pack.code}: the strategy section's wide tables are printed landscape"


def test_pdf_has_the_partnership_and_every_target_register_column(packs: list[Pack]) -> None:
    for pack in packs:
        text = " ".join(pack.pages)
        assert _flat(pack.name) in text and pack.code in text, pack.code
        targets = [t for t in report_tables(pack.folder) if t[0] == "target_progress"]
        assert len(targets) == 1, pack.code
        _, caption, headers = targets[0]
        assert len(headers) == 13 and {"Status", "Rule that set it"} <= set(headers), headers
        # the register's page: its caption, then every column's header, in order, on that page; and printed
        # on it (extracted text includes text set beyond the page's edge, which paper does not)
        (number,) = [i for i, p in enumerate(pack.pages) if _flat(caption) in p]
        header = " ".join(html.unescape(h) for h in headers)
        assert header in pack.pages[number], (pack.code, header, pack.pages[number][:600])
        cut = off_page(pack.pdf, pack.pdf.pages[number])
        assert cut == [], f"{pack.code} page {number + 1}: columns cut, text starting at {cut[:5]}"


def test_a_table_spanning_pages_repeats_its_header_on_each(packs: list[Pack]) -> None:
    for pack in packs:
        starts = [page for _, page in outline_pages(pack.pdf)] + [len(pack.pages)]
        for name, caption, headers in report_tables(pack.folder):
            if not caption:
                continue
            header = " ".join(html.unescape(h) for h in headers)
            first = next(i for i, p in enumerate(pack.pages) if _flat(caption) in p)
            assert header in pack.pages[first], (pack.code, name, "caption and header on different pages")
            if name != "trends":
                continue
            # the year-on-year changes (every category of every dataset) are the only table of their section,
            # which ends where the next begins (each section starts a page): every page from the caption's
            # to the section's end is the table's, and each must show its header row
            pages = range(first, min(s for s in starts if s > first))
            assert len(pages) > 1, f"{pack.code}: the demo's changes table spans pages"
            assert [i for i in pages if header not in pack.pages[i]] == [], (pack.code, header)


def test_the_pdf_is_its_report_printed_again_byte_for_byte(packs: list[Pack], tmp_path: Path) -> None:
    """The demo printed the report in another process, at another time: printing it again here gives the
    same file (no date, identifier or clock-stamped font in it), so a PDF can be checked against its report.
    One report only: printing costs seconds."""
    from csp_audit.packs.pdf import write_pdf

    pack = packs[0]
    again = tmp_path / "report.pdf"
    write_pdf((pack.folder / "report.html").read_text(encoding="utf-8"), again,
              created=datetime.fromisoformat(pack.manifest["created_at"]))  # fmt: skip
    assert again.read_bytes() == (pack.folder / "report.pdf").read_bytes()


def test_no_weasyprint_warning_about_the_report(demo_run: Path) -> None:
    """WeasyPrint warns through logging about CSS it cannot apply: the print CSS gives it none. The console
    (demo.log) shows no library output; the run log, which keeps it, has no WeasyPrint or fontTools line
    but the notice about the machine (fonts subset with fontTools), once per font family."""
    console = (demo_run / "demo.log").read_text(encoding="utf-8")
    assert "weasyprint" not in console.lower() and "fonttools" not in console.lower()
    log = (demo_run / "csp-audit.log").read_text(encoding="utf-8", errors="replace")
    lines = [line for line in log.splitlines() if "weasyprint" in line.lower() or "fonttools" in line.lower()]
    about_machine = [line for line in lines if "Using fontTools instead of HarfBuzz-Subset" in line]
    assert [line for line in lines if line not in about_machine] == []
    families = [re.search(r'for font "([^"]+)"', line)[1] for line in about_machine]  # type: ignore[index]
    assert len(families) == len(set(families)), families
