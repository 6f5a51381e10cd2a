"""Build one audit pack per partnership from a warehouse and release it (``build_packs``).

A pack version folder holds::

    report.html          the strategic-assessment report (self-contained: inline CSS and SVG)
    report.pdf           the same report printed to A4 (WeasyPrint), for those who file or print it
                         (left out, with assessment.pdf, where CSP_AUDIT_PACK_PDF=0)
    assessment.html      the strategic assessment written from the tables (eight sections, every figure
                         traced to its table row; see :mod:`csp_audit.packs.assessment`)
    assessment.pdf       the same, printed to A4
    commentary.md        the partnership's commentary merged into the assessment, when it wrote any
                         (kept beside the releases in commentary/<audit year>.md, across refreshes)
    tables.xlsx          Contents and Notes sheets, then one sheet per table ([c] where withheld)
    csv/<table>.csv      every table, formula-safe, UTF-8
    parquet/<table>.parquet
    restatements.csv     figures that changed against the previous version
    manifest.json        data vintage, deliveries used (file + sha256), refresh label, sha256 of every file

A partnership's pack holds its own partnership, ward and LSOA rows only; the permitted comparators
are other partnerships' partnership-level figures and the region's (``region_rates`` and the
comparators in ``comparisons``). Text naming another partnership's ward or LSOA (e.g. in a data
quality message) is replaced by ``[another partnership's area]``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from csp_audit.packs import release as rel
from csp_audit.packs.assessment import audit_year_of, build_assessment
from csp_audit.packs.boundaries import Boundaries, read_boundaries
from csp_audit.packs.commentary import Commentary, ensure_starter, read_commentary
from csp_audit.packs.county import build_county_agreements
from csp_audit.packs.disclosure import MARKER, RULE_COLUMN
from csp_audit.packs.extracts import csv_bytes, write_parquet
from csp_audit.packs.history import published_history
from csp_audit.packs.index import write_publish_index
from csp_audit.packs.pdf import pdf_wanted, write_pdf
from csp_audit.packs.report import build_context, render_report
from csp_audit.packs.source import Source, read_source
from csp_audit.packs.strategy import SURVEY, SURVEY_MARTS, survey_terms
from csp_audit.packs.tables import Published, published_tables, terms_for
from csp_audit.packs.workbook import write_workbook
from csp_audit.progress import Bar, progress

if TYPE_CHECKING:
    from csp_audit.config import Region

OTHER_AREA = "[another partnership's area]"
# order of the sheets and extracts
TABLE_ORDER = (
    "area_rates", "area_monthly", "trends", "seasonality", "hotspots", "concentration", "hotspot_persistence",
    "repeat_locations", "harm", "comparisons", "region_rates", "themes", "caveats", "coterminosity",
    "dataset_freshness", "data_completeness", "data_quality",
    "target_progress", "priority_scores", "consultation_concerns", "consultation_safety", "concern_vs_recorded",
)  # fmt: skip


@dataclass
class PackRelease:
    """What one refresh did for one partnership."""

    partnership_code: str
    partnership_name: str
    outcome: str  # "new" or "unchanged"
    version: str  # the new version, or the latest (unchanged) one
    previous_version: str | None
    path: Path
    refresh_label: str
    restatements: int = 0
    new_rows: dict[str, int] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    suppressed: dict[str, int] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        return self.outcome == "new"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path"] = str(self.path)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PackRelease:
        return cls(**{**data, "path": Path(data["path"])})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------ per partnership


def other_area_codes(source: Source, code: str) -> set[str]:
    """Ward and LSOA codes of other partnerships that are not also this partnership's (split wards)."""
    areas = source.areas
    own = set(areas.loc[areas["partnership_code"] == code, "area_code"])
    return set(areas.loc[areas["partnership_code"] != code, "area_code"]) - own


def _scrub(frame: pd.DataFrame, pattern: re.Pattern[str] | None) -> pd.DataFrame:
    if pattern is None:
        return frame
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column].dtype) or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(lambda v: pattern.sub(OTHER_AREA, v) if isinstance(v, str) else v)
    return out


