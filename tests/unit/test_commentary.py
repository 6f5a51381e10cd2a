"""The officer's commentary file: parsed by section, refused with file and line when it cannot be merged."""

from __future__ import annotations

from pathlib import Path

import pytest
from csp_audit.packs.commentary import (
    SECTION_IDS,
    CommentaryError,
    ensure_starter,
    read_commentary,
    render,
)


def test_the_starter_has_every_section_and_merges_to_nothing(tmp_path: Path) -> None:
    path = ensure_starter(tmp_path, "Vale", "E22990001", "2023/24")
    assert path == tmp_path / "commentary" / "2023-24.md"
    commentary = read_commentary(path)
    assert set(commentary.sections) == set(SECTION_IDS)
    assert not commentary.written  # the guidance is in comments: nothing to print
    path.write_text(path.read_text() + "Our own words.\n", encoding="utf-8")
    assert ensure_starter(tmp_path, "Vale", "E22990001", "2023/24").read_text().endswith("Our own words.\n")


def test_sections_paragraphs_and_lists(tmp_path: Path) -> None:
    path = tmp_path / "c.md"
    path.write_text("<!-- guidance\nover lines -->\n## changes\nFirst line\nsame paragraph.\n\n- one\n- two\n"
                    "## recommendations\n<script>x</script>\n", encoding="utf-8")  # fmt: skip
    commentary = read_commentary(path)
    assert commentary.written
    assert commentary.html("changes") == "<p>First line same paragraph.</p><ul><li>one</li><li>two</li></ul>"
    assert commentary.html("recommendations") == "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    assert commentary.html("levels") == ""
    assert render("") == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("## levels\nok\n\n## hotspots\nno\n", "line 4: unknown section '## hotspots'"),
        ("Before any heading\n## levels\n", "line 1: text before the first section heading"),
        ("## levels\na\n## levels\nb\n", "line 3: section '## levels' appears twice"),
        ("<!-- a\nb -->\n## nonsense\n", "line 3: unknown section"),
    ],
)
def test_a_file_that_cannot_be_merged_is_refused_with_its_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "2023-24.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CommentaryError, match=message) as caught:
        read_commentary(path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "2023-24.md"
    path.write_bytes(b"## levels\n\xff\xfe bad\n")
    with pytest.raises(CommentaryError, match="not UTF-8"):
        read_commentary(path)
