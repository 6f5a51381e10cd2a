"""``publish/index.html``: every partnership's packs on one page, for the officers who receive them.

One row per partnership (its newest pack, opened through the ``latest`` link, and its PDF) and, under it,
every refresh from its ``releases.csv``: when, the label, whether it made a new version or found nothing
changed, and how many published figures it restated. Rewritten after each publish (atomically); it
holds no figures, only names, versions and dates, so it discloses nothing a pack does not.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from csp_audit.packs import release as rel

INDEX = "index.html"
PDF = "report.pdf"
ASSESSMENT = "assessment.html"
COUNTY = "county-agreement.html"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;max-width:60rem;
color:#1b1b1b;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin:1.6rem 0 .3rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #ddd}th{background:#f3f3f3}.new{font-weight:600}.muted{color:#666}
a{color:#1d4ed8}@media print{a{color:inherit;text-decoration:none}}
"""


def _partnership_name(folder: Path, version: str | None) -> str:
    if version:
        try:
            return str(rel.read_manifest(folder / version)["partnership"]["name"])
        except (OSError, KeyError, ValueError):
            pass
    return folder.name


def _pdf_link(folder: Path, version: str, via: str | None = None) -> str:
    """' · PDF' linking the version's report.pdf (through ``via``, e.g. the ``latest`` link, when given);
    nothing for a version published before packs had one."""
    if not (folder / version / PDF).is_file():
        return ""
    return f' · <a href="{html.escape(folder.name)}/{html.escape(via or version)}/{PDF}">PDF</a>'


def write_publish_index(out_root: str | Path, title: str = "Audit packs") -> Path:
    """Write ``<out_root>/index.html`` listing every partnership, its versions and what changed."""
    root = Path(out_root)
    sections = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and (p / rel.LOG).is_file()):
        latest = rel.read_latest(folder)
        name = _partnership_name(folder, latest)
        rows = []
        for entry in reversed(rel.read_log(folder)):
            version = entry.get("version", "")
            new = entry.get("outcome") == "new"
            link = (f'<a href="{html.escape(folder.name)}/{html.escape(version)}/report.html">'
                    f"{html.escape(version)}</a>{_pdf_link(folder, version)}") if new and (folder / version).is_dir() \
                else html.escape(version)  # fmt: skip
            what = (f"new release; {html.escape(entry.get('restatements') or '0')} published figures restated"
                    if new else '<span class="muted">no figure changed</span>')  # fmt: skip
            rows.append(
                f'<tr class="{"new" if new else ""}"><td>{html.escape(entry.get("refreshed_at", ""))}</td>'
                f"<td>{html.escape(entry.get('refresh_label', ''))}</td><td>{link}</td><td>{what}</td></tr>"
            )
        newest = (f'<a href="{html.escape(folder.name)}/latest/report.html">latest pack ({html.escape(latest)})</a>'
                  f"{_pdf_link(folder, latest, 'latest')}" if latest else '<span class="muted">no release yet</span>')  # fmt: skip
        if latest and (folder / latest / ASSESSMENT).is_file():
            newest += f' · <a href="{html.escape(folder.name)}/latest/{ASSESSMENT}">strategic assessment</a>'

        sections.append(
            f'<h2>{html.escape(name)} <span class="muted">{html.escape(folder.name)}</span></h2>'
            f"<p>{newest}</p><table><thead><tr><th>Refreshed</th><th>Label</th><th>Version</th>"
            f"<th>What changed</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    counties = root / "counties"
    for folder in (
        sorted(p for p in counties.iterdir() if (p / rel.LOG).is_file()) if counties.is_dir() else []
    ):
        latest = rel.read_latest(folder)
        if latest:
            link = f"counties/{html.escape(folder.name)}/latest/{COUNTY}"
            sections.append(f'<h2>County agreement <span class="muted">{html.escape(folder.name)}</span></h2>'
                            f'<p><a href="{link}">county community safety agreement ({html.escape(latest)})</a></p>')  # fmt: skip
    body = "".join(sections) or "<p>No packs have been published yet.</p>"
    page = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
        f"<body><h1>{html.escape(title)}</h1><p>Each partnership's newest pack, and every refresh: a new "
        f"version when a published figure changed, else recorded as unchanged.</p>{body}</body></html>\n"
    )
    target = root / INDEX
    temp = root / f".{INDEX}.tmp"
    temp.write_text(page, encoding="utf-8")
    os.replace(temp, target)
    return target
