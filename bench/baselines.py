"""The two baselines of the benchmark: the same yearly counts, written by hand, on the same CSVs.

    python bench/baselines.py {duckdb,pandas} --files FILES.json --region REGION.yaml --out COUNTS.csv \
        --report REPORT.json

Both compute what ``audit.partnership_crime_yearly.incidents`` holds, with the README's counting
rules reduced to what changes a count:

* a row counts only with a crime type, a month equal to its file's period (the gate's quarantine
  rules) and an LSOA code the lookup knows (unknown codes are quarantined, empty ones unlocated);
* rows with a Crime ID are one crime per (force, Crime ID): among its located rows the one with an
  informative outcome (not empty / "Status update unavailable"), then the latest month, is kept and
  decides month and partnership (the pipeline's last tie-breaks, first file then row, only choose
  between rows that agree on month, LSOA and type in police.uk data);
* rows without a Crime ID are one incident each;
* the partnership comes from LSOA -> LAD -> CSP; it counts only if the CSP is in one of the region's
  police force areas; audit years start in the region's ``audit_year_start_month``.

Not replicated (they quarantine nothing in the synthetic data): the gate's coordinate-format rules
and split-LAD placement through ``geography.finer``.

``duckdb`` is one streaming SQL statement over ``read_csv`` of all files, de-duplicating on a 64-bit
hash of the Crime ID per force: close to the physical limit of the machine. ``pandas`` is what an
analyst would write: read each CSV, concat, filter, merge, sort + drop_duplicates, groupby.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import time
from pathlib import Path
from typing import Any

import yaml

FILE_RE = r"(\d{4}-\d{2})-([a-z0-9][a-z0-9-]*)-street\.csv$"
SUU = "Status update unavailable"
POLICE_COLUMNS = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location", "LSOA code",
    "LSOA name", "Crime type", "Last outcome category", "Context",
)  # fmt: skip
OUT_COLUMNS = ["partnership_code", "audit_year_start", "crime_type", "incidents"]


def region_inputs(region_file: Path) -> dict[str, Any]:
    """Lookups, force areas and audit-year start from the region YAML (paths relative to it)."""
    doc = yaml.safe_load(region_file.read_text(encoding="utf-8"))
    base = region_file.parent
    return {
        "lsoa_lookup": base / doc["geography"]["lsoa_lookup"],
        "partnership_lookup": base / doc["geography"]["partnership_lookup"],
        "pfas": list(doc["partnerships"]["police_force_areas"]),
        "start_month": int(doc.get("audit_year_start_month", 4)),
    }


def _column(path: Path, level: str) -> str:
    """The lookup column of a level (``LSOA11CD``, ``LAD19CD`` ...), found by pattern as ONS names vary."""
    header = path.read_text(encoding="utf-8-sig").split("\n", 1)[0].strip().split(",")
    for name in header:
        if re.fullmatch(rf"{level}\d\dCD", name.strip(), re.IGNORECASE):
            return name.strip()
    raise ValueError(f"{path.name}: no {level}..CD column")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def duckdb_counts(files: list[str], region: dict[str, Any], out: Path) -> int:
    import duckdb

    lsoa, part = Path(region["lsoa_lookup"]), Path(region["partnership_lookup"])
    lsoa_col, lad_col = _column(lsoa, "LSOA"), _column(lsoa, "LAD")
    p_lad, csp_col, pfa_col = _column(part, "LAD"), _column(part, "CSP"), _column(part, "PFA")
    columns = "{" + ", ".join(f"{_sql_string(c)}: 'VARCHAR'" for c in POLICE_COLUMNS) + "}"
    start = int(region["start_month"])
    con = duckdb.connect()
    con.execute(
        f"""
        create temp table lsoa_csp as
        select trim(l."{lsoa_col}") as lsoa_code, trim(p."{csp_col}") as csp_code,
               list_contains(?, trim(p."{pfa_col}")) as in_region
        from read_csv(?, all_varchar = true) as l
        join read_csv(?, all_varchar = true) as p on trim(l."{lad_col}") = trim(p."{p_lad}")
        """,  # noqa: S608 - column names come from the lookups' headers
        [region["pfas"], str(lsoa), str(part)],
    )
    con.execute(
        f"""
        copy (
        with src as (
            select * from read_csv(?, columns = {columns}, header = true, auto_detect = false,
                                   delim = ',', quote = '"', escape = '"', filename = true)
        ),
        parsed as (
            select regexp_extract(filename, '{FILE_RE}', 2) as force,
                   regexp_extract(filename, '{FILE_RE}', 1) as period,
                   nullif(trim("Crime ID"), '') as crime_id,
                   trim("Month") as month_text,
                   trim("LSOA code") as lsoa_code,
                   nullif(trim("Crime type"), '') as crime_type,
                   coalesce(nullif(trim("Last outcome category"), ''), '{SUU}') <> '{SUU}' as informative
            from src
        ),
        located as (
            select r.force, r.crime_id, r.crime_type, r.informative, l.csp_code, l.in_region,
                   cast(substr(r.month_text, 1, 4) as integer) * 12 + cast(substr(r.month_text, 6, 2) as integer)
                       as m
            from parsed as r
            join lsoa_csp as l on l.lsoa_code = r.lsoa_code
            where r.crime_type is not null and r.month_text = r.period
        ),
        kept as (
            select csp_code, in_region, m, crime_type from located where crime_id is null
            union all
            select k.csp_code, k.in_region, k.m, k.crime_type
            from (
                select arg_max({{'csp_code': csp_code, 'in_region': in_region, 'm': m,
                                 'crime_type': crime_type}}, informative::integer * 1000000 + m) as k
                from located
                where crime_id is not null
                group by force, hash(crime_id)
            )
        )
        select csp_code as partnership_code,
               (m - 1) // 12 - case when (m - 1) % 12 + 1 < {start} then 1 else 0 end as audit_year_start,
               crime_type,
               count(*) as incidents
        from kept
        where in_region
        group by all
        order by all
        ) to {_sql_string(str(out))} (header, delimiter ',')
        """,  # noqa: S608 - constants and a quoted path
        [files],
    )
    return int(con.execute(f"select count(*) from read_csv({_sql_string(str(out))})").fetchone()[0])  # noqa: S608


def pandas_counts(files: list[str], region: dict[str, Any], out: Path) -> int:
    import pandas as pd

    wanted = ["Crime ID", "Month", "LSOA code", "Crime type", "Last outcome category"]
    frames = []
    for path in files:
        frame = pd.read_csv(path, usecols=wanted, dtype=str, keep_default_na=False)
        period, force = re.search(FILE_RE, path).groups()
        frame["force"] = force
        frame["period"] = period
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    del frames

    lsoa_path, part_path = Path(region["lsoa_lookup"]), Path(region["partnership_lookup"])
    lsoa = pd.read_csv(lsoa_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    part = pd.read_csv(part_path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    lookup = lsoa[[_column(lsoa_path, "LSOA"), _column(lsoa_path, "LAD")]].merge(
        part[[_column(part_path, "LAD"), _column(part_path, "CSP"), _column(part_path, "PFA")]],
        left_on=_column(lsoa_path, "LAD"),
        right_on=_column(part_path, "LAD"),
    )
    lookup = pd.DataFrame(
        {
            "LSOA code": lookup[_column(lsoa_path, "LSOA")],
            "partnership_code": lookup[_column(part_path, "CSP")],
            "in_region": lookup[_column(part_path, "PFA")].isin(region["pfas"]),
        }
    )

    rows = rows[(rows["Crime type"] != "") & (rows["Month"] == rows["period"])]
    rows = rows.merge(lookup, on="LSOA code", how="inner")
    rows["informative"] = ~rows["Last outcome category"].isin(["", SUU])
    with_id = rows[rows["Crime ID"] != ""]
    with_id = with_id.sort_values(["informative", "Month"], ascending=False).drop_duplicates(
        ["force", "Crime ID"]
    )
    kept = pd.concat([with_id, rows[rows["Crime ID"] == ""]], ignore_index=True)
    kept = kept[kept["in_region"]]
    year = kept["Month"].str.slice(0, 4).astype(int)
    month = kept["Month"].str.slice(5, 7).astype(int)
    kept = kept.assign(audit_year_start=year - (month < int(region["start_month"])).astype(int))
    counts = (
        kept.groupby(["partnership_code", "audit_year_start", "Crime type"])
        .size()
        .reset_index(name="incidents")
        .rename(columns={"Crime type": "crime_type"})
        .sort_values(OUT_COLUMNS[:3])
    )
    counts[OUT_COLUMNS].to_csv(out, index=False)
    return len(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("engine", choices=["duckdb", "pandas"])
    parser.add_argument("--files", required=True, help="JSON list of discovered files (dicts with 'path')")
    parser.add_argument("--region", required=True)
    parser.add_argument("--out", required=True, help="CSV of yearly counts")
    parser.add_argument("--report", required=True, help="JSON report of this run")
    args = parser.parse_args(argv)
    items = json.loads(Path(args.files).read_text())
    files = [item["path"] if isinstance(item, dict) else str(item) for item in items]
    region = region_inputs(Path(args.region))
    t = time.perf_counter()
    report: dict[str, Any] = {"engine": args.engine, "files": len(files)}
    try:
        count = (duckdb_counts if args.engine == "duckdb" else pandas_counts)(files, region, Path(args.out))
        report.update(call_s=round(time.perf_counter() - t, 3), groups=count)
        code = 0
    except Exception as exc:  # e.g. MemoryError in pandas: recorded, the benchmark goes on
        report.update(error=" ".join(f"{type(exc).__name__}: {exc}".split())[:1000])
        code = 1
    report["rss_self_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
