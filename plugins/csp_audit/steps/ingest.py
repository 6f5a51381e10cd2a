"""Ingest steps, the same for every dataset of the plan: discover, validate, load.

Each dataset's ingest DAG runs these three steps (police.uk street files included: their source is
the region's ``sources.police_uk`` folder; every other dataset's is the landing zone). Steps take
plain paths and return small dicts (XCom carries strings, not objects), open the warehouse only for as
long as they write, and are idempotent: deliveries are identified by content hash, so a retried or
re-run task never validates or loads a file twice.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from csp_audit import warehouse
from csp_audit.orchestration.runs import reports_failure
from csp_audit.plan import load_run_plan
from csp_audit.plan.model import DataPlan, Dataset
from csp_audit.progress import progress
from csp_audit.sources import police_uk
from csp_audit.sources.delivery import Delivery

LANDING_URL_ENV = "CSP_AUDIT_LANDING_URL"
LANDING_CONN_ENV = "CSP_AUDIT_LANDING_CONN_ID"


def landing_location(plan: DataPlan) -> tuple[str, str | None]:
    """Where deliveries land: ``$CSP_AUDIT_LANDING_URL`` (file://, sftp://, s3://) or the plan's folder."""
    url = os.environ.get(LANDING_URL_ENV) or plan.default_landing.resolve().as_uri()
    return url, os.environ.get(LANDING_CONN_ENV) or None


def cache_dir(warehouse_file: str) -> Path:
    return Path(warehouse_file).parent / "landing-cache"


def _dataset(plan: DataPlan, dataset_id: str) -> Dataset:
    if dataset_id not in plan.datasets:
        raise ValueError(
            f"dataset {dataset_id!r} is not in the data plan {plan.source} ({', '.join(plan.datasets)})"
        )
    return plan.datasets[dataset_id]


def _header(dataset: Dataset) -> list[str]:
    return list(police_uk.HEADER) if dataset.id == police_uk.DATASET else [c.name for c in dataset.columns]


def _span(deliveries: list[Delivery]) -> str:
    periods = sorted({d.period for d in deliveries})
    return f"{periods[0]}..{periods[-1]}" if periods else "none"


@reports_failure
def discover(plan_file: str, warehouse_file: str, dataset_id: str) -> list[dict[str, Any]]:
    """The dataset's deliveries with their content hashes (remote files copied into a local cache)."""
    plan = load_run_plan(plan_file)
    dataset = _dataset(plan, dataset_id)
    if dataset.id == police_uk.DATASET:
        from csp_audit.config import load_region

        root = load_region(plan.region).police_uk
        if root is None:
            progress(f"discover {dataset_id}: the region lists no police_uk source")
            return []
        found = police_uk.discover(root, plan)
        agencies = ", ".join(sorted({d.agency for d in found})) or "none"
        progress(
            f"discover {dataset_id}: {len(found)} police.uk files, months {_span(found)}, agencies {agencies}"
        )
        return [d.to_dict() for d in found]
    from csp_audit.sources.landing import fetch_to_local, landing_root, list_deliveries

    url, conn_id = landing_location(plan)
    root = landing_root(url, conn_id)
    found = []
    for landed in list_deliveries(root, plan, dataset_id=dataset_id):
        local = fetch_to_local(landed, root, cache_dir(warehouse_file))
        found.append(
            Delivery(
                sha256=landed.sha256,
                dataset=landed.dataset,
                agency=landed.agency,
                period=landed.period,
                source_file=landed.relative_path,
                size=landed.size,
                received_at=landed.modified.replace(tzinfo=None).isoformat(timespec="seconds"),
                path=str(local),
            )
        )
    progress(f"discover {dataset_id}: {len(found)} deliveries from {len({d.agency for d in found})} agencies, "
             f"periods {_span(found)} ({url})")  # fmt: skip
    return [d.to_dict() for d in found]


@reports_failure
def validate(
    plan_file: str, warehouse_file: str, dataset_id: str, files: list[dict[str, Any]]
) -> dict[str, Any]:
    """Gate every delivery not yet validated with the dataset's suites; store verdicts and quarantined rows."""
    from csp_audit.quality import gate

    plan = load_run_plan(plan_file)
    return gate.validate(
        plan, _dataset(plan, dataset_id), warehouse_file, [Delivery.from_dict(f) for f in files]
    )


@reports_failure
def load(plan_file: str, warehouse_file: str, dataset_id: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Load every accepted delivery not stored yet, one transaction each, pseudonymising what the terms name."""
    from csp_audit.quality.gate import parsed_copy
    from csp_audit.quality.strict_csv import CsvFile, read_files

    plan = load_run_plan(plan_file)
    dataset = _dataset(plan, dataset_id)
    header = _header(dataset)
    pads = None
    if dataset.sharing.pseudonymise:
        from csp_audit.warehouse.pseudonymise import key_pads, pseudonymisation_key

        pads = key_pads(pseudonymisation_key())
    loaded_files = loaded_rows = 0
    loaded_now: set[str] = set()
    with warehouse.connect(Path(warehouse_file)) as con:
        warehouse.ensure_dataset_table(con, dataset_id, header)
        accepted = dict(con.execute(
            "select sha256, rows_read from raw.delivery_validations where outcome = 'accepted' and dataset = ?",
            [dataset_id]).fetchall())  # fmt: skip
        present = warehouse.loaded(con)
        for item in (Delivery.from_dict(f) for f in files):
            if item.sha256 in present and item.sha256 in loaded_now:
                progress(
                    f"load {dataset_id}: {item.source_file} has the same content as a file already loaded; skipped"
                )
            if item.sha256 not in accepted or item.sha256 in present:
                continue
            copy = parsed_copy(warehouse_file, item.sha256)
            if copy.exists():
                rows: tuple[str, list[Any]] = ("read_parquet(?)", [str(copy)])
            else:  # validated in an earlier run whose copy is gone: read the file again, as strictly
                refused = read_files(con, "_reread", [CsvFile(0, Path(item.path), item.source_file)], header,
                                     rule_prefix=police_uk.FORMAT if dataset.id == police_uk.DATASET else "contract",
                                     temporary=True)  # fmt: skip
                if refused:
                    raise RuntimeError(
                        f"{item.source_file} no longer reads as it did when validated: {refused[0]}"
                    )
                rows = ("(select * from _reread)", [])
            if warehouse.load_delivery(con, delivery=item.to_dict(), columns=header, rows=rows,
                                       rows_read=accepted[item.sha256],
                                       pseudonymised=dataset.sharing.pseudonymise, key_pads=pads):  # fmt: skip
                present.add(item.sha256)
                loaded_now.add(item.sha256)
                loaded_files += 1
                loaded_rows += accepted[item.sha256]
            con.execute("drop table if exists _reread")
            copy.unlink(missing_ok=True)
        warehouse.record_scan(con, dataset_id, files)
    progress(f"load {dataset_id}: {loaded_files} new deliveries, {loaded_rows} rows")
    return {"loaded_files": loaded_files, "loaded_rows": loaded_rows}
