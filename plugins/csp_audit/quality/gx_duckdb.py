"""Great Expectations' SQL path on DuckDB: two fixes, and a scratch database to validate in.

GX 1.24 validates DuckDB through SQLAlchemy (duckdb-engine), but as shipped nearly every
expectation fails with ``MetricResolutionError: list index out of range`` (GX issues #10738,
#11579). Two causes, both fixed here at run time and only for DuckDB engines:

1. ``SqlAlchemyExecutionEngine.execute_query`` returns its ``CursorResult`` after the connection's
   ``with`` block has closed it; duckdb-engine drops the pending rows then, so ``fetchall()`` is
   empty. The rows are buffered (``CursorResult.freeze()``) while the connection is open.
2. GX finds no dialect module for ``duckdb``, so regex expectations raise "Regex is not supported".
   duckdb-engine's dialect derives from the PostgreSQL one, and DuckDB evaluates PostgreSQL's
   ``col ~ 'regex'``, so the PostgreSQL module is used.

This is the project's only way of running Great Expectations: every delivery batch and the
harmonised fact are tables in a scratch DuckDB file, validated in SQL. (On GX's pandas path the
metrics are computed in Python, about 10 s per million rows for the police suite; in DuckDB the same
suite takes about a second per million rows.)
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_patched = False
_lock = threading.Lock()


def enable() -> None:
    """Apply the two fixes (idempotent). Non-DuckDB engines are left exactly as GX ships them."""
    global _patched
    with _lock:
        if _patched:
            return
        import sqlalchemy.dialects.postgresql as postgresql
        from great_expectations.execution_engine import sqlalchemy_execution_engine as module

        engine_class = module.SqlAlchemyExecutionEngine
        original_init = engine_class.__init__
        original_execute = engine_class.execute_query

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            if _is_duckdb(self):
                self.dialect_module = postgresql

        def execute_query(self: Any, query: Any) -> Any:
            if not _is_duckdb(self):
                return original_execute(self, query)
            with self.get_connection() as connection:
                result = self._execute_query_with_recovery(connection, query)
                if getattr(result, "returns_rows", False):
                    return result.freeze()()
                return result

        engine_class.__init__ = __init__
        engine_class.execute_query = execute_query
        _patched = True


def _is_duckdb(engine: Any) -> bool:
    sa_engine = getattr(engine, "engine", None)
    return getattr(getattr(sa_engine, "dialect", None), "name", "") == "duckdb"


@contextmanager
def scratch(folder: Path) -> Iterator[Scratch]:
    """A throwaway DuckDB file (beside the warehouse, never the warehouse itself: one writer per
    file) and an ephemeral GX context with a SQL data source on it; removed afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gate-{os.getpid()}-{uuid.uuid4().hex[:8]}.duckdb"
    box = Scratch(path)
    try:
        yield box
    finally:
        box.close()
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)


class Scratch:
    """Tables of batches to validate, each exposed to GX as a table asset."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx

        enable()
        self.path = path
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        self.source = self.context.data_sources.add_sql(name="gate", connection_string=f"duckdb:///{path}")
        self._count = 0

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """The DuckDB connection under GX's engine, to build tables with plain SQL."""
        raw = self.source.get_engine().raw_connection()
        try:
            yield raw.driver_connection
        finally:
            raw.close()

    def new_table(self) -> str:
        self._count += 1
        return f"batch_{self._count}"

    def validate_table(
        self, table: str, suite: Any, parameters: dict[str, Any], index_columns: list[str]
    ) -> Any:
        """Validate the suite on a table of the scratch database, in DuckDB."""
        from csp_audit.quality.findings import result_format

        asset = self.source.add_table_asset(name=table, table_name=table)
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        return batch.validate(
            suite, expectation_parameters=parameters, result_format=result_format(index_columns)
        )

    def close(self) -> None:
        try:
            self.source.get_engine().dispose()
        except Exception:  # noqa: BLE001 - closing a throwaway database must not mask the real error
            pass
