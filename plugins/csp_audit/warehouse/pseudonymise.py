"""Keyed pseudonymisation of the fields a data-sharing agreement names, computed by DuckDB.

A keyed hash (HMAC-SHA256) gives the same pseudonym for the same person across deliveries, so
repeat victims can be counted, while nobody without the key can reverse or re-derive it. The key
comes from the Airflow connection ``csp_audit_pseudonymisation`` (its password) or, outside
Airflow, the environment variable ``CSP_AUDIT_PSEUDONYMISATION_KEY``; never from the repo.

The load computes the pseudonyms in SQL as the rows are inserted (HMAC from DuckDB's ``sha256``: the
key's inner and outer pads are query parameters, so the key never appears in a statement), so a
personal value is never held in Python and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

CONN_ID = "csp_audit_pseudonymisation"
ENV_KEY = "CSP_AUDIT_PSEUDONYMISATION_KEY"
MIN_KEY_LENGTH = 16
PREFIX = "p_"
DIGITS = 32  # hex digits of the HMAC kept
_BLOCK = 64  # SHA-256 block size in bytes


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


def key_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104): the query parameters of :func:`sql`."""
    block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
    block = block.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def sql(value: str, inner: str, outer: str) -> str:
    """SQL for ``p_`` + the first 32 hex digits of HMAC-SHA256(key, value); empty values stay as they are.

    ``inner`` and ``outer`` are SQL expressions (BLOB) holding the pads of :func:`key_pads`.
    """
    digest = f"sha256({outer} || unhex(sha256({inner} || encode({value}))))"
    return f"case when {value} is null or {value} = '' then {value} else '{PREFIX}' || left({digest}, {DIGITS}) end"


def pseudonym(value: str, key: bytes) -> str:
    """The same pseudonym in Python, for checks and tests (the load uses :func:`sql`)."""
    return PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:DIGITS]
