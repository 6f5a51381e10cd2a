"""``csp-audit plan requests|status``: draw up the co-ordinated requests and follow up what arrived.

Wired into the main CLI with :func:`add_plan_commands`; each command is ``func(args) -> exit code``
(:mod:`csp_audit.exit_codes`): 0 success, 2 the plan or the arguments are invalid.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from csp_audit.cli.errors import fail
from csp_audit.exit_codes import EXIT_OK
from csp_audit.plan.periods import Month


def _month(text: str) -> str:
    try:
        return str(Month.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a date written YYYY-MM-DD, got {text!r}") from exc


def cmd_requests(args: argparse.Namespace) -> int:
    """Write one Markdown request per agency, index.md and requests.csv; print a line per agency."""
    from csp_audit.plan.model import PlanError, load_plan
    from csp_audit.requests.letters import render_requests, write_csv, write_markdown

    try:
        plan = load_plan(args.plan)
        requests = render_requests(plan, args.cycle)
    except (PlanError, ValueError) as exc:
        return fail(str(exc))
    cycle = plan.cycle_for(args.cycle)
    out = Path(args.out) if args.out else plan.source.parent / "requests" / cycle.key
    files = write_markdown(requests, out)
    write_csv(requests, out)
    print(f"[csp-audit] plan {plan.name}, cycle {cycle.label}: {len(requests)} agencies -> {out}", flush=True)
    for request, path in zip(requests, files, strict=True):
        print(
            f"  {request.agency.id}: {len(request.datasets)} dataset(s), {request.deliveries} deliveries for "
            f"{len(request.partnerships)} partnership(s), first due {request.first_due.isoformat()} -> {path.name}",
            flush=True,
        )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Print the arrival board for a cycle from a landing-folder scan; optionally write it as HTML."""
    from csp_audit.plan.model import PlanError, load_plan
    from csp_audit.requests.arrivals import (
        arrival_board,
        expected_deliveries,
        format_board,
        scan_landing,
        unmatched,
        write_board_html,
    )

    today = args.today or date.today()
    try:
        plan = load_plan(args.plan)
        expected = expected_deliveries(plan, args.cycle, today)
    except (PlanError, ValueError) as exc:
        return fail(str(exc))
    cycle = plan.cycle_for(args.cycle) if args.cycle else plan.cycle.containing(today)
    landing = Path(args.landing) if args.landing else plan.default_landing
    if not landing.is_dir():
        print(f"[csp-audit] landing folder {landing} does not exist: nothing received yet", file=sys.stderr)
    received = scan_landing(plan, landing) if landing.is_dir() else []
    rows = arrival_board(expected, received, today)
    print(f"Plan {plan.name}, cycle {cycle.label}, as of {today.isoformat()} (landing {landing})")
    print(format_board(rows), end="", flush=True)
    for stray in unmatched(expected, received):
        print(
            f"[csp-audit] {stray.source_file}: period {stray.period} is not a delivery of this cycle for "
            f"{stray.agency}/{stray.dataset}",
            file=sys.stderr,
        )
    if args.html:
        title = f"Data deliveries: {plan.name}, {cycle.label}"
        path = write_board_html(rows, Path(args.html), title=title, as_of=today)
        print(f"[csp-audit] board written to {path}", flush=True)
    return EXIT_OK


def add_plan_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``plan`` with ``requests`` and ``status`` to the main parser's subcommands; returns ``plan``."""
    plan = subparsers.add_parser("plan", help="shared data plan: co-ordinated requests and arrival tracking")
    sub = plan.add_subparsers(dest="plan_command", required=True)

    requests = sub.add_parser("requests", help="write one request per agency (Markdown) and requests.csv")
    requests.add_argument("--plan", required=True, help="plan YAML file")
    requests.add_argument(
        "--cycle", type=_month, help="first month of the cycle, YYYY-MM (default: the plan's)"
    )
    requests.add_argument("--out", help="output folder (default: requests/<cycle>/ beside the plan)")
    requests.set_defaults(func=cmd_requests)

    status = sub.add_parser("status", help="show which deliveries arrived, are late, overdue or rejected")
    status.add_argument("--plan", required=True, help="plan YAML file")
    status.add_argument("--cycle", type=_month, help="first month of the cycle, YYYY-MM (default: today's)")
    status.add_argument(
        "--today", type=_day, help="date to judge due dates against, YYYY-MM-DD (default: today)"
    )
    status.add_argument("--landing", help="landing folder to scan (default: landing/ beside the plan)")
    status.add_argument("--html", help="also write the board as a standalone HTML page to this file")
    status.set_defaults(func=cmd_status)
    return plan
