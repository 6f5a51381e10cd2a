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

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REJECTED = 0, 1, 2, 3


def _fail(message: str, code: int) -> int:
    print(f"csp-audit: error: {message}", file=sys.stderr, flush=True)
    return code


def run_region(region_file: Path, warehouse_file: Path) -> int:
    """Validate the region, prepare Airflow, run the DAG with ``dag.test()`` and report."""
    from csp_audit.config import RegionConfigError, load_region

    try:
        region = load_region(region_file)
    except RegionConfigError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    warehouse_file = warehouse_file.expanduser().resolve()
    warehouse_file.parent.mkdir(parents=True, exist_ok=True)

    from csp_audit import airflow_env

    airflow_env.configure(warehouse_file.parent / "airflow")
    print(f"[csp-audit] region {region.name} from {region.source}", flush=True)
    print(f"[csp-audit] warehouse {warehouse_file}", flush=True)
    try:
        airflow_env.prepare_metadata()
    except RuntimeError as exc:
        return _fail(str(exc), EXIT_FAILED)

    from csp_audit.audit_dag import DAG_ID
    from csp_audit.runs import error_file, failure_cause, load_dag

    dag = load_dag(DAG_ID)
    report_file = warehouse_file.parent / f"{warehouse_file.stem}.last-run.json"
    report_file.unlink(missing_ok=True)
    error_file(warehouse_file).unlink(missing_ok=True)
    dag_run = dag.test(run_conf={"region": str(region.source), "warehouse": str(warehouse_file)})
    if str(dag_run.state) != "success":
        return _fail(failure_cause(dag_run, warehouse_file), EXIT_FAILED)
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


def _cmd_run(args: argparse.Namespace) -> int:
    warehouse = args.warehouse or Path(args.region).resolve().parent / "warehouse.duckdb"
    return run_region(Path(args.region), Path(warehouse))


def _cmd_demo(args: argparse.Namespace) -> int:
    from csp_audit.demo.generator import generate_demo_region

    out = Path(args.out).resolve()
    print(f"[csp-audit] generating the demo region in {out}", flush=True)
    region_file = generate_demo_region(out, seed=args.seed, months=args.months, scale=args.scale)
    return run_region(region_file, out / "warehouse.duckdb")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csp-audit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the audit pipeline for a region YAML through Airflow")
    run.add_argument("--region", required=True, help="region YAML file")
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

    add_plan_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
