"""The docker-compose topology run natively: PostgreSQL, Redis and every Airflow service as child processes.

Used by ``test_real_topology.py`` to test ``docker-compose.yml`` for real on a machine without Docker.
Nothing here is hand-copied from the compose file: the services, their commands, their environment,
the airflow-init script and the start order (``depends_on``) are read from it, and only what cannot be
the same outside containers is translated:

* host names of compose services (``postgres``, ``redis``, ``airflow-apiserver``) -> 127.0.0.1 and the
  real ports (a fresh PostgreSQL database and role, a dedicated Redis database number, free TCP ports);
* container paths -> folders under one temporary directory (``/data/region`` -> ``<tmp>/region``,
  ``/opt/airflow`` -> ``<tmp>/airflow-home``, ...), and the image's ``/opt/csp-audit`` -> this checkout;
* the secrets ``.env`` would hold -> fresh random values (every variable ``.env.example`` lists).

:func:`native_environment` refuses any compose value it does not know how to translate (a container path
or service host name it has no mapping for), so the compose file and this native copy cannot drift apart
silently.

PostgreSQL and Redis are found on 127.0.0.1 (5432, 6379) or, when absent, installed from Debian and
started for the session (and stopped again at the end). Every process this module starts runs in its own
process group with a marker variable in its environment, so :meth:`Topology.stop` can stop the whole
tree and prove that nothing is left.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
BIN = Path(sys.executable).parent
PG_PORT = 5432
REDIS_PORT = 6379
MARKER = "CSP_AUDIT_TOPOLOGY_RUN"  # put in every child's environment; finds stragglers in /proc

# Where the compose file's container paths live natively, relative to the run's temporary folder
# (a value of None means the checkout itself: the image copies the project to /opt/csp-audit).
CONTAINER_PATHS: dict[str, str | None] = {
    "/opt/csp-audit": None,
    "/opt/airflow/auth": "auth",  # volume airflow-auth
    "/opt/airflow/logs": "airflow-home/logs",  # volume airflow-logs
    "/opt/airflow": "airflow-home",  # AIRFLOW_HOME of the image
    "/data/region": "region",  # bind mount of the region folder
    "/data/warehouse": "volumes/warehouse",
    "/data/landing": "volumes/landing",
    "/data/outbox": "volumes/outbox",
}


class Unavailable(Exception):
    """PostgreSQL or Redis cannot be found or started here: the reason to skip."""


class ProcessDied(RuntimeError):
    """A service exited while it should be running: stop waiting at once."""


# --------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0, diag=None) -> Any:
    """Call check until it returns a truthy value; raise with what (and diag()) after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except ProcessDied:
            raise
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last, result = exc, None
        if result:
            return result
        time.sleep(interval)
    extra = f"\n{diag()}" if diag else ""
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s (last error: {last!r}){extra}")


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"({path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def last_error(path: Path) -> str:
    """The distinct lines of a log that look like Python exceptions (the last three), or ''.

    A chained traceback names the cause first (e.g. an ImportError) and the wrapper last.
    """
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    hits = [line.strip() for line in lines if re.match(r"^[\w.]+(Error|Exception|Exit)\b:?", line)]
    return " <- ".join(list(dict.fromkeys(hits))[-3:])


