"""The docker-compose topology for real, without Docker: CeleryExecutor, PostgreSQL, Redis, every service.

``topology.py`` reads docker-compose.yml and starts what it describes as native processes on this
machine: airflow-init (its script verbatim: db migrate, the one-slot pool, the admin password file),
then api-server, scheduler, dag-processor, triggerer and the Celery worker, each with the compose
environment (hosts, ports and container paths translated), in depends_on order, each waited for with
its own compose healthcheck. The test then drives the stack the way an operator would, through the
REST API only: log in, check that the dag-processor (which reads the region YAML from the region mount)
yields the region's DAGs wired by their Assets, unpause the police.uk ingest DAG and the audit build,
trigger them on a small demo region, wait, and check the marts, that a second round changes nothing,
and that every task ran on the Celery worker. A second test SIGKILLs the scheduler while the build's dbt
task runs on the worker and starts it again (compose's ``restart: always``): the run must finish as a
clean run does.

PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are used when running, else installed from
Debian and started; the test skips only if that is impossible. It creates its own database and role
and uses one empty Redis database, and removes all of them at the end.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import signal
import socket
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest
import yaml
from topology import (
    REPO,
    Endpoints,
    Topology,
    Unavailable,
    env_file_values,
    interpolate,
    load_compose,
    native_environment,
    running_topology,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

INGEST = "csp_audit_ingest__police_uk_street"
BUILD = "csp_audit_build"
PUBLISH = "csp_audit_publish"
TASKS = {
    INGEST: {"resolve_settings", "discover", "validate", "load"},
    BUILD: {
        "resolve_settings",
        "prepare_geography",
        "arrival_board",
        "dbt_build",
        "target_progress",
        "summarise",
    },
}
RUN_TIMEOUT = 360
CLEAN_MARTS: dict[str, str] = {}  # the marts of a clean first round, for the tests after it to compare with


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    root = tmp_path_factory.mktemp("topology")
    started = time.monotonic()
    try:
        with running_topology(root) as topo:
            topo.start()
            topo.wait_all_healthy()
            topo.timings["stack_ready"] = time.monotonic() - started
            print(f"[topology] stack ready in {topo.timings['stack_ready']:.0f} s; {topo.timings}")
            yield topo
    except Unavailable as exc:
        pytest.skip(f"the compose topology needs PostgreSQL and Redis: {exc}")


# ------------------------------------------------------------------------------------------ REST helpers


def _token(topo: Topology) -> str:
    reply = topo.http("POST", "/auth/token", {"username": topo.admin_user, "password": topo.admin_password})
    return reply["access_token"]


def _dags(topo: Topology, token: str, *dag_ids: str) -> dict[str, dict] | None:
    """The details of every DAG named, or None while the dag-processor has not parsed one of them."""
    out = {}
    for dag_id in dag_ids:
        try:
            out[dag_id] = topo.http("GET", f"/api/v2/dags/{dag_id}/details", token=token)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise
    return out


def _trigger(topo: Topology, token: str, dag_id: str, conf: dict) -> str:
    run = topo.http(
        "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}, token=token
    )
    return run["dag_run_id"]


def _runs(topo: Topology, token: str, dag_id: str) -> list[dict]:
    return topo.http("GET", f"/api/v2/dags/{dag_id}/dagRuns", token=token)["dag_runs"]


def _task_instances(topo: Topology, token: str, dag_id: str, run_id: str) -> list[dict]:
    return topo.http("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", token=token)[
        "task_instances"
    ]


def _task_logs(topo: Topology, dag_id: str, run_id: str) -> str:
    """The task log files of a run (the airflow-logs volume), last lines of each."""
    folder = topo.root / "airflow-home" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    parts = []
    for log in sorted(folder.rglob("*.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
        parts.append(f"----- {log.relative_to(folder)} -----\n" + "\n".join(lines))
    return "\n".join(parts) or f"(no task logs under {folder})"


def _run(topo: Topology, token: str, dag_id: str, conf: dict) -> str:
    """Trigger a DAG run with ``conf`` and wait for it to succeed; its run id."""
    return _wait_success(topo, token, dag_id, _trigger(topo, token, dag_id, conf))


def _wait_success(topo: Topology, token: str, dag_id: str, run_id: str) -> str:
    """Wait for a DAG run to end; fail the test (with the task logs) unless it succeeded."""

    def finished() -> dict | None:
        topo.check_alive()
        run = topo.http("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", token=token)
        return run if run["state"] in ("success", "failed") else None

    try:
        run = wait_for(f"{dag_id} run {run_id}", finished, RUN_TIMEOUT, 2.0)
    except TimeoutError as exc:
        states = {t["task_id"]: t["state"] for t in _task_instances(topo, token, dag_id, run_id)}
        raise AssertionError(
            f"{exc}\ntask states: {states}\n{_task_logs(topo, dag_id, run_id)}\n{topo.diagnostics()}"
        ) from exc
    if run["state"] != "success":
        states = {t["task_id"]: t["state"] for t in _task_instances(topo, token, dag_id, run_id)}
        pytest.fail(
            f"{dag_id} run {run_id} {run['state']}: {states}\n{_task_logs(topo, dag_id, run_id)}\n"
            f"{topo.diagnostics()}"
        )
    return run_id


def _demo_region(region_dir: Path) -> Path:
    """The small demo region the DAGs are parsed from (made once: the generator is deterministic)."""
    from csp_audit_demo.region import generate_demo_region

    if (region_dir / "region.yaml").is_file():
        return region_dir / "region.yaml"
    return generate_demo_region(region_dir, months=3, scale=0.3)


def _parsed_with_assets(topo: Topology, token: str) -> dict[str, dict]:
    """The region's three DAGs once the dag-processor has parsed them with the region (their Assets set).

    The region may be written after the stack started, so the publish file may first be parsed without
    it (unscheduled) and only on its next parse get the build's Asset: wait for that parse too.
    """

    def parsed() -> dict[str, dict] | None:
        found = _dags(topo, token, INGEST, BUILD, PUBLISH)
        if found is None or not all(found[d]["asset_expression"] for d in (BUILD, PUBLISH)):
            return None
        return found

    return wait_for(
        "the region's DAGs parsed by the dag-processor, with their Assets", parsed, 240, 2.0, topo.diagnostics
    )


# ------------------------------------------------------------------------------------------ data checks


def _data_rows(police: Path) -> dict[str, int]:
    counts = {}
    for path in sorted(police.rglob("*-street.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            counts[path.relative_to(police).as_posix()] = sum(1 for _ in csv.DictReader(f))
    return counts


def _region_partnerships(region_dir: Path) -> set[str]:
    region = yaml.safe_load((region_dir / "region.yaml").read_text(encoding="utf-8"))
    pfas = set(region["partnerships"]["police_force_areas"])
    lookup = region_dir / region["geography"]["partnership_lookup"]
    with lookup.open(encoding="utf-8-sig", newline="") as f:
        return {row["CSP19CD"] for row in csv.DictReader(f) if row["PFA19CD"] in pfas}


def _mart_checksums(warehouse: Path) -> dict[str, str]:
    """Every table and view of the audit schema (plus the raw row count), as row count and hash."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'audit' order by 1"
            ).fetchall()
        ]
        sums = {}
        for name in names:
            rows = con.execute(f'select * from audit."{name}" order by all').fetchall()  # noqa: S608
            sums[name] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()[:16]}"
        sums["raw.ds__police_uk_street"] = str(
            con.execute("select count(*) from raw.ds__police_uk_street").fetchone()[0]
        )
    return sums


