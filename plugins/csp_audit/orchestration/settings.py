"""The one resolver of a run's settings: which plan (or region), which warehouse, and so on.

Every DAG reads its settings the same way, from the first place that has them:

1. the run's conf (``{"plan": ..., "warehouse": ...}`` or ``{"region": ..., ...}``; the CLI passes these);
2. the triggering Asset event's ``extra`` (the build hands the publish DAG what it built);
3. the DAG's params (shown in the UI's trigger form, defaulted from the environment);
4. the environment: ``CSP_AUDIT_PLAN``, ``CSP_AUDIT_REGION``, ``CSP_AUDIT_WAREHOUSE``,
   ``CSP_AUDIT_PUBLISH_ROOT``.

A plan and a region are resolved as a pair, so a conf naming a region is never mixed with a plan from
the environment. A region alone stands for its one-dataset plan (police.uk street files): its path is
the run's ``plan`` setting, read with :func:`csp_audit.plan.load_run_plan`.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

PLAN_ENV = "CSP_AUDIT_PLAN"
REGION_ENV = "CSP_AUDIT_REGION"
WAREHOUSE_ENV = "CSP_AUDIT_WAREHOUSE"
PUBLISH_ROOT_ENV = "CSP_AUDIT_PUBLISH_ROOT"
ENVIRONMENT = {
    "plan": PLAN_ENV,
    "region": REGION_ENV,
    "warehouse": WAREHOUSE_ENV,
    "out_root": PUBLISH_ROOT_ENV,
}


def plan_or_region_file() -> str | None:
    """What the DAG folder is built from: ``$CSP_AUDIT_PLAN``, else ``$CSP_AUDIT_REGION`` (parse time)."""
    return os.environ.get(PLAN_ENV) or os.environ.get(REGION_ENV) or None


def _layers(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The places settings come from, first first."""
    run = context.get("dag_run")
    conf = dict(getattr(run, "conf", None) or {})
    extra: dict[str, Any] = {}
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            extra |= {k: v for k, v in (getattr(event, "extra", None) or {}).items() if isinstance(v, str)}
    params = dict(context.get("params") or {})
    env = {name: os.environ.get(var) for name, var in ENVIRONMENT.items()}
    return [conf, extra, params, env]


def _path(value: Any) -> str:
    return str(Path(str(value)).expanduser().resolve())


def resolve(context: dict[str, Any] | None = None, *, need_plan: bool = True) -> dict[str, Any]:
    """The run's settings: ``plan`` (a plan or a region YAML), ``region`` (when a region was given),
    ``warehouse``, ``out_root``, ``as_of`` and ``refresh_label`` when given.

    Raises ValueError naming where to pass a missing plan or warehouse.
    """
    if context is None:
        from airflow.sdk import get_current_context

        context = dict(get_current_context())
    layers = _layers(context)
    out: dict[str, Any] = {"plan": None, "region": None}
    for layer in layers:  # plan and region as a pair: the first layer naming either decides both
        if layer.get("plan") or layer.get("region"):
            out["region"] = _path(layer["region"]) if layer.get("region") else None
            out["plan"] = _path(layer["plan"]) if layer.get("plan") else out["region"]
            break
    for name in ("warehouse", "out_root"):
        value = next((layer[name] for layer in layers if layer.get(name)), None)
        out[name] = _path(value) if value else None
    conf = layers[0]
    for name in ("as_of", "refresh_label"):
        if conf.get(name):
            out[name] = str(conf[name])
    if need_plan and not out["plan"]:
        raise ValueError(
            f"no plan: pass plan or region in the run conf, the DAG params, ${PLAN_ENV} or ${REGION_ENV}"
        )
    if not out["warehouse"]:
        raise ValueError(f"no warehouse: pass it in the run conf, the DAG params or ${WAREHOUSE_ENV}")
    if not out["out_root"]:
        out["out_root"] = str(Path(out["warehouse"]).parent / "publish")
    if "refresh_label" not in out:
        run = context.get("dag_run")
        when = getattr(run, "logical_date", None) or getattr(run, "run_after", None) or datetime.now()
        out["refresh_label"] = when.strftime("%Y-%m-%dT%H:%MZ")
    return out
