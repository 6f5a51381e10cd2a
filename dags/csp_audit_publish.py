"""Airflow DAG: after each audit build, the analyst snapshot, every partnership's audit pack, its
outbox delivery and the notices (scheduled on the build's csp-audit://<plan or region>/audit-build Asset).

Thin on purpose: all logic lives in the csp_audit package (orchestration/publish_dag.py, steps/publish.py).
"""

from csp_audit.orchestration.publish_dag import publish_dag
from csp_audit.orchestration.settings import plan_or_region_file

dag = publish_dag(plan_or_region_file())