def _check_marts(warehouse: Path, region_dir: Path) -> None:
    partnerships = _region_partnerships(region_dir)
    assert len(partnerships) == 5, f"the demo region should have 5 partnerships, not {sorted(partnerships)}"
    data_rows = _data_rows(region_dir / "police")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        monthly = {
            r[0]: r[1]
            for r in con.execute(
                "select partnership_code, count(*) from audit.partnership_crime_monthly group by 1"
            ).fetchall()
        }
        recon = con.execute(
            "select source_file, rows_read, rows_counted, rows_duplicate, rows_unlocated, "
            "rows_outside_region, rows_quarantined from audit.reconciliation"
        ).fetchall()
    assert set(monthly) == partnerships, f"partnership_crime_monthly covers {sorted(monthly)}"
    assert all(n > 0 for n in monthly.values())
    for source_file, rows_read, *statuses in recon:
        assert rows_read == sum(statuses), f"{source_file}: rows_read {rows_read} != {statuses}"
    assert {r[0]: r[1] for r in recon} == data_rows, "rows_read per file must equal the CSVs' data rows"
    assert sum(r[1] for r in recon) == sum(data_rows.values())


def _in_worker_log(topo: Topology, tis: list[dict]) -> bool:
    """Every task instance has 'Executing workload in Celery' and 'Workload finished ... success' lines."""
    log = topo.child("airflow-worker").log.read_text(encoding="utf-8", errors="replace")
    missing = []
    for ti in tis:
        executed = re.search(
            rf"Executing workload in Celery: .*ti=TaskInstanceDTO\(id=UUID\('{ti['id']}'\)", log
        )
        finished = re.search(
            rf"Workload finished .*exit_code=0 final_state=success .*workload_id={ti['id']}\b", log
        )
        if not (executed and finished):
            missing.append(f"{ti['dag_run_id']} {ti['task_id']} {ti['id']}")
    if missing:
        raise AssertionError(f"not in the Celery worker's log: {missing}")
    return True


