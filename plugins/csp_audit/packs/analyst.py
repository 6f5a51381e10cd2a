"""The read-only analyst build: a snapshot of the warehouse and the dbt docs site, after every build.

Analysts query ``<publish root>/analyst/warehouse-<UTC timestamp>.duckdb`` instead of the pipeline's
warehouse, so a long query never holds the file the pipeline writes (DuckDB allows one writer and
blocks it while another process has the file open). The snapshot is made with DuckDB's
``COPY FROM DATABASE`` from a read-only connection (a consistent copy: what was committed), written
under a temporary name, made read-only (mode 0444) and renamed; ``analyst/latest`` names the newest.
Open it with ``duckdb -readonly <file>`` (a read-only file cannot be opened for writing anyway).
Older snapshots beyond ``keep`` are removed.

The dbt docs site (``dbt docs generate --static``: one self-contained ``index.html``) is generated
against a temporary writable copy of the snapshot (dbt-duckdb opens its database for writing), with
the project and profiles directories and variables the pipeline uses, into ``analyst/dbt-docs/``.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

ANALYST = "analyst"
LATEST = "latest"


class AnalystBuildError(RuntimeError):
    """The snapshot or the docs site could not be made."""


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def snapshot_warehouse(
    warehouse_file: str | Path, out_root: str | Path, *, stamp: str | None = None, keep: int = 5
) -> Path:
    """Copy the warehouse to ``analyst/warehouse-<stamp>.duckdb`` (read-only) and point ``latest`` at it."""
    source = Path(warehouse_file).resolve()
    folder = Path(out_root) / ANALYST
    folder.mkdir(parents=True, exist_ok=True)
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"warehouse-{stamp}.duckdb"
    n = 1
    while target.exists():  # snapshots are never overwritten: two in the same second get a suffix
        n += 1
        target = folder / f"warehouse-{stamp}-{n}.duckdb"
    stamp = target.stem.removeprefix("warehouse-")
    temp = folder / f".warehouse-{stamp}.partial.duckdb"
    for leftover in (temp, temp.with_name(temp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        with duckdb.connect() as con:  # in memory: the warehouse read-only, the snapshot read-write
            con.execute(f"attach '{_quote(source)}' as pipeline_warehouse (read_only)")
            con.execute(f"attach '{_quote(temp)}' as analyst_snapshot")
            con.execute("copy from database pipeline_warehouse to analyst_snapshot")
            con.execute("detach analyst_snapshot")
            con.execute("detach pipeline_warehouse")
    except duckdb.Error as exc:
        temp.unlink(missing_ok=True)
        raise AnalystBuildError(f"could not snapshot {source}: {exc}") from exc
    temp.with_name(temp.name + ".wal").unlink(missing_ok=True)
    os.chmod(temp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.rename(temp, target)
    pointer = folder / f".{LATEST}.tmp"
    pointer.write_text(target.name + "\n", encoding="utf-8")
    os.replace(pointer, folder / LATEST)
    _prune(folder, keep)
    return target


def _prune(folder: Path, keep: int) -> None:
    snapshots = sorted(folder.glob("warehouse-*.duckdb"), key=lambda p: (p.stat().st_mtime, p.name))
    for old in snapshots[: max(0, len(snapshots) - keep)]:
        old.unlink()


def latest_snapshot(out_root: str | Path) -> Path | None:
    pointer = Path(out_root) / ANALYST / LATEST
    if not pointer.exists():
        return None
    return pointer.parent / pointer.read_text(encoding="utf-8").strip()


def dbt_docs(snapshot: str | Path, out_root: str | Path, variables: dict[str, Any]) -> Path:
    """``dbt docs generate --static`` against a writable copy of ``snapshot``; the site goes to analyst/dbt-docs/."""
    from csp_audit.warehouse.dbt_runner import run_dbt

    out = Path(out_root) / ANALYST / "dbt-docs"
    with tempfile.TemporaryDirectory(prefix="csp-audit-docs-", dir=Path(out_root) / ANALYST) as work:
        copy = Path(work) / "warehouse.duckdb"
        shutil.copyfile(snapshot, copy)
        os.chmod(copy, 0o644)
        target = Path(work) / "target"
        proc = run_dbt(["docs", "generate", "--static"], copy, variables, target)
        site = target / "static_index.html"
        if proc.returncode != 0 or not site.exists():
            tail = " ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            raise AnalystBuildError(f"dbt docs generate failed (exit {proc.returncode}): {tail[:600]}")
        staging = out.with_name(".dbt-docs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        shutil.copyfile(site, staging / "index.html")
        for name in ("manifest.json", "catalog.json"):
            if (target / name).exists():
                shutil.copyfile(target / name, staging / name)
        shutil.rmtree(out, ignore_errors=True)
        os.rename(staging, out)
    return out / "index.html"
