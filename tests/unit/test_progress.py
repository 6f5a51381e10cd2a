"""Progress bars: redrawn in place on a terminal, a few plain lines anywhere else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from csp_audit import progress as prog


@pytest.fixture
def console_file(tmp_path: Path):
    with open(tmp_path / "console.txt", "w+", encoding="utf-8") as console:
        prog.set_console(console, console)
        try:
            yield console
        finally:
            prog.set_console(None)


def test_a_bar_off_a_terminal_writes_a_line_per_quarter_not_per_item(console_file, capsys) -> None:
    with prog.Bar("validate fire", 200, "deliveries") as bar:
        for i in range(200):
            bar.advance(1, f"file-{i}.csv")
        bar.close()
    console_file.seek(0)
    lines = console_file.read().splitlines()
    assert lines == [
        "[csp-audit] validate fire: 50/200 deliveries  file-49.csv",
        "[csp-audit] validate fire: 100/200 deliveries  file-99.csv",
        "[csp-audit] validate fire: 150/200 deliveries  file-149.csv",
        "[csp-audit] validate fire: 200/200 deliveries",
    ]
    assert "\r" not in "".join(lines)
    assert capsys.readouterr().out.splitlines() == lines  # the run log gets the same lines


def _drain(leader: int) -> str:
    """Everything written to the pty: read until the closed follower side ends it (one read may
    return part of it)."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the follower is closed and everything has been read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_bar_on_a_terminal_redraws_one_line(capsys) -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w", encoding="utf-8") as tty:
        prog.set_console(tty, tty)
        try:
            with prog.Bar("publish", 3, "packs") as bar:
                for code in ("E1", "E2", "E3"):
                    bar.advance(1, code)
                bar.close("publish: 3 packs")
        finally:
            prog.set_console(None)
        tty.flush()
    shown = _drain(leader)
    assert shown.count("\r[csp-audit] publish [") == 3
    assert "[########################] 3/3 E3" in shown
    assert shown.rstrip().endswith("[csp-audit] publish: 3 packs")
    assert capsys.readouterr().out.splitlines() == [
        "[csp-audit] publish: 1/3 packs  E1",
        "[csp-audit] publish: 2/3 packs  E2",
        "[csp-audit] publish: 3 packs",
    ]


def test_the_dbt_node_line_is_read_and_other_lines_are_not() -> None:
    from csp_audit.warehouse.dbt_runner import _NODE_LINE

    match = _NODE_LINE.match("10:01:02  12 of 140 OK created sql table model audit.hotspots ... [OK in 0.2s]")
    assert match is not None and match.groups() == ("12", "140", "OK")
    assert _NODE_LINE.match("10:01:02  Found 140 models, 300 data tests") is None
    assert _NODE_LINE.match("10:01:02  Finished running 40 table models in 0 hours") is None
