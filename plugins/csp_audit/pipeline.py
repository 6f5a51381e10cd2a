"""The steps of a region's audit run. Each is one Airflow task; the DAG only wires them.

Every step takes plain paths (so XCom carries strings, not objects), opens the warehouse only for
as long as it writes, and is idempotent: re-running it on the same inputs changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from csp_audit import data_docs, geography, warehouse
from csp_audit.config import Region, load_region
from csp_audit.dbt_runner import dbt_build
from csp_audit.police_uk import PoliceFile, discover, read_delivery
from csp_audit.progress import progress
from csp_audit.runs import reports_failure


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


@reports_failure
def validate_police(region_file: str, warehouse_file: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Run the GX suites on every file not yet validated with the current suites; store the verdicts.

    The gate itself (batched, with per-file verdicts) is :mod:`csp_audit.police_gate`.
    """
    from csp_audit import police_gate

    return police_gate.validate(region_file, warehouse_file, _files(files))


@reports_failure
def load_police(warehouse_file: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    """Load every accepted file whose bytes are not in the warehouse yet, one transaction per file."""
    from csp_audit import police_gate

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
            parsed = police_gate.parsed_copy(warehouse_file, item.sha256)
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