def partnership_tables(tables: dict[str, Published], source: Source, code: str) -> dict[str, pd.DataFrame]:
    """The partnership's slice of every published table, sorted by key, other areas scrubbed."""
    agencies = set(source.agencies.loc[source.agencies["partnership_code"] == code, "agency"])
    others = other_area_codes(source, code)
    pattern = (
        re.compile("|".join(re.escape(c) for c in sorted(others, key=len, reverse=True))) if others else None
    )
    out: dict[str, pd.DataFrame] = {}
    for name in TABLE_ORDER:
        if name not in tables:
            continue
        p = tables[name]
        frame = p.frame
        if p.partnership_column:
            frame = frame[frame[p.partnership_column] == code]
        elif "agency" in frame.columns and len(source.agencies):
            frame = frame[frame["agency"].isin(agencies)]
        key = [k for k in p.spec.key if k in frame.columns]
        frame = frame.sort_values(key, kind="stable", na_position="first") if key else frame
        out[name] = _scrub(frame.reset_index(drop=True), pattern)
    return out


def _stale_lines(tables: dict[str, pd.DataFrame]) -> list[str]:
    freshness = tables.get("dataset_freshness")
    if freshness is None or not len(freshness):
        return []
    stale = freshness[freshness["status"] == "stale"]
    return [
        f"{r['dataset']} from {r['agency']}: last good {r['last_good_period'] or 'none'}, expected "
        f"{r['expected_period']} ({r['reason'] or 'not delivered'})"
        for _, r in stale.iterrows()
    ]


def _rules_of(frame: pd.DataFrame) -> str:
    """The disclosure rules that applied to a table, per dataset (one line each)."""
    if RULE_COLUMN not in frame.columns or not len(frame):
        return "no disclosure control needed (no counts of people or incidents)"
    if "dataset" not in frame.columns:
        return "; ".join(sorted(set(frame[RULE_COLUMN])))
    pairs = frame[["dataset", RULE_COLUMN]].drop_duplicates().sort_values("dataset")
    return "\n".join(f"{d}: {r}" for d, r in zip(pairs["dataset"], pairs[RULE_COLUMN], strict=True))


def _suppressed(tables: dict[str, pd.DataFrame]) -> dict[str, int]:
    out = {}
    for name, frame in tables.items():
        flags = [c for c in frame.columns if c.endswith("_flag")]
        n = int(sum((frame[c] == MARKER).sum() for c in flags))
        if n:
            out[name] = n
    return out


# ------------------------------------------------------------------------------------------ build


def build_packs(
    warehouse_file: str | Path,
    out_root: str | Path,
    *,
    plan_file: str | Path | None = None,
    region_file: str | Path | None = None,
    refresh_label: str | None = None,
    partnerships: Iterable[str] | None = None,
    created: datetime | None = None,
) -> list[PackRelease]:
    """Build and release every partnership's pack; returns what happened per partnership.

    Each new version is released with its ``.unannounced-<version>`` marker (see
    :mod:`csp_audit.packs.release`), so it is announced once, even if this process is killed right after.

    The warehouse is read read-only (pass the analyst snapshot in production so no lock is held).
    Terms come from ``plan_file`` when given, else from the plan recorded in the warehouse
    (``raw.plan_datasets``), else police.uk is open and anything else conservative.

    The map: the LSOA boundary file named by the region (``region_file``, else the plan's region) is
    read once here, for every partnership; each report gets its own LSOAs' shapes only. Without one,
    or without a region, the reports keep the dot map.
    """
    source = read_source(warehouse_file, plan_file=plan_file)
    region = _load_region(plan_file=plan_file, region_file=region_file)
    boundaries = region_boundaries(source, region=region) if region is not None else None
    terms = terms_for(sorted(set(source.marts["area_rates"]["dataset"])), source.terms)
    if any(m in source.marts for m in SURVEY_MARTS):
        terms[SURVEY] = survey_terms(terms)
    out_root = Path(out_root)
    tables, _cube = published_tables(source.marts, terms, source.region_name, published_history(out_root))
    created = created or rel.now_utc()
    label = refresh_label or created.strftime("%Y-%m-%dT%H:%MZ")
    wanted = set(partnerships) if partnerships is not None else None
    results = []
    chosen = {c: n for c, n in source.partnerships.items() if wanted is None or c in wanted}
    with Bar("publish", len(chosen), "partnership packs") as bar:
        for code, name in chosen.items():
            results.append(
                _release_partnership(tables, source, terms, code, name, out_root, label, created, boundaries)
            )
            bar.advance(1, f"{code} {results[-1].outcome} {results[-1].version}")
    if region is not None and region.counties:
        counties = build_county_agreements(tables, source.partnerships, region.counties, out_root,
                                           region_name=source.region_name, label=label, created=created)  # fmt: skip
        for county in counties:
            progress(
                f"county agreement {county.county_code} ({county.county_name}): {county.outcome} {county.version}"
            )
    write_publish_index(out_root, f"Audit packs: {source.region_name}")
    return results


