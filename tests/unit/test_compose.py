"""Static checks of the docker-compose deployment, its Dockerfile and .env.example.

No Docker engine is needed: the files are parsed and checked against each other and the package.
When `docker compose` (or the standalone `docker-compose`) is installed, the last two tests also let it
validate the file; `config` needs no engine. Elsewhere they skip.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
GITIGNORE = ROOT / ".gitignore"
LOCK = ROOT / "requirements.lock"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
LONG_RUNNING = tuple(s for s in AIRFLOW_SERVICES if s != "airflow-init")
REQUIRED_SERVICES = ("postgres", "redis", *AIRFLOW_SERVICES)
DATA_VOLUMES = {"warehouse": "/data/warehouse", "landing": "/data/landing", "outbox": "/data/outbox"}
PROJECT_DIR = "/opt/csp-audit"

# `${VAR}`, `${VAR:-default}`, `${VAR:?message}`; `$${...}` is compose's escape for a literal `$`.
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
REQUIRED_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}$")
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$", re.IGNORECASE)
REF_TOKEN = "compose-variable"


# --- helpers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict:
    doc = yaml.safe_load(compose_text)
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "write environment as a mapping (KEY: value) so anchors can merge it"
    return {k: str(v) for k, v in env.items()}


def _mounts(service: dict) -> dict[str, tuple[str, str]]:
    """Container path -> (source, mode) for the short `source:target[:mode]` volume syntax."""
    mounts = {}
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        parts = entry.split(":")
        mode = parts.pop() if parts[-1] in ("ro", "rw") else "rw"
        # The source may itself hold a colon (`${VAR:-./region}`), the target never does.
        mounts[parts[-1]] = (":".join(parts[:-1]), mode)
    return mounts


def _url(value: str) -> SplitResult:
    """urlsplit after replacing each ${...} (whose `:?` would end the netloc) with REF_TOKEN."""
    return urlsplit(re.sub(r"(?<!\$)\$\{[^}]*\}", REF_TOKEN, value))


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return instructions


def _dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in _dockerfile_instructions():
        if keyword == "ENV":
            for item in shlex.split(args):
                name, sep, value = item.partition("=")
                assert sep, f"use ENV NAME=value: {item!r}"
                env[name] = value
    return env


def _dockerfile_copies() -> dict[str, str]:
    """Source folder (no trailing slash) -> absolute destination in the image, following WORKDIR."""
    workdir = "/"
    copies = {}
    for keyword, args in _dockerfile_instructions():
        if keyword == "WORKDIR":
            workdir = args if args.startswith("/") else f"{workdir.rstrip('/')}/{args}"
        elif keyword == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            *sources, dest = words
            target = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
            for source in sources:
                copies[source.rstrip("/")] = os.path.normpath(target)
    return copies


def _warehouse_pool_name() -> str:
    """csp_audit.orchestration.pool.POOL (a module without Airflow imports)."""
    from csp_audit.orchestration.pool import POOL

    return POOL


# --- services and healthchecks ---------------------------------------------------------------------


def test_required_services_exist_with_healthchecks(services: dict) -> None:
    missing = [s for s in REQUIRED_SERVICES if s not in services]
    assert not missing, f"docker-compose.yml lacks services {missing}"
    for name in REQUIRED_SERVICES:
        if name == "airflow-init":
            continue  # runs once and exits; the others wait for it to complete instead
        check = services[name].get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"


@pytest.mark.parametrize(
    ("service", "needle"),
    [
        ("postgres", "pg_isready"),
        ("redis", "redis-cli ping"),
        ("airflow-apiserver", "http://localhost:8080/api/v2/version"),
        ("airflow-scheduler", "http://localhost:8974/health"),
        ("airflow-dag-processor", 'airflow jobs check --job-type DagProcessorJob --hostname "$${HOSTNAME}"'),
        ("airflow-triggerer", 'airflow jobs check --job-type TriggererJob --hostname "$${HOSTNAME}"'),
        ("airflow-worker", "inspect ping"),
    ],
)
def test_healthcheck_probes_the_right_thing(services: dict, service: str, needle: str) -> None:
    test = services[service]["healthcheck"]["test"]
    text = " ".join(test) if isinstance(test, list) else test
    assert needle in text, f"{service} healthcheck {text!r} should use {needle!r}"


def test_services_run_the_expected_airflow_commands(services: dict) -> None:
    expected = {
        "airflow-apiserver": "airflow api-server",
        "airflow-scheduler": "airflow scheduler",
        "airflow-dag-processor": "airflow dag-processor",
        "airflow-worker": "airflow celery worker",
        "airflow-triggerer": "airflow triggerer",
    }
    for name, command in expected.items():
        assert _command(services[name]) == command, f"{name} should run `{command}`"
    assert services["airflow-apiserver"].get("ports"), "the api-server publishes the UI port"
    assert any(str(p).endswith(":8080") for p in services["airflow-apiserver"]["ports"])


def test_every_airflow_service_merges_the_common_anchor(compose_text: str) -> None:
    """Checked on the YAML node graph: each service's `<<` must be the x-airflow-common node itself."""
    root = yaml.compose(compose_text)
    top = {key.value: value for key, value in root.value}
    common = top["x-airflow-common"]
    services = {key.value: value for key, value in top["services"].value}
    for name in AIRFLOW_SERVICES:
        merged = [value for key, value in services[name].value if key.tag == "tag:yaml.org,2002:merge"]
        assert any(node is common for node in merged), f"{name} does not merge <<: *airflow-common"


