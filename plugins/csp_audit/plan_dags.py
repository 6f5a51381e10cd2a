"""DAGs generated from the data plan: one ingest DAG per dataset, and the audit build.

Each ingest DAG (``csp_audit_ingest__<dataset>``) discovers, validates and loads its dataset's
deliveries and, when something new loaded, emits the dataset's Asset. The audit build
(``csp_audit_build``) is scheduled on those Assets *or* on the plan's due days, so once a due date
passes it runs with what arrived and the arrival board flags what is missing.

Parsing reads only the plan YAML (a small local file) for dataset ids, cadences and due days;
validation against the schema, lookups and landing zones happen inside tasks.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import (
    Asset,
    AssetAny,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)

from csp_audit.audit_dag import WAREHOUSE_POOL
from csp_audit.config import safe_yaml
from csp_audit.publish_dag import audit_build_asset

PLAN_ENV = "CSP_AUDIT_PLAN"
WAREHOUSE_ENV = "CSP_AUDIT_WAREHOUSE"
INGEST_PREFIX = "csp_audit_ingest__"
BUILD_DAG_ID = "csp_audit_build"
POLICE_DATASET = "police_uk_street"


def dataset_asset(plan_name: str, dataset_id: str) -> Asset:
    return Asset(
        name=f"{plan_name}.{dataset_id}", uri=f"csp-audit://{plan_name}/{dataset_id}", group="csp-audit"
    )


def _default_args() -> dict[str, Any]:
    return {
        "retries": int(os.environ.get("CSP_AUDIT_TASK_RETRIES", "1")),
        "retry_delay": timedelta(seconds=30),
        "pool": WAREHOUSE_POOL,
    }


def _params() -> dict[str, Param]:
    return {
        "plan": Param(os.environ.get(PLAN_ENV, ""), type="string", description="Path of the data plan YAML"),
        "warehouse": Param(
            os.environ.get(WAREHOUSE_ENV, ""), type="string", description="DuckDB warehouse file"
        ),
    }


def _settings() -> dict[str, str]:
    """plan and warehouse from the run conf, else the params, else the environment."""
    context = get_current_context()
    conf = (context["dag_run"].conf or {}) if context.get("dag_run") else {}
    out = {}
    for name, env in (("plan", PLAN_ENV), ("warehouse", WAREHOUSE_ENV)):
        value = conf.get(name) or context["params"].get(name) or os.environ.get(env)
        if not value:
            raise ValueError(f"no {name}: pass it in the run conf, the DAG params or ${env}")
        out[name] = str(Path(value).expanduser().resolve())
    if conf.get("as_of"):  # judge due dates as of this day (default: today)
        out["as_of"] = str(conf["as_of"])
    return out


def _ingest_dag(plan_name: str, dataset_id: str, description: str) -> Any:
    asset = dataset_asset(plan_name, dataset_id)

    @dag(
        dag_id=f"{INGEST_PREFIX}{dataset_id}",
        schedule="@daily",
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["csp-audit", "ingest", dataset_id],
        params=_params(),
        default_args=_default_args(),
        doc_md=f"Ingest **{dataset_id}**: {description}",
    )
    def ingest() -> None:
        @task
        def resolve_settings() -> dict[str, str]:
            from csp_audit.plan import load_plan

            settings = _settings()
            load_plan(settings["plan"])  # fail fast on an invalid plan, naming the key
            return settings

        @task
        def discover(settings: dict[str, str]) -> list[dict[str, Any]]:
            if dataset_id == POLICE_DATASET:
                from csp_audit import pipeline
                from csp_audit.plan import load_plan

                region = str(load_plan(settings["plan"]).region)
                return pipeline.discover_police(region, settings["warehouse"])
            from csp_audit import plan_pipeline

            return plan_pipeline.discover_dataset(settings["plan"], settings["warehouse"], dataset_id)

        @task
        def validate(settings: dict[str, str], files: list[dict[str, Any]]) -> dict[str, Any]:
            if dataset_id == POLICE_DATASET:
                from csp_audit import pipeline
                from csp_audit.plan import load_plan

                return pipeline.validate_police(
                    str(load_plan(settings["plan"]).region), settings["warehouse"], files
                )
            from csp_audit import plan_pipeline

            return plan_pipeline.validate_dataset(settings["plan"], settings["warehouse"], dataset_id, files)

        @task(outlets=[asset])
        def load(settings: dict[str, str], files: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
            if dataset_id == POLICE_DATASET:
                from csp_audit import pipeline

                result = pipeline.load_police(settings["warehouse"], files)
            else:
                from csp_audit import plan_pipeline

                result = plan_pipeline.load_dataset(
                    settings["plan"], settings["warehouse"], dataset_id, files
                )
            context["outlet_events"][asset].extra = {k: v for k, v in result.items() if isinstance(v, int)}
            return result

        settings = resolve_settings()
        files = discover(settings)
        validated = validate(settings, files)
        validated >> load(settings, files)
        if dataset_id == POLICE_DATASET:

            @task
            def prepare_geography(settings: dict[str, str]) -> dict[str, Any]:
                """The police gate checks LSOAs against the force's area, so it needs the geography."""
                from csp_audit import pipeline
                from csp_audit.plan import load_plan

                return pipeline.prepare_geography(
                    str(load_plan(settings["plan"]).region), settings["warehouse"]
                )

            prepare_geography(settings) >> validated

    return ingest()


