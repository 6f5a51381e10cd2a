"""Airflow DAG: police.uk street crime -> Great Expectations gate -> DuckDB raw -> dbt audit marts.

Thin on purpose: all logic lives in the csp_audit package (plugins/csp_audit).
Set CSP_AUDIT_REGION and CSP_AUDIT_WAREHOUSE, or pass {"region": ..., "warehouse": ...} as run conf.
"""

from csp_audit.audit_dag import build_police_audit_dag

dag = build_police_audit_dag()
