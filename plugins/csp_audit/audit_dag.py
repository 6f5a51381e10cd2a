"""The police.uk audit DAG: geography, discover, validate, load, dbt build, summarise.

DAG files call :func:`build_police_audit_dag`; it does no I/O, so parsing stays fast. The region
file and warehouse come from the run's conf, else the DAG params, else the environment
(``CSP_AUDIT_REGION``, ``CSP_AUDIT_WAREHOUSE``), and are resolved inside the first task.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

DAG_ID = "csp_audit_police"
# Every task writes the one DuckDB file; a one-slot pool of this name serialises them when
# several DAG runs or workers exist (created by `csp-audit` and the compose stack).
WAREHOUSE_POOL = "duckdb_warehouse"


def _setting(name: str, env: str) -> str:
    context = get_current_context()
    conf = (context["dag_run"].conf or {}) if context.get("dag_run") else {}
    value = conf.get(name) or context["params"].get(name) or os.environ.get(env)
    if not value:
        raise ValueError(f"no {name}: pass it in the run conf, the DAG params or ${env}")
    return str(Path(value).expanduser().resolve())


def build_police_audit_dag(dag_id: str = DAG_ID, schedule: str | None = "@monthly") -> Any:
    """Build the DAG. police.uk publishes monthly, so the default schedule is monthly."""
    from csp_audit.publish_dag import police_build_outlets

    # csp-audit://<region name>/audit-build for the region named by $CSP_AUDIT_REGION (none without it)
    build_assets = police_build_outlets()

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["csp-audit", "police.uk"],
        params={
            "region": Param(
                os.environ.get("CSP_AUDIT_REGION", ""), type="string", description="Path of the region YAML"
            ),
            "warehouse": Param(
                os.environ.get("CSP_AUDIT_WAREHOUSE", ""),
                type="string",
                description="Path of the DuckDB warehouse file",
            ),
        },  # fmt: skip
        # Tasks are idempotent, so a retry is safe; the CLI sets CSP_AUDIT_TASK_RETRIES=0 so a
        # deterministic failure surfaces at once instead of after the retry delay.
        default_args={
            "retries": int(os.environ.get("CSP_AUDIT_TASK_RETRIES", "1")),
            "retry_delay": timedelta(seconds=30),
            "pool": WAREHOUSE_POOL,
        },
        doc_md=__doc__,
    )
    def police_audit() -> None:
        @task
        def resolve_settings() -> dict[str, str]:
            from csp_audit.config import load_region

            settings = {"region": _setting("region", "CSP_AUDIT_REGION"),
                        "warehouse": _setting("warehouse", "CSP_AUDIT_WAREHOUSE")}  # fmt: skip
            load_region(settings["region"])  # fail fast, naming the key, before any work
            return settings

        @task
        def prepare_geography(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit import pipeline

            return pipeline.prepare_geography(settings["region"], settings["warehouse"])

        @task
        def discover(settings: dict[str, str]) -> list[dict[str, Any]]:
            from csp_audit import pipeline

            return pipeline.discover_police(settings["region"], settings["warehouse"])

        @task
        def validate(settings: dict[str, str], files: list[dict[str, Any]]) -> dict[str, Any]:
            from csp_audit import pipeline

            return pipeline.validate_police(settings["region"], settings["warehouse"], files)

        @task
        def load(settings: dict[str, str], files: list[dict[str, Any]]) -> dict[str, Any]:
            from csp_audit import pipeline

            return pipeline.load_police(settings["warehouse"], files)

        @task
        def dbt_build(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit import pipeline

            return pipeline.build_marts(settings["region"], settings["warehouse"])

        @task(outlets=build_assets)
        def summarise(
            settings: dict[str, str], files: list[dict[str, Any]], **context: Any
        ) -> dict[str, Any]:
            from csp_audit import pipeline

            result = pipeline.summarise(settings["region"], settings["warehouse"], files)
            for asset in build_assets:  # the publish DAG (csp_audit_publish) is scheduled on it
                context["outlet_events"][asset].extra = {
                    "warehouse": settings["warehouse"],
                    "region": settings["region"],
                }
            return result

        settings = resolve_settings()
        files = discover(settings)
        geo = prepare_geography(settings)
        checked = validate(settings, files)
        loaded = load(settings, files)
        built = dbt_build(settings)
        geo >> checked >> loaded >> built >> summarise(settings, files)

    return police_audit()