def _load_region(
    *, plan_file: str | Path | None = None, region_file: str | Path | None = None
) -> Region | None:
    """The region YAML named directly, else the plan's region; None when neither names one."""
    from csp_audit.config import load_region

    if region_file is None and plan_file is not None:
        from csp_audit.plan import load_run_plan

        region_file = load_run_plan(plan_file).region
    return load_region(region_file) if region_file is not None else None


def region_boundaries(
    source: Source,
    *,
    plan_file: str | Path | None = None,
    region_file: str | Path | None = None,
    region: Region | None = None,
) -> Boundaries | None:
    """The region's LSOA boundaries (only the region's own LSOAs kept), or None when it names no file.

    Raises :class:`~csp_audit.packs.boundaries.BoundaryError` naming the region file, the key and the
    boundary file when the named file cannot be used (``csp-audit publish`` prints it as the failed step's
    cause): a map silently falling back to dots would hide a broken configuration.
    """
    region = region or _load_region(plan_file=plan_file, region_file=region_file)
    if region is None or region.lsoa_boundaries is None:
        return None
    vintage = next(
        (
            str(v.get("vintage") or "")
            for v in source.vintages
            if v.get("lookup") == "lsoa_lookup" and v.get("level") == "lsoa"
        ),
        "",
    )
    lsoas = source.areas.loc[source.areas["area_type"] == "lsoa", "area_code"]
    return read_boundaries(region.lsoa_boundaries, lsoas, region_file=region.source, lsoa_vintage=vintage)


def _release_partnership(
    tables: dict[str, Published],
    source: Source,
    terms: dict,
    code: str,
    name: str,
    out_root: Path,
    label: str,
    created: datetime,
    boundaries: Boundaries | None = None,
) -> PackRelease:
    pack = partnership_tables(tables, source, code)
    csvs = {table: csv_bytes(frame) for table, frame in pack.items()}
    checksums = {table: sha256(data) for table, data in csvs.items()}
    folder = out_root / code
    stale = _stale_lines(pack)
    year = audit_year_of(pack)
    with rel.locked(folder):
        rel.recover(folder)  # what a publisher killed mid-release left (rel.recover)
        # the officer's commentary for the year (a starter with the section headings the first time): an
        # edit alone makes a new version; without any written words the release records none
        commentary = read_commentary(ensure_starter(folder, name, code, year)) if year else Commentary(None)
        documents = {"commentary": sha256(commentary.text) if commentary.written else None}
        decision = rel.decide(folder, checksums, documents)
        combined = sha256(json.dumps(checksums, sort_keys=True).encode())
        if not decision.new:
            rel.append_log(folder, {"refreshed_at": created.isoformat(), "refresh_label": label, "outcome": "unchanged",
                                    "version": decision.version, "previous_version": decision.previous,
                                    "restatements": 0, "tables_sha256": combined})  # fmt: skip
            return PackRelease(code, name, "unchanged", decision.version, decision.previous, folder / decision.version,
                               label, stale=stale, suppressed=_suppressed(pack))  # fmt: skip
        old: dict[str, pd.DataFrame] = {}
        if decision.previous:
            previous_dir = folder / decision.previous
            for table in rel.read_manifest(previous_dir)["tables"]:
                path = previous_dir / "csv" / f"{table}.csv"
                if path.exists():
                    old[table] = rel.published_text(rel.read_published_csv(path), as_read=True)
        keys = {t: tuple(k for k in tables[t].spec.key if k in pack[t].columns) for t in pack}
        restated, added = rel.restatements(old, {t: rel.published_text(f) for t, f in pack.items()}, keys)

        def fill(staging: Path) -> None:
            _write_pack(staging, pack=pack, csvs=csvs, checksums=checksums, tables=tables, source=source,
                        terms=terms, code=code, name=name, version=decision.version, previous=decision.previous,
                        label=label, created=created, restated=restated, added=added, boundaries=boundaries,
                        commentary=commentary)  # fmt: skip

        # the new version's unannounced marker is written with it, before it becomes visible: the notice
        # step announces exactly the releases whose marker is present (a killed publish resumes from it)
        path = rel.write_version(folder, decision.version, fill, unannounced=True)
        rel.append_log(folder, {"refreshed_at": created.isoformat(), "refresh_label": label, "outcome": "new",
                                "version": decision.version, "previous_version": decision.previous,
                                "restatements": len(restated), "tables_sha256": combined})  # fmt: skip
    return PackRelease(code, name, "new", decision.version, decision.previous, path, label, len(restated),
                       {k: v for k, v in added.items() if v} if decision.previous else {}, stale, _suppressed(pack))  # fmt: skip


