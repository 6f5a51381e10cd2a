"""One identity per delivery, whatever its path, name or timestamp (issue 19).

police.uk files are identified by force and month; which delivery counts is decided by the order
the ingests saw them arrive, never by file modification times. Each case below failed before: a
CRLF re-export at a second path counted its rows twice, a corrected file with an older timestamp
was ignored, an A -> B -> A restore kept B, a deleted file's rows stayed in the marts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli
from csp_audit_demo.region import generate_demo_region

OLD = (946684800, 946684800)  # 2000-01-01: a timestamp older than any delivery


def _run(region: Path, warehouse: Path) -> dict[str, tuple[int, int]]:
    proc = run_cli("run", "--region", str(region / "region.yaml"), "--warehouse", str(warehouse))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select source_file, rows_read, rows_counted from audit.reconciliation").fetchall()
    return {f: (read, counted) for f, read, counted in rows}


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("identity")
    generate_demo_region(out, months=2, scale=0.2)
    return out


def test_re_exports_corrections_restores_and_removals_count_once(region: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    police = region / "police"
    first_month, second_month = sorted(p.name for p in police.iterdir() if p.is_dir())
    a_file = sorted((police / first_month).glob("*-street.csv"))[0]
    b_file = sorted((police / second_month).glob("*-street.csv"))[0]
    gone = sorted((police / first_month).glob("*-street.csv"))[1]
    a_key, b_key, gone_key = (p.relative_to(police).as_posix() for p in (a_file, b_file, gone))
    original_b = b_file.read_bytes()

    before = _run(region, warehouse)
    assert {a_key, b_key, gone_key} <= set(before)

    # a CRLF re-export of the same force-month at a second path, and a correction written in place
    # with an older timestamp than the file it corrects
    copy = police / "re-export" / a_file.name
    copy.parent.mkdir()
    copy.write_bytes(a_file.read_bytes().replace(b"\n", b"\r\n"))
    lines = original_b.decode().splitlines(keepends=True)
    corrected = "".join(lines[: 1 + (len(lines) - 1) // 2])
    b_file.write_text(corrected)
    os.utime(b_file, OLD)
    second = _run(region, warehouse)
    force_month = [f for f in second if f.endswith(a_file.name)]
    assert len(force_month) == 1, f"the force-month counts from one delivery, not {force_month}"
    # (rows counted can move by the few Crime IDs that reappear between the two months: B changed)
    assert second[force_month[0]][0] == before[a_key][0]
    assert second[b_key][0] == corrected.count("\n") - 1, "the correction counts, whatever its timestamp"
    assert sum(c for _, c in second.values()) < sum(c for _, c in before.values())

    # the copy removed, the correction undone (A -> B -> A), another file taken away
    shutil.rmtree(copy.parent)
    b_file.write_bytes(original_b)
    os.utime(b_file, OLD)
    gone.unlink()
    third = _run(region, warehouse)
    assert third[a_key] == before[a_key]
    assert third[b_key] == before[b_key], "A -> B -> A ends with A"
    assert gone_key not in third, "a removed file's rows leave the marts"
    assert set(third) == set(before) - {gone_key}