def _apt_install(*packages: str) -> None:
    """Install Debian packages without letting their services start (a policy-rc.d refuses them)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Unavailable(
            f"{', '.join(packages)} missing and cannot be installed here (needs root and apt-get)"
        )
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if made_policy:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        for cmd, limit in (
            (["apt-get", "update"], 300),
            (["apt-get", "install", "-y", "--no-install-recommends", *packages], 900),
        ):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=limit, check=False)  # noqa: S603
            if proc.returncode != 0:
                raise Unavailable(f"`{' '.join(cmd)}` failed: {proc.stderr[-800:]}")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"installing {', '.join(packages)} failed: {exc}") from exc
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- PostgreSQL


@dataclass
class Postgres:
    """A PostgreSQL on 127.0.0.1 and a way to run administrative SQL on it."""

    port: int
    admin: Callable[[str], list[tuple]]  # runs one statement as a superuser, returns the rows
    started_cluster: tuple[str, str] | None = None  # (version, name) when this module started it

    def stop_if_started(self) -> None:
        if self.started_cluster:
            command = ["pg_ctlcluster", "--skip-systemctl-redirect", *self.started_cluster, "stop"]
            subprocess.run(command, capture_output=True, timeout=120, check=False)  # noqa: S603


def _psycopg_admin(port: int) -> Callable[[str], list[tuple]] | None:
    """A superuser (or role creator) over TCP without a password (trust auth, as in CI), or None."""
    import getpass

    import psycopg2

    users = dict.fromkeys([os.environ.get("PGUSER", ""), getpass.getuser(), "postgres", "root"])
    for user in filter(None, users):
        for dbname in ("postgres", "test", user):
            try:
                con = psycopg2.connect(
                    host="127.0.0.1", port=port, user=user, dbname=dbname, connect_timeout=5
                )
            except psycopg2.Error:
                continue
            try:
                with con.cursor() as cur:
                    cur.execute(
                        "select rolsuper or (rolcreaterole and rolcreatedb) from pg_roles where rolname = current_user"
                    )
                    able = cur.fetchone()[0]
            finally:
                con.close()
            if not able:
                continue

            def run(sql: str, _user: str = user, _db: str = dbname) -> list[tuple]:
                c = psycopg2.connect(host="127.0.0.1", port=port, user=_user, dbname=_db, connect_timeout=10)
                c.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
                try:
                    with c.cursor() as cur:
                        cur.execute(sql)
                        return cur.fetchall() if cur.description else []
                finally:
                    c.close()

            return run
    return None


def _peer_admin(port: int) -> Callable[[str], list[tuple]] | None:
    """The `postgres` OS user over the Unix socket (peer auth, as on a fresh Debian install), or None."""
    if os.geteuid() != 0 or not shutil.which("runuser") or not shutil.which("psql"):
        return None

    def run(sql: str) -> list[tuple]:
        psql = [
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-p",
            str(port),
            "-d",
            "postgres",
        ]
        command = ["runuser", "-u", "postgres", "--", *psql, "-c", sql]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/", check=False)  # noqa: S603
        if proc.returncode != 0:
            raise RuntimeError(f"psql as postgres failed: {proc.stderr.strip()}")
        return [tuple(line.split("\t")) for line in proc.stdout.splitlines() if line]

    try:
        run("select 1")
    except RuntimeError:
        return None
    return run


def ensure_postgres(port: int = PG_PORT, cluster: str = "main") -> Postgres:
    """PostgreSQL on 127.0.0.1:port: found, or installed from Debian and started. Raises Unavailable."""
    started = None
    if not port_open(port):
        if not shutil.which("pg_ctlcluster") or not list(Path("/etc/postgresql").glob(f"*/{cluster}")):
            _apt_install("postgresql")
        versions = sorted(
            (p.parent.name for p in Path("/etc/postgresql").glob(f"*/{cluster}")), key=_version_key
        )
        if not versions:
            raise Unavailable(f"postgresql is installed but has no cluster /etc/postgresql/*/{cluster}")
        started = (versions[-1], cluster)
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", *started, "start"]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
        try:
            wait_for(f"PostgreSQL on 127.0.0.1:{port}", lambda: port_open(port), 60, 0.5)
        except TimeoutError as exc:
            raise Unavailable(
                f"`{' '.join(command)}` did not start PostgreSQL: {proc.stderr.strip()[-500:]}"
            ) from exc
    admin = _psycopg_admin(port) or _peer_admin(port)
    if admin is None:
        if started:
            Postgres(port, lambda sql: [], started).stop_if_started()
        raise Unavailable(
            f"PostgreSQL answers on 127.0.0.1:{port} but no superuser can log in without a password "
            "(tried trust auth over TCP and the postgres OS user over the socket)"
        )
    return Postgres(port=port, admin=admin, started_cluster=started)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


# ------------------------------------------------------------------------------------------------ Redis


@dataclass
class Redis:
    port: int
    started: bool = False

    def client(self, db: int = 0):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, socket_timeout=10)

    def free_db(self, preferred: int = 7) -> int:
        """The preferred database number if empty, else the next empty one (never flushes others')."""
        for db in [preferred, *range(preferred + 1, 16), *range(1, preferred)]:
            if self.client(db).dbsize() == 0:
                return db
        raise Unavailable(f"every Redis database 1-15 on 127.0.0.1:{self.port} holds keys; none is free")

    def stop_if_started(self) -> None:
        if self.started:
            with contextlib.suppress(Exception):
                self.client().shutdown(nosave=True)


def ensure_redis(port: int = REDIS_PORT) -> Redis:
    """Redis on 127.0.0.1:port: found, or installed from Debian and started. Raises Unavailable."""
    if port_open(port):
        redis = Redis(port)
    else:
        if not shutil.which("redis-server"):
            _apt_install("redis-server")
        command = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
                   "--save", "", "--appendonly", "no"]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        try:
            wait_for(f"Redis on 127.0.0.1:{port}", lambda: port_open(port), 30, 0.2)
        except TimeoutError as exc:
            raise Unavailable(
                f"`{shlex.join(command)}` did not start Redis: {proc.stdout[-300:]}{proc.stderr[-300:]}"
            ) from exc
        redis = Redis(port, started=True)
    try:
        redis.client().ping()
    except Exception as exc:  # noqa: BLE001
        redis.stop_if_started()
        raise Unavailable(f"Redis on 127.0.0.1:{port} does not answer PING: {exc}") from exc
    return redis


