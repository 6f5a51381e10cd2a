"""``csp-audit targets check|progress``: SMART checks of the target registers and progress against them.

Wired into the main CLI with :func:`add_targets_commands`; each command is ``func(args) -> exit code``.
``check`` exits 0 when no target is rejected (warnings are printed but pass) and 2 otherwise, with one
line per rejection on stdout: ``<file>: <target id>: <letter>: <reason>``. Warnings follow the same
shape with ``<letter> (warning)`` (exit codes: :mod:`csp_audit.exit_codes`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from csp_audit.cli.errors import fail
from csp_audit.exit_codes import EXIT_BAD_INPUT, EXIT_OK


def _inputs(args: argparse.Namespace) -> tuple[Path, Path] | int:
    """The register file or folder and the warehouse, or the exit code when either is missing."""
    source, warehouse = Path(args.targets), Path(args.warehouse)
    if not source.exists():
        return fail(f"--targets {source} does not exist")
    if not warehouse.is_file():
        return fail(f"--warehouse {warehouse} does not exist")
    return source, warehouse


def cmd_check(args: argparse.Namespace) -> int:
    from csp_audit.targets.check import check_register
    from csp_audit.targets.model import Problem, RegisterError, load_register, register_files

    found = _inputs(args)
    if isinstance(found, int):
        return found
    source, warehouse = found
    files = register_files(source)
    if not files:
        return fail(f"no register files (*.yaml) in {source}")
    problems: list[Problem] = []
    targets = 0
    for path in files:
        try:
            register = load_register(path)
        except RegisterError as exc:
            problems.append(Problem(str(path), "-", "S", str(exc).removeprefix(f"{path}: ")))
            continue
        targets += len(register.targets)
        problems += check_register(register, warehouse)
    rejections = [p for p in problems if p.severity == "reject"]
    for problem in [p for p in problems if p.severity != "reject"] + rejections:
        print(problem.line(), flush=True)
    rejected_targets = len({(p.file, p.target_id) for p in rejections})
    summary = (
        f"[csp-audit] targets check: {len(files)} register(s), {targets} target(s), "
        f"{rejected_targets} rejected, {len(problems) - len(rejections)} warning(s)"
    )
    print(summary, file=sys.stderr, flush=True)
    return EXIT_BAD_INPUT if rejections else EXIT_OK


def cmd_progress(args: argparse.Namespace) -> int:
    from csp_audit.targets.progress import TABLE, write_progress

    found = _inputs(args)
    if isinstance(found, int):
        return found
    source, warehouse = found
    frame = write_progress(warehouse, source)
    for row in frame.itertuples(index=False):
        print(f"  {row.partnership_code} {row.target_id}: {row.status} - {row.status_rule}", flush=True)
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    shown = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("green", "amber", "red", "grey"))
    print(f"[csp-audit] {TABLE}: {len(frame)} target(s): {shown}", flush=True)
    return EXIT_OK


def add_targets_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``targets`` with ``check`` and ``progress`` to the main parser's subcommands; returns ``targets``."""
    targets = subparsers.add_parser("targets", help="SMART target registers: check them, track progress")
    sub = targets.add_subparsers(dest="targets_command", required=True)

    check = sub.add_parser("check", help="reject targets that are not SMART (exit 2, one line per rejection)")
    check.add_argument("--targets", required=True, help="a register YAML file or a folder of them")
    check.add_argument("--warehouse", required=True, help="DuckDB warehouse with the audit marts")
    check.set_defaults(func=cmd_check)

    progress = sub.add_parser("progress", help="recompute audit.target_progress (RAG status per target)")
    progress.add_argument("--targets", required=True, help="a register YAML file or a folder of them")
    progress.add_argument(
        "--warehouse", required=True, help="DuckDB warehouse (written: audit.target_progress)"
    )
    progress.set_defaults(func=cmd_progress)
    return targets
