"""``csp-audit run|publish|demo``: the pipeline through the very DAGs the scheduler runs (``dag.test()``).

``run --plan P`` runs every dataset's ingest DAG, then the audit build; ``run --region R`` is the same
pipeline for a region alone (its one-dataset plan: police.uk street files). ``publish`` runs the publish
DAG; ``demo`` generates the fictional region and runs all of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from csp_audit.cli.errors import fail
from csp_audit.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_REJECTED
from csp_audit.progress import progress


def _prepare_airflow(warehouse_file: Path) -> int | None:
    from csp_audit.orchestration import airflow_env

    airflow_env.configure(warehouse_file.parent / "airflow")
    try:
        airflow_env.prepare_metadata()
    except RuntimeError as exc:
        return fail(str(exc), EXIT_FAILED)
    return None


def _test_dag(dag_id: str, conf: dict[str, str], warehouse_file: Path) -> int | None:
    """Run one DAG through ``dag.test()``; a one-line cause and exit code on failure."""
    from csp_audit.orchestration.runs import error_file, failure_cause, load_dag

    error_file(warehouse_file).unlink(missing_ok=True)
    try:
        dag_run = load_dag(dag_id).test(run_conf=conf)
    except Exception as exc:  # e.g. the metadata DB on a full disk: still one line that names the cause
        return fail(f"{dag_id}: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}", EXIT_FAILED)
    if str(dag_run.state) != "success":
        return fail(f"{dag_id}: {failure_cause(dag_run, warehouse_file)}", EXIT_FAILED)
    return None


def _run_pipeline(conf: dict[str, str], datasets: list[str], warehouse_file: Path) -> int | None:
    """Each dataset's ingest DAG, then the audit build."""
    if (code := _prepare_airflow(warehouse_file)) is not None:
        return code
    from csp_audit.orchestration.pipeline_dags import BUILD_DAG_ID, INGEST_PREFIX  # Airflow configured now

    for dataset_id in datasets:
        progress(f"ingest {dataset_id}")
        if (code := _test_dag(f"{INGEST_PREFIX}{dataset_id}", conf, warehouse_file)) is not None:
            return code
    progress("audit build")
    return _test_dag(BUILD_DAG_ID, conf, warehouse_file)


def _report(warehouse_file: Path, *, rejections_fail: bool) -> int:
    """Where the marts are; with ``rejections_fail``, exit 3 naming the first rejected delivery."""
    from csp_audit.steps.build import report_file

    report = json.loads(report_file(warehouse_file).read_text(encoding="utf-8"))
    progress(f"marts: {warehouse_file} schema audit ({', '.join(report['marts'])})")
    rejected = report["rejected_files"]
    if rejected and rejections_fail:
        first = rejected[0]
        return fail(
            f"{len(rejected)} deliveries rejected; first: {first['source_file']}, "
            f"line {first['line']}: rule {first['rule']}: {first['detail']}",
            EXIT_REJECTED,
        )
    return EXIT_OK


def _warehouse(warehouse_file: Path) -> Path:
    warehouse_file = warehouse_file.expanduser().resolve()
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)
    return warehouse_file


def run_region(region_file: Path, warehouse_file: Path) -> int:
    """The pipeline for a region alone: police.uk ingest, then the build; exit 3 if a delivery was rejected."""
    from csp_audit.config import RegionConfigError, load_region
    from csp_audit.geography.region import check_region_codes
    from csp_audit.sources.police_uk import DATASET

    try:
        region = load_region(region_file)
        check_region_codes(region)
    except RegionConfigError as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    warehouse_file = _warehouse(warehouse_file)
    progress(f"region {region.name} from {region.source} (police.uk street data: its one-dataset plan)")
    progress(f"warehouse {warehouse_file}")
    os.environ.pop("CSP_AUDIT_PLAN", None)
    os.environ["CSP_AUDIT_REGION"] = str(region.source)  # the DAG folder yields this region's DAGs
    conf = {"region": str(region.source), "warehouse": str(warehouse_file)}
    if (code := _run_pipeline(conf, [DATASET], warehouse_file)) is not None:
        return code
    return _report(warehouse_file, rejections_fail=True)


def run_plan(plan_file: Path, warehouse_file: Path, as_of: str | None = None) -> int:
    """Every ingest DAG generated from the plan, then the audit build, through ``dag.test()``."""
    from csp_audit.config import load_region
    from csp_audit.geography.region import check_region_codes
    from csp_audit.plan import PlanError, load_plan

    try:
        plan = load_plan(plan_file)
        check_region_codes(load_region(plan.region))
    except (PlanError, ValueError) as exc:
        return fail(str(exc), EXIT_BAD_INPUT)
    warehouse_file = _warehouse(warehouse_file)
    progress(f"plan {plan.name} from {plan.source} ({len(plan.datasets)} datasets)")
    progress(f"warehouse {warehouse_file}")
    os.environ["CSP_AUDIT_PLAN"] = str(plan.source)  # the DAG folder yields this plan's DAGs
    conf = {"plan": str(plan.source), "warehouse": str(warehouse_file)} | ({"as_of": as_of} if as_of else {})
    if (code := _run_pipeline(conf, list(plan.datasets), warehouse_file)) is not None:
        return code
    return _report(warehouse_file, rejections_fail=False)