def _celery_results_are(topo: Topology, expected: dict[str, int]) -> bool:
    """Task states in the Celery result backend (table celery_taskmeta in the metadata database)."""
    with topo.postgres_connection() as con, con.cursor() as cur:
        cur.execute("select status, count(*) from celery_taskmeta group by status")
        found = dict(cur.fetchall())
    if found != expected:
        raise AssertionError(f"Celery result backend holds {found}, expected {expected}")
    return True


# ------------------------------------------------------------------------------------------------ tests


def test_native_environment_matches_the_compose_file(tmp_path: Path) -> None:
    """The native services get the compose file's executor, broker, result backend and metadata DB kinds.

    Runs without any service: the translation the topology below uses, checked against the file.
    """
    compose = load_compose()
    common = compose["x-airflow-common"]["environment"]
    dotenv = env_file_values()
    endpoints = Endpoints(
        pg_port=5432,
        pg_user="u",
        pg_password="p",
        pg_database="d",
        redis_port=6379,
        redis_db=7,
        api_port=18080,
    )
    services = compose["services"]
    airflow = [n for n, s in services.items() if "AIRFLOW__CORE__EXECUTOR" in (s.get("environment") or {})]
    assert {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker",
        "airflow-triggerer",
        "airflow-init",
    } <= set(airflow)
    translated = {
        "AIRFLOW__CELERY__BROKER_URL": "redis://:@127.0.0.1:6379/7",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://u:p@127.0.0.1:5432/d",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://u:p@127.0.0.1:5432/d",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:18080/execution/",
    }
    for name in airflow:
        env = native_environment(services[name]["environment"], dotenv, endpoints, tmp_path, services)
        assert env["AIRFLOW__CORE__EXECUTOR"] == common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        for key, native in translated.items():
            assert env[key] == native, key
            assert urlsplit(str(common[key])).scheme == urlsplit(native).scheme, f"{key}: the kind changed"
        # every other setting is passed on as compose gives it (secrets filled in, paths moved)
        for key, value in services[name]["environment"].items():
            if key in translated:
                continue
            if str(value).startswith("/"):
                assert env[key].startswith((str(tmp_path), str(REPO))), key
            else:
                assert env[key] == interpolate(str(value), dotenv), key