# ------------------------------------------------------------------------------------ compose -> native


_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\})")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.groups()
        if name is None:
            return "$"
        present = name in variables
        value = variables.get(name, "")
        if op in (":-", ":?") and not value:
            present = False
        if present:
            return value
        if op and op.endswith("?"):
            raise KeyError(f"compose requires {name}: {arg}")
        return arg or ""

    return _VAR.sub(one, value)


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def env_file_values() -> dict[str, str]:
    """What a filled-in .env holds: every variable .env.example lists, secrets generated fresh (the
    optional settings left empty, as a user who needs none of them would)."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if not value and re.search(r"(PASSWORD|SECRET|_KEY)$", name):  # optional settings stay empty
            if name == "AIRFLOW_FERNET_KEY":
                value = base64.urlsafe_b64encode(os.urandom(32)).decode()
            elif name == "POSTGRES_PASSWORD":
                value = secrets.token_hex(24)  # goes inside URLs: letters and digits only
            else:
                value = secrets.token_urlsafe(32)
        values[name] = value
    return values


def _native_path(value: str, root: Path) -> str | None:
    for prefix, native in CONTAINER_PATHS.items():
        if value == prefix or value.startswith(prefix + "/"):
            base = REPO if native is None else root / native
            return str(base / value[len(prefix) :].lstrip("/"))
    return None


@dataclass
class Endpoints:
    """Where the native services listen (what compose calls postgres, redis, airflow-apiserver)."""

    pg_port: int
    pg_user: str
    pg_password: str
    pg_database: str
    redis_port: int
    redis_db: int
    api_port: int


def native_environment(
    compose_env: dict[str, Any], dotenv: dict[str, str], endpoints: Endpoints, root: Path, services: dict
) -> dict[str, str]:
    """One compose service's environment, translated for processes on this machine.

    Every value is kept, except: URLs naming compose services get the native host, port, database;
    container paths become folders under root. A value that still names a container path or compose
    service afterwards raises ValueError: the compose file grew something this module must learn.
    """
    from sqlalchemy.engine import make_url

    env: dict[str, str] = {}
    for key, raw in compose_env.items():
        value = interpolate(str(raw), dotenv)
        if key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
            prefix = "db+" if value.startswith("db+") else ""
            url = make_url(value[len(prefix) :])
            if url.host not in services:
                raise ValueError(f"{key} points at {url.host!r}, which is not a compose service")
            url = url.set(
                host="127.0.0.1",
                port=endpoints.pg_port,
                username=endpoints.pg_user,
                password=endpoints.pg_password,
                database=endpoints.pg_database,
            )
            value = prefix + url.render_as_string(hide_password=False)
        elif key == "AIRFLOW__CELERY__BROKER_URL":
            parts = urlsplit(value)
            if parts.hostname not in services:
                raise ValueError(f"{key} points at {parts.hostname!r}, which is not a compose service")
            userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
            value = urlunsplit(
                (
                    parts.scheme,
                    f"{userinfo}127.0.0.1:{endpoints.redis_port}",
                    f"/{endpoints.redis_db}",
                    parts.query,
                    parts.fragment,
                )
            )
        elif key == "AIRFLOW__CORE__EXECUTION_API_SERVER_URL":
            parts = urlsplit(value)
            if parts.hostname not in services or _command(services[parts.hostname])[:2] != [
                "airflow",
                "api-server",
            ]:
                raise ValueError(f"{key} does not point at the compose service running `airflow api-server`")
            value = urlunsplit((parts.scheme, f"127.0.0.1:{endpoints.api_port}", parts.path, parts.query, ""))
        elif value.startswith("/"):
            native = _native_path(value, root)
            if native is None:
                raise ValueError(
                    f"{key}={value}: no native folder for this container path (see CONTAINER_PATHS)"
                )
            value = native
        for name in services:
            if re.search(rf"(//|@){re.escape(name)}\b", value):
                raise ValueError(f"{key} still names compose service {name}: {value}")
        env[key] = value
    return env


def _command(service: dict) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def start_order(services: dict[str, dict], names: list[str]) -> list[str]:
    """The services in an order that respects depends_on (dependencies first)."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        if name in order:
            return
        if name in path:
            raise ValueError(f"depends_on cycle: {' -> '.join((*path, name))}")
        for dep in services[name].get("depends_on") or {}:
            if dep in names:
                visit(dep, (*path, name))
        order.append(name)

    for name in names:
        visit(name)
    return order


