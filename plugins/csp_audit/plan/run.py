"""The plan a run follows: a data plan, or a region alone standing for its one-dataset plan.

A partnership with police data only runs ``csp-audit run --region R.yaml`` (or sets only
``CSP_AUDIT_REGION``); the pipeline is the same: the region becomes a plan named after it whose one
dataset is police.uk street files (:func:`csp_audit.sources.police_uk.contract`). It has no agencies,
so it expects no deliveries by a due date and sends no requests; a force's files count for the force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csp_audit.config import load_region, safe_yaml
from csp_audit.plan.model import Cycle, DataPlan, load_plan
from csp_audit.plan.periods import Month


def is_plan_document(path: str | Path) -> bool:
    """True for a data plan YAML (it has ``datasets``), False for a region YAML."""
    try:
        doc: Any = safe_yaml(Path(path).read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - unreadable: let load_plan / load_region say why
        return False
    return isinstance(doc, dict) and ("datasets" in doc or "agencies" in doc or "cycle" in doc)


def region_plan(region_file: str | Path) -> DataPlan:
    """The one-dataset plan of a region: police.uk street files from its ``sources.police_uk``."""
    from csp_audit.sources.police_uk import DATASET, contract

    region = load_region(region_file)
    return DataPlan(
        name=region.name,
        source=region.source,
        region=region.source,
        cycle=Cycle(Month(2000, region.audit_year_start_month), 12),
        agencies={},
        datasets={DATASET: contract()},
        description=f"police.uk street-level crime for region {region.name}",
    )


def load_run_plan(path: str | Path) -> DataPlan:
    """The plan at ``path``, or the one-dataset plan of the region at ``path``.

    Raises PlanError or RegionConfigError (both ValueError) naming the file and the key.
    """
    return load_plan(path) if is_plan_document(path) else region_plan(path)
