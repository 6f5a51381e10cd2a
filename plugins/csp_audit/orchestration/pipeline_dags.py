"""The DAGs of one plan (or of a region alone, as its one-dataset plan): ingest per dataset, and the build.

Each ingest DAG (``csp_audit_ingest__<dataset>``) discovers, validates and loads its dataset's deliveries
and emits the dataset's Asset. The audit build (``csp_audit_build``) is scheduled on those Assets *or*
on the plan's due days, so once a due date passes it runs with what arrived and the arrival board flags
what is missing; it emits the audit-build Asset the publish DAG waits for.

Parsing reads only the YAML (a small local file) for its name and the datasets' ids, descriptions and
due days; everything else (validation of the plan, lookups, landing zones) happens inside tasks, which
call the step functions in :mod:`csp_audit.steps` with plain paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import AssetAny, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from csp_audit.config import safe_yaml
from csp_audit.orchestration import defaults
from csp_audit.orchestration.assets import audit_build_asset, dataset_asset
from csp_audit.orchestration.settings import resolve

INGEST_PREFIX = "csp_audit_ingest__"
BUILD_DAG_ID = "csp_audit_build"
POLICE_DATASET = "police_uk_street"  # csp_audit.sources.police_uk.DATASET (not imported: parse stays light)
POLICE_DUE_DAY = 15


def plan_shape(path: str | None) -> tuple[str, dict[str, tuple[str, int]]] | None:
    """(name, {dataset: (description, due day)}) of a plan YAML, or of a region's one-dataset plan."""
    if not path or not Path(path).is_file():
        return None
    doc = safe_yaml(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        return None
    name = str(doc.get("name") or Path(path).stem)
    if "datasets" not in doc:  # a region YAML: police.uk street files only
        return name, {POLICE_DATASET: ("police.uk street-level crime for the region", POLICE_DUE_DAY)}
    datasets = doc.get("datasets") if isinstance(doc.get("datasets"), dict) else {}
    return name, {
        str(key): (str(spec.get("description", "")), int(spec.get("due_day", 28)))
        for key, spec in sorted(datasets.items())
        if isinstance(spec, dict)
    }


def _run_settings() -> dict[str, Any]:
    """Settings for ingest and build tasks (the plan is checked as it is read, naming the key)."""
    from csp_audit.plan import load_run_plan

    settings = resolve()
    load_run_plan(settings["plan"])  # fail fast on an invalid plan or region, naming the key
    return {k: settings[k] for k in ("plan", "region", "warehouse") if settings.get(k)} | (
        {"as_of": settings["as_of"]} if settings.get("as_of") else {}
    )


def _handed_on(settings: dict[str, str]) -> dict[str, str]:
    """What a DAG run on this one's Asset needs to know: the warehouse and the plan (or region)."""
    given = "region" if settings.get("region") == settings["plan"] else "plan"
    return {"warehouse": settings["warehouse"], given: settings["plan"]}


def ingest_dag(plan_name: str, dataset_id: str, description: str) -> Any:
    asset = dataset_asset(plan_name, dataset_id)

    @dag(
        dag_id=f"{INGEST_PREFIX}{dataset_id}",
        schedule="@daily",
        tags=[*defaults.TAGS, "ingest", dataset_id],
        params=defaults.params("plan", "region", "warehouse"),
        default_args=defaults.default_args(),
        doc_md=f"Ingest **{dataset_id}**: {description}",
        **defaults.dag_kwargs(),
    )
    def ingest() -> None:
        @task
        def resolve_settings() -> dict[str, str]:
            return _run_settings()

        @task
        def discover(settings: dict[str, str]) -> list[dict[str, Any]]:
            from csp_audit.steps import ingest as steps

            return steps.discover(settings["plan"], settings["warehouse"], dataset_id)

        @task
        def validate(settings: dict[str, str], files: list[dict[str, Any]]) -> dict[str, Any]:
            from csp_audit.steps import ingest as steps

            return steps.validate(settings["plan"], settings["warehouse"], dataset_id, files)

        @task(outlets=[asset])
        def load(settings: dict[str, str], files: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
            from csp_audit.steps import ingest as steps

            result = steps.load(settings["plan"], settings["warehouse"], dataset_id, files)
            # the build runs on this Asset without a conf: it reads what was loaded, and where, from here
            context["outlet_events"][asset].extra = _handed_on(settings) | {
                k: v for k, v in result.items() if isinstance(v, int)
            }
            return result

        settings = resolve_settings()
        files = discover(settings)
        validate(settings, files) >> load(settings, files)

    return ingest()


def build_dag(plan_name: str, dataset_ids: list[str], due_days: list[int]) -> Any:
    days = ",".join(str(d) for d in sorted(set(due_days))) or "28"
    build_asset = audit_build_asset(plan_name)

    @dag(
        dag_id=BUILD_DAG_ID,
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(f"0 6 {days} * *", timezone="UTC"),
            # any dataset's new delivery triggers a build (AssetAny, not AssetAll)
            assets=AssetAny(*(dataset_asset(plan_name, d) for d in dataset_ids)),
        ),
        tags=[*defaults.TAGS, "audit-build"],
        params=defaults.params("plan", "region", "warehouse"),
        default_args=defaults.default_args(),
        doc_md="Audit build: geography, arrival board, dbt build of every mart with the harmonised-fact "
        "gate, target progress, feedback to agencies. Runs when any dataset delivers, and on each due day "
        "so missing deliveries are flagged rather than waited for.",
        **defaults.dag_kwargs(),
    )
    def build() -> None:
        @task
        def resolve_settings() -> dict[str, str]:
            return _run_settings()

        @task
        def prepare_geography(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit.steps import build as steps

            return steps.prepare_geography(settings["plan"], settings["warehouse"])

        @task
        def arrival_board(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit.steps import build as steps

            return steps.arrival_board(settings["plan"], settings["warehouse"], settings.get("as_of"))

        @task
        def dbt_build(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit.steps import build as steps

            return steps.build_marts(settings["plan"], settings["warehouse"])

        @task
        def target_progress(settings: dict[str, str]) -> dict[str, Any]:
            from csp_audit.steps import build as steps

            return steps.target_progress(settings["plan"], settings["warehouse"])

        @task(outlets=[build_asset])
        def summarise(settings: dict[str, str], **context: Any) -> dict[str, Any]:
            from csp_audit.steps import build as steps

            result = steps.summarise(settings["plan"], settings["warehouse"])
            # the publish DAG (csp_audit_publish) is scheduled on this Asset and reads these settings
            context["outlet_events"][build_asset].extra = _handed_on(settings)
            return result

        settings = resolve_settings()
        built = prepare_geography(settings) >> arrival_board(settings) >> dbt_build(settings)
        built >> target_progress(settings) >> summarise(settings)

    return build()


def pipeline_dags(path: str | None) -> dict[str, Any]:
    """Every ingest DAG and the build of the plan (or region) at ``path``; none without one."""
    shape = plan_shape(path)
    if shape is None:
        return {}
    name, datasets = shape
    dags: dict[str, Any] = {
        f"{INGEST_PREFIX}{dataset_id}": ingest_dag(name, dataset_id, description)
        for dataset_id, (description, _) in datasets.items()
    }
    dags[BUILD_DAG_ID] = build_dag(name, sorted(datasets), [due for _, due in datasets.values()])
    return dags
