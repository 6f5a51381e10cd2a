"""Where the project's non-Python parts live (dbt project, GX context, DAG folder).

In a checkout (editable install) they sit beside ``plugins/``; in a container image they can be
mounted elsewhere and pointed to with environment variables, so nothing assumes the working
directory.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def _located(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).resolve() if value else default


def project_root() -> Path:
    return _located("CSP_AUDIT_HOME", _CHECKOUT)


def dbt_project_dir() -> Path:
    return _located("CSP_AUDIT_DBT_PROJECT", project_root() / "dbt_project")


def expectations_dir() -> Path:
    return _located("CSP_AUDIT_EXPECTATIONS", project_root() / "expectations")


def dags_dir() -> Path:
    return _located("CSP_AUDIT_DAGS", project_root() / "dags")
