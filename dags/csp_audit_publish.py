"""Airflow DAG: after each audit build, the analyst snapshot, every partnership's audit pack, its
outbox delivery and the notices (scheduled on the build's csp-audit://<plan or region>/audit-build Asset).

Thin on purpose: all logic lives in the csp_audit package (plugins/csp_audit/publish_dag.py, packs/).
"""

from csp_audit.publish_dag import build_publish_dag

dag = build_publish_dag()
