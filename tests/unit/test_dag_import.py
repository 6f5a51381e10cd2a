"""The DAG folder: what it yields for a region alone, a plan, or nothing; imports clean and light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli_env

DAGS = REPO / "dags"
POLICE_INGEST = "csp_audit_ingest__police_uk_street"


@pytest.fixture(scope="module")
def region_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from csp_audit_demo.plan import write_demo_plan
    from csp_audit_demo.region import generate_demo_region

    out = tmp_path_factory.mktemp("region")
    generate_demo_region(out, months=1)
    write_demo_plan(out)
    return out


def _uris(condition: object) -> list[str]:
    """The Asset URIs a DAG is scheduled on (one Asset, or AssetAny of several)."""
    return [condition.uri] if hasattr(condition, "uri") else [a.uri for a in condition.objects]  # type: ignore[attr-defined]


def _bag(monkeypatch: pytest.MonkeyPatch, *, region: Path | None = None, plan: Path | None = None):
    from airflow.dag_processing.dagbag import DagBag

    for name, value in (("CSP_AUDIT_REGION", region), ("CSP_AUDIT_PLAN", plan)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(value))
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag


def test_a_region_alone_yields_the_police_ingest_the_build_and_the_publish_dag(
    region_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bag = _bag(monkeypatch, region=region_dir / "region.yaml")
    assert set(bag.dags) == {POLICE_INGEST, "csp_audit_build", "csp_audit_publish"}
    ingest, build, publish = (
        bag.dags[POLICE_INGEST],
        bag.dags["csp_audit_build"],
        bag.dags["csp_audit_publish"],
    )
    assert set(ingest.task_ids) == {"resolve_settings", "discover", "validate", "load"}
    ids = [t.task_id for t in build.topological_sort()]
    assert ids == ["resolve_settings", "prepare_geography", "arrival_board", "dbt_build", "target_progress",
                   "summarise"]  # fmt: skip
    # every task that writes the warehouse is in the one-slot pool
    assert {t.pool for t in [*ingest.tasks, *build.tasks]} == {"duckdb_warehouse"}
    # the region's police.uk Asset triggers the build; the build's Asset triggers the publish DAG
    [load_outlet] = ingest.get_task("load").outlets
    assert load_outlet.uri == "csp-audit://demo-region/police_uk_street"
    assert _uris(build.timetable.asset_condition) == [load_outlet.uri]
    [built] = build.get_task("summarise").outlets
    assert built.uri == "csp-audit://demo-region/audit-build"
    assert _uris(publish.timetable.asset_condition) == [built.uri]
    assert publish.get_task("analyst_snapshot").pool == "duckdb_warehouse"
    # every task alerts when it fails for good and is bounded in time
    from csp_audit.orchestration.alerts import task_failed

    for task in [*ingest.tasks, *build.tasks, *publish.tasks]:
        assert task.execution_timeout is not None and task.execution_timeout.total_seconds() > 0, task
        assert task_failed in (task.on_failure_callback or []) or task.on_failure_callback is task_failed, (
            task
        )


def test_a_plan_yields_one_ingest_dag_per_dataset_and_an_asset_scheduled_build(
    region_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from csp_audit.plan.model import load_plan

    plan_file = region_dir / "plan.yaml"
    bag = _bag(monkeypatch, region=region_dir / "region.yaml", plan=plan_file)  # the plan wins
    datasets = set(load_plan(plan_file).datasets)
    ingest = {d.removeprefix("csp_audit_ingest__") for d in bag.dags if d.startswith("csp_audit_ingest__")}
    assert ingest == datasets and "police_uk_street" in datasets
    for dataset in datasets:
        load = bag.dags[f"csp_audit_ingest__{dataset}"].get_task("load")
        assert [a.uri for a in load.outlets] == [f"csp-audit://demo-region-plan/{dataset}"]
    condition = bag.dags["csp_audit_build"].timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # any dataset's delivery triggers the build
    assert {a.uri for a in condition.objects} == {f"csp-audit://demo-region-plan/{d}" for d in datasets}
    publish = bag.dags["csp_audit_publish"].timetable.asset_condition
    assert _uris(publish) == ["csp-audit://demo-region-plan/audit-build"]


def test_neither_plan_nor_region_yields_only_an_unscheduled_publish_dag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bag = _bag(monkeypatch)
    assert set(bag.dags) == {"csp_audit_publish"}
    assert type(bag.dags["csp_audit_publish"].timetable).__name__ == "NullTimetable"  # trigger it with a conf
    assert "csp_audit_police" not in bag.dags


def test_parsing_imports_neither_gx_dbt_pandas_nor_duckdb(region_dir: Path) -> None:
    code = (
        "import sys, json, runpy\n"
        f"for f in {sorted(str(p) for p in DAGS.glob('*.py'))!r}:\n"
        "    runpy.run_path(f)\n"
        "print(json.dumps(sorted(m for m in ('great_expectations', 'dbt', 'pandas', 'duckdb') if m in sys.modules)))\n"
    )
    env = cli_env(Path(REPO / ".pytest_cache" / "af")) | {"CSP_AUDIT_PLAN": str(region_dir / "plan.yaml")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
