"""Build on a copy of the warehouse; swap it in only when the whole build and its tests passed.

``dbt build`` replaces a model and then runs its tests, so a failing test (or a kill, or the fact
gate refusing) would leave some marts new and some old. DuckDB 2.0 can neither move a table to
another schema nor rename a schema, so the unit of the swap is the file: the build works on
``<warehouse>.building.duckdb`` and ``os.replace`` puts it in place in one atomic step. Until then
analysts, the publish chain and a rerun see the last good warehouse whole. A failed build is kept as
``<warehouse>.failed-build.duckdb`` for the engineer to inspect (the next failure replaces it).

The build task holds the one-slot ``duckdb_warehouse`` pool, so no other writer runs meanwhile; if
the live file changed all the same, the swap is refused rather than losing that write.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from csp_audit.progress import progress


class WarehouseChangedDuringBuild(RuntimeError):
    """Something wrote to the live warehouse while the build ran on its copy."""


def building_file(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.stem}.building{warehouse.suffix}")


def failed_build_file(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.stem}.failed-build{warehouse.suffix}")


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove(path: Path) -> None:
    for leftover in (path, _wal(path)):
        leftover.unlink(missing_ok=True)


def _checkpoint(path: Path) -> None:
    """Fold the write-ahead log into the file, so the file alone is the whole database."""
    with duckdb.connect(str(path)) as con:
        con.execute("checkpoint")


def _signature(path: Path) -> tuple[int, int, bool]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, _wal(path).exists()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def building_copy(warehouse: Path) -> Iterator[Path]:
    """Yield a copy of ``warehouse`` to build on; on success it replaces the warehouse atomically."""
    work, failed = building_file(warehouse), failed_build_file(warehouse)
    _checkpoint(warehouse)
    before = _signature(warehouse)
    _remove(work)  # a killed earlier build leaves its copy behind
    shutil.copyfile(warehouse, work)
    try:
        yield work
        _checkpoint(work)
    except BaseException:
        _remove(failed)
        if work.exists():
            os.replace(work, failed)
            if _wal(work).exists():
                os.replace(_wal(work), _wal(failed))
        progress(f"build failed: {warehouse} is left as it was; the failed build is kept at {failed}")
        raise
    if _signature(warehouse) != before:
        _remove(work)
        raise WarehouseChangedDuringBuild(
            f"{warehouse} was written to while the marts were built on a copy; the build was discarded "
            "and the warehouse left as it is: rerun the build"
        )
    _fsync(work)
    os.replace(work, warehouse)
    _fsync(warehouse.parent)
