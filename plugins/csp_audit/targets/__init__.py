"""From audit to strategy: SMART target registers, their checks and progress against them.

- :func:`load_register` reads ``targets/<partnership_code>.yaml`` (format: docs/strategy.md);
- :func:`check_register` rejects targets that are not Specific, Measurable, Achievable, Relevant and
  Time-bound, each with its reason (``csp-audit targets check``);
- :func:`write_progress` / :func:`refresh_progress` recompute ``audit.target_progress`` (current value,
  trajectory, RAG status);
- :func:`add_targets_commands` wires ``csp-audit targets check|progress`` into the CLI;
- :func:`csp_audit_demo.targets.write_demo_targets` writes the demo region's registers.

Names are imported lazily so that ``cli.py`` can import :mod:`csp_audit.cli.targets` at its top
without loading DuckDB or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Assessment": "check",
    "assess_register": "check",
    "check_register": "check",
    "Problem": "model",
    "Register": "model",
    "RegisterError": "model",
    "Target": "model",
    "load_register": "model",
    "register_files": "model",
    "compute_all": "progress",
    "compute_progress": "progress",
    "judge": "progress",
    "write_progress": "progress",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'csp_audit.targets' has no attribute {name!r}")
    return getattr(importlib.import_module(f"csp_audit.targets.{_EXPORTS[name]}"), name)