# ----------------------------------------------------------------------------------------- the topology


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Topology:
    """Everything docker-compose.yml runs, as native processes; see the module docstring."""

    root: Path
    postgres: Postgres
    redis: Redis
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    children: list[Child] = field(default_factory=list)
    compose: dict[str, Any] = field(default_factory=load_compose)
    dotenv: dict[str, str] = field(default_factory=env_file_values)
    env_by_service: dict[str, dict[str, str]] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)  # services that needed SIGKILL
    timings: dict[str, float] = field(default_factory=dict)
    db_created: bool = False
    redis_db: int | None = None

    # ---- names and ports
    def __post_init__(self) -> None:
        self.services: dict[str, dict] = self.compose["services"]
        self.pg_name = f"csp_audit_topology_{self.token}"
        self.api_port = free_port()
        self.scheduler_health_port = free_port()
        self.worker_log_port = free_port()  # the worker's log server (8793 in a container)
        self.trigger_log_port = free_port()  # the triggerer's log server (8794 in a container)
        self.logs = self.root / "process-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        for native in CONTAINER_PATHS.values():
            if native:
                (self.root / native).mkdir(parents=True, exist_ok=True)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def admin_user(self) -> str:
        return self.dotenv["AIRFLOW_ADMIN_USERNAME"]

    @property
    def admin_password(self) -> str:
        return self.dotenv["AIRFLOW_ADMIN_PASSWORD"]

    def airflow_services(self) -> list[str]:
        """Compose services built from the Airflow image (those with AIRFLOW__ settings)."""
        return [
            n
            for n, s in self.services.items()
            if any(k.startswith("AIRFLOW__") for k in s.get("environment") or {})
        ]

    def init_services(self) -> list[str]:
        return [n for n in self.airflow_services() if str(self.services[n].get("restart")) == "no"]

    def long_running(self) -> list[str]:
        return [n for n in self.airflow_services() if n not in self.init_services()]

    # ---- backing services
    def create_backing_stores(self) -> None:
        password = self.dotenv["POSTGRES_PASSWORD"]
        self.postgres.admin(f"create role {self.pg_name} login password '{password}'")
        self.db_created = True
        self.postgres.admin(f"create database {self.pg_name} owner {self.pg_name}")
        self.redis_db = self.redis.free_db(7)

    def drop_backing_stores(self) -> list[str]:
        """Drop the database and role, flush the Redis database; what could not be cleaned."""
        problems: list[str] = []
        if self.db_created:
            for sql in (
                f"drop database if exists {self.pg_name} with (force)",
                f"drop role if exists {self.pg_name}",
            ):
                try:
                    self.postgres.admin(sql)
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{sql}: {exc}")
            left = self.postgres.admin(
                f"select datname from pg_database where datname = '{self.pg_name}' "  # noqa: S608 - our own name
                f"union all select rolname from pg_roles where rolname = '{self.pg_name}'"
            )
            if left:
                problems.append(f"PostgreSQL still has {left}")
        if self.redis_db is not None:
            client = self.redis.client(self.redis_db)
            client.flushdb()
            if client.dbsize():
                problems.append(f"Redis db {self.redis_db} still holds {client.dbsize()} keys")
        return problems

    @contextlib.contextmanager
    def postgres_connection(self) -> Iterator[Any]:
        """The metadata database, as the Airflow services log in to it."""
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1",
            port=self.postgres.port,
            user=self.pg_name,
            password=self.dotenv["POSTGRES_PASSWORD"],
            dbname=self.pg_name,
            connect_timeout=10,
        )
        try:
            yield con
        finally:
            con.close()

    # ---- environment
    def environment(self, service: str) -> dict[str, str]:
        if service in self.env_by_service:
            return self.env_by_service[service]
        if self.redis_db is None:
            raise RuntimeError("create_backing_stores() first: the Redis database is not chosen yet")
        endpoints = Endpoints(
            pg_port=self.postgres.port,
            pg_user=self.pg_name,
            pg_password=self.dotenv["POSTGRES_PASSWORD"],
            pg_database=self.pg_name,
            redis_port=self.redis.port,
            redis_db=self.redis_db,
            api_port=self.api_port,
        )
        compose_env = native_environment(
            self.services[service].get("environment") or {}, self.dotenv, endpoints, self.root, self.services
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CSP_AUDIT", "PYTEST_"))}
        env = {
            **base,
            # what the image's Dockerfile sets (ENV), with native paths
            "AIRFLOW_HOME": str(self.root / "airflow-home"),
            "CSP_AUDIT_HOME": str(REPO),
            "CSP_AUDIT_DAGS": str(REPO / "dags"),
            "CSP_AUDIT_DBT_PROJECT": str(REPO / "dbt_project"),
            # GX writes checkpoints/ and uncommitted/ into its folder: a copy, so the checkout stays clean
            "CSP_AUDIT_EXPECTATIONS": str(self.root / "expectations"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "GX_ANALYTICS_ENABLED": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "TQDM_DISABLE": "1",
            "PYTHONUNBUFFERED": "1",
            # the image installs the package; here the checkout's plugins/ comes first
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), *filter(None, [base.get("PYTHONPATH")])]),
            # Airflow starts parts of itself as plain `airflow ...`: the venv's bin must be on PATH
            "PATH": os.pathsep.join([str(BIN), base.get("PATH", "/usr/bin:/bin")]),
            # what env_file: .env passes into every container (it overrides the image's ENV) ...
            **self.dotenv,
            # ... and the service's environment: (which overrides both), translated
            **compose_env,
            # native only: ports that containers would not share, a small machine, a fast test
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.scheduler_health_port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            # in a container $HOSTNAME, socket.gethostname() and Airflow's hostname are all the
            # container id; make Airflow's agree here too, so the compose healthchecks can run verbatim
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "socket.gethostname",
            "HOSTNAME": socket.gethostname(),
            # Unpausing the @monthly DAG would queue the latest month's scheduled run ahead of the
            # triggered ones (max_active_runs=1), a third full run; the test triggers its runs itself.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # a deterministic task failure should fail the test at once, not after the retry delay
            "CSP_AUDIT_TASK_RETRIES": "0",
            MARKER: self.token,
        }
        self.env_by_service[service] = env
        return env

    # ---- processes
    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> Child:
        log = self.logs / f"{name}.log"
        handle = log.open("ab")
        try:
            proc = subprocess.Popen(  # noqa: S603
                command,
                env=env,
                cwd=env["AIRFLOW_HOME"],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        finally:
            handle.close()
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def run_init(self, name: str, timeout: float = 300) -> None:
        """Run a run-once service (airflow-init) to completion, its command verbatim."""
        started = time.monotonic()
        child = self.spawn(name, _command(self.services[name]), self.environment(name))
        try:
            code = child.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(f"{name} did not finish in {timeout:.0f} s\n{self.diagnostics()}") from exc
        self.timings[name] = time.monotonic() - started
        if code != 0:
            raise RuntimeError(f"{name} exited with {code}\n{self.diagnostics()}")

    def start(self) -> None:
        """Initialise, then start every long-running service once what it depends on is ready."""
        (self.root / "airflow-home").mkdir(parents=True, exist_ok=True)
        if not (self.root / "expectations").exists():
            shutil.copytree(
                REPO / "expectations",
                self.root / "expectations",
                ignore=shutil.ignore_patterns("uncommitted"),
            )
        airflow = set(self.airflow_services())
        for name in start_order(self.services, sorted(airflow)):
            for dep, spec in (self.services[name].get("depends_on") or {}).items():
                condition = spec.get("condition") if isinstance(spec, dict) else "service_started"
                if dep in airflow and condition == "service_healthy":
                    self.wait_healthy(dep)
            if name in self.init_services():
                self.run_init(name)
            else:
                self.spawn(name, _command(self.services[name]), self.environment(name))

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def kill(self, name: str) -> int:
        """SIGKILL a long-running service's whole process group (a crash, the OOM killer); its exit code.

        The service is forgotten (no longer checked by :meth:`check_alive`) until :meth:`restart`.
        """
        child = self.child(name)
        os.killpg(child.proc.pid, signal.SIGKILL)
        code = child.proc.wait(timeout=60)
        wait_for(f"{name}'s processes gone", lambda: not self.group_members(child.proc.pid), 60, 0.2)
        self.children.remove(child)
        self.timings.pop(f"healthy:{name}", None)
        return code

    def restart(self, name: str, timeout: float = 180) -> Child:
        """Start a long-running service again with its compose command and environment, as compose's
        ``restart: always`` does after a crash, and wait for its compose healthcheck."""
        child = self.spawn(name, _command(self.services[name]), self.environment(name))
        self.wait_healthy(name, timeout)
        return child

    def check_alive(self) -> None:
        for c in self.children:
            if c.name not in self.init_services() and c.proc.poll() is not None:
                raise ProcessDied(
                    f"{c.name} exited with {c.proc.returncode}: {last_error(c.log) or '(no exception logged)'}"
                    f"\n{self.diagnostics()}"
                )

    # ---- health
    def http(
        self, method: str, path: str, body: Any = None, token: str | None = None, timeout: float = 30
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api + path if path.startswith("/") else path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our loopback URL
            raw = response.read()
        return json.loads(raw) if raw else None

    def _health_probe(self, service: str) -> Callable[[], bool]:
        """The compose healthcheck of service, run natively.

        curl checks become HTTP requests to the native port; `airflow ...`/`celery ...` checks run
        verbatim through sh (HOSTNAME is set as in a container).
        """
        check = self.services[service].get("healthcheck", {}).get("test") or []
        kind, args = (check[0], check[1:]) if check else ("NONE", [])
        if kind == "CMD" and args and args[0] == "curl":
            url = urlsplit(next(a for a in args if a.startswith("http")))
            port = {8080: self.api_port, 8974: self.scheduler_health_port}[url.port]

            def probe() -> bool:
                self.check_alive()
                self.http("GET", f"http://127.0.0.1:{port}{url.path}", timeout=10)
                return True

            return probe
        if kind in ("CMD", "CMD-SHELL"):
            script = args[0] if kind == "CMD-SHELL" else shlex.join(args)
            script = script.replace("$$", "$")  # compose's escape for a literal $

            def probe() -> bool:
                self.check_alive()
                proc = subprocess.run(  # noqa: S603
                    ["sh", "-c", script],  # noqa: S607
                    env={**self.environment(service)},
                    cwd=self.root,
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
                return proc.returncode == 0

            return probe
        return lambda: self.check_alive() or True

    def wait_healthy(self, service: str, timeout: float = 180) -> None:
        if f"healthy:{service}" in self.timings:
            return
        started = time.monotonic()
        wait_for(f"{service} healthcheck", self._health_probe(service), timeout, 1.0, self.diagnostics)
        self.timings[f"healthy:{service}"] = time.monotonic() - started

    def wait_all_healthy(self, timeout: float = 180) -> None:
        """Every long-running service's compose healthcheck, run in parallel threads."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(self.long_running())) as pool:
            futures = [pool.submit(self.wait_healthy, name, timeout) for name in self.long_running()]
            for future in futures:
                future.result()

    # ---- stop
    def stop(self, grace: float = 30) -> list[str]:
        """SIGTERM every child's process group (last started first), SIGKILL what is left after grace.

        Returns the processes still alive afterwards (should be none).
        """
        for c in reversed(self.children):
            if c.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in reversed(self.children):
            while time.monotonic() < deadline and (c.proc.poll() is None or self.group_members(c.proc.pid)):
                time.sleep(0.2)
            if c.proc.poll() is None or self.group_members(c.proc.pid):
                self.killed.append(c.name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    c.proc.wait(timeout=10)
        time.sleep(0.5)
        leftovers = self.stragglers()
        for pid, _ in leftovers:  # by pid, only processes carrying this run's marker
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return [f"{pid} {cmd}" for pid, cmd in leftovers]

    @staticmethod
    def group_members(pgid: int) -> list[int]:
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(stat.parent.name))
        return members

    def stragglers(self) -> list[tuple[int, str]]:
        """Live processes (any group or session) whose environment carries this run's marker."""
        needle = f"{MARKER}={self.token}".encode()
        found = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            pid = int(environ.parent.name)
            if pid == os.getpid():
                continue
            try:
                if needle not in environ.read_bytes().split(b"\0"):
                    continue
                state = (environ.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
                cmd = (environ.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if state != "Z":
                found.append((pid, cmd.strip()))
        return found

    def diagnostics(self, lines: int = 40) -> str:
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            parts.append(f"----- {log.name} (last {lines} lines) -----\n{tail(log, lines)}")
        return "\n".join(parts)


@contextlib.contextmanager
def running_topology(root: Path) -> Iterator[Topology]:
    """Find or start PostgreSQL and Redis, start the topology, and always clean everything up.

    Raises Unavailable (before starting anything of its own) when PostgreSQL or Redis cannot be had.
    On exit: every process stopped, the database, role and Redis database dropped/flushed, and
    PostgreSQL/Redis stopped again if this function started them. Problems found while cleaning up
    are raised as an AssertionError after everything has been tried.
    """
    postgres = ensure_postgres()
    try:
        redis = ensure_redis()
    except Unavailable:
        postgres.stop_if_started()
        raise
    topo = Topology(root=root, postgres=postgres, redis=redis)
    problems: list[str] = []
    try:
        topo.create_backing_stores()
        yield topo
    finally:
        try:
            left = topo.stop()
            if left:
                problems.append(f"processes left after stopping: {left}")
            if topo.killed:
                problems.append(f"did not stop within 30 s of SIGTERM (SIGKILLed): {topo.killed}")
        finally:
            problems += topo.drop_backing_stores()
            redis.stop_if_started()
            postgres.stop_if_started()
            print(topo.diagnostics(60))
    if problems:
        raise AssertionError("; ".join(problems))