def _write_pack(
    staging: Path,
    *,
    pack: dict[str, pd.DataFrame],
    csvs: dict[str, bytes],
    checksums: dict[str, str],
    tables: dict[str, Published],
    source: Source,
    terms: dict,
    code: str,
    name: str,
    version: str,
    previous: str | None,
    label: str,
    created: datetime,
    restated: pd.DataFrame,
    added: dict[str, int],
    boundaries: Boundaries | None = None,
    commentary: Commentary | None = None,
) -> None:
    commentary = commentary or Commentary(None)
    (staging / "csv").mkdir()
    (staging / "parquet").mkdir()
    for table, frame in pack.items():
        (staging / "csv" / f"{table}.csv").write_bytes(csvs[table])
        write_parquet(frame, staging / "parquet" / f"{table}.parquet")
    (staging / "restatements.csv").write_bytes(csv_bytes(restated))
    datasets = sorted(
        set(pack["area_rates"]["dataset"])
        | ({SURVEY} & set(terms) if set(SURVEY_MARTS) & set(pack) else set())
    )
    disclosure = {
        d: {"level": terms[d].level, "min_cell_size": terms[d].min_cell_size, "rounding": terms[d].rounding,
            "apportioned": terms[d].apportioned, "rule": terms[d].rule()}
        for d in datasets
    }  # fmt: skip
    notes = [
        ("[c]", "Withheld to protect confidentiality (ONS marker): below the dataset's minimum cell size, or "
                "withheld so that such a figure cannot be worked out from totals. The CSV and Parquet "
                "extracts leave the cell empty and set <column>_flag to [c]."),
        ("Comparators", "Other partnerships appear only at partnership level (region_rates, comparisons)."),
        ("Text", "Text that a spreadsheet would run as a formula starts with an apostrophe."),
    ] + [(d, v["rule"]) for d, v in disclosure.items()]  # fmt: skip
    write_workbook(
        staging / "tables.xlsx",
        title=f"{name} ({code}): crime and disorder audit tables, {version}, refresh {label}",
        contents=[
            (t[:31], tables[t].title, tables[t].description, len(f), _rules_of(f)) for t, f in pack.items()
        ],
        notes=notes,
        tables=pack,
        created=created.replace(tzinfo=None),
    )
    audit_years = sorted(set(pack["area_rates"]["audit_year"].dropna()))
    monthly = pack["area_monthly"]
    latest = monthly.groupby("dataset")["month"].max().to_dict() if len(monthly) else {}
    vintage = {
        "lookups": source.vintages,
        "audit_years": audit_years,
        "latest_period_by_dataset": latest,
    }
    vintage_text = (
        ", ".join(
            f"{v.get('level', '').upper()}{v.get('vintage', '')}"
            for v in source.vintages
            if v.get("lookup") == "lsoa_lookup"
        )
        or "see manifest"
    )
    rates = pack["area_rates"]
    own_lsoas = set(rates.loc[rates["area_type"] == "lsoa", "area_code"])
    centroids = source.centroids[source.centroids["lsoa_code"].isin(own_lsoas)]
    ctx = build_context(
        tables=pack, terms={d: terms[d] for d in datasets}, partnership=(code, name), region_name=source.region_name,
        version=version, previous_version=previous, refresh_label=label,
        created=created.strftime("%d %B %Y %H:%M UTC"), restatements=restated, new_rows=added if previous else {},
        centroids=centroids, manifest_summary={"vintage": vintage_text, "deliveries": len(source.deliveries)},
        boundaries=boundaries.only(own_lsoas) if boundaries is not None else None,
    )  # fmt: skip
    report = render_report(ctx)
    (staging / "report.html").write_text(report, encoding="utf-8")
    # printed from the same HTML before the manifest is made, so it is listed and checksummed with the rest
    if pdf_wanted():
        write_pdf(report, staging / "report.pdf", created=created)
    assessment = build_assessment(
        tables=pack, keys={t: tuple(k for k in tables[t].spec.key if k in pack[t].columns) for t in pack},
        partnership=(code, name), region_name=source.region_name, version=version, refresh_label=label,
        created=created.strftime("%d %B %Y %H:%M UTC"), commentary=commentary,
    )  # fmt: skip
    (staging / "assessment.html").write_text(assessment, encoding="utf-8")
    if pdf_wanted():
        write_pdf(assessment, staging / "assessment.pdf", created=created)
    if commentary.written:
        (staging / "commentary.md").write_bytes(commentary.text)
    files = {str(p.relative_to(staging)): file_sha256(p) for p in sorted(staging.rglob("*")) if p.is_file()}
    manifest = {
        "pack": "csp-audit crime and disorder audit pack",
        "partnership": {"code": code, "name": name},
        "region": source.region_name,
        "version": version,
        "previous_version": previous,
        "refresh_label": label,
        "created_at": created.isoformat(),
        "data_vintage": vintage,
        "deliveries": source.deliveries.to_dict("records"),
        "disclosure": disclosure,
        "tables": {
            t: {
                "title": tables[t].title,
                "rows": len(pack[t]),
                "key": list(tables[t].spec.key),
                "sha256": checksums[t],
                "csv": f"csv/{t}.csv",
                "parquet": f"parquet/{t}.parquet",
                "suppressed_cells": int(
                    sum((pack[t][c] == MARKER).sum() for c in pack[t].columns if c.endswith("_flag"))
                ),
            }
            for t in pack
        },  # fmt: skip
        "restatements": {
            "rows": len(restated),
            "file": "restatements.csv",
            "new_rows": added if previous else {},
        },
        "commentary": {
            "file": "commentary.md",
            "source": f"commentary/{commentary.path.name}" if commentary.path else None,
            "sha256": sha256(commentary.text),
        }
        if commentary.written
        else None,
        "files": files,
    }
    (staging / "manifest.json").write_text(
        json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8"
    )


def verify_manifest(version_dir: Path) -> list[str]:
    """Problems with a release folder's manifest: missing files or checksums that do not match."""
    manifest = json.loads((version_dir / "manifest.json").read_text(encoding="utf-8"))
    problems = []
    for relative, digest in manifest["files"].items():
        path = version_dir / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif file_sha256(path) != digest:
            problems.append(f"{relative}: sha256 does not match the manifest")
    for table, info in manifest["tables"].items():
        if sha256((version_dir / info["csv"]).read_bytes()) != info["sha256"]:
            problems.append(f"{table}: table checksum does not match its CSV")
    listed = set(manifest["files"]) | {"manifest.json"}
    for path in version_dir.rglob("*"):
        if path.is_file() and str(path.relative_to(version_dir)) not in listed:
            problems.append(f"{path.relative_to(version_dir)}: not in the manifest")
    return problems
