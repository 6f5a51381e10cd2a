"""The publish DAG: after every audit build, the analyst snapshot and docs, each partnership's pack,
its outbox delivery and the notices.

``csp_audit_publish`` is scheduled on the audit build's Asset ``csp-audit://<name>/audit-build``,
where ``<name>`` is the data plan's ``name`` (emitted by ``csp_audit_build``) or the region's
``name`` (emitted by ``csp_audit_police``): the build DAGs declare :func:`audit_build_asset` as an
outlet of their last task. Parsing reads only the plan and region YAML named by ``$CSP_AUDIT_PLAN``
and ``$CSP_AUDIT_REGION`` for their names; without either the DAG exists unscheduled (trigger it
with a conf). Tasks call the plain functions of :mod:`csp_audit.packs.publish`.

Settings come from the run's conf, else the triggering asset event's ``extra`` (the build may put
``warehouse``, ``plan`` or ``region`` there), else the DAG params, else the environment
(``CSP_AUDIT_WAREHOUSE``, ``CSP_AUDIT_PLAN``, ``CSP_AUDIT_REGION``, ``CSP_AUDIT_PUBLISH_ROOT``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from airflow.sdk import Asset, AssetAny, Param, dag, get_current_context, task

from csp_audit.airflow_env import POOL as WAREHOUSE_POOL
from csp_audit.config import safe_yaml

PUBLISH_DAG_ID = "csp_audit_publish"
# WAREHOUSE_POOL is audit_dag.WAREHOUSE_POOL ("duckdb_warehouse"), imported from airflow_env so that audit_dag can
# import this module for its outlet without an import cycle
PLAN_ENV = "CSP_AUDIT_PLAN"
REGION_ENV = "CSP_AUDIT_REGION"
WAREHOUSE_ENV = "CSP_AUDIT_WAREHOUSE"
PUBLISH_ROOT_ENV = "CSP_AUDIT_PUBLISH_ROOT"


def audit_build_asset(name: str) -> Asset:
    """The Asset an audit build emits when its marts are rebuilt: ``csp-audit://<name>/audit-build``."""
    return Asset(name=f"{name}.audit-build", uri=f"csp-audit://{name}/audit-build", group="csp-audit")


def _yaml_name(path: str | None) -> str | None:
    """The ``name`` of a plan or region YAML (a small local file), or None when unreadable."""
    if not path or not Path(path).is_file():
        return None
    try:
        doc = safe_yaml(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return None
    name = doc.get("name") if isinstance(doc, dict) else None
    return str(name) if name else None


def plan_build_outlets(plan_name: str) -> list[Asset]:
    """Outlets for the last task of ``csp_audit_build`` (the plan's name is known at parse time)."""
    return [audit_build_asset(plan_name)]


def police_build_outlets(region_file: str | None = None) -> list[Asset]:
    """Outlets for ``csp_audit_police``'s summarise task: the region named by ``$CSP_AUDIT_REGION``."""
    name = _yaml_name(region_file or os.environ.get(REGION_ENV))
    return [audit_build_asset(name)] if name else []


def build_assets() -> list[Asset]:
    """The audit-build Assets the publish DAG waits for (plan and/or region from the environment)."""
    names = [_yaml_name(os.environ.get(PLAN_ENV)), _yaml_name(os.environ.get(REGION_ENV))]
    return [audit_build_asset(n) for n in dict.fromkeys(n for n in names if n)]


def _settings() -> dict[str, str | None]:
    context = get_current_context()
    conf = (context["dag_run"].conf or {}) if context.get("dag_run") else {}
    extra: dict[str, Any] = {}
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            extra |= {k: v for k, v in (getattr(event, "extra", None) or {}).items() if isinstance(v, str)}
    params = context.get("params") or {}

    def pick(name: str, env: str) -> str | None:
        value = conf.get(name) or extra.get(name) or params.get(name) or os.environ.get(env)
        return str(Path(value).expanduser().resolve()) if value else None

    settings = {
        "warehouse": pick("warehouse", WAREHOUSE_ENV),
        "plan": pick("plan", PLAN_ENV),
        "region": pick("region", REGION_ENV),
        "out_root": pick("out_root", PUBLISH_ROOT_ENV),
        "refresh_label": conf.get("refresh_label") or None,
    }
    if not settings["warehouse"]:
        raise ValueError(f"no warehouse: pass it in the run conf, the DAG params or ${WAREHOUSE_ENV}")
    if not settings["out_root"]:
        settings["out_root"] = str(Path(settings["warehouse"]).parent / "publish")
    if not settings["refresh_label"]:
        run = context.get("dag_run")
        when = getattr(run, "logical_date", None) or getattr(run, "run_after", None) or datetime.now()
        settings["refresh_label"] = when.strftime("%Y-%m-%dT%H:%MZ")
    return settings


def build_publish_dag(dag_id: str = PUBLISH_DAG_ID) -> Any:
    assets = build_assets()
    schedule: Any = AssetAny(*assets) if len(assets) > 1 else (assets[0] if assets else None)

    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["csp-audit", "publish"],
        params={
            "warehouse": Param(
                os.environ.get(WAREHOUSE_ENV, ""), type="string", description="DuckDB warehouse"
            ),
            "plan": Param(
                os.environ.get(PLAN_ENV, ""), type="string", description="Data plan YAML (optional)"
            ),
            "region": Param(
                os.environ.get(REGION_ENV, ""), type="string", description="Region YAML (optional)"
            ),
            "out_root": Param(
                os.environ.get(PUBLISH_ROOT_ENV, ""), type="string", description="Publish root"
            ),
        },
        default_args={
            "retries": int(os.environ.get("CSP_AUDIT_TASK_RETRIES", "1")),
            "retry_delay": timedelta(seconds=30),
        },
        doc_md=__doc__,
    )
    def publish() -> None:
        @task
        def resolve_settings() -> dict[str, str | None]:
            return _settings()

        @task(pool=WAREHOUSE_POOL)
        def analyst_snapshot(settings: dict[str, str]) -> dict[str, str]:
            """The only task that opens the live warehouse (read-only), so it queues with the writers."""
            from csp_audit.packs import publish as p

            return p.analyst_snapshot(settings["warehouse"], settings["out_root"])

        @task
        def dbt_docs(settings: dict[str, str], snapshot: dict[str, str]) -> dict[str, str]:
            from csp_audit.packs import publish as p

            return p.analyst_docs(
                snapshot["snapshot"], settings["out_root"], settings["plan"], settings["region"]
            )

        @task
        def build_packs(settings: dict[str, str], snapshot: dict[str, str]) -> list[dict[str, Any]]:
            from csp_audit.packs import publish as p

            return p.build_and_release(
                snapshot["snapshot"], settings["out_root"], settings["plan"], settings["refresh_label"]
            )

        @task
        def deliver(settings: dict[str, str], releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
            from csp_audit.packs import publish as p

            return p.deliver(releases, settings["out_root"])

        @task
        def notify(
            settings: dict[str, str], releases: list[dict[str, Any]], deliveries: list[dict[str, Any]]
        ) -> list[dict[str, Any]]:
            from csp_audit.packs import publish as p

            return p.notify(releases, deliveries, settings["plan"], settings["region"], get_current_context())

        settings = resolve_settings()
        snapshot = analyst_snapshot(settings)
        dbt_docs(settings, snapshot)
        releases = build_packs(settings, snapshot)
        notify(settings, releases, deliver(settings, releases))

    return publish()
