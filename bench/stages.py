"""Child process of the benchmark: run pipeline steps, the functions the DAG tasks call, and report.

    python bench/stages.py STEP[:DATASET][,STEP[:DATASET]...] (--plan P | --region R) --warehouse W \
        --files-dir DIR [--as-of YYYY-MM-DD] --out OUT.json
    python bench/stages.py dagbag --out OUT.json [--plan PLAN.yaml] [--region REGION.yaml]

Ingest steps (one dataset each, as in its ``csp_audit_ingest__<dataset>`` DAG): ``discover``,
``validate``, ``load``; ``:DATASET`` names the dataset (default police_uk_street). Build steps (the
``csp_audit_build`` DAG): ``geography``, ``arrival_board``, ``dbt``, ``targets``, ``summary``. Each is
the function of ``csp_audit.steps`` its task calls, for the plan given (a region alone is its
one-dataset plan). Arguments are passed by parameter name (``plan_file``, ``warehouse_file``,
``dataset_id``, ``files``, ``as_of``), the way the DAG task does, so a change to a step's signature does
not break the benchmark. ``discover`` writes the file list it returns to ``<files-dir>/<dataset>.json``
for the later steps (in the DAG it travels by XCom).

The benchmark runs each step in its own process so that its peak memory (the parent reads it with
``wait4``) is the step's own, and nothing warmed up by an earlier step (imports, caches) flatters a
later one, as in Airflow, where every task runs in a fresh task process. ``--quick`` passes several
steps at once to save the interpreter start and imports per step; each step's ``rss_mb`` is then the
process's high-water mark so far.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

STEPS: dict[str, tuple[str, str]] = {
    "discover": ("csp_audit.steps.ingest", "discover"),
    "validate": ("csp_audit.steps.ingest", "validate"),
    "load": ("csp_audit.steps.ingest", "load"),
    "geography": ("csp_audit.steps.build", "prepare_geography"),
    "arrival_board": ("csp_audit.steps.build", "arrival_board"),
    "dbt": ("csp_audit.steps.build", "build_marts"),
    "targets": ("csp_audit.steps.build", "target_progress"),
    "summary": ("csp_audit.steps.build", "summarise"),
}
INGEST = ("discover", "validate", "load")
DEFAULT_DATASET = "police_uk_street"


def parse_item(item: str) -> tuple[str, str | None]:
    """``validate:fire_incidents`` -> (``validate``, ``fire_incidents``); a build step has no dataset."""
    step, _, dataset = item.partition(":")
    if step in INGEST:
        return step, dataset or DEFAULT_DATASET
    if dataset:
        raise ValueError(f"{step} is a build step: it takes no dataset ({item!r})")
    return step, None


def _peak_mb() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"rss_self_mb": round(own, 1), "rss_children_mb": round(children, 1)}


def _summary(value: Any) -> Any:
    """The step's return value, small: lists become their length."""
    if isinstance(value, list):
        return {"items": len(value)}
    if isinstance(value, dict):
        return {k: (len(v) if isinstance(v, list) else v) for k, v in value.items() if k != "warehouse"}
    return value


def run_step(args: argparse.Namespace, step: str, dataset: str | None) -> dict[str, Any]:
    import importlib

    module_name, function_name = STEPS[step]
    t = time.perf_counter()
    module = importlib.import_module(module_name)
    import_s = time.perf_counter() - t
    function = getattr(module, function_name)
    files_path = Path(args.files_dir) / f"{dataset}.json" if args.files_dir and dataset else None
    available: dict[str, Any] = {"plan_file": args.plan or args.region, "warehouse_file": args.warehouse,
                                 "dataset_id": dataset, "as_of": args.as_of}  # fmt: skip
    target = inspect.unwrap(function)
    kwargs = {}
    for name, param in inspect.signature(target).parameters.items():
        if name == "files" and files_path:
            kwargs[name] = json.loads(files_path.read_text())
        elif name in available:
            kwargs[name] = available[name]
        elif param.default is inspect.Parameter.empty:
            raise TypeError(
                f"{module_name}.{function_name} wants {name!r}, which the benchmark cannot supply"
            )
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t = time.perf_counter()
    value = function(**kwargs)
    call_s = time.perf_counter() - t
    if profiler is not None:
        profiler.disable()
        _write_profile(profiler, Path(args.profile))
    if step == "discover" and files_path:
        files_path.parent.mkdir(parents=True, exist_ok=True)
        files_path.write_text(json.dumps(value))
    return {
        "function": f"{module_name}.{function_name}",
        "import_s": round(import_s, 3),
        "call_s": round(call_s, 3),
        "result": _summary(value),
        "profiled": bool(args.profile),
    }


def _write_profile(profiler: Any, path: Path) -> None:
    import io
    import pstats

    path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(path.with_suffix(".prof")))
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(30)
    path.write_text(out.getvalue())


def run_dagbag(args: argparse.Namespace) -> dict[str, Any]:
    """Parse the DAG folder as the scheduler's DAG processor does and report each file's parse time."""
    if args.plan:
        os.environ["CSP_AUDIT_PLAN"] = args.plan
    if args.region:
        os.environ["CSP_AUDIT_REGION"] = args.region
    t = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    from csp_audit.paths import dags_dir

    import_s = time.perf_counter() - t
    t = time.perf_counter()
    bag = DagBag(dag_folder=str(dags_dir()))
    total_s = time.perf_counter() - t
    files = {
        Path(stat.file).name: {
            "parse_s": round(stat.duration.total_seconds(), 3),
            "dags": stat.dag_num,
            "tasks": stat.task_num,
        }
        for stat in bag.dagbag_stats
    }
    return {
        "step": "dagbag",
        "plan": args.plan,
        "import_airflow_s": round(import_s, 3),
        "dagbag_s": round(total_s, 3),
        "files": files,
        "import_errors": {Path(k).name: v.strip().splitlines()[-1] for k, v in bag.import_errors.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "step",
        help=f"dagbag, or one or more of {','.join(STEPS)} (ingest steps as STEP:DATASET), comma-separated",
    )
    parser.add_argument("--region")
    parser.add_argument("--warehouse")
    parser.add_argument("--files-dir", help="folder of <dataset>.json file lists (written by discover)")
    parser.add_argument("--plan", help="the data plan (steps: instead of --region; dagbag: CSP_AUDIT_PLAN)")
    parser.add_argument("--as-of", help="YYYY-MM-DD the arrival board judges due dates on")
    parser.add_argument("--profile", help="write a cProfile report of the step's call to this path")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.step == "dagbag":
        try:
            report = run_dagbag(args)
        except Exception as exc:
            report = {"error": " ".join(f"{type(exc).__name__}: {exc}".split())[:1000]}
    else:
        items = args.step.split(",")
        unknown = [i for i in items if i.partition(":")[0] not in STEPS]
        if unknown:
            parser.error(f"unknown steps {unknown}")
        report = {"steps": {}}
        for item in items:
            try:
                entry = run_step(args, *parse_item(item))
            except Exception as exc:  # reported to the parent, which records it and stops the sequence
                entry = {"error": " ".join(f"{type(exc).__name__}: {exc}".split())[:1000],
                         "traceback": traceback.format_exc()[-4000:]}  # fmt: skip
            rss = _peak_mb()
            entry["rss_mb"] = max(rss.values())
            report["steps"][item] = entry
            Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
            if "error" in entry:
                break
    report.update(_peak_mb(), process_s=round(time.perf_counter() - STARTED, 3))
    Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")
    failed = any("error" in e for e in report.get("steps", {}).values()) or "error" in report
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
