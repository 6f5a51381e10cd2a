"""The DAG folder imports cleanly, fast, and without the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, cli_env

DAGS = REPO / "dags"


def test_dagbag_has_no_import_errors_and_the_expected_dag() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.dags["csp_audit_police"]  # from the parsed files, not the metadata DB
    assert set(dag.task_ids) == {
        "resolve_settings", "prepare_geography", "discover", "validate", "load", "dbt_build", "summarise"
    }  # fmt: skip
    # every task that writes the warehouse is in the one-slot pool
    assert {t.pool for t in dag.tasks} == {"duckdb_warehouse"}
    order = dag.topological_sort()
    ids = [t.task_id for t in order]
    assert ids.index("validate") < ids.index("load") < ids.index("dbt_build") < ids.index("summarise")


def test_each_dag_file_parses_well_under_a_second() -> None:
    from airflow.dag_processing.dagbag import DagBag

    for path in sorted(DAGS.glob("*.py")):
        bag = DagBag(dag_folder=str(path))
        (stat,) = bag.dagbag_stats
        assert stat.duration.total_seconds() < 0.5, (path.name, stat.duration)


def test_parsing_does_not_import_gx_dbt_or_pandas() -> None:
    code = (
        "import sys, json, runpy\n"
        f"runpy.run_path({str(DAGS / 'csp_audit_police.py')!r})\n"
        "print(json.dumps(sorted(m for m in ('great_expectations', 'dbt', 'pandas', 'duckdb') if m in sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=cli_env(Path(REPO / ".pytest_cache" / "af")),
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_plan_generates_one_ingest_dag_per_dataset_and_an_asset_scheduled_build(
    tmp_path: Path, monkeypatch: object
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from csp_audit_demo.region import generate_demo_region
    from csp_audit_demo.plan import write_demo_plan
    from csp_audit.plan.model import load_plan

    generate_demo_region(tmp_path, months=1)
    plan_file = write_demo_plan(tmp_path)
    monkeypatch.setenv("CSP_AUDIT_PLAN", str(plan_file))  # type: ignore[attr-defined]
    bag = DagBag(dag_folder=str(DAGS / "csp_audit_plan.py"))
    assert bag.import_errors == {}
    (stat,) = bag.dagbag_stats
    assert stat.duration.total_seconds() < 0.5
    datasets = set(load_plan(plan_file).datasets)
    ingest = {d.removeprefix("csp_audit_ingest__") for d in bag.dags if d.startswith("csp_audit_ingest__")}
    assert ingest == datasets
    for dataset in datasets:
        load = bag.dags[f"csp_audit_ingest__{dataset}"].get_task("load")
        assert [a.uri for a in load.outlets] == [f"csp-audit://demo-region-plan/{dataset}"]
    condition = bag.dags["csp_audit_build"].timetable.asset_condition
    assert type(condition).__name__ == "AssetAny"  # any dataset's delivery triggers the build
    assert {a.uri for a in condition.objects} == {f"csp-audit://demo-region-plan/{d}" for d in datasets}


def test_no_plan_no_plan_dags(monkeypatch: object) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv("CSP_AUDIT_PLAN", raising=False)  # type: ignore[attr-defined]
    bag = DagBag(dag_folder=str(DAGS / "csp_audit_plan.py"))
    assert bag.import_errors == {} and bag.dags == {}
