"""The steps of a region's audit run. Each is one Airflow task; the DAG only wires them.

Every step takes plain paths (so XCom carries strings, not objects), opens the warehouse only for
as long as it writes, and is idempotent: re-running it on the same inputs changes nothing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from csp_audit import data_docs, geography, warehouse
from csp_audit.config import Region, load_region
from csp_audit.dbt_runner import dbt_build
from csp_audit.police_uk import FileRejected, PoliceFile, discover, read_delivery
from csp_audit.runs import reports_failure

POLICE_SUITE = "police_uk_street"


def progress(message: str) -> None:
    """One progress line. Airflow captures a task's stdout into its log, and ``dag.test()`` (the
    CLI) shows it on the console, so one print serves both."""
    print(f"[csp-audit] {message}", flush=True)


@reports_failure
def prepare_geography(region_file: str, warehouse_file: str) -> dict[str, Any]:
    """Read the ONS lookups, choose the region's partnerships and write the raw geography tables."""
    region = load_region(region_file)
    lsoas = geography.read_lsoa_lookup(region.lsoa_lookup)
    partnerships = geography.read_partnership_lookup(region.partnership_lookup)
    csps = geography.select_partnerships(
        partnerships,
        police_force_areas=list(region.police_force_areas) or None,
        codes=list(region.partnership_codes) or None,
    )
    finer = None
    if region.finer:
        finer = (
            geography.read_lsoa_lookup(region.finer.lsoa_lookup),
            geography.read_partnership_lookup(region.finer.partnership_lookup),
        )
    placed = geography.resolve_lsoa_partnerships(lsoas, partnerships, csps, finer=finer)
    population = (
        geography.read_population(region.population)
        if region.population
        else pd.DataFrame({"lsoa_code": pd.Series(dtype="str"), "population": pd.Series(dtype="int64")})
    )
    members = (
        partnerships.frame[partnerships.frame["csp_code"].isin(csps)][
            ["csp_code", "csp_name", "pfa_code", "pfa_name"]
        ]
        .drop_duplicates("csp_code")
        .sort_values("csp_code")
        .reset_index(drop=True)
    )
    vintages = pd.DataFrame(
        [
            {"lookup": role, "level": level, "vintage": vintage, "source": lookup.source.name}
            for role, lookup in (("lsoa_lookup", lsoas), ("partnership_lookup", partnerships))
            for level, vintage in sorted(lookup.vintages.items())
        ]
    )
    with warehouse.connect(Path(warehouse_file)) as con:
        warehouse.replace_tables(
            con,
            {
                "geo_lsoas": placed,
                "geo_populations": population,
                "region_partnerships": members,
                "geo_vintages": vintages,
            },
        )
    summary = {
        "partnerships": len(members),
        "lsoas_in_region": int(placed["in_region"].sum()),
        "lsoas_in_lookup": len(placed),
        "population_lsoas": len(population),
    }
    progress(
        f"geography: {summary['partnerships']} partnerships, {summary['lsoas_in_region']} LSOAs in the region "
        f"(of {summary['lsoas_in_lookup']} in the lookup)"
    )
    return summary


@reports_failure
def discover_police(region_file: str, warehouse_file: str) -> list[dict[str, Any]]:
    """List the region's police.uk street files with their content hashes."""
    region = load_region(region_file)
    if region.police_uk is None:
        progress("discover: the region lists no police_uk source")
        return []
    files = discover(region.police_uk)
    periods = sorted({f.period for f in files})
    span = f"{periods[0]}..{periods[-1]}" if periods else "none"
    forces = sorted({f.force for f in files})
    progress(f"discover: {len(files)} police.uk files, months {span}, forces {', '.join(forces) or 'none'}")
    return [f.to_dict() for f in files]


def _files(items: list[dict[str, Any]]) -> list[PoliceFile]:
    return [PoliceFile(**item) for item in items]


TRAILING_MONTHS = 6
_SOURCE = re.compile(r"(?:^|/)(\d{4}-\d{2})-(.+)-street\.csv$")


