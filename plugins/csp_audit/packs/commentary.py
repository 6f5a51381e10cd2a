"""The partnership's own commentary on its assessment: one Markdown file per partnership and audit year.

The file lives beside the partnership's releases, outside every version folder, so it is kept across
refreshes::

    <packs>/<partnership code>/commentary/<audit year, e.g. 2023-24>.md

The first publish for an audit year writes a starter file with one heading per section of the
assessment (``## levels`` ... ``## recommendations``). Whatever an officer writes under a heading is
merged into that section of ``assessment.html`` and ``assessment.pdf`` at the next publish, set apart
as the partnership's commentary; the file is copied into the release (``commentary.md``, listed in the
manifest), and an edit alone makes a new version, so every published assessment names the words it
carried. Text is shown as written (escaped, never run as HTML); blank lines separate paragraphs and lines
starting ``- `` make a list. HTML comments (``<!-- ... -->``) are left out, so the starter's guidance is
not printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup, escape

SECTIONS: tuple[tuple[str, str], ...] = (
    ("levels", "Levels and patterns"),
    ("changes", "Changes since the last assessment"),
    ("drivers", "What drove the changes"),
    ("priorities", "Priorities"),
    ("consultation", "What residents said"),
    ("delivery", "Delivery of last year's plan"),
    ("data-quality", "What the figures rest on"),
    ("recommendations", "Recommendations (drafts for the partnership to edit)"),
)
SECTION_IDS = tuple(s for s, _ in SECTIONS)
_HEADING = re.compile(r"^##\s+(?P<id>\S+)\s*$")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


class CommentaryError(ValueError):
    """A commentary file that cannot be merged: names the file, the line and what is wrong."""


@dataclass
class Commentary:
    path: Path | None
    text: bytes = b""
    sections: dict[str, str] = field(default_factory=dict)

    @property
    def written(self) -> bool:
        """Whether any section carries the partnership's words (not just the starter's headings)."""
        return any(self.sections.values())

    def html(self, section: str) -> Markup:
        """The section's commentary as paragraphs and lists (escaped), or empty."""
        return render(self.sections.get(section, ""))


def file_name(audit_year: str) -> str:
    """``2023/24`` -> ``2023-24.md`` (a slash cannot be in a file name)."""
    return str(audit_year).replace("/", "-") + ".md"


def commentary_path(partnership_dir: Path, audit_year: str) -> Path:
    return partnership_dir / "commentary" / file_name(audit_year)


def starter(name: str, code: str, audit_year: str) -> str:
    lines = [
        f"<!-- Commentary of {name} ({code}) on its {audit_year} strategic assessment.",
        "     Write under any heading below; the text is added to that section of assessment.html and",
        "     assessment.pdf at the next publish, and kept across refreshes. Leave a heading empty to add",
        "     nothing. Blank lines separate paragraphs; lines starting '- ' make a list. Keep the headings. -->",
        "",
    ]
    for section, title in SECTIONS:
        lines += [f"## {section}", f"<!-- {title} -->", ""]
    return "\n".join(lines)


def ensure_starter(partnership_dir: Path, name: str, code: str, audit_year: str) -> Path:
    """The commentary file for the year, written as a starter when there is none yet."""
    path = commentary_path(partnership_dir, audit_year)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter(name, code, audit_year), encoding="utf-8")
    return path


def read_commentary(path: Path) -> Commentary:
    """Parse a commentary file; unknown headings and text before the first heading are refused."""
    if not path.is_file():
        return Commentary(None)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommentaryError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    # comments are blanked line for line, so line numbers in errors still match the file
    text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            current = heading["id"]
            if current not in SECTION_IDS:
                raise CommentaryError(f"{path}, line {number}: unknown section '## {current}' (the sections are "
                                      f"{', '.join(SECTION_IDS)})")  # fmt: skip
            if current in sections:
                raise CommentaryError(f"{path}, line {number}: section '## {current}' appears twice")
            sections[current] = []
        elif current is None:
            if line.strip():
                raise CommentaryError(f"{path}, line {number}: text before the first section heading "
                                      f"(start with one of: {', '.join('## ' + s for s in SECTION_IDS)})")  # fmt: skip
        else:
            sections[current].append(line)
    return Commentary(path, raw, {s: "\n".join(lines).strip() for s, lines in sections.items()})


def render(text: str) -> Markup:
    """Paragraphs and ``- `` lists, escaped."""
    out: list[Markup] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith("- ") for line in lines):
            items = Markup("").join(Markup("<li>{}</li>").format(line[2:]) for line in lines)
            out.append(Markup("<ul>{}</ul>").format(items))
        else:
            out.append(Markup("<p>{}</p>").format(escape(" ".join(lines))))
    return Markup("").join(out)
