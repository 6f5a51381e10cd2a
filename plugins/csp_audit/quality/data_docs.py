"""Great Expectations Data Docs for the deliveries a run validated, beside the warehouse.

The repo's GX context (``expectations/``) holds the suites and stays read-only at run time; each
warehouse gets its own file context in ``<warehouse dir>/gx-docs/`` where the validation results
are stored and the Data Docs site is built (``uncommitted/data_docs/local_site/index.html``), next
to the Markdown feedback reports.
"""

from __future__ import annotations

import os
import re
import shutil
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


def describe(dataset: str, deliveries: list[Any]) -> dict[str, str]:
    """What a validation page says it checked: the dataset and, per delivery, agency, period and file."""
    return {
        "dataset": dataset,
        "agencies": ", ".join(sorted({d.agency for d in deliveries})),
        "periods": ", ".join(sorted({d.period for d in deliveries})),
        **{f"file {n}": f"{d.agency} {d.period}: {d.source_file}" for n, d in enumerate(deliveries, 1)},
    }


def record(
    warehouse_file: str,
    suite: Any,
    result: Any,
    run_name: str,
    batch_id: str,
    described: dict[str, str] | None = None,
) -> None:
    """Store one validation result (and its suite, so the docs can show the rules).

    Large lists of unexpected rows are cut to a sample first (see :func:`slim`). ``described``
    (:func:`describe`) goes into the result's batch parameters, which the page shows under "Show
    more info": a batch holds several files, so the page says which, from which agency and period.
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
    if described:
        result.meta["batch_parameters"] = dict(result.meta.get("batch_parameters") or {}) | described
    context.validation_results_store.set(key, slim(result))


def build(warehouse_file: str) -> Path | None:
    """Build the Data Docs site from every stored result; the path of its index page."""
    root = docs_root(warehouse_file)
    if not root.exists():
        return None
    sites = _context(str(root)).build_data_docs()
    index = sites.get("local_site", "")
    if not index:
        return None
    page = Path(index.removeprefix("file://"))
    make_offline(page.parent)
    return page


# ------------------------------------------------------------------------------------------ offline

STATIC = Path(__file__).with_name("data_docs_static")
# What GX 1.x's pages load from public CDNs -> the copy in data_docs_static (see its LICENSES.md).
VENDORED = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome.min.css",
}  # fmt: skip
_EXTERNAL = re.compile(
    r"<(link|script|img)\b[^>]*?\b(?:href|src)=[\"'](https?://[^\"']*)[\"'][^>]*>(?:\s*</script>)?",
    re.IGNORECASE,
)
_CROSS_ORIGIN = re.compile(r"\s(?:integrity|crossorigin)=([\"'])[^\"']*\1", re.IGNORECASE)


def make_offline(site: Path) -> int:
    """Serve the site's styles and scripts from its own folder; drop every other outside resource.

    The libraries GX loads from CDNs are copied to ``static/vendor/`` (fonts to ``static/webfonts/``)
    and every page points at them, so the docs render offline and on an air-gapped server. Anything
    else a page would fetch from outside (the vega chart libraries, the GX logo from S3 whose address
    carries the context's id) is left out: a page never calls out. Returns the tags rewritten.
    """
    vendor, fonts = site / "static" / "vendor", site / "static" / "webfonts"
    vendor.mkdir(parents=True, exist_ok=True)
    fonts.mkdir(parents=True, exist_ok=True)
    for item in STATIC.iterdir():
        if item.is_file():
            shutil.copyfile(item, vendor / item.name)
    for item in (STATIC / "webfonts").iterdir():
        shutil.copyfile(item, fonts / item.name)
    changed = 0
    for page in site.rglob("*.html"):
        prefix = os.path.relpath(vendor, page.parent).replace(os.sep, "/")
        images = os.path.relpath(site / "static" / "images", page.parent).replace(os.sep, "/")

        def local(match: re.Match[str], prefix: str = prefix, images: str = images) -> str:
            tag, url = match.group(0), match.group(2)
            if url in VENDORED:
                return _CROSS_ORIGIN.sub("", tag.replace(url, f"{prefix}/{VENDORED[url]}"))
            if match.group(1).lower() == "img" and "logo-long.png" in url:
                return tag.replace(url, f"{images}/logo-long.png")
            return ""

        text = page.read_text(encoding="utf-8")
        new, n = _EXTERNAL.subn(local, text)
        if n:
            page.write_text(new, encoding="utf-8")
            changed += n
    return changed
