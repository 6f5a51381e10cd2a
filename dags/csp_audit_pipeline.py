"""Airflow DAGs of the data plan named by $CSP_AUDIT_PLAN, or of the region named by $CSP_AUDIT_REGION.

One ingest DAG per dataset (csp_audit_ingest__<dataset>, each emitting the dataset's Asset) and the
audit build (csp_audit_build), scheduled on those Assets or the plan's due days. A region alone is its
one-dataset plan: csp_audit_ingest__police_uk_street and csp_audit_build. Neither set: no DAGs.
"""

from csp_audit.orchestration.pipeline_dags import pipeline_dags
from csp_audit.orchestration.settings import plan_or_region_file

globals().update(pipeline_dags(plan_or_region_file()))
