"""Running the DAG from Python (the CLI and tests) and explaining a failed run in one line."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from csp_audit.paths import dags_dir

P = ParamSpec("P")
R = TypeVar("R")


def error_file(warehouse_file: str | Path) -> Path:
    path = Path(warehouse_file)
    return path.parent / f"{path.stem}.last-error.json"


def reports_failure(step: Callable[P, R]) -> Callable[P, R]:
    """Record a failing step's cause beside the warehouse so the CLI can print it on one line.

    Airflow keeps task exceptions only in logs; the first argument named ``warehouse_file``
    tells where to write. The exception is re-raised unchanged, so Airflow still fails the task.
    """

    @functools.wraps(step)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return step(*args, **kwargs)
        except Exception as exc:
            warehouse_file = kwargs.get("warehouse_file") or next(
                (a for a in args if isinstance(a, str) and a.endswith(".duckdb")), None
            )
            if warehouse_file:
                record_failure(str(warehouse_file), step.__name__, exc)
            raise

    return wrapper


def record_failure(warehouse_file: str | Path, step: str, exc: BaseException) -> None:
    """Write a failing step's cause beside the warehouse (see :func:`reports_failure`), for steps whose
    arguments do not name the live warehouse (the publish steps read a snapshot)."""
    cause = " ".join(f"{type(exc).__name__}: {exc}".split())
    try:
        error_file(warehouse_file).write_text(
            json.dumps({"step": step, "cause": cause}) + "\n", encoding="utf-8"
        )
    except OSError:
        pass  # e.g. the disk is full: Airflow still fails the task with the exception


def load_dag(dag_id: str) -> Any:
    """Parse the project's DAG folder exactly as the scheduler's DAG processor would."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags_dir()))
    if bag.import_errors:
        file, error = next(iter(bag.import_errors.items()))
        raise RuntimeError(f"DAG import error in {file}: {error.strip().splitlines()[-1]}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise RuntimeError(f"DAG {dag_id} not found in {dags_dir()}")
    return dag


def failure_cause(dag_run: Any, warehouse_file: str | Path) -> str:
    """One line: the failed task and, when recorded, the cause that names file and rule."""
    failed = sorted(
        ti.task_id for ti in dag_run.get_task_instances() if str(ti.state) in ("failed", "upstream_failed")
    )
    recorded = error_file(warehouse_file)
    if recorded.exists():
        try:
            info = json.loads(recorded.read_text(encoding="utf-8"))
            return f"step {info['step']} failed: {info['cause']}"
        except (OSError, ValueError, KeyError):
            pass  # a cause written to a full disk may be partial: fall back to the failed tasks
    return f"DAG run {dag_run.run_id} ended {dag_run.state}; failed tasks: {', '.join(failed) or 'none'}"
