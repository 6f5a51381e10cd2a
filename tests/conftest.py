"""Shared test set-up: an isolated Airflow home per session and paths to the real data.

Airflow reads its configuration when first imported, so the environment is fixed here, before
any test module imports it. Tests that run the pipeline do so through the real CLI in a child
process (the same path a user takes), with this environment.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "realdata"
BIN = Path(sys.executable).parent
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="csp-audit-tests-"))

os.environ["AIRFLOW_HOME"] = str(_SESSION_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["CSP_AUDIT_TASK_RETRIES"] = "0"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
os.environ["TQDM_DISABLE"] = "1"
# the migrated Airflow metadata DB that new homes copy (airflow_env.template_file): one per session
os.environ["CSP_AUDIT_CACHE"] = str(_SESSION_HOME / "cache")


def cli_env(airflow_home: Path | None = None) -> dict[str, str]:
    """Environment for a child `csp-audit`: its own Airflow home unless one is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if airflow_home is not None:
        env["AIRFLOW_HOME"] = str(airflow_home)
    return env


def run_cli(
    *args: str, airflow_home: Path | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    """Run the installed `csp-audit` console script and capture its output."""
    return subprocess.run(
        [str(BIN / "csp-audit"), *args],
        env=cli_env(airflow_home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo region run once through the CLI; returns this worker's copy of its output folder.

    The demo is run once per session: the first xdist worker to need it runs it under the workers'
    shared base folder (the others wait on a lock), and every worker then works on a copy of its own,
    so the demo's modules can run on both workers and a test that re-runs or publishes on its copy
    never locks another worker's warehouse. Its files name their paths relative to their roots, so a
    copy is the same demo. ``CSP_AUDIT_TEST_DEMO_FROM`` (local development only) names a finished
    ``csp-audit demo --out`` folder to copy instead; its ``demo.log`` is the saved console output.
    """
    out = tmp_path_factory.mktemp("demo")
    source = Path(os.environ.get("CSP_AUDIT_TEST_DEMO_FROM") or _demo_built_once(tmp_path_factory))
    shutil.copytree(source, out, dirs_exist_ok=True, symlinks=True)
    return out


def _demo_built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's output folder, run by whichever worker gets here first (a failed run fails every worker)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    built, done, failed = shared / "demo-built", shared / "demo-built.done", shared / "demo-built.failed"
    with open(shared / "demo-built.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if failed.is_file():
            pytest.fail(f"the shared demo run failed on another worker:\n{failed.read_text()}")
        if not done.is_file():
            shutil.rmtree(built, ignore_errors=True)
            proc = run_cli("demo", "--out", str(built))
            if proc.returncode != 0:
                failed.write_text(proc.stdout[-3000:] + proc.stderr[-3000:])
                pytest.fail(f"csp-audit demo exited {proc.returncode}:\n{failed.read_text()}")
            (built / "demo.log").write_text(proc.stdout)
            done.touch()
    return built


@pytest.fixture(scope="session")
def shared_realdata() -> Path:
    if not (SHARED / "police").is_dir():
        pytest.skip("../shared/realdata is not present beside the checkout")
    return SHARED


REAL_PFAS = [
    "W15000001",
    "W15000002",
    "W15000003",
    "W15000004",
    "E23000034",
]  # 4 Welsh forces + City of London


@pytest.fixture(scope="session")
def real_run(shared_realdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real police.uk extracts and ONS lookups in ../shared through `csp-audit run`, once per session."""
    out = tmp_path_factory.mktemp("real")
    geo = shared_realdata / "geography"
    (out / "region.yaml").write_text(
        f"""name: wales-and-city
audit_year_start_month: 4
data_roots: [{shared_realdata}]
geography:
  lsoa_lookup: {geo / "LSOA11_WD19_LAD19_lookup_EW.csv"}
  partnership_lookup: {geo / "LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv"}
partnerships:
  police_force_areas: [{", ".join(REAL_PFAS)}]
sources:
  police_uk: {shared_realdata / "police"}
""",
        encoding="utf-8",
    )
    proc = run_cli("run", "--region", str(out / "region.yaml"), "--warehouse", str(out / "warehouse.duckdb"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


# The real data's run is made once, on the worker whose group uses it: its tests are one group. The demo
# is made once per session for all workers (demo_run), so its modules are groups of their own.
SHARED_RUNS = {"real_run": "shared-real-run"}
# Modules whose tests each cost minutes on top of a cheap module fixture: their tests are spread over the
# workers (the fixture is then made once per worker) rather than kept together on one.
SPREAD_MODULES = {"tests/integration/test_faults.py"}
# The costliest groups, costliest first (measured: `make test` prints the slowest tests), so the long
# ones start first and the many short ones fill in at the end rather than one long group running alone;
# the first makes the demo (about 3 minutes) while the other worker starts the next ones.
COSTLIEST_FIRST = (
    "tests/integration/test_packs.py",
    "tests/integration/test_real_topology.py",
    "tests/integration/test_incremental_build.py",
    "tests/integration/test_plan_pipeline.py",
    "tests/integration/test_bench_smoke.py",
    "tests/integration/test_delivery_identity.py",
    "tests/integration/test_publish_smtp.py",
    "tests/integration/test_faults.py",
    "shared-real-run",
    "tests/integration/test_bad_input_corpus.py",
    "tests/integration/test_bad_deliveries.py",
    "tests/integration/test_assessment.py",
    "tests/integration/test_incomplete_data.py",
    "tests/integration/test_lsoa_vintages.py",
    "tests/integration/test_fact_gate.py",
    "tests/integration/test_census_restatement.py",
    "tests/integration/test_strategy_marts.py",
    "tests/integration/test_audit_marts.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group and order the tests for parallel runs (`make test`: pytest-xdist with ``--dist loadgroup``).

    The tests of a group run on the same worker. Every test that uses the real data's run is in its
    group, so the run is made once (a module using it and another group's run would make one twice: keep
    them apart); every other module is its own group, so its module-scoped fixtures are made once too,
    except the modules of SPREAD_MODULES, whose tests are groups of their own (kept next to each other,
    so a worker that takes several runs them in a row on one module fixture). Groups are then ordered
    costliest first (COSTLIEST_FIRST; the rest keep their order).
    """

    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    shared: dict[str, str] = {}
    for item in items:
        for fixture, group in SHARED_RUNS.items():
            if fixture in getattr(item, "fixturenames", ()):
                shared.setdefault(module(item), group)
    rank: dict[str, int] = {}
    for item in items:
        if module(item) in shared:
            group = shared[module(item)]
        elif module(item) in SPREAD_MODULES:
            group = item.nodeid
        else:
            group = module(item)
        item.add_marker(pytest.mark.xdist_group(group))
        key = shared.get(module(item), module(item))
        rank[item.nodeid] = COSTLIEST_FIRST.index(key) if key in COSTLIEST_FIRST else len(COSTLIEST_FIRST)
    items.sort(key=lambda item: rank[item.nodeid])
