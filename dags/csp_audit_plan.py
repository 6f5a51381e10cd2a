"""Airflow DAGs generated from the data plan named by $CSP_AUDIT_PLAN.

One ingest DAG per dataset (csp_audit_ingest__<dataset>, each emitting the dataset's Asset) and the
audit build (csp_audit_build) scheduled on those Assets or the plan's due days. No plan, no DAGs.
"""

from csp_audit.plan_dags import build_plan_dags

globals().update(build_plan_dags())
