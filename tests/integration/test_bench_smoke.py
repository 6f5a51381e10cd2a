"""Smoke test of the benchmark: `bench/run_bench.py --quick` end to end on a tiny national-shaped region
and its data plan (police.uk and every agency dataset, a year and a refresh month).

It runs the real steps (GX, DuckDB, dbt) for every dataset of the plan in child processes (a few minutes).
It checks the shape of the result, that every dataset of the plan was loaded into the warehouse, and that
the mart agrees with both baselines; never the speed: speed lives in the benchmark's own ratios, measured
against baselines in the same run. The time limit only stops a run that hangs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from csp_audit.plan import load_plan

REPO = Path(__file__).resolve().parents[2]
HANG_S = int(os.environ.get("BENCH_SMOKE_HANG_S", "900"))  # a hang, not a slow machine
INGEST = ("discover", "validate", "load")
STEPS = (*INGEST, "geography", "arrival_board", "dbt", "targets", "summary")
RATIOS = ("steps_vs_duckdb", "steps_vs_pandas", "incremental_vs_full", "validation_share", "peak_memory_gb",
          "dag_parse_max_s")  # fmt: skip


pytestmark = pytest.mark.integration


@pytest.mark.timeout(HANG_S + 60)
def test_quick_benchmark_measures_every_stage_and_agrees_with_the_baselines(tmp_path: Path) -> None:
    results = tmp_path / "results"
    # own session, so a timeout can stop the benchmark's children (steps, dbt) as well
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "run_bench.py"), "--quick",
         "--work", str(tmp_path / "work"), "--results", str(results)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, _ = proc.communicate(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, _ = proc.communicate()
        pytest.fail(f"bench/run_bench.py --quick hung (over {HANG_S} s):\n{stdout[-4000:]}")
    output = stdout[-6000:]
    files = sorted(results.glob("*-quick.json"))
    assert len(files) == 1, output
    result = json.loads(files[0].read_text())

    # the plan the run used, read here (not the benchmark's own list): police.uk and every agency dataset
    plan_datasets = list(load_plan(tmp_path / "work" / "runs" / "quick" / "region" / "plan.yaml").datasets)
    assert "police_uk_street" in plan_datasets and len(plan_datasets) >= 8, plan_datasets
    assert result["data"]["plan_datasets"] == plan_datasets
    for phase in ("full", "incremental"):
        measured = result["steps"][phase]
        assert tuple(measured["steps"]) == STEPS, output
        expected = [f"{step}:{d}" for d in plan_datasets for step in INGEST] + list(STEPS[len(INGEST) :])
        assert list(measured["items"]) == expected, output
        for item, entry in measured["items"].items():
            assert "error" not in entry, f"{phase} {item}: {entry.get('error')}"
            assert entry["wall_s"] > 0 and entry["peak_rss_mb"] > 0
        assert set(measured["by_dataset"]) == set(plan_datasets)
    assert result["incremental_only_new"] is True, result["incremental_counts"]

    # what the warehouse holds, not what the plan lists: every dataset of the plan was loaded, with rows
    loaded = {d["dataset"]: d for d in result["datasets"]}
    assert set(loaded) == set(plan_datasets), (sorted(loaded), plan_datasets)
    for entry in loaded.values():
        assert entry["deliveries"] > 0 and entry["rows"] > 0, entry
        assert entry["raw_table_rows"] == entry["rows"], entry
    after = {d["dataset"]: d for d in result["datasets_after_refresh"]}
    for dataset, new in result["data"]["incremental_files_by_dataset"].items():
        assert after[dataset]["validated"] == loaded[dataset]["validated"] + new, (dataset, after[dataset])

    for engine in ("duckdb", "pandas"):
        baseline = result["baselines"][engine]
        assert "error" not in baseline, baseline.get("error")
        assert baseline["wall_s"] > 0 and baseline["groups"] > 0

    agreement = result["agreement"]
    assert agreement["agree"] is True, agreement
    totals = agreement["totals"]
    assert totals["mart"] == totals["duckdb"] == totals["pandas"] > 0
    assert all(pair["mismatched_keys"] == 0 for pair in agreement["pairs"].values())

    for key in RATIOS:
        assert result["ratios"][key] is not None, key
    assert {t["metric"] for t in result["targets"]} >= {"incremental_vs_full", "validation_share"}
    assert result["dag_parse"]["no_plan"]["files"], result["dag_parse"]
    assert result["dag_parse"]["with_plan"]["files"], result["dag_parse"]
    assert not result["dag_parse"]["with_plan"]["import_errors"], result["dag_parse"]["with_plan"]
    assert (
        result["dag_parse"]["with_plan"]["files"]["csp_audit_pipeline.py"]["dags"] == len(plan_datasets) + 1
    )
    assert (results / "latest.md").read_text().count("| quick |") == 1
    assert proc.returncode == 0, output
