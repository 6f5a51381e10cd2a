"""The one-slot pool that serialises the tasks writing the warehouse (DuckDB allows one writer per file).

Kept free of Airflow imports: :mod:`csp_audit.orchestration.airflow_env` creates the pool before
Airflow is configured.
"""

POOL = "duckdb_warehouse"
POOL_DESCRIPTION = "DuckDB allows one writer: serialise tasks that write the warehouse"