def run_publish(
    warehouse_file: Path,
    *,
    plan_file: Path | None = None,
    region_file: Path | None = None,
    out_root: Path | None = None,
    label: str | None = None,
) -> int:
    """Run the publish DAG (analyst snapshot and docs, every partnership's pack, outbox, notices)."""
    from csp_audit.steps.publish import default_out_root

    warehouse_file = warehouse_file.expanduser().resolve()
    if not warehouse_file.is_file():
        return fail(f"{warehouse_file}: no warehouse; run the audit first (csp-audit run)", EXIT_BAD_INPUT)
    if (code := _prepare_airflow(warehouse_file)) is not None:
        return code
    from csp_audit.orchestration.publish_dag import PUBLISH_DAG_ID
    from csp_audit.packs.release import read_log

    root = (out_root or default_out_root(warehouse_file)).expanduser().resolve()
    conf = {"warehouse": str(warehouse_file), "out_root": str(root)}
    for key, value in (("plan", plan_file), ("region", region_file)):
        if value:
            conf[key] = str(Path(value).resolve())
    if label:
        conf["refresh_label"] = label
    progress(f"publish from {warehouse_file} into {root}")
    if (code := _test_dag(PUBLISH_DAG_ID, conf, warehouse_file)) is not None:
        return code
    for folder in sorted(p for p in root.iterdir() if (p / "releases.csv").is_file()):
        last = read_log(folder)[-1]
        what = "new" if last["outcome"] == "new" else "unchanged, still"
        progress(f"pack {folder.name}: {what} {last['version']} ({last['restatements']} figures "
                 f"restated) {folder / last['version'] / 'report.html'}")  # fmt: skip
    progress(f"analyst copy {root / 'analyst'} (latest: {(root / 'analyst' / 'latest').read_text().strip()})")
    return EXIT_OK


def run_demo(out: Path, *, seed: int, months: int, scale: float) -> int:
    """Generate the fictional region and its agencies' deliveries, run the pipeline, publish the packs."""
    try:
        from csp_audit_demo import generate_demo
    except ImportError:
        return fail(
            "the demo generator is not installed: pip install -e demo/ (make venv does)", EXIT_BAD_INPUT
        )
    out = out.resolve()
    progress(f"generating the demo region in {out}")
    generated = generate_demo(out, seed=seed, months=months, scale=scale)
    code = run_plan(generated.plan, out / "warehouse.duckdb", as_of=generated.as_of)
    if code == EXIT_OK:
        # SMART target registers per partnership, with baselines from the first build's figures; later
        # builds (csp_audit_build's target_progress task) track them
        from csp_audit.steps.build import target_progress

        generated.write_targets()
        target_progress(str(generated.plan), str(out / "warehouse.duckdb"))
        code = run_publish(
            out / "warehouse.duckdb", plan_file=generated.plan, out_root=out / "publish", label="demo"
        )
    if code == EXIT_OK:
        progress(f"demo done: marts in {out / 'warehouse.duckdb'} (schema audit); "
                 f"arrival board {out / 'arrival-board.html'}")  # fmt: skip
        outputs(out / "warehouse.duckdb", out / "publish")
    return code


def _latest_pack(partnership_dir: Path) -> Path:
    latest = partnership_dir / "latest"
    if latest.is_dir():
        return latest
    return partnership_dir / latest.read_text(encoding="utf-8").strip() if latest.is_file() else latest


def outputs(warehouse_file: Path, publish_root: Path | None = None) -> None:
    """The last lines of a run: where every output is (those that exist)."""
    from csp_audit.cli.quiet import LOG_NAME

    folder = warehouse_file.parent
    found = [
        ("marts", warehouse_file, " (schema audit)"),
        ("arrival board", folder / "arrival-board.html", ""),
        ("agency feedback", folder / "feedback" / "index.html", ""),
        ("GX Data Docs", folder / "gx-docs" / "uncommitted" / "data_docs" / "local_site" / "index.html", ""),
    ]
    if publish_root is not None:
        found += [
            (f"pack {p.name}", _latest_pack(p) / "report.html",
             " (and report.pdf)" if (_latest_pack(p) / "report.pdf").is_file() else "")
            for p in sorted(publish_root.iterdir())
            if (p / "releases.csv").is_file()
        ]  # fmt: skip
        found += [
            ("packs index", publish_root / "index.html", ""),
            ("dbt docs", publish_root / "analyst" / "dbt-docs" / "index.html", ""),
            ("analyst copy", publish_root / "analyst" / "latest", ""),
        ]
    found.append(("run log", folder / LOG_NAME, ""))
    progress("outputs:")
    width = max(len(name) for name, _, _ in found)
    for name, path, note in found:
        if path.exists():
            progress(f"  {name:<{width}}  {path}{note}")
