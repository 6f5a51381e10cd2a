"""``report.pdf``: the pack's HTML report printed to A4 with WeasyPrint.

The PDF is made from the very HTML written as ``report.html``, less the ``data-*`` attributes only
machines read (its print style sheet lays it out: A4, landscape pages for tables of many columns,
header rows repeated, no row split), so the two never disagree. Rendering is the slowest step of a pack (seconds of CPU per report, most of it laying out
the tables), which is why it runs once per new release and never for an unchanged one.

Nothing is fetched while rendering (the report is self-contained; any URL it named would be refused
and logged). WeasyPrint logs through :mod:`logging` (logger ``weasyprint``): a warning about the report
itself means its print CSS uses something WeasyPrint does not support and should be fixed there. The one
warning about the machine (no HarfBuzz-Subset library, so fonts are subset with fontTools, which is
slower) is logged once per font and process rather than once per report, and the step-by-step INFO
narration of WeasyPrint and fontTools is left out.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

_FONTTOOLS_FALLBACK = "Using fontTools instead of HarfBuzz-Subset"
# attributes only machines read (data-col, data-value, data-min ...: the verifiers check report.html by
# them); no style uses them, so the print is the same without them, and parsing them is some 4% of it
_MACHINE_ATTRIBUTES = re.compile(r' data-[a-z0-9-]+="[^"]*"')
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


class _OncePerFont(logging.Filter):
    """Let WeasyPrint's font-subsetting fallback notice through once per font family and process.

    The notice is about the machine (install HarfBuzz-Subset, e.g. Debian's libharfbuzz-subset0), not
    about the report; repeated for every font of every report it would bury the warnings that matter.
    """

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or not record.msg.startswith(_FONTTOOLS_FALLBACK):
            return True
        family = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
        if family in self._seen:
            return False
        self._seen.add(family)
        return True


_ONCE = _OncePerFont()


def _quiet_narration() -> None:
    """WeasyPrint's warnings, each fontTools fallback notice once; not their step-by-step narration.

    At INFO (Airflow's level) WeasyPrint narrates every step and page and fontTools every table and glyph
    list of every subset font: over a hundred lines per report, formatted for nothing. A level already
    set on these loggers (by whoever configures logging) is kept.
    """
    weasyprint = logging.getLogger("weasyprint")
    if _ONCE not in weasyprint.filters:
        weasyprint.addFilter(_ONCE)
    for name in ("weasyprint.progress", "fontTools"):
        narrator = logging.getLogger(name)
        if narrator.level == logging.NOTSET:
            narrator.setLevel(logging.WARNING)


@contextmanager
def _font_timestamp(created: datetime) -> Iterator[None]:
    """Subset fonts stamped with the pack's creation time instead of the clock.

    fontTools (WeasyPrint's subsetter without HarfBuzz-Subset) stamps each subset font's ``head.modified``
    with the time it is saved, unless ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) is set;
    a value already set is kept.
    """
    if SOURCE_DATE_EPOCH in os.environ:
        yield
        return
    os.environ[SOURCE_DATE_EPOCH] = str(int(created.timestamp()))
    try:
        yield
    finally:
        os.environ.pop(SOURCE_DATE_EPOCH, None)


PDF_SETTING = "CSP_AUDIT_PACK_PDF"


def pdf_wanted() -> bool:
    """Whether releases are printed to PDF: yes, unless ``CSP_AUDIT_PACK_PDF`` is 0, false, no or off.

    Printing is most of the time a release takes. A deployment whose officers read the HTML (or a
    test of delivery and notices rather than of the print) can leave it out: the release then holds
    the HTML, tables and extracts, its manifest lists exactly those, and its notice does not name a PDF.
    """
    return os.environ.get(PDF_SETTING, "1").strip().lower() not in ("0", "false", "no", "off")


def write_pdf(html: str, target: Path, *, created: datetime) -> None:
    """Print ``html`` (a self-contained report) to ``target`` as an A4 PDF.

    The bytes depend only on the HTML, ``created`` and the fonts installed: WeasyPrint writes no creation
    date or random file identifier, and the subset fonts carry ``created`` as their date, so the same
    report renders to the same file on the same machine.
    """
    _quiet_narration()  # first: importing WeasyPrint parses its own style sheets, narrated too
    with warnings.catch_warnings():
        # the same notice as the logged fontTools fallback, raised once more at import as a
        # DeprecationWarning (which pytest, for one, shows)
        warnings.filterwarnings("ignore", "HarfBuzz-Subset will be required", DeprecationWarning)
        from weasyprint import HTML, URLFetcher  # imported here: importing WeasyPrint costs about a second

    with _font_timestamp(created):
        # no protocol is allowed: the report embeds everything it shows, so a URL in it is a mistake
        HTML(
            string=_MACHINE_ATTRIBUTES.sub("", html), url_fetcher=URLFetcher(allowed_protocols=())
        ).write_pdf(target)
