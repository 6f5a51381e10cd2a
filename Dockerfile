# csp-audit image: Airflow 3.3 + dbt-duckdb + Great Expectations + the csp_audit package, installed from
# the project's own lock (requirements.lock) rather than Airflow's constraints files.
#
# One image serves every Airflow service in docker-compose.yml (api-server, scheduler, dag-processor,
# triggerer, celery worker, init); the compose file picks the `airflow ...` command per service.
#
#   docker compose build            # or: docker build -t csp-audit .
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.9
# Same uid as the official apache/airflow image, primary group 0 (also like the official image) so files
# it writes stay usable if an operator runs the containers with another uid.
ARG AIRFLOW_UID=50000

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

# curl is what the compose healthchecks call (api-server and scheduler health endpoints). pango (with
# HarfBuzz-Subset, for fast font subsetting) and a font are what WeasyPrint needs to print each pack's
# report.pdf.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
       fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --uid "${AIRFLOW_UID}" --gid 0 --create-home --home-dir /home/airflow --shell /bin/bash airflow \
    # Mount points of the named volumes: a new named volume takes the ownership of the image folder it
    # is mounted on, so the non-root user can write logs, the warehouse, landing and outbox.
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /data/warehouse /data/landing /data/outbox /data/region \
    && chown -R airflow:0 /opt/airflow /data/warehouse /data/landing /data/outbox \
    && chmod 0770 /opt/airflow/auth

WORKDIR /opt/csp-audit

# 1. Third-party dependencies, exactly as locked. This is the slow layer; it is rebuilt only when the lock
#    changes. `uv pip sync` installs the lock and nothing else (uv keeps itself, pip and setuptools).
COPY requirements.lock ./
RUN pip install "uv==${UV_VERSION}" \
    && uv pip sync --system requirements.lock

# 2. The csp_audit package itself (no dependencies: they all came from the lock above).
COPY pyproject.toml README.md ./
COPY plugins/ plugins/
RUN uv pip install --system --no-deps . \
    && rm -rf build plugins/*.egg-info

# 3. The non-Python parts the package finds through CSP_AUDIT_* (see plugins/csp_audit/paths.py).
COPY dags/ dags/
COPY dbt_project/ dbt_project/
# The suites are read as JSON (validation results and Data Docs go beside the warehouse, not here); the
# folder stays owned by the task user so a data engineer can save a tuned suite from inside a container.
COPY --chown=airflow:0 expectations/ expectations/

ENV AIRFLOW_HOME=/opt/airflow \
    CSP_AUDIT_HOME=/opt/csp-audit \
    CSP_AUDIT_DAGS=/opt/csp-audit/dags \
    CSP_AUDIT_DBT_PROJECT=/opt/csp-audit/dbt_project \
    CSP_AUDIT_EXPECTATIONS=/opt/csp-audit/expectations \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/csp-audit/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    GX_ANALYTICS_ENABLED=false \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DO_NOT_TRACK=1 \
    TQDM_DISABLE=1

USER airflow
WORKDIR /opt/airflow

# No entrypoint script: docker-compose.yml gives each service its full `airflow ...` command.
CMD ["airflow", "version"]
