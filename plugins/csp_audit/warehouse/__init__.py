"""The DuckDB warehouse: the raw layer Python writes, and dbt, which builds everything after it.

- :mod:`~csp_audit.warehouse.connection`: opening the file (one writer at a time) and whole-table writes;
- :mod:`~csp_audit.warehouse.raw`: the delivery register, the gate's verdicts and each dataset's rows;
- :mod:`~csp_audit.warehouse.pseudonymise`: the keyed hash of the fields a sharing agreement names, in SQL;
- :mod:`~csp_audit.warehouse.dbt_runner`: ``dbt build`` against the file.
"""

from csp_audit.warehouse.connection import connect, now, quote_ident, replace_tables
from csp_audit.warehouse.raw import (
    accepted_rows,
    dataset_table,
    ensure_dataset_table,
    load_delivery,
    loaded,
    record_scan,
    record_validation,
    validated,
)

__all__ = [
    "accepted_rows",
    "connect",
    "dataset_table",
    "ensure_dataset_table",
    "load_delivery",
    "loaded",
    "now",
    "quote_ident",
    "record_scan",
    "record_validation",
    "replace_tables",
    "validated",
]
