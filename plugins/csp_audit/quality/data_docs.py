"""Great Expectations Data Docs for the deliveries a run validated, beside the warehouse.

The repo's GX context (``expectations/``) holds the suites and stays read-only at run time; each
warehouse gets its own file context in ``<warehouse dir>/gx-docs/`` where the validation results
are stored and the Data Docs site is built (``uncommitted/data_docs/local_site/index.html``), next
to the Markdown feedback reports.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any


def docs_root(warehouse_file: str) -> Path:
    return Path(warehouse_file).parent / "gx-docs"


@cache
def _context(root: str) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    context = gx.get_context(mode="file", context_root_dir=root)
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return context


DOCS_SAMPLE = 20  # unexpected values and rows shown per rule in the docs


def slim(result: Any) -> Any:
    """Cut each rule's lists of unexpected rows to a sample, in place, before the result is stored.

    The gate asks GX for every failing row (they go to the quarantine, and a batch holds many
    files), but the docs only show a sample; serialising tens of thousands of rows per rule into
    the docs' JSON cost more than validating them.
    """
    for item in result.results:
        res = item.result or {}
        res.pop("unexpected_index_list", None)
        res.pop("unexpected_list", None)
        res.pop("unexpected_index_query", None)
        for key in ("partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts"):
            if isinstance(res.get(key), list):
                res[key] = res[key][:DOCS_SAMPLE]
    return result


def record(warehouse_file: str, suite: Any, result: Any, run_name: str, batch_id: str) -> None:
    """Store one validation result (and its suite, so the docs can show the rules).

    Large lists of unexpected rows are cut to a sample first (see :func:`slim`).
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = _context(str(docs_root(warehouse_file)))
    if suite.name not in {s.name for s in context.suites.all()}:
        import great_expectations as gx

        copy = gx.ExpectationSuite(name=suite.name, meta=dict(suite.meta or {}))
        for exp in suite.expectations:
            copy.add_expectation_configuration(exp.configuration)
        context.suites.add(copy)
    key = ValidationResultIdentifier(
        ExpectationSuiteIdentifier(suite.name), RunIdentifier(run_name=run_name), batch_id
    )
    context.validation_results_store.set(key, slim(result))


def build(warehouse_file: str) -> Path | None:
    """Build the Data Docs site from every stored result; the path of its index page."""
    root = docs_root(warehouse_file)
    if not root.exists():
        return None
    sites = _context(str(root)).build_data_docs()
    index = sites.get("local_site", "")
    return Path(index.removeprefix("file://")) if index else None
