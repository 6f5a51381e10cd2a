"""The Assets between the project's DAGs.

Each ingest DAG emits ``csp-audit://<plan>/<dataset>`` when it loads something new; the audit build is
scheduled on any of them (or the plan's due days) and emits ``csp-audit://<plan>/audit-build``, on which
the publish DAG is scheduled. ``<plan>`` is the data plan's ``name``, or the region's for a region alone.
"""

from __future__ import annotations

from airflow.sdk import Asset


def dataset_asset(plan_name: str, dataset_id: str) -> Asset:
    return Asset(
        name=f"{plan_name}.{dataset_id}", uri=f"csp-audit://{plan_name}/{dataset_id}", group="csp-audit"
    )


def audit_build_asset(plan_name: str) -> Asset:
    """The Asset an audit build emits when its marts are rebuilt: ``csp-audit://<name>/audit-build``."""
    return Asset(
        name=f"{plan_name}.audit-build", uri=f"csp-audit://{plan_name}/audit-build", group="csp-audit"
    )
