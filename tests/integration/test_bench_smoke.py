"""Smoke test of the benchmark: `bench/run_bench.py --quick` end to end on a tiny national-shaped region.

It runs the real steps (GX, DuckDB, dbt) in child processes (about a minute). It checks the shape of the
result and that the mart agrees with both baselines, never the speed: speed lives in the benchmark's own
ratios, measured against baselines in the same run. The time limit only stops a run that hangs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANG_S = int(os.environ.get("BENCH_SMOKE_HANG_S", "900"))  # a hang, not a slow machine
STEPS = ("geography", "discover", "validate", "load", "dbt", "summary")
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

    for phase in ("full", "incremental"):
        steps = result["steps"][phase]["steps"]
        assert tuple(steps) == STEPS, output
        for step, entry in steps.items():
            assert "error" not in entry, f"{phase} {step}: {entry.get('error')}"
            assert entry["wall_s"] > 0 and entry["peak_rss_mb"] > 0
    assert result["incremental_only_new"] is True, result["incremental_counts"]

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
    assert (results / "latest.md").read_text().count("| quick |") == 1
    assert proc.returncode == 0, output
