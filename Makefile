# csp-audit: two commands on a fresh machine -- `make demo` and `make test`.
# The venv is built from the lock file (requirements.lock), never from loose ranges.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.installed
OUT    ?= demo-output
AIRFLOW_HOME_DIR ?= $(CURDIR)/airflow-home

export GX_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export TQDM_DISABLE := 1

.PHONY: venv pyc demo test test-unit test-integration lint format airflow bench lock clean

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on CI), Python would
# otherwise compile every imported module from source in every process (about 9 s of CPU for each
# Airflow task, dbt and CLI start-up).
$(STAMP): requirements.lock pyproject.toml demo/pyproject.toml | $(BIN)/python
	$(UV) pip sync --compile-bytecode --python $(BIN)/python requirements.lock
	$(UV) pip install --compile-bytecode --python $(BIN)/python --no-deps -e . -e demo
	@touch $@

# the project's own modules, compiled before a run (cheap; stale files are recompiled by mtime)
pyc:
	@$(BIN)/python -m compileall -q -j 2 plugins dags demo tests bench >/dev/null

## make demo: generate the demo region and run the whole pipeline through Airflow
demo: venv pyc
	$(BIN)/csp-audit demo --out $(OUT)

## make test: lint, unit tests, integration tests on the real engines and the real data in ../shared
TEST_WORKERS ?= 2
test: venv lint pyc
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

test-unit: venv
	$(BIN)/python -m pytest tests/unit

test-integration: venv
	$(BIN)/python -m pytest tests/integration

PY_SOURCES := plugins dags tests bench demo
# sqlfluff's dbt templater compiles the project, so the profile needs a warehouse path: an empty scratch one
SQLFLUFF := CSP_AUDIT_WAREHOUSE=$(CURDIR)/.sqlfluff-work/lint.duckdb $(BIN)/sqlfluff

lint: venv
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	@mkdir -p .sqlfluff-work
	$(SQLFLUFF) lint dbt_project/models dbt_project/tests --processes 2 --disable-progress-bar

format: venv
	$(BIN)/ruff format $(PY_SOURCES)
	$(BIN)/ruff check --fix $(PY_SOURCES)
	@mkdir -p .sqlfluff-work
	$(SQLFLUFF) fix dbt_project/models dbt_project/tests --processes 2 --disable-progress-bar

## make bench: the national-scale benchmark (SCALE=month|year|3years) with its baselines; see bench/README.md
SCALE ?= month
bench: venv
	$(BIN)/python bench/run_bench.py --scale $(SCALE)

## make airflow: `airflow standalone` with this project's DAGs (UI on http://localhost:8080); defaults: the demo's
## plan and region (run `make demo` first), its own warehouse
airflow: venv
	@mkdir -p $(AIRFLOW_HOME_DIR)
	PATH="$(CURDIR)/$(BIN):$$PATH" \
	AIRFLOW_HOME=$(AIRFLOW_HOME_DIR) \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__PARALLELISM=4 \
	CSP_AUDIT_PLAN=$${CSP_AUDIT_PLAN:-$(CURDIR)/$(OUT)/plan.yaml} \
	CSP_AUDIT_REGION=$${CSP_AUDIT_REGION:-$(CURDIR)/$(OUT)/region.yaml} \
	CSP_AUDIT_WAREHOUSE=$${CSP_AUDIT_WAREHOUSE:-$(CURDIR)/$(OUT)/airflow-warehouse.duckdb} \
	CSP_AUDIT_PSEUDONYMISATION_KEY=$${CSP_AUDIT_PSEUDONYMISATION_KEY:-$$(cat $(OUT)/.secrets/pseudonymisation.key 2>/dev/null)} \
	sh -c 'airflow db migrate >/dev/null && \
	       airflow pools set duckdb_warehouse 1 "DuckDB single writer" >/dev/null && \
	       echo "Log in at http://localhost:8080 as admin; password in $(AIRFLOW_HOME_DIR)/simple_auth_manager_passwords.json.generated" && \
	       exec airflow standalone'

## make lock: re-resolve requirements.lock after changing pyproject.toml
lock: $(BIN)/python
	$(UV) pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 --python-platform x86_64-unknown-linux-gnu

clean:
	rm -rf $(OUT) $(AIRFLOW_HOME_DIR) .pytest_cache .ruff_cache .sqlfluff-work dbt_project/target dbt_project/logs
