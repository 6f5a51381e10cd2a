"""The publish DAG: after every audit build, the analyst snapshot and docs, each partnership's pack,
its outbox delivery and the notices.

``csp_audit_publish`` is scheduled on the audit build's Asset ``csp-audit://<name>/audit-build``, where
``<name>`` is the name of the plan (or region) the DAG folder is built from; without one the DAG exists
unscheduled (trigger it with a conf). Settings come from the one resolver
(:mod:`csp_audit.orchestration.settings`): the build puts ``warehouse`` and the plan or region in the
Asset event's ``extra``. Tasks call the plain functions of :mod:`csp_audit.steps.publish`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, get_current_context, task

from csp_audit.orchestration import defaults
from csp_audit.orchestration.assets import audit_build_asset
from csp_audit.orchestration.pipeline_dags import plan_shape
from csp_audit.orchestration.settings import resolve

PUBLISH_DAG_ID = "csp_audit_publish"


def publish_dag(path: str | None) -> Any:
    shape = plan_shape(path)
    schedule = audit_build_asset(shape[0]) if shape else None

    @dag(
        dag_id=PUBLISH_DAG_ID,
        schedule=schedule,
        tags=[*defaults.TAGS, "publish"],
        params=defaults.params("warehouse", "plan", "region", "out_root"),
        default_args=defaults.default_args(pool=False),
        doc_md=__doc__,
        **defaults.dag_kwargs(),
    )
    def publish() -> None:
        @task
        def resolve_settings() -> dict[str, str | None]:
            settings = resolve(need_plan=False)
            if settings["region"]:  # a region alone: no plan (its sharing terms are the defaults)
                settings["plan"] = None
            keys = ("warehouse", "plan", "region", "out_root", "refresh_label")
            return {k: settings.get(k) for k in keys}

        @task(pool=defaults.POOL)
        def analyst_snapshot(settings: dict[str, str]) -> dict[str, str]:
            """The only task that opens the live warehouse (read-only), so it queues with the writers."""
            from csp_audit.steps import publish as p

            return p.analyst_snapshot(settings["warehouse"], settings["out_root"])

        @task
        def dbt_docs(settings: dict[str, str], snapshot: dict[str, str]) -> dict[str, str]:
            from csp_audit.steps import publish as p

            return p.analyst_docs(
                snapshot["snapshot"], settings["out_root"], settings["plan"], settings["region"]
            )

        @task
        def build_packs(settings: dict[str, str], snapshot: dict[str, str]) -> list[dict[str, Any]]:
            from csp_audit.orchestration.runs import record_failure
            from csp_audit.steps import publish as p

            try:
                return p.build_and_release(
                    snapshot["snapshot"],
                    settings["out_root"],
                    settings["plan"],
                    settings["refresh_label"],
                    region_file=settings["region"],
                )
            except Exception as exc:  # e.g. a broken boundary file: `csp-audit publish` prints its cause
                record_failure(settings["warehouse"], "build_packs", exc)
                raise

        @task
        def deliver(settings: dict[str, str], releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
            from csp_audit.steps import publish as p

            return p.deliver(releases, settings["out_root"])

        @task
        def notify(
            settings: dict[str, str], releases: list[dict[str, Any]], deliveries: list[dict[str, Any]]
        ) -> list[dict[str, Any]]:
            from csp_audit.steps import publish as p

            return p.notify(releases, deliveries, settings["plan"], settings["region"], get_current_context())

        settings = resolve_settings()
        snapshot = analyst_snapshot(settings)
        dbt_docs(settings, snapshot)
        releases = build_packs(settings, snapshot)
        notify(settings, releases, deliver(settings, releases))

    return publish()
