"""Ingest steps for the agency datasets of a data plan: discover, validate, load.

Each dataset's ingest DAG runs these three steps; they mirror the police.uk steps but are driven
by the dataset's data contract. Deliveries are identified by content hash, so a retried or
re-run task never loads a file twice, and a corrected re-delivery is stored beside the original.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from csp_audit import data_docs, geography, warehouse
from csp_audit.config import Region, load_region
from csp_audit.csvfile import FileRejected, read_strict_csv
from csp_audit.plan import load_plan
from csp_audit.plan.model import DataPlan, Dataset
from csp_audit.progress import progress
from csp_audit.runs import reports_failure

LANDING_URL_ENV = "CSP_AUDIT_LANDING_URL"
LANDING_CONN_ENV = "CSP_AUDIT_LANDING_CONN_ID"


def landing_location(plan: DataPlan) -> tuple[str, str | None]:
    """Where deliveries land: ``$CSP_AUDIT_LANDING_URL`` (file://, sftp://, s3://) or the plan's folder."""
    url = os.environ.get(LANDING_URL_ENV) or plan.default_landing.resolve().as_uri()
    return url, os.environ.get(LANDING_CONN_ENV) or None


def cache_dir(warehouse_file: str) -> Path:
    return Path(warehouse_file).parent / "landing-cache"


def period_months(plan: DataPlan, dataset: Dataset, period: str) -> list[str]:
    """The months a delivery for ``period`` (its first month, YYYY-MM) covers."""
    step = {"monthly": 1, "quarterly": 3, "yearly": 12}[dataset.cadence]
    year, month = int(period[:4]), int(period[5:7])
    months = []
    for i in range(step):
        y, m = divmod(month - 1 + i, 12)
        months.append(f"{year + y:04d}-{m + 1:02d}")
    return months


def known_area_codes(region: Region, dataset: Dataset) -> list[str] | None:
    """Codes of the dataset's geography and vintage that the region's lookups know, or None if none do."""
    geo = dataset.geography
    for item in region.apportionment:  # a census-change lookup restates older LSOAs onto the region's
        if item.area_type == "lsoa" and item.vintage == geo.vintage and geo.type == "lsoa":
            return sorted(geography.read_lsoa_change(item.lookup)["area_code"].unique())
    if geo.type == "lsoa":
        lookup = geography.read_lsoa_lookup(region.lsoa_lookup)
        if geo.vintage and lookup.vintages.get("lsoa") not in ("", f"{geo.vintage % 100:02d}"):
            return []  # the region's lookup is of another vintage: every code is of the wrong vintage
        return sorted(lookup.frame["lsoa_code"])
    for item in region.apportionment:
        if item.area_type == geo.type and (item.vintage is None or item.vintage == geo.vintage):
            return sorted(
                geography.read_apportionment(item.lookup, item.area_type, item.weight)["area_code"].unique()
            )
    if geo.type in ("ward", "local_authority"):
        lookup = geography.read_lsoa_lookup(region.lsoa_lookup)
        level = "ward" if geo.type == "ward" else "lad"
        if geo.vintage is None or lookup.vintages.get(level) == f"{geo.vintage % 100:02d}":
            return sorted(lookup.frame[f"{level}_code"].unique())
    return None


@reports_failure
def discover_dataset(plan_file: str, warehouse_file: str, dataset_id: str) -> list[dict[str, Any]]:
    """List the dataset's deliveries in the landing zone and copy them into the local cache."""
    from csp_audit.landing import fetch_to_local, landing_root, list_deliveries

    plan = load_plan(plan_file)
    url, conn_id = landing_location(plan)
    root = landing_root(url, conn_id)
    found = [f for f in list_deliveries(root, plan) if f.dataset == dataset_id]
    files = []
    for landed in found:
        local = fetch_to_local(landed, root, cache_dir(warehouse_file))
        files.append(
            {
                "sha256": landed.sha256,
                "dataset": landed.dataset,
                "agency": landed.agency,
                "period": landed.period,
                "source_file": landed.relative_path,
                "size": landed.size,
                "received_at": landed.modified.replace(tzinfo=None).isoformat(timespec="seconds"),
                "local_path": str(local),
            }
        )
    periods = sorted({f["period"] for f in files})
    progress(
        f"discover {dataset_id}: {len(files)} deliveries from {len({f['agency'] for f in files})} agencies, "
        f"periods {periods[0] + '..' + periods[-1] if periods else 'none'} ({url})"
    )
    return files


@reports_failure
def validate_dataset(
    plan_file: str, warehouse_file: str, dataset_id: str, files: list[dict[str, Any]]
) -> dict[str, Any]:
    """Gate every new delivery with the dataset's suite; store verdicts and quarantined rows."""
    from csp_audit import contract_gate, quality

    plan = load_plan(plan_file)
    region = load_region(plan.region)
    dataset = plan.datasets[dataset_id]
    config = contract_gate.suite_document(dataset)
    fingerprint = quality.fingerprint_of(config)
    with warehouse.connect(Path(warehouse_file)) as con:
        done = set(
            r[0]
            for r in con.execute(
                "select sha256 from raw.delivery_validations where suite_fingerprint = ?", [fingerprint]
            ).fetchall()
        )
    todo = [f for f in files if f["sha256"] not in done]
    progress(f"validate {dataset_id}: {len(files)} deliveries, {len(todo)} new to the gate")
    if not todo:
        return {"validated": 0, "rejected": 0, "rows_quarantined": 0}
    suite = contract_gate.build_suite(config)
    known = known_area_codes(region, dataset)
    area = contract_gate.area_column(dataset)
    when = contract_gate.period_column(dataset)
    header = [c.name for c in dataset.columns]
    results = []
    for item in todo:
        verdict = {
            k: item[k] for k in ("sha256", "dataset", "agency", "period", "source_file", "received_at")
        }
        verdict |= {"suite_fingerprint": fingerprint, "warnings": None}
        failures: list[tuple[int, str]] = []
        try:
            frame = read_strict_csv(Path(item["local_path"]), item["source_file"], header)
        except FileRejected as exc:
            verdict |= {"outcome": "rejected", "rows_read": None, "rule": exc.rule, "line": exc.line,
                        "detail": exc.detail}  # fmt: skip
        else:
            params: dict[str, Any] = {}
            if when is not None:
                params["period_regex"] = contract_gate.period_regex(
                    period_months(plan, dataset, item["period"]), when.type
                )
            if area is not None:
                params["known_areas"] = (
                    known if known is not None else sorted(set(frame[area.name].dropna()) - {""})
                )
            gate = contract_gate.validate_contract_frame(
                dataset, suite, contract_gate.with_derived(dataset, frame), params
            )
            data_docs.record(
                warehouse_file, suite, gate.result, item["period"], f"{item['agency']}-{item['sha256'][:12]}"
            )
            critical = gate.critical
            verdict |= {
                "outcome": "rejected" if critical else "accepted",
                "rows_read": len(frame),
                "rule": critical[0].rule if critical else None,
                "line": 1 if critical else None,
                "detail": critical[0].detail if critical else None,
                "warnings": "; ".join(f"{w.rule} ({w.unexpected_count} rows)" for w in gate.warnings) or None,
            }
            failures = [(row, rule) for row, rules in sorted(gate.quarantined.items()) for rule in rules]
        if verdict["outcome"] == "rejected":
            progress(
                f"validate {dataset_id}: REJECTED {item['source_file']}, line {verdict['line']}: "
                f"rule {verdict['rule']}: {verdict['detail']}"
            )
        results.append((verdict, failures))
    with warehouse.connect(Path(warehouse_file)) as con:
        for verdict, failures in results:
            warehouse.record_delivery_validation(con, verdict=verdict, row_failures=failures)
    rejected = sum(v["outcome"] == "rejected" for v, _ in results)
    quarantined = sum(len({r for r, _ in f}) for _, f in results)
    progress(
        f"validate {dataset_id}: {len(results) - rejected} accepted, {rejected} rejected, {quarantined} rows quarantined"
    )
    return {"validated": len(results), "rejected": rejected, "rows_quarantined": quarantined}


@reports_failure
def load_dataset(
    plan_file: str, warehouse_file: str, dataset_id: str, files: list[dict[str, Any]]
) -> dict[str, Any]:
    """Load accepted deliveries not yet stored, pseudonymising the fields the sharing terms name."""
    plan = load_plan(plan_file)
    dataset = plan.datasets[dataset_id]
    header = [c.name for c in dataset.columns]
    key = None
    if dataset.sharing.pseudonymise:
        from csp_audit.pseudonymise import pseudonymisation_key

        key = pseudonymisation_key()
    loaded_files = loaded_rows = 0
    with warehouse.connect(Path(warehouse_file)) as con:
        warehouse.ensure_dataset_table(con, dataset_id, header)
        accepted = {
            r[0]
            for r in con.execute(
                "select sha256 from raw.delivery_validations where outcome = 'accepted' and dataset = ?",
                [dataset_id],
            ).fetchall()
        }
        present = {r[0] for r in con.execute("select sha256 from raw.deliveries").fetchall()}
        for item in files:
            if item["sha256"] not in accepted or item["sha256"] in present:
                continue
            frame = read_strict_csv(Path(item["local_path"]), item["source_file"], header)
            if key is not None:
                from csp_audit.pseudonymise import pseudonymise

                for field in dataset.sharing.pseudonymise:
                    frame[field] = pseudonymise(frame[field], key)
            delivery = dict(item, received_at=datetime.fromisoformat(item["received_at"]))
            if warehouse.load_dataset_delivery(con, dataset_id=dataset_id, delivery=delivery, frame=frame,
                                               columns=header):  # fmt: skip
                present.add(item["sha256"])
                loaded_files += 1
                loaded_rows += len(frame)
    progress(f"load {dataset_id}: {loaded_files} new deliveries, {loaded_rows} rows")
    return {"loaded_files": loaded_files, "loaded_rows": loaded_rows}
