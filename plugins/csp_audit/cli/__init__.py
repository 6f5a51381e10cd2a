"""``csp-audit``: run the audit pipeline through the same Airflow DAGs the scheduler runs.

Commands: ``run`` (``--plan`` every agency's datasets, or ``--region`` police.uk alone), ``publish``,
``demo``, ``plan requests|status`` and ``targets check|progress``. Exit codes (:mod:`csp_audit.exit_codes`):
0 success; 1 the pipeline failed (the cause is printed on one line); 2 the region, plan or arguments are
invalid; 3 the run finished but one or more deliveries were rejected by the gate.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from csp_audit.cli.plan import add_plan_commands
from csp_audit.cli.quiet import run_log, verbose_requested
from csp_audit.cli.targets import add_targets_commands
from csp_audit.exit_codes import EXIT_BAD_INPUT, EXIT_OK, EXIT_REJECTED

_ONE_OF = "give exactly one of --region (police.uk only) or --plan (every agency)"


def _cmd_run(args: argparse.Namespace) -> int:
    from csp_audit.cli.errors import fail
    from csp_audit.cli.run import outputs, run_plan, run_region

    if bool(args.region) == bool(args.plan):
        return fail(_ONE_OF, EXIT_BAD_INPUT)
    source = Path(args.region or args.plan).resolve()
    warehouse = Path(args.warehouse) if args.warehouse else source.parent / "warehouse.duckdb"
    with run_log(warehouse.expanduser().resolve().parent, verbose=verbose_requested(args.verbose)):
        code = run_plan(source, warehouse, args.as_of) if args.plan else run_region(source, warehouse)
        if code in (EXIT_OK, EXIT_REJECTED):
            outputs(warehouse.expanduser().resolve())
        return code


def _cmd_publish(args: argparse.Namespace) -> int:
    from csp_audit.cli.errors import fail
    from csp_audit.cli.run import run_publish

    if bool(args.region) == bool(args.plan):
        return fail(_ONE_OF, EXIT_BAD_INPUT)
    source = Path(args.region or args.plan).resolve()
    warehouse = Path(args.warehouse) if args.warehouse else source.parent / "warehouse.duckdb"
    with run_log(warehouse.expanduser().resolve().parent, verbose=verbose_requested(args.verbose)):
        return run_publish(
            warehouse,
            plan_file=source if args.plan else None,
            region_file=source if args.region else None,
            out_root=Path(args.out) if args.out else None,
            label=args.label,
        )


def _cmd_demo(args: argparse.Namespace) -> int:
    from csp_audit.cli.run import run_demo

    with run_log(Path(args.out).resolve(), verbose=verbose_requested(args.verbose)):
        return run_demo(Path(args.out), seed=args.seed, months=args.months, scale=args.scale)


def _verbose(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show library and Airflow task logs on the console too (default: only in csp-audit.log)",
    )


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
    _verbose(run)
    run.set_defaults(func=_cmd_run)

    demo = sub.add_parser("demo", help="generate the fictional demo region and run the pipeline on it")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output/)")
    demo.add_argument("--seed", type=int, default=20260401, help="random seed (same seed, same files)")
    demo.add_argument("--months", type=int, default=36, help="months of police data (default 36)")
    demo.add_argument("--scale", type=float, default=1.0, help="size multiplier for the number of rows")
    _verbose(demo)
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
    _verbose(publish)
    publish.set_defaults(func=_cmd_publish)

    add_plan_commands(sub)
    add_targets_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Airflow, dbt and GX build a heap of long-lived objects: at the default thresholds the cyclic
    # garbage collector ran about 2,000 times in a small run (2.5 s); bigger generations cut that to
    # a dozen (0.4 s). Nothing here relies on prompt collection of cycles.
    gc.set_threshold(100_000, 50, 50)
    code = int(args.func(args))
    # The interpreter's last garbage collection walks every object a run left behind (Airflow, dbt and
    # GX keep a large heap): about 3 s after the last line of output, on every command. Frozen objects
    # are never collected, so the process ends as soon as its output is written.
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(main())
