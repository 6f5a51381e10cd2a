"""Shared data plans: one co-ordinated request per agency per audit cycle, and tracking of what arrived.

Neighbouring partnerships describe in one ``plan.yaml`` which agency delivers which dataset, when, at which
geography and on what sharing terms (keys: ``docs/data-plan.md``, ``schema.json``). From it come the
requests (:mod:`csp_audit.requests.letters`) and the arrival board (:mod:`csp_audit.requests.arrivals`); the CLI
entry point is :func:`csp_audit.cli.plan.add_plan_commands`.
"""

from csp_audit.plan.model import (
    Agency,
    Column,
    Cycle,
    DataPlan,
    Dataset,
    Geography,
    PlanError,
    Sharing,
    load_plan,
)
from csp_audit.plan.run import load_run_plan, region_plan

__all__ = [
    "Agency",
    "Column",
    "Cycle",
    "DataPlan",
    "Dataset",
    "Geography",
    "PlanError",
    "Sharing",
    "load_plan",
    "load_run_plan",
    "region_plan",
]