def _build_dag(plan_name: str, dataset_ids: list[str], due_days: list[int]) -> Any:
    days = ",".join(str(d) for d in sorted(set(due_days))) or "28"
    build_asset = audit_build_asset(plan_name)  # csp-audit://<plan name>/audit-build

    @dag(
        dag_id=BUILD_DAG_ID,
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(f"0 6 {days} * *", timezone="UTC"),
            # any dataset's new delivery triggers a build (AssetAny, not AssetAll)
            assets=AssetAny(*(dataset_asset(plan_name, d) for d in dataset_ids)),
        ),
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["csp-audit", "audit-build"],
        params=_params(),
        default_args=_default_args(),
        doc_md="Audit build: geography, dbt build of every mart, arrival board. Runs when any dataset "
        "delivers, and on each due day so missing deliveries are flagged rather than waited for.",
    )
    def build() -> None:
        @task
        def resolve_settings() -> dict[str, str]:
            return _settings()

        @task
        def prepare_geography(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit import plan_build

            return plan_build.prepare_geography(settings["plan"], settings["warehouse"])

        @task
        def dbt_build(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit import plan_build

            return plan_build.build_marts(settings["plan"], settings["warehouse"])

        @task
        def arrival_board(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit import plan_build

            return plan_build.arrival_board(settings["plan"], settings["warehouse"], settings.get("as_of"))

        @task(outlets=[build_asset])
        def feedback(settings: dict[str, str], **context: Any) -> dict[str, Any]:
            from csp_audit import plan_build

            result = plan_build.feedback(settings["plan"], settings["warehouse"])
            # the publish DAG (csp_audit_publish) is scheduled on this Asset and reads these settings
            context["outlet_events"][build_asset].extra = {
                "warehouse": settings["warehouse"],
                "plan": settings["plan"],
            }
            return result

        @task
        def target_progress(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit.plan import load_plan
            from csp_audit.targets.progress import refresh_progress

            return refresh_progress(load_plan(settings["plan"]).region, settings["warehouse"])

        settings = resolve_settings()
        built = prepare_geography(settings) >> arrival_board(settings) >> dbt_build(settings)
        built >> target_progress(settings) >> feedback(settings)

    return build()


def build_plan_dags(plan_file: str | None = None) -> dict[str, Any]:
    """Every DAG of the plan named by ``plan_file`` or ``$CSP_AUDIT_PLAN`` (none if neither is set)."""
    path = plan_file or os.environ.get(PLAN_ENV)
    if not path or not Path(path).is_file():
        return {}
    doc = safe_yaml(Path(path).read_text(encoding="utf-8")) or {}
    plan_name = str(doc.get("name", "plan"))
    datasets = doc.get("datasets") or {}
    dags: dict[str, Any] = {}
    for dataset_id, spec in sorted(datasets.items()):
        dags[f"{INGEST_PREFIX}{dataset_id}"] = _ingest_dag(
            plan_name, dataset_id, str(spec.get("description", ""))
        )
    due = [int(spec.get("due_day", 28)) for spec in datasets.values()]
    dags[BUILD_DAG_ID] = _build_dag(plan_name, sorted(datasets), due)
    return dags
