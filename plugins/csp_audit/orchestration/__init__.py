"""Airflow: the DAG builders the DAG files call, the one settings resolver, and running DAGs locally.

Nothing here imports pandas, DuckDB, dbt or Great Expectations at module level, so DAG files parse fast.
"""
