"""``csp-audit``: run a region's audit through the same Airflow DAG the scheduler runs.

Exit codes: 0 success; 1 the pipeline failed (the cause is printed on one line); 2 the region or
arguments are invalid; 3 the run finished but one or more deliveries were rejected by the gate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from csp_audit.plan.commands import add_plan_commands
from csp_audit.targets.commands import add_targets_commands

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REJECTED = 0, 1, 2, 3


def _fail(message: str, code: int) -> int:
    print(f"csp-audit: error: {message}", file=sys.stderr, flush=True)
    return code


def _prepare_airflow(warehouse_file: Path) -> int | None:
    from csp_audit import airflow_env

    airflow_env.configure(warehouse_file.parent / "airflow")
    try:
        airflow_env.prepare_metadata()
    except RuntimeError as exc:
        return _fail(str(exc), EXIT_FAILED)
    return None


def _test_dag(dag_id: str, conf: dict[str, str], warehouse_file: Path) -> int | None:
    """Run one DAG through ``dag.test()``; a one-line cause and exit code on failure."""
    from csp_audit.runs import error_file, failure_cause, load_dag

    error_file(warehouse_file).unlink(missing_ok=True)
    try:
        dag_run = load_dag(dag_id).test(run_conf=conf)
    except Exception as exc:  # e.g. the metadata DB on a full disk: still one line that names the cause
        return _fail(f"{dag_id}: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}", EXIT_FAILED)
    if str(dag_run.state) != "success":
        return _fail(f"{dag_id}: {failure_cause(dag_run, warehouse_file)}", EXIT_FAILED)
    return None


def _report_rejections(warehouse_file: Path) -> int:
    report_file = warehouse_file.parent / f"{warehouse_file.stem}.last-run.json"
    report = json.loads(report_file.read_text(encoding="utf-8"))
    print(f"[csp-audit] marts: {warehouse_file} schema audit ({', '.join(report['marts'])})", flush=True)
    if report["rejected_files"]:
        first = report["rejected_files"][0]
        return _fail(
            f"{len(report['rejected_files'])} deliveries rejected; first: {first['source_file']}, "
            f"line {first['line']}: rule {first['rule']}: {first['detail']}",
            EXIT_REJECTED,
        )
    return EXIT_OK


def run_region(region_file: Path, warehouse_file: Path) -> int:
    """Validate the region, prepare Airflow, run the police DAG with ``dag.test()`` and report."""
    from csp_audit.config import RegionConfigError, load_region

    try:
        region = load_region(region_file)
    except RegionConfigError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    warehouse_file = warehouse_file.expanduser().resolve()
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"[csp-audit] region {region.name} from {region.source}", flush=True)
    print(f"[csp-audit] warehouse {warehouse_file}", flush=True)
    if (code := _prepare_airflow(warehouse_file)) is not None:
        return code
    from csp_audit.audit_dag import DAG_ID

    conf = {"region": str(region.source), "warehouse": str(warehouse_file)}
    if (code := _test_dag(DAG_ID, conf, warehouse_file)) is not None:
        return code
    return _report_rejections(warehouse_file)


def run_plan(plan_file: Path, warehouse_file: Path, as_of: str | None = None) -> int:
    """Run every ingest DAG generated from the plan, then the audit build, through ``dag.test()``."""
    import os

    from csp_audit.plan import PlanError, load_plan

    try:
        plan = load_plan(plan_file)
    except (PlanError, ValueError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    warehouse_file = warehouse_file.expanduser().resolve()
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)
    print(f"[csp-audit] plan {plan.name} from {plan.source} ({len(plan.datasets)} datasets)", flush=True)
    print(f"[csp-audit] warehouse {warehouse_file}", flush=True)
    os.environ["CSP_AUDIT_PLAN"] = str(plan.source)
    if (code := _prepare_airflow(warehouse_file)) is not None:
        return code
    from csp_audit.plan_dags import BUILD_DAG_ID, INGEST_PREFIX

    conf = {"plan": str(plan.source), "warehouse": str(warehouse_file)}
    for dataset_id in plan.datasets:
        print(f"[csp-audit] ingest {dataset_id}", flush=True)
        if (code := _test_dag(f"{INGEST_PREFIX}{dataset_id}", conf, warehouse_file)) is not None:
            return code
    build_conf = conf | ({"as_of": as_of} if as_of else {})
    if (code := _test_dag(BUILD_DAG_ID, build_conf, warehouse_file)) is not None:
        return code
    return EXIT_OK


def run_publish(
    warehouse_file: Path,
    *,
    plan_file: Path | None = None,
    region_file: Path | None = None,
    out_root: Path | None = None,
    label: str | None = None,
) -> int:
    """Run the publish DAG (analyst snapshot and docs, every partnership's pack, outbox, notices)."""
    from csp_audit.packs.publish import default_out_root

    warehouse_file = warehouse_file.expanduser().resolve()
    if not warehouse_file.is_file():
        return _fail(f"{warehouse_file}: no warehouse; run the audit first (csp-audit run)", EXIT_BAD_INPUT)
    if (code := _prepare_airflow(warehouse_file)) is not None:
        return code
    from csp_audit.packs.release import read_log
    from csp_audit.publish_dag import PUBLISH_DAG_ID

    root = (out_root or default_out_root(warehouse_file)).expanduser().resolve()
    conf = {"warehouse": str(warehouse_file), "out_root": str(root)}
    for key, value in (("plan", plan_file), ("region", region_file)):
        if value:
            conf[key] = str(Path(value).resolve())
    if label:
        conf["refresh_label"] = label
    print(f"[csp-audit] publish from {warehouse_file} into {root}", flush=True)
    if (code := _test_dag(PUBLISH_DAG_ID, conf, warehouse_file)) is not None:
        return code
    for folder in sorted(p for p in root.iterdir() if (p / "releases.csv").is_file()):
        last = read_log(folder)[-1]
        what = "new" if last["outcome"] == "new" else "unchanged, still"
        print(f"[csp-audit] pack {folder.name}: {what} {last['version']} ({last['restatements']} figures "
              f"restated) {folder / last['version'] / 'report.html'}", flush=True)  # fmt: skip
    print(
        f"[csp-audit] analyst copy {root / 'analyst'} (latest: {(root / 'analyst' / 'latest').read_text().strip()})"
    )
    return EXIT_OK


def _cmd_publish(args: argparse.Namespace) -> int:
    if bool(args.region) == bool(args.plan):
        return _fail("give exactly one of --region (police.uk only) or --plan (every agency)", EXIT_BAD_INPUT)
    source = Path(args.region or args.plan).resolve()
    warehouse = Path(args.warehouse) if args.warehouse else source.parent / "warehouse.duckdb"
    return run_publish(
        warehouse,
        plan_file=source if args.plan else None,
        region_file=source if args.region else None,
        out_root=Path(args.out) if args.out else None,
        label=args.label,
    )


def _cmd_run(args: argparse.Namespace) -> int:
    if bool(args.region) == bool(args.plan):
        return _fail("give exactly one of --region (police.uk only) or --plan (every agency)", EXIT_BAD_INPUT)
    source = Path(args.region or args.plan).resolve()
    warehouse = Path(args.warehouse) if args.warehouse else source.parent / "warehouse.duckdb"
    if args.plan:
        return run_plan(source, warehouse, args.as_of)
    return run_region(source, warehouse)


def _cmd_demo(args: argparse.Namespace) -> int:
    from csp_audit.demo.agencies import generate_agency_deliveries
    from csp_audit.demo.generator import generate_demo_region
    from csp_audit.plan.demo import write_demo_plan

    out = Path(args.out).resolve()
    print(f"[csp-audit] generating the demo region in {out}", flush=True)
    generate_demo_region(out, seed=args.seed, months=args.months, scale=args.scale)
    plan_file = write_demo_plan(out)
    written = generate_agency_deliveries(out, seed=args.seed + 1, months=args.months, scale=args.scale)
    print(f"[csp-audit] demo deliveries: {', '.join(f'{k} {v} rows' for k, v in sorted(written.items()))}")
    _demo_key(out)
    # judge arrivals on the day the last period's deliveries were all due
    last = _month_after(_month_after("2021-04", args.months - 1), 1)
    code = run_plan(plan_file, out / "warehouse.duckdb", as_of=f"{last}-28")
    if code == EXIT_OK:
        # SMART target registers per partnership, with baselines from the first build's figures;
        # later builds (csp_audit_build's target_progress task) track them
        from csp_audit.targets.demo import write_demo_targets
        from csp_audit.targets.progress import refresh_progress

        write_demo_targets(out)
        refresh_progress(out / "region.yaml", out / "warehouse.duckdb")
        # every partnership's audit pack, its outbox copy and the analyst snapshot (no SMTP in the demo:
        # the notices are recorded as not sent)
        code = run_publish(
            out / "warehouse.duckdb", plan_file=plan_file, out_root=out / "publish", label="demo"
        )
    if code == EXIT_OK:
        print(f"[csp-audit] demo done: marts in {out / 'warehouse.duckdb'} (schema audit); "
              f"arrival board {out / 'arrival-board.html'}", flush=True)  # fmt: skip
    return code


def _month_after(month: str, n: int) -> str:
    year, mon = divmod(int(month[:4]) * 12 + int(month[5:7]) - 1 + n, 12)
    return f"{year:04d}-{mon + 1:02d}"


def _demo_key(out: Path) -> None:
    """A pseudonymisation key for the demo only, kept beside its output (never in the repo)."""
    import os
    import secrets

    key_file = out / ".secrets" / "pseudonymisation.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32) + "\n")
        key_file.chmod(0o600)
    os.environ.setdefault("CSP_AUDIT_PSEUDONYMISATION_KEY", key_file.read_text().strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csp-audit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the audit pipeline for a region YAML through Airflow")
    run.add_argument("--region", help="region YAML file: run the police.uk pipeline for it")
    run.add_argument("--plan", help="data plan YAML file: ingest every agency dataset, then build the audit")
    run.add_argument("--as-of", help="judge due dates as of this day, YYYY-MM-DD (default: today)")
    run.add_argument(
        "--warehouse", help="DuckDB warehouse file (default: warehouse.duckdb beside the region)"
    )
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="generate the fictional demo region and run the pipeline on it")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output/)")
    demo.add_argument("--seed", type=int, default=20260401, help="random seed (same seed, same files)")
    demo.add_argument("--months", type=int, default=36, help="months of police data (default 36)")
    demo.add_argument("--scale", type=float, default=1.0, help="size multiplier for the number of rows")
    demo.set_defaults(func=_cmd_demo)

    publish = sub.add_parser(
        "publish", help="build, release and deliver every partnership's audit pack (the publish DAG)"
    )
    publish.add_argument("--plan", help="data plan YAML (its sharing terms and contacts.csv beside it)")
    publish.add_argument("--region", help="region YAML (police.uk only)")
    publish.add_argument(
        "--warehouse", help="DuckDB warehouse file (default: warehouse.duckdb beside the YAML)"
    )
    publish.add_argument(
        "--out", help="publish root (default: $CSP_AUDIT_PUBLISH_ROOT or publish/ beside the warehouse)"
    )
    publish.add_argument("--label", help="refresh label recorded in the manifest (default: the run's time)")
    publish.set_defaults(func=_cmd_publish)

    add_plan_commands(sub)
    add_targets_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