def _row_history(con: Any) -> dict[str, dict[str, int]]:
    """force -> period -> rows of accepted deliveries already validated (for the row-count check)."""
    history: dict[str, dict[str, int]] = {}
    for source_file, rows in con.execute(
        "select source_file, rows_read from raw.police_file_validations where outcome = 'accepted'"
    ).fetchall():
        match = _SOURCE.search(source_file)
        if match and rows is not None:
            history.setdefault(match[2], {})[match[1]] = int(rows)
    return history


def _row_bounds(history: dict[str, int], period: str) -> tuple[int, int | None]:
    """Half to twice the median of the trailing months, once three of them are known."""
    earlier = sorted(p for p in history if p < period)[-TRAILING_MONTHS:]
    if len(earlier) < 3:
        return 0, None
    counts = sorted(history[p] for p in earlier)
    median = (
        counts[len(counts) // 2]
        if len(counts) % 2
        else (counts[len(counts) // 2 - 1] + counts[len(counts) // 2]) / 2
    )
    return int(median * 0.5), int(median * 2.0) + 1


def parsed_copy(warehouse_file: str, sha256: str) -> Path:
    """Where the gate keeps a parsed file for the load step (Parquet, keyed by content hash)."""
    return Path(warehouse_file).parent / "parsed" / f"{sha256}.parquet"


def _keep_parsed(frame: pd.DataFrame, path: Path) -> None:
    """Write the parsed rows atomically, so a killed task never leaves a partial copy to load."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    duckdb.from_df(frame.drop(columns=[c for c in frame.columns if c.startswith("_")])).write_parquet(
        str(partial)
    )
    os.replace(partial, path)


def _force_lsoas(frame: pd.DataFrame, lsoa_pfa: dict[str, str]) -> list[str]:
    """The LSOAs of the police force area where most of this file's located rows fall.

    The file name gives a force slug, not a PFA code, so the force's area is read from its own
    rows; rows outside it were snapped into a neighbouring force's LSOAs.
    """
    areas = frame["LSOA code"].map(lsoa_pfa).dropna()
    if areas.empty:
        return sorted(set(frame["LSOA code"].dropna()) - {""})
    main = areas.mode().sort_values().iloc[0]
    return sorted(code for code, pfa in lsoa_pfa.items() if pfa == main)


def _with_coordinates(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame GX sees: the file's columns plus the coordinates as numbers for range checks."""
    out = frame.copy()
    out["_longitude"] = pd.to_numeric(frame["Longitude"], errors="coerce")
    out["_latitude"] = pd.to_numeric(frame["Latitude"], errors="coerce")
    return out


@reports_failure
def validate_police(region_file: str, warehouse_file: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the GX suite on every file not yet validated with the current suite; store the verdicts."""
    from csp_audit import quality  # imported here: Great Expectations is slow to import

    region = load_region(region_file)
    min_lon, min_lat, max_lon, max_lat = region.bounding_box
    fingerprint = quality.suite_fingerprint(POLICE_SUITE)
    with warehouse.connect(Path(warehouse_file)) as con:
        done = warehouse.validated(con, fingerprint)
        history = _row_history(con)
        lsoa_pfa = dict(con.execute("select lsoa_code, pfa_code from raw.geo_lsoas").fetchall())
    # oldest first per force, so each file's trailing months include the files validated before it
    todo = sorted((f for f in _files(files) if f.sha256 not in done), key=lambda f: (f.force, f.period))
    progress(
        f"validate: {len(files)} files, {len(todo)} new to the gate (suite {POLICE_SUITE} {fingerprint})"
    )
    verdicts: list[dict[str, Any]] = []
    for n, item in enumerate(todo, 1):
        verdict: dict[str, Any] = {"sha256": item.sha256, "source_file": item.source_file,
                                   "suite": POLICE_SUITE, "fingerprint": fingerprint,
                                   "received_at": item.received_at}  # fmt: skip
        try:
            frame = read_delivery(Path(item.path), item.source_file)
        except FileRejected as exc:
            verdict.update(outcome="rejected", rows_read=None, rule=exc.rule, line=exc.line,
                           detail=exc.detail, warnings=None, row_failures=[])  # fmt: skip
        else:
            min_rows, max_rows = _row_bounds(history.get(item.force, {}), item.period)
            parameters = {
                "file_months": [item.period],
                "min_longitude": min_lon, "max_longitude": max_lon,
                "min_latitude": min_lat, "max_latitude": max_lat,
                "min_rows": min_rows, "max_rows": max_rows,
                "force_lsoas": _force_lsoas(frame, lsoa_pfa),
            }  # fmt: skip
            gate = quality.validate_frame(POLICE_SUITE, _with_coordinates(frame), parameters)
            data_docs.record(
                warehouse_file,
                quality.police_suite(),
                gate.result,
                item.period,
                f"{item.force}-{item.sha256[:12]}",
            )
            if not gate.critical:
                history.setdefault(item.force, {})[item.period] = len(frame)
                _keep_parsed(frame, parsed_copy(warehouse_file, item.sha256))
            critical = gate.critical
            verdict.update(
                outcome="rejected" if critical else "accepted",
                rows_read=len(frame),
                rule=critical[0].rule if critical else None,
                line=1 if critical else None,
                detail=critical[0].detail if critical else None,
                warnings="; ".join(f"{w.rule} ({w.unexpected_count} rows)" for w in gate.warnings) or None,
                row_failures=[
                    (row, rule) for row, rules in sorted(gate.quarantined.items()) for rule in rules
                ],
            )
        verdicts.append(verdict)
        if verdict["outcome"] == "rejected":
            progress(f"validate: REJECTED {item.source_file}, line {verdict['line']}: rule {verdict['rule']}: "
                     f"{verdict['detail']}")  # fmt: skip
        elif n % 50 == 0:
            progress(f"validate: {n}/{len(todo)} files checked")
    with warehouse.connect(Path(warehouse_file)) as con:
        for verdict in verdicts:
            warehouse.record_validation(con, **verdict)
    rejected = sum(v["outcome"] == "rejected" for v in verdicts)
    quarantined = sum(len({r for r, _ in v["row_failures"]}) for v in verdicts)
    progress(
        f"validate: {len(verdicts) - rejected} accepted, {rejected} rejected, {quarantined} rows quarantined"
    )
    return {"validated": len(verdicts), "rejected": rejected, "rows_quarantined": quarantined}


@reports_failure
def load_police(warehouse_file: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Load every accepted file whose bytes are not in the warehouse yet, one transaction per file."""
    with warehouse.connect(Path(warehouse_file)) as con:
        rows_read = dict(
            con.execute(
                "select sha256, rows_read from raw.police_file_validations where outcome = 'accepted'"
            ).fetchall()
        )
        accepted = set(rows_read)
        present = warehouse.loaded(con)
        new = [f for f in _files(files) if f.sha256 in accepted and f.sha256 not in present]
        seen: set[str] = set()
        loaded_files = loaded_rows = 0
        for item in new:
            if item.sha256 in seen:
                progress(f"load: {item.source_file} has the same content as a file already loaded; skipped")
                continue
            seen.add(item.sha256)
            parsed = parsed_copy(warehouse_file, item.sha256)
            rows: pd.DataFrame | Path = (
                parsed if parsed.exists() else read_delivery(Path(item.path), item.source_file)
            )
            count = rows_read[item.sha256]
            if warehouse.load_delivery(con, sha256=item.sha256, source_file=item.source_file, period=item.period,
                                       force=item.force, size_bytes=item.size, rows=rows, rows_read=count):  # fmt: skip
                loaded_files += 1
                loaded_rows += count
            parsed.unlink(missing_ok=True)
    progress(f"load: {loaded_files} new deliveries, {loaded_rows} rows; {len(present)} already loaded")
    return {"loaded_files": loaded_files, "loaded_rows": loaded_rows}


def dbt_variables(region: Region) -> dict[str, Any]:
    return {"audit_year_start_month": region.audit_year_start_month, "region_name": region.name}


@reports_failure
def build_marts(region_file: str, warehouse_file: str) -> dict[str, Any]:
    """dbt build: staging -> intermediate -> marts, with every dbt test."""
    region = load_region(region_file)
    return build_with_fact_gate(warehouse_file, dbt_variables(region))


def build_with_fact_gate(warehouse_file: str, variables: dict[str, Any]) -> dict[str, Any]:
    """dbt build in two steps with the harmonised-fact gate between them.

    Staging and intermediate models (and the tests on them alone) first; then Great Expectations
    on the harmonised fact; only if it passes, the audit marts and their tests. A critical failure
    leaves the previous marts untouched.
    """
    from csp_audit.fact_gate import gate_fact

    path = Path(warehouse_file)
    progress("dbt: building staging and intermediate models with their tests")
    first = dbt_build(
        path, variables, select="path:models/staging path:models/intermediate", indirect_selection="cautious"
    )
    gate = gate_fact(warehouse_file)
    progress(
        "fact gate: harmonised fact passed"
        + (f" with warnings: {', '.join(w.rule for w in gate.warnings)}" if gate.warnings else "")
    )
    progress("dbt: building the audit marts with their tests")
    second = dbt_build(path, variables, select="path:models/marts path:seeds")
    passed, warned = first.passed + second.passed, first.warned + second.warned
    progress(
        f"dbt: {passed} nodes passed, {warned} warned, in {round(first.elapsed_s + second.elapsed_s, 2)} s"
    )
    return {"passed": passed, "warned": warned, "fact_gate_warnings": [w.rule for w in gate.warnings]}


@reports_failure
def summarise(region_file: str, warehouse_file: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Report what the run produced: marts, row accounting and the rejected deliveries among the
    files present now (a file since corrected and re-delivered is no longer reported)."""
    region = load_region(region_file)
    path = Path(warehouse_file)
    present = sorted({f["sha256"] for f in files})
    with warehouse.connect(path, read_only=True) as con:
        marts = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'audit' order by 1").fetchall()]  # fmt: skip
        counts = {m: con.execute(f'select count(*) from audit."{m}"').fetchone()[0] for m in marts}  # noqa: S608
        totals = con.execute(
            "select count(*), sum(rows_read), sum(rows_counted), sum(rows_duplicate), sum(rows_unlocated), "
            "sum(rows_outside_region), sum(rows_quarantined) from audit.reconciliation"
        ).fetchone()
        rejected = con.execute(
            "select source_file, line, rule, detail from raw.police_file_validations "
            "where outcome = 'rejected' and list_contains(?, sha256) order by source_file",
            [present],
        ).fetchall()
    keys = ("files", "rows_read", "rows_counted", "rows_duplicate", "rows_unlocated", "rows_outside_region",
            "rows_quarantined")  # fmt: skip
    reconciliation = {k: int(v or 0) for k, v in zip(keys, totals, strict=True)}
    report = {
        "region": region.name,
        "warehouse": str(path),
        "marts": {f"audit.{m}": n for m, n in counts.items()},
        "reconciliation": reconciliation,
        "rejected_files": [
            {"source_file": f, "line": line, "rule": rule, "detail": detail}
            for f, line, rule, detail in rejected
        ],
    }
    from csp_audit.feedback import write_feedback

    report["feedback"] = [str(p) for p in write_feedback(warehouse_file, path.parent / "feedback")]
    docs = data_docs.build(warehouse_file)
    report["data_docs"] = str(docs) if docs else None
    progress(f"feedback to agencies in {path.parent / 'feedback'}; GX Data Docs {docs}")
    report_file = path.parent / f"{path.stem}.last-run.json"
    report_file.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    progress(
        f"done: {reconciliation['rows_read']} rows from {reconciliation['files']} files -> "
        f"{reconciliation['rows_counted']} counted, {reconciliation['rows_duplicate']} duplicate, "
        f"{reconciliation['rows_unlocated']} unlocated, {reconciliation['rows_outside_region']} outside region, "
        f"{reconciliation['rows_quarantined']} quarantined; {len(rejected)} files rejected"
    )
    progress(f"marts in {path} (schema audit): " + ", ".join(f"{m} ({n} rows)" for m, n in counts.items()))
    return report
