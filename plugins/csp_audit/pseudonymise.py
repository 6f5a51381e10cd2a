"""Keyed pseudonymisation of the fields a data-sharing agreement names.

A keyed hash (HMAC-SHA256) gives the same pseudonym for the same person across deliveries, so
repeat victims can be counted, while nobody without the key can reverse or re-derive it. The key
comes from the Airflow connection ``csp_audit_pseudonymisation`` (its password) or, outside
Airflow, the environment variable ``CSP_AUDIT_PSEUDONYMISATION_KEY``; never from the repo.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pandas as pd

CONN_ID = "csp_audit_pseudonymisation"
ENV_KEY = "CSP_AUDIT_PSEUDONYMISATION_KEY"
MIN_KEY_LENGTH = 16


class MissingKey(RuntimeError):
    """No pseudonymisation key is configured, so record-level personal fields cannot be loaded."""


def pseudonymisation_key() -> bytes:
    """The key from the Airflow connection (via its environment form or the secrets backend)."""
    key = os.environ.get(ENV_KEY, "")
    raw_conn = os.environ.get(f"AIRFLOW_CONN_{CONN_ID.upper()}")
    if not key and raw_conn:
        key = json.loads(raw_conn).get("password", "") if raw_conn.lstrip().startswith("{") else ""
    if not key:
        try:
            from airflow.sdk import Connection

            key = Connection.get(CONN_ID).password or ""
        except Exception:  # noqa: BLE001 - no Airflow context or no such connection: reported below
            key = ""
    if len(key) < MIN_KEY_LENGTH:
        raise MissingKey(
            f"no pseudonymisation key: set the password of Airflow connection '{CONN_ID}' "
            f"(or ${ENV_KEY}) to a secret of at least {MIN_KEY_LENGTH} characters"
        )
    return key.encode("utf-8")


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """Replace each non-empty value by ``p_`` + the first 32 hex digits of HMAC-SHA256(key, value)."""

    def one(value: object) -> object:
        if value is None or value is pd.NA or value == "":
            return value
        return "p_" + hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    return values.map(one).astype("string")