def test_every_airflow_service_runs_the_same_image(compose: dict, services: dict) -> None:
    common = compose["x-airflow-common"]
    assert common.get("build") in (".", {"context": "."}), "the common image is built from ./Dockerfile"
    assert common.get("image"), "name the built image so every service reuses one build"
    for name in AIRFLOW_SERVICES:
        assert services[name].get("build") == common["build"], name
        assert services[name].get("image") == common["image"], name
    for name in ("postgres", "redis"):
        assert "build" not in services[name]


def test_startup_order(services: dict) -> None:
    init_deps = services["airflow-init"]["depends_on"]
    for dep in ("postgres", "redis"):
        assert init_deps[dep]["condition"] == "service_healthy", f"airflow-init must wait for {dep}"
    for name in LONG_RUNNING:
        deps = services[name].get("depends_on", {})
        assert deps.get("airflow-init", {}).get("condition") == "service_completed_successfully", name
        for dep in ("postgres", "redis"):
            assert deps.get(dep, {}).get("condition") == "service_healthy", f"{name} must wait for {dep}"


# --- executor and metadata DB ----------------------------------------------------------------------


def test_celery_executor_with_redis_broker_and_postgres_metadata_db(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        env = _environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        broker = _url(env["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname) == ("redis", "redis"), name
        conn = _url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert (conn.scheme, conn.hostname, conn.path) == ("postgresql+psycopg2", "postgres", "/airflow"), (
            name
        )
        assert conn.password == REF_TOKEN, f"{name}: the DB password must come from .env"
        backend = _url(env["AIRFLOW__CELERY__RESULT_BACKEND"])
        assert (backend.scheme, backend.hostname) == ("db+postgresql", "postgres"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"], name
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7.2")


# --- secrets ---------------------------------------------------------------------------------------


def test_no_literal_secrets_in_the_compose_file(services: dict) -> None:
    for name, service in services.items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_REF.match(value), (
                    f"{name}: {key} must come from .env as ${{VAR:?message}}, not {value!r}"
                )
            if "://" in value:
                password = _url(value).password
                assert password in (None, "", REF_TOKEN), f"{name}: {key} has a literal password in its URL"
                for ref in re.findall(r"(?<!\$)\$\{[^}]*\}", value):
                    assert REQUIRED_REF.match(ref), f"{name}: {key}: use ${{VAR:?message}}, not {ref}"


def test_compose_reads_env_file_which_git_ignores(compose: dict) -> None:
    env_files = compose["x-airflow-common"].get("env_file")
    env_files = [env_files] if isinstance(env_files, str) else env_files
    paths = [e["path"] if isinstance(e, dict) else e for e in env_files]
    assert ".env" in paths
    ignored = [line.strip() for line in GITIGNORE.read_text(encoding="utf-8").splitlines()]
    assert ".env" in ignored, ".env holds secrets and must be git-ignored"
    assert ENV_EXAMPLE.is_file(), ".env.example documents what .env must contain"
    if shutil.which("git") and (ROOT / ".git").exists():

        def ignored_by_git(path: str) -> bool:
            run = subprocess.run(  # noqa: S603
                ["git", "check-ignore", "--no-index", "-q", path],  # noqa: S607
                cwd=ROOT,
                check=False,
            )
            return run.returncode == 0

        assert ignored_by_git(".env")
        assert not ignored_by_git(".env.example"), ".env.example must be committed"


def test_env_example_lists_every_variable_compose_uses(compose_text: str) -> None:
    used = set(VAR_REF.findall(compose_text))
    assert used, "expected ${VAR} references for the secrets"
    bare = re.findall(r"(?<!\$)\$(?![{$])[A-Za-z_]", compose_text)
    assert not bare, "write compose variables as ${VAR} so this test sees them"
    listed = _env_example()
    missing = sorted(used - set(listed))
    assert not missing, f".env.example does not list {missing}"


def test_env_example_leaves_every_secret_empty(compose_text: str) -> None:
    """Required (`:?`) variables are the secrets: their placeholders are empty so compose refuses to run."""
    required = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*):\?", compose_text))
    assert {
        "POSTGRES_PASSWORD",
        "AIRFLOW_JWT_SECRET",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_ADMIN_PASSWORD",
    } <= required
    listed = _env_example()
    filled = sorted(name for name in required if listed.get(name))
    assert not filled, f".env.example must leave secrets empty, not {filled}"
    secret_like = sorted(n for n, v in listed.items() if SECRET_NAME.search(n) and v)
    assert not secret_like, f".env.example has values for {secret_like}"


# --- volumes and paths -----------------------------------------------------------------------------


def test_data_volumes_are_mounted_into_worker_and_scheduler(compose: dict, services: dict) -> None:
    declared = compose.get("volumes") or {}
    for volume, target in DATA_VOLUMES.items():
        assert volume in declared, f"named volume {volume} is not declared"
        for name in ("airflow-worker", "airflow-scheduler"):
            source, _ = _mounts(services[name]).get(target, (None, None))
            assert source == volume, f"{name} does not mount volume {volume} at {target}"
    worker = _mounts(services["airflow-worker"])
    assert worker["/data/warehouse"][1] == "rw", "the worker writes the warehouse"
    # the dag-processor reads the region (or plan) YAML when it parses the DAG files: without it the
    # DAG folder yields no ingest or build DAG, and the publish DAG never gets its Asset
    for name in ("airflow-worker", "airflow-scheduler", "airflow-dag-processor"):
        source, mode = _mounts(services[name]).get("/data/region", ("", ""))
        assert mode == "ro" and "region" in source, f"{name}: mount the region folder read-only"


def test_logs_volume_is_shared_by_every_airflow_service(compose: dict, services: dict) -> None:
    assert "airflow-logs" in (compose.get("volumes") or {})
    for name in AIRFLOW_SERVICES:
        assert _mounts(services[name]).get("/opt/airflow/logs", (None,))[0] == "airflow-logs", name


def test_pipeline_paths_point_into_the_mounts(services: dict) -> None:
    env = _environment(services["airflow-worker"])
    assert env["CSP_AUDIT_REGION"] == "/data/region/region.yaml"
    assert env["CSP_AUDIT_WAREHOUSE"] == "/data/warehouse/warehouse.duckdb"


def test_airflow_init_creates_the_one_slot_warehouse_pool(services: dict) -> None:
    command = _command(services["airflow-init"])
    assert "airflow db migrate" in command
    pools = re.findall(r"airflow pools set\s+(\S+)\s+(\d+)", command)
    assert pools, "airflow-init does not create a pool"
    assert (_warehouse_pool_name(), "1") in pools, f"expected the one-slot pool, found {pools}"


def test_dags_folder_points_at_the_copied_dags(services: dict) -> None:
    image_env = _dockerfile_env()
    copies = _dockerfile_copies()
    assert copies.get("dags") == f"{PROJECT_DIR}/dags"
    assert image_env["AIRFLOW__CORE__DAGS_FOLDER"] == copies["dags"]
    assert image_env["CSP_AUDIT_HOME"] == PROJECT_DIR
    assert image_env["CSP_AUDIT_DAGS"] == copies["dags"]
    assert image_env["CSP_AUDIT_DBT_PROJECT"] == copies["dbt_project"]
    assert image_env["CSP_AUDIT_EXPECTATIONS"] == copies["expectations"]
    for name in AIRFLOW_SERVICES:
        folder = _environment(services[name]).get("AIRFLOW__CORE__DAGS_FOLDER", copies["dags"])
        assert folder == copies["dags"], f"{name} overrides the DAG folder with {folder}"


# --- Dockerfile ------------------------------------------------------------------------------------


def test_dockerfile_installs_from_the_lock() -> None:
    instructions = _dockerfile_instructions()
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert froms == ["python:3.11-slim-bookworm"]
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    pinned = re.search(r"ARG UV_VERSION=\d+\.\d+\.\d+", DOCKERFILE.read_text(encoding="utf-8"))
    assert pinned and 'pip install "uv==${UV_VERSION}"' in runs, "install a pinned uv from PyPI"
    assert "uv pip sync --system requirements.lock" in runs
    assert "uv pip install --system --no-deps ." in runs
    assert "requirements.lock" in _dockerfile_copies()


def test_dockerfile_runs_as_non_root_airflow_user() -> None:
    instructions = _dockerfile_instructions()
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "the image must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert users[-1].split(":")[0] == "airflow"
    runs = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert re.search(r"useradd[^&]*--uid \"?\$\{AIRFLOW_UID\}\"?[^&]* airflow", runs)
    assert "ARG AIRFLOW_UID=50000" in DOCKERFILE.read_text(encoding="utf-8")
    env = _dockerfile_env()
    assert env["AIRFLOW_HOME"] == "/opt/airflow"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["GX_ANALYTICS_ENABLED"] == "false"
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"


def test_no_service_runs_as_root(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        user = str(services[name].get("user", "airflow")).split(":")[0]
        assert user not in ("root", "0"), f"{name} overrides the image's non-root user"


def test_healthcheck_tools_are_in_the_image(services: dict) -> None:
    tests = " ".join(
        " ".join(s["healthcheck"]["test"])
        for n, s in services.items()
        if n in AIRFLOW_SERVICES and "healthcheck" in s
    )
    runs = " ".join(args for keyword, args in _dockerfile_instructions() if keyword == "RUN")
    if "curl" in tests:
        assert re.search(r"apt-get install[^&]*\bcurl\b", runs), "healthchecks call curl: install it"


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    patterns = {
        line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines() if line.strip()
    }
    for pattern in (".env", ".venv", ".git", "demo-output", "dbt_project/target", "expectations/uncommitted"):
        assert pattern in patterns, f".dockerignore should exclude {pattern}"
    assert patterns & {"*.duckdb", "**/*.duckdb"}, ".dockerignore should exclude DuckDB files"
    for needed in ("requirements.lock", "pyproject.toml", "README.md", "plugins", "dags", "dbt_project"):
        assert needed not in patterns, f".dockerignore excludes {needed}, which the build copies"


# --- the lock must carry what the topology needs -----------------------------------------------------


def test_lock_has_the_packages_the_compose_topology_needs() -> None:
    """CeleryExecutor needs the celery provider and a Redis client; the metadata DB needs psycopg2
    (the URL names it) and asyncpg (Airflow derives its async engine URL as postgresql+asyncpg)."""
    locked = {
        line.split("==")[0].strip().lower()
        for line in LOCK.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    needed = {"apache-airflow-providers-celery", "celery", "redis", "psycopg2-binary", "asyncpg"}
    assert not needed - locked, f"requirements.lock lacks {sorted(needed - locked)}"
    celery = next(
        line.split("==")[1].strip()
        for line in LOCK.read_text(encoding="utf-8").splitlines()
        if line.startswith("celery==")
    )
    # celery 5.7 dropped celery.backends.database.retry, which the celery provider imports
    assert tuple(int(p) for p in celery.split(".")[:2]) < (5, 7), f"celery {celery} breaks the CeleryExecutor"


# --- optional: let docker compose itself validate the file -------------------------------------------


def _compose_cli() -> list[str] | None:
    """`docker compose` (v2 plugin), else the standalone `docker-compose`; None when neither runs.

    `config` needs no Docker engine, so this works on a build machine without one.
    """
    for cli in (["docker", "compose"], ["docker-compose"]):
        if not shutil.which(cli[0]):
            continue
        try:
            run = subprocess.run([*cli, "version"], capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired):
            continue
        if run.returncode == 0:
            return cli
    return None


COMPOSE_CLI = _compose_cli()
needs_compose = pytest.mark.skipif(
    COMPOSE_CLI is None, reason="neither docker compose nor docker-compose installed"
)


def _compose_config(tmp_path: Path, env_text: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_CLI is not None
    compose_file = tmp_path / "docker-compose.yml"
    shutil.copy(COMPOSE_FILE, compose_file)
    (tmp_path / ".env").write_text(env_text, encoding="utf-8")
    (tmp_path / "region").mkdir(exist_ok=True)
    # A clean environment: a secret exported in the caller's shell would override .env.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_CONFIG", "DOCKER_HOST")}
    command = [*COMPOSE_CLI, "--project-directory", str(tmp_path), "-f", str(compose_file), "config", "-q"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)  # noqa: S603


@needs_compose
def test_docker_compose_config_accepts_a_filled_env(tmp_path: Path) -> None:
    filled = "".join(f"{name}={value or 'test-value-0123456789'}\n" for name, value in _env_example().items())
    run = _compose_config(tmp_path, filled)
    assert run.returncode == 0, run.stderr


@needs_compose
def test_docker_compose_config_refuses_the_unfilled_example(tmp_path: Path) -> None:
    run = _compose_config(tmp_path, ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert run.returncode != 0, "an .env with empty secrets must not be accepted"
    assert "POSTGRES_PASSWORD" in run.stderr or "AIRFLOW_" in run.stderr, run.stderr
