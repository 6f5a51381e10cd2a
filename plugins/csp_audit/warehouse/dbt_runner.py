"""Run dbt against the warehouse in a child process.

A child process (rather than dbt's in-process runner) keeps dbt's global state, logging and
memory out of the Airflow task, can be killed cleanly, and is what a data engineer would type.
Failures are read back from ``run_results.json`` so the error names the model or test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from csp_audit.paths import dbt_project_dir
from csp_audit.progress import Bar


class DbtFailed(RuntimeError):
    """dbt build did not succeed; the message names the failing nodes."""


@dataclass(frozen=True)
class DbtSummary:
    passed: int
    warned: int
    elapsed_s: float


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise DbtFailed("the dbt executable was not found beside Python or on PATH")
    return found


def target_dir(warehouse: Path) -> Path:
    """dbt's artefacts go beside the warehouse (not into the project folder, which may be read-only)."""
    return warehouse.parent / f"{warehouse.stem}.dbt-target"


PARTIAL_PARSE = "partial_parse.msgpack"


def _parse_cache() -> Path:
    """Where the last good parse of the project is kept for new targets (beside Airflow's metadata cache)."""
    from csp_audit.orchestration.airflow_env import cache_root

    return cache_root() / "dbt" / PARTIAL_PARSE


def _seed_parse(target: Path) -> None:
    """Give a new target the last parse of the project, so dbt need not parse it whole (about 2 s each time).

    dbt checks a saved parse before using it (its version, the vars, the profile, every file's hash) and
    parses afresh when anything differs, so a parse from another region or project version costs nothing
    but the check. The profile names the warehouse by file name only (dbt runs in its folder), so a parse
    from another folder's warehouse of the same name passes the check.
    """
    cached = _parse_cache()
    if cached.is_file() and not (target / PARTIAL_PARSE).exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, target / PARTIAL_PARSE)


def _keep_parse(target: Path) -> None:
    """After a successful run, keep its parse for the next new target (written whole, then renamed)."""
    mine, cached = target / PARTIAL_PARSE, _parse_cache()
    if not mine.is_file():
        return
    try:
        if (
            cached.is_file()
            and cached.stat().st_size == mine.stat().st_size
            and cached.read_bytes() == mine.read_bytes()
        ):
            return
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f".{cached.name}.{os.getpid()}.partial")
        shutil.copyfile(mine, partial)
        os.replace(partial, cached)
    except OSError:  # a cache is an optimisation: a full disk or a read-only home only costs a parse
        pass


def run_dbt(
    command: list[str], warehouse: Path, variables: dict[str, Any], target: Path, label: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``dbt <command>`` on the project against the warehouse file, artefacts and logs under ``target``.

    dbt runs in the warehouse's folder and the profile gets the file's name alone, so every warehouse
    of the same name has the same profile and a new target can start from the last parse (``_seed_parse``).
    """
    warehouse, target = Path(warehouse).resolve(), Path(target).resolve()
    _seed_parse(target)
    args = [
        dbt_executable(), *command,
        "--project-dir", str(dbt_project_dir()),
        "--profiles-dir", str(dbt_project_dir()),
        "--target-path", str(target),
        "--log-path", str(target / "logs"),
        "--vars", json.dumps(variables, sort_keys=True),
    ]  # fmt: skip
    env = dict(os.environ)
    env["CSP_AUDIT_WAREHOUSE"] = warehouse.name  # relative to the folder dbt runs in
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    if label is None:
        proc = subprocess.run(  # noqa: S603
            args, env=env, cwd=warehouse.parent, capture_output=True, text=True, check=False
        )
    else:
        proc = _run_with_bar(args, env, label, cwd=warehouse.parent)
    if proc.returncode == 0:
        _keep_parse(target)
    return proc


# dbt's own line for each node it finishes: "12 of 140 OK created sql table model audit.hotspots ..."
_NODE_LINE = re.compile(r"^\S*\s+(\d+) of (\d+) (\S+) ")


def _run_with_bar(
    args: list[str], env: dict[str, str], label: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run dbt, reading its console lines as they come to move a progress bar by finished node.

    Only dbt's progress lines are looked at (its "N of M" counter); the full output is kept for the
    error message and the run log, as with :func:`subprocess.run`.
    """
    lines: list[str] = []
    with subprocess.Popen(  # noqa: S603
        args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        bar: Bar | None = None
        for line in proc.stdout:
            lines.append(line)
            match = _NODE_LINE.match(line.strip())
            if match is None or match.group(3) == "START":
                continue
            done, total = int(match.group(1)), int(match.group(2))
            if bar is None:
                bar = Bar(label, total, "nodes")
            bar.update(
                max(done, bar.done), line.split(" model ")[-1].split(" ")[0] if " model " in line else ""
            )
        returncode = proc.wait()
        if bar is not None:
            bar.end()
    return subprocess.CompletedProcess(args, returncode, "".join(lines), "")


def dbt_build(
    warehouse: Path,
    variables: dict[str, Any],
    *,
    select: str | None = None,
    exclude: str | None = None,
    indirect_selection: str | None = None,
    target: Path | None = None,
    label: str | None = "dbt build",
) -> DbtSummary:
    """``dbt build`` (models, seeds, tests in DAG order) against this warehouse file.

    ``target`` defaults to the folder beside the warehouse; a build on a copy passes the live
    warehouse's, so partial parsing and the artefacts stay in one place.
    """
    target = target or target_dir(warehouse)
    extra: list[str] = []
    if select:
        extra += ["--select", *select.split()]
    if exclude:
        extra += ["--exclude", *exclude.split()]
    if indirect_selection:
        extra += ["--indirect-selection", indirect_selection]
    proc = run_dbt(["build", *extra], warehouse, variables, target, label=label)
    results_file = target / "run_results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else None
    if proc.returncode != 0:
        raise DbtFailed(_failure_message(proc, results))
    assert results is not None
    statuses = [r["status"] for r in results["results"]]
    return DbtSummary(
        passed=sum(s in ("success", "pass") for s in statuses),
        warned=sum(s == "warn" for s in statuses),
        elapsed_s=round(float(results.get("elapsed_time", 0.0)), 2),
    )


def _failure_message(proc: subprocess.CompletedProcess[str], results: dict[str, Any] | None) -> str:
    if results:
        failed = [r for r in results["results"] if r["status"] in ("error", "fail", "runtime error")]
        if failed:
            parts = []
            for r in failed[:5]:
                message = " ".join(str(r.get("message") or "").split())[:300]
                parts.append(f"{r['unique_id']} {r['status']}: {message}")
            return "dbt build failed: " + " | ".join(parts)
    tail = " ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
    return f"dbt build failed (exit {proc.returncode}): {tail[:600]}"
