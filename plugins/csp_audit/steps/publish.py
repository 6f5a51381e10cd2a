"""The publish chain as plain functions: the publish DAG's tasks call them one by one, and
:func:`publish` runs them all in order (for ``csp-audit publish`` and the demo).

1. ``analyst_snapshot``: read-only copy of the warehouse (the only step that opens the live file);
2. ``analyst_docs``: the dbt docs site from that copy;
3. ``build_and_release``: every partnership's pack from the snapshot, released as a new version
   (or recorded as unchanged);
4. ``deliver``: new releases into each partnership's outbox;
5. ``notify``: one message per partnership with a release not yet announced.

Resumable: a run killed anywhere, or a task retried, is completed by the next run without doubling.
A release is written once (a new version only when the tables changed; a version renamed into place by
a killed run is recognised as the latest, see :func:`csp_audit.packs.release.recover`); ``deliver``
copies every release whose outbox copy lacks its ``DELIVERED`` marker; ``notify`` announces exactly the
releases whose ``.unannounced-<version>`` marker is present (written with the release itself) and removes
each partnership's marker as soon as its message is sent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from csp_audit.orchestration.settings import PUBLISH_ROOT_ENV
from csp_audit.packs.build import PackRelease


def default_out_root(warehouse_file: str | Path) -> Path:
    """``$CSP_AUDIT_PUBLISH_ROOT``, else ``publish/`` beside the warehouse."""
    env = os.environ.get(PUBLISH_ROOT_ENV)
    return Path(env).expanduser().resolve() if env else Path(warehouse_file).resolve().parent / "publish"


def _region_file(plan_file: str | None, region_file: str | None) -> Path | None:
    if region_file:
        return Path(region_file)
    if plan_file:
        from csp_audit.plan import load_run_plan

        return load_run_plan(plan_file).region
    return None


def dbt_variables_for(plan_file: str | None, region_file: str | None) -> dict[str, Any]:
    from csp_audit.config import load_region
    from csp_audit.steps.build import dbt_variables

    region = _region_file(plan_file, region_file)
    if region is None:
        raise ValueError("the dbt docs need the region: pass a plan or a region file")
    return dbt_variables(load_region(region))


def analyst_snapshot(warehouse_file: str, out_root: str) -> dict[str, str]:
    from csp_audit.packs.analyst import snapshot_warehouse

    path = snapshot_warehouse(warehouse_file, out_root)
    return {"snapshot": str(path)}


def analyst_docs(
    snapshot: str, out_root: str, plan_file: str | None, region_file: str | None
) -> dict[str, str]:
    from csp_audit.packs.analyst import dbt_docs

    site = dbt_docs(snapshot, out_root, dbt_variables_for(plan_file, region_file))
    return {"dbt_docs": str(site)}


def build_and_release(
    snapshot: str,
    out_root: str,
    plan_file: str | None = None,
    refresh_label: str | None = None,
    partnerships: list[str] | None = None,
    region_file: str | None = None,
) -> list[dict[str, Any]]:
    from csp_audit.faults import fault_point
    from csp_audit.packs.build import build_packs

    # a new release carries its unannounced marker from the moment it is visible (build_packs writes it
    # before the version folder is renamed into place); notify sends for exactly those markers
    releases = build_packs(
        snapshot,
        out_root,
        plan_file=plan_file,
        region_file=region_file,
        refresh_label=refresh_label,
        partnerships=partnerships,
    )
    fault_point("publish:released")
    return [r.to_dict() for r in releases]


def deliver(releases: list[dict[str, Any]], out_root: str) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from csp_audit.packs.deliver import deliver_releases

    done = deliver_releases([PackRelease.from_dict(r) for r in releases], out_root)
    return [asdict(d) for d in done]


def notify(
    releases: list[dict[str, Any]],
    deliveries: list[dict[str, Any]],
    plan_file: str | None = None,
    region_file: str | None = None,
    context: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    from dataclasses import asdict

    from csp_audit.packs.deliver import Delivery, contacts_file_for, notify_releases, read_contacts

    fallback: list[str] = []
    if plan_file:
        from csp_audit.plan import load_plan

        plan = load_plan(plan_file)
        if plan.coordinator:
            fallback = [plan.coordinator.contact]
    contacts = read_contacts(contacts_file_for(plan_file, region_file))
    notices = notify_releases(
        [PackRelease.from_dict(r) for r in releases],
        contacts=contacts,
        deliveries=[Delivery(**d) for d in deliveries],
        fallback=fallback,
        context=context,
    )
    return [asdict(n) for n in notices]


def publish(
    warehouse_file: str | Path,
    out_root: str | Path | None = None,
    *,
    plan_file: str | Path | None = None,
    region_file: str | Path | None = None,
    refresh_label: str | None = None,
    docs: bool = True,
    send: bool = True,
    partnerships: list[str] | None = None,
) -> dict[str, Any]:
    """Snapshot, docs, packs, outbox and notices for one refresh; a summary of what happened."""
    warehouse = str(Path(warehouse_file).resolve())
    root = str(Path(out_root).resolve() if out_root else default_out_root(warehouse))
    plan = str(plan_file) if plan_file else None
    region = str(region_file) if region_file else None
    summary: dict[str, Any] = analyst_snapshot(warehouse, root)
    if docs:
        summary |= analyst_docs(summary["snapshot"], root, plan, region)
    releases = build_and_release(summary["snapshot"], root, plan, refresh_label, partnerships, region)
    deliveries = deliver(releases, root)
    summary |= {"out_root": root, "releases": releases, "deliveries": deliveries}
    summary["notices"] = notify(releases, deliveries, plan, region) if send else []
    return summary