def test_demo_region_runs_on_the_celery_worker_through_the_rest_api(topology: Topology) -> None:
    topo = topology
    region_dir = topo.root / "region"  # the compose file's /data/region: CSP_AUDIT_REGION points into it
    region_yaml = _demo_region(region_dir)
    warehouse = topo.root / "warehouse.duckdb"
    conf = {"region": str(region_yaml), "warehouse": str(warehouse)}

    # with only the region set, the DAG folder yields its ingest DAG, the build and the publish DAG, wired by
    # Assets: police.uk deliveries -> build -> publish (the dag-processor must read the region to name them)
    token = _token(topo)
    dags = _parsed_with_assets(topo, token)
    assert all(d["is_paused"] for d in dags.values()), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"
    assert "csp-audit://demo-region/police_uk_street" in json.dumps(dags[BUILD]["asset_expression"])
    assert "csp-audit://demo-region/audit-build" in json.dumps(dags[PUBLISH]["asset_expression"])
    for dag_id in (INGEST, BUILD):
        assert (
            topo.http("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False}, token=token)["is_paused"]
            is False
        )

    # first round: the region's police.uk files in, then the build, with the region and warehouse in the conf
    started = time.monotonic()
    first = [(INGEST, _run(topo, token, INGEST, conf)), (BUILD, _run(topo, token, BUILD, conf))]
    topo.timings["round_1"] = time.monotonic() - started
    _check_marts(warehouse, region_dir)
    after_first = _mart_checksums(warehouse)
    CLEAN_MARTS.update(after_first)

    # second round: nothing changes
    started = time.monotonic()
    second = [(INGEST, _run(topo, token, INGEST, conf)), (BUILD, _run(topo, token, BUILD, conf))]
    topo.timings["round_2"] = time.monotonic() - started
    assert _mart_checksums(warehouse) == after_first, "a second round changed the marts"

    # every task of every run ran on the Celery worker, through this Redis database and PostgreSQL
    bindings = topo.redis.client(topo.redis_db).keys("_kombu.binding.*")
    assert bindings, f"no Celery queue bindings in Redis db {topo.redis_db}: the worker is not on this broker"
    hostname = socket.gethostname()
    ran = []
    for dag_id in (INGEST, BUILD):
        runs = {r["dag_run_id"]: r["run_type"] for r in _runs(topo, token, dag_id)}
        expected = {run_id: "manual" for d, run_id in (*first, *second) if d == dag_id}
        assert runs == expected, f"{dag_id}: only the triggered runs should exist: {runs}"
    for dag_id, run_id in (*first, *second):
        tis = _task_instances(topo, token, dag_id, run_id)
        assert {t["task_id"] for t in tis} == TASKS[dag_id], run_id
        for ti in tis:
            assert ti["state"] == "success", ti
            assert ti["hostname"] == hostname, ti
            assert ti["queue"] == "default", ti  # [celery] default_queue
            assert ti["pool"] == "duckdb_warehouse", ti
            ran.append(ti)
    # The worker logs a workload as finished, and Celery stores its result, just after the task has
    # reported success to the api-server: wait a little for both.
    wait_for("every task instance in the Celery worker's log", lambda: _in_worker_log(topo, ran), 30)
    wait_for(
        "a Celery result per task instance", lambda: _celery_results_are(topo, {"SUCCESS": len(ran)}), 30
    )
    print(json.dumps({k: ran[0].get(k) for k in ("task_id", "executor", "queue", "hostname", "pid", "pool")}))
    print(
        f"[topology] timings: { {k: round(v, 1) for k, v in topo.timings.items() if isinstance(v, float)} }"
    )


def test_scheduler_killed_mid_task_and_restarted_finishes_the_run_like_a_clean_one(
    topology: Topology,
) -> None:
    """The scheduler SIGKILLed while the build's dbt task runs on the Celery worker, then started again as
    compose's ``restart: always`` does: the run ends in success, each task ran once, and the warehouse
    holds what a clean run gives (every CSV row counted once, the same marts)."""
    topo = topology
    region_dir = topo.root / "region"
    region_yaml = _demo_region(region_dir)
    token = _token(topo)
    _parsed_with_assets(topo, token)
    for dag_id in (INGEST, BUILD):
        topo.http("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False}, token=token)

    def run_pair(warehouse: Path, kill_during: str | None = None) -> list[tuple[str, str]]:
        conf = {"region": str(region_yaml), "warehouse": str(warehouse)}
        runs = [(INGEST, _run(topo, token, INGEST, conf))]
        run_id = _trigger(topo, token, BUILD, conf)
        if kill_during:
            deadline = time.monotonic() + RUN_TIMEOUT
            while True:  # poll until the task runs on the worker (no timing assumed: it runs for many polls)
                topo.check_alive()
                ti = {t["task_id"]: t for t in _task_instances(topo, token, BUILD, run_id)}.get(kill_during)
                state = ti["state"] if ti else None
                if state == "running":
                    break
                assert state not in ("success", "failed", "upstream_failed"), f"{kill_during} {state} already"
                assert time.monotonic() < deadline, f"{kill_during} never ran\n{topo.diagnostics()}"
                time.sleep(0.5)
            old_pid = topo.child("airflow-scheduler").proc.pid
            assert topo.kill("airflow-scheduler") == -signal.SIGKILL
            state = {t["task_id"]: t["state"] for t in _task_instances(topo, token, BUILD, run_id)}
            print(f"[topology] scheduler {old_pid} SIGKILLed; {kill_during} then {state[kill_during]}")
            new = topo.restart("airflow-scheduler")
            assert new.proc.pid != old_pid
        runs.append((BUILD, _wait_success(topo, token, BUILD, run_id)))
        return runs

    warehouse = topo.root / "scheduler-restart" / "warehouse.duckdb"
    started = time.monotonic()
    runs = run_pair(warehouse, kill_during="dbt_build")
    topo.timings["scheduler_restart"] = time.monotonic() - started

    # every task of both runs succeeded, each in one try: the running task was neither reset nor run again
    for dag_id, run_id in runs:
        tis = _task_instances(topo, token, dag_id, run_id)
        assert {t["task_id"] for t in tis} == TASKS[dag_id], run_id
        for ti in tis:
            assert ti["state"] == "success" and ti["try_number"] == 1, ti
    # nothing doubled or lost: rows_read per file equals the CSVs' rows, every row in one status
    _check_marts(warehouse, region_dir)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        loaded = con.execute("select count(*), count(distinct sha256) from raw.deliveries").fetchone()
    assert loaded[0] == loaded[1] == len(_data_rows(region_dir / "police")), loaded
    # the same marts as a clean run (the first test's, else one made here)
    if not CLEAN_MARTS:
        clean = topo.root / "scheduler-restart-clean" / "warehouse.duckdb"
        run_pair(clean)
        CLEAN_MARTS.update(_mart_checksums(clean))
    assert _mart_checksums(warehouse) == CLEAN_MARTS
    print(f"[topology] scheduler restart round: {topo.timings['scheduler_restart']:.0f} s")
