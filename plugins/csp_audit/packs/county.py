"""The county community safety agreement: one roll-up across the district partnerships of a two-tier county.

In two-tier areas the county's district partnerships agree a county community safety agreement from their
strategic assessments. The region names its counties (region key ``counties``); each publish writes,
beside the partnerships' packs::

    <packs>/counties/<county code>/vNNNN/county-agreement.html
                                        county-agreement.pdf
                                        csv/<table>.csv     the partnership-level rows it was written from
                                        manifest.json

Why it is built this way:

- **The same disclosure control.** It reads the region's protected tables (the frames every pack is cut
  from), at partnership level only: no ward or LSOA row of any district reaches it, and a withheld
  figure stays withheld.
- **Side by side, never added.** District figures are shown next to each other, never summed into a
  county total: a total beside its parts would let a withheld part be worked out, and several datasets
  count different things in different districts.
- **Traced like the assessment.** Every number is a traced figure (:mod:`csp_audit.packs.figures`) over
  the CSVs in the release, so the same verifier recomputes it; releases are immutable and versioned
  like the packs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from markupsafe import Markup

from csp_audit.packs import release as rel
from csp_audit.packs.assessment import (
    PER_1000,
    SIGNIFICANT,
    Section,
    audit_year_of,
    label_of,
    render_document,
)
from csp_audit.packs.extracts import csv_bytes
from csp_audit.packs.figures import Tracer, rows_matching, usable
from csp_audit.packs.pdf import pdf_wanted, write_pdf
from csp_audit.packs.report import POLICE, _latest_year, incomplete_text
from csp_audit.packs.tables import Published

if TYPE_CHECKING:
    from csp_audit.config import County

TABLES = ("area_rates", "trends", "priority_scores", "target_progress", "caveats")
SECTIONS = (
    ("levels", "Levels across the districts"),
    ("changes", "Changes since the last assessments"),
    ("priorities", "Shared priorities"),
    ("delivery", "Delivery of the districts' plans"),
    ("data-quality", "What the figures rest on"),
    ("recommendations", "Recommendations for the agreement (drafts)"),
)
TOP = 5  # an issue is a district's priority when it ranks in its top five


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CountyError(ValueError):
    """A county the region names cannot be rolled up (e.g. it names a partnership the region lacks)."""


@dataclass
class CountyRelease:
    county_code: str
    county_name: str
    outcome: str
    version: str
    path: Path


def county_tables(tables: dict[str, Published], members: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The members' partnership-level rows of the tables the agreement is written from, sorted by key."""
    out = {}
    for name in TABLES:
        if name not in tables:
            continue
        p = tables[name]
        frame = p.frame[p.frame[p.partnership_column or "partnership_code"].isin(members)]
        if "area_type" in frame.columns:
            frame = frame[frame["area_type"] == "partnership"]
        key = [k for k in p.spec.key if k in frame.columns]
        out[name] = frame.sort_values(key, kind="stable").reset_index(drop=True) if key else frame
    return out


class CountyWriter:
    def __init__(self, county: County, names: dict[str, str], frames: dict[str, pd.DataFrame],
                 keys: dict[str, tuple[str, ...]]) -> None:  # fmt: skip
        self.county, self.names, self.t, self.tr = county, names, frames, Tracer(keys)
        self.members = county.partnerships
        self.year = _latest_year(frames["area_rates"])
        self.year_label = audit_year_of(frames) or str(self.year)
        self.drafts: list[Markup] = []

    def levels(self) -> Section:
        s = Section("levels", SECTIONS[0][1])
        rates = rows_matching(self.t["area_rates"], {"category": "All", "period_start": str(self.year)})
        s.paragraphs.append(Markup("Each district's figures for {}, side by side. They are never added into a "
                                   "county total: a total beside its parts would let a withheld part be worked "
                                   "out.").format(self.tr.lit(self.year_label)))  # fmt: skip
        for dataset in sorted(set(rates["dataset"]), key=lambda d: (d != POLICE, d)):
            parts = []
            for code in self.members:
                row = next(iter(rows_matching(rates, {"dataset": dataset, "partnership_code": code})
                                .to_dict("records")), None)  # fmt: skip
                if row is None:
                    continue
                if not usable(row, "incidents"):
                    parts.append(Markup("{} withheld").format(self.names[code]))
                    continue
                part = Markup("{} {}").format(
                    self.names[code], self.tr.fig("area_rates", row, "incidents", "count")
                )
                if usable(row, "rate_per_1000"):
                    part += Markup(" ({} {})").format(
                        self.tr.fig("area_rates", row, "rate_per_1000", "rate"), PER_1000
                    )
                caveats = self.t.get("caveats")
                caveat = None if caveats is None else next(iter(rows_matching(caveats,
                                                 {"dataset": dataset, "partnership_code": code,
                                                  "period_start": str(self.year)}).to_dict("records")), None)  # fmt: skip
                if caveat is not None and incomplete_text(caveat.get("incomplete_data")):
                    part += Markup(' <span class="incomplete">incomplete data</span>')
                parts.append(part)
            if parts:
                s.items.append(
                    Markup("<strong>{}</strong>: {}.").format(label_of(dataset), Markup("; ").join(parts))
                )
        return s

    def changes(self) -> Section:
        s = Section("changes", SECTIONS[1][1])
        trends = self.t.get("trends", pd.DataFrame())
        found = rows_matching(trends, {"period_start": str(self.year), "verdict": list(SIGNIFICANT)}) \
            if len(trends) else trends  # fmt: skip
        found = found[[usable(r, "pct_change") and not incomplete_text(r.get("incomplete_data"))
                       for r in found.to_dict("records")]] if len(found) else found  # fmt: skip
        if not len(found):
            s.paragraphs.append(Markup("No district has a change on the previous year that survives the statistics "
                                       "(quasi-Poisson tests, false discovery rate across each district's pack)."))  # fmt: skip
        for r in found.sort_values(["partnership_code", "dataset", "category"]).to_dict("records"):
            up = str(r["verdict"]).endswith("increase")
            s.items.append(Markup("<strong>{}</strong>: {} ({}) {} by {} (q = {}).").format(
                self.names[r["partnership_code"]], label_of(r["dataset"]),
                "all categories" if r["category"] == "All" else r["category"], "rose" if up else "fell",
                self.tr.fig("trends", r, "pct_change", "abs_pct"),
                self.tr.fig("trends", r, "q_value", "p")))  # fmt: skip
        return s

    def priorities(self) -> Section:
        s = Section("priorities", SECTIONS[2][1])
        scores = self.t.get("priority_scores", pd.DataFrame())
        if not len(scores):
            s.paragraphs.append(Markup("No district has priority scores."))
            return s
        latest = scores[
            scores["period_start"].astype("string") == str(scores["period_start"].astype("string").max())
        ]
        ranked = latest[[usable(r, "priority_rank") for r in latest.to_dict("records")]]
        ranked = ranked[pd.to_numeric(ranked["priority_rank"]) <= TOP]
        by_issue: dict[str, list[dict]] = {}
        for r in ranked.sort_values(["issue", "partnership_code"]).to_dict("records"):
            by_issue.setdefault(str(r["issue"]), []).append(r)
        order = sorted(by_issue, key=lambda i: (-len(by_issue[i]), i))
        s.paragraphs.append(Markup("An issue is a district's priority when it ranks in the district's top five "
                                   "(ranks count the published scores only; tied issues share a rank). Issues "
                                   "that several districts share come first."))  # fmt: skip
        for issue in order:
            rows = by_issue[issue]
            label = rows[0].get("issue_label") or issue
            where = Markup("; ").join(Markup("{} rank {}").format(self.names[r["partnership_code"]],
                                                                  self.tr.fig("priority_scores", r, "priority_rank", "int"))
                                      for r in rows)  # fmt: skip
            s.items.append(Markup("<strong>{}</strong>: {}.").format(label, where))
            if len(rows) > 1:
                self.drafts.append(Markup("Make <strong>{}</strong> a county-wide priority of the agreement: it is a "
                                          "priority of {} districts.").format(label, self.tr.count(
                                              "priority_scores", {"period_start": str(rows[0]["period_start"]),
                                                                  "issue": issue,
                                                                  "priority_rank": [str(r["priority_rank"]) for r in rows]},
                                              len(rows))))  # fmt: skip
        return s

    def delivery(self) -> Section:
        s = Section("delivery", SECTIONS[3][1])
        progress = self.t.get("target_progress", pd.DataFrame())
        for code in self.members:
            own = rows_matching(progress, {"partnership_code": code}) if len(progress) else progress
            if not len(own):
                s.items.append(Markup("<strong>{}</strong>: no target register.").format(self.names[code]))
                continue
            parts = [Markup("{} {}").format(self.tr.count("target_progress", {"partnership_code": code, "status": st},
                                                          int((own["status"] == st).sum())), word)
                     for st, word in (("green", "on track"), ("amber", "at risk"), ("red", "not on track"),
                                      ("grey", "not yet measurable")) if (own["status"] == st).any()]  # fmt: skip
            s.items.append(Markup("<strong>{}</strong>: {} targets; {}.").format(
                self.names[code], self.tr.count("target_progress", {"partnership_code": code}, len(own)),
                Markup(", ").join(parts)))  # fmt: skip
        return s

    def data_quality(self) -> Section:
        s = Section("data-quality", SECTIONS[4][1])
        caveats = self.t.get("caveats", pd.DataFrame())
        short = rows_matching(caveats, {"period_start": str(self.year)}) if len(caveats) else caveats
        for r in short.sort_values(["partnership_code", "dataset"]).to_dict("records") if len(short) else []:
            if incomplete_text(r.get("incomplete_data")):
                s.items.append(Markup('<span class="incomplete">{}, {}: incomplete data ({}).</span>').format(
                    self.names[r["partnership_code"]], label_of(r["dataset"]),
                    self.tr.fig("caveats", r, "incomplete_data", "text")))  # fmt: skip
        s.paragraphs.append(Markup("Written from the districts' published, disclosure-controlled tables at "
                                   "partnership level only: no ward or neighbourhood figure of any district appears, "
                                   "and figures withheld in a district's pack are withheld here."))  # fmt: skip
        return s

    def recommendations(self) -> Section:
        s = Section("recommendations", SECTIONS[5][1])
        s.paragraphs.append(
            Markup("Drafts for the county's partnerships to edit, each from a shared finding above.")
        )
        for draft in self.drafts:
            s.items.append(Markup('<span class="draft">Draft</span> ') + draft)
        if not self.drafts:
            s.paragraphs.append(Markup("No priority is shared by two or more districts this year."))
        return s

    def sections(self) -> list[Section]:
        return [self.levels(), self.changes(), self.priorities(), self.delivery(), self.data_quality(),
                self.recommendations()]  # fmt: skip


def build_county_agreements(
    tables: dict[str, Published],
    partnerships: dict[str, str],
    counties: tuple[County, ...],
    out_root: Path,
    *,
    region_name: str,
    label: str,
    created: datetime,
) -> list[CountyRelease]:
    """Write (or keep, when its tables are unchanged) every county's agreement; returns what happened."""
    results = []
    for county in counties:
        unknown = [c for c in county.partnerships if c not in partnerships]
        if unknown:
            raise CountyError(f"region key counties: county {county.code} ({county.name}) names "
                              f"{', '.join(unknown)}, not a partnership of this region "
                              f"({', '.join(sorted(partnerships))})")  # fmt: skip
        frames = county_tables(tables, county.partnerships)
        csvs = {t: csv_bytes(f) for t, f in frames.items()}
        checksums = {t: _sha256(b) for t, b in csvs.items()}
        folder = out_root / "counties" / county.code
        with rel.locked(folder):
            rel.recover(folder)
            decision = rel.decide(
                folder, checksums, {"members": _sha256(",".join(county.partnerships).encode())}
            )
            if not decision.new:
                results.append(CountyRelease(county.code, county.name, "unchanged", decision.version,
                                             folder / decision.version))  # fmt: skip
                continue
            keys = {t: tuple(k for k in tables[t].spec.key if k in frames[t].columns) for t in frames}
            writer = CountyWriter(county, {c: partnerships[c] for c in county.partnerships}, frames, keys)

            fill = partial(_write_county, county=county, writer=writer, frames=frames, csvs=csvs, keys=keys,
                           partnerships=partnerships, region_name=region_name, version=decision.version,
                           label=label, created=created)  # fmt: skip
            path = rel.write_version(folder, decision.version, fill)
            rel.append_log(folder, {"refreshed_at": created.isoformat(), "refresh_label": label, "outcome": "new",
                                    "version": decision.version, "previous_version": decision.previous,
                                    "restatements": 0, "tables_sha256": _sha256(
                                        json.dumps(checksums, sort_keys=True).encode())})  # fmt: skip
            results.append(CountyRelease(county.code, county.name, "new", decision.version, path))
    return results


def _write_county(
    staging: Path,
    *,
    county: County,
    writer: CountyWriter,
    frames: dict[str, pd.DataFrame],
    csvs: dict[str, bytes],
    keys: dict[str, tuple[str, ...]],
    partnerships: dict[str, str],
    region_name: str,
    version: str,
    label: str,
    created: datetime,
) -> None:
    (staging / "csv").mkdir()
    for t, data in csvs.items():
        (staging / "csv" / f"{t}.csv").write_bytes(data)
    html = render_county(writer, county, region_name, version, label, created)
    (staging / "county-agreement.html").write_text(html, encoding="utf-8")
    if pdf_wanted():
        write_pdf(html, staging / "county-agreement.pdf", created=created)
    manifest = {
        "document": "csp-audit county community safety agreement (roll-up)",
        "county": {"code": county.code, "name": county.name},
        "partnerships": [{"code": c, "name": partnerships[c]} for c in county.partnerships],
        "members": {"sha256": _sha256(",".join(county.partnerships).encode())},
        "region": region_name,
        "version": version,
        "refresh_label": label,
        "created_at": created.isoformat(),
        "tables": {t: {"rows": len(frames[t]), "sha256": _sha256(csvs[t]), "csv": f"csv/{t}.csv", "key": list(keys[t])}
                   for t in frames},
        "files": {str(p.relative_to(staging)): _sha256(p.read_bytes()) for p in sorted(staging.rglob("*")) if p.is_file()},
    }  # fmt: skip
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def render_county(writer: CountyWriter, county: County, region_name: str, version: str, label: str,
                  created: datetime) -> str:  # fmt: skip
    members = ", ".join(writer.names[c] for c in county.partnerships)
    return render_document(
        code=county.code, name=county.name, region=region_name, version=version, refresh_label=label,
        created=created.strftime("%d %B %Y %H:%M UTC"), year_label=writer.year_label,
        year_lit=writer.tr.lit(writer.year_label), sections=writer.sections(), commentary_file=None,
        title="county community safety agreement (roll-up)",
        subtitle=Markup("Two-tier county <span class=\"lit\">{}</span>: district partnerships {}").format(county.code, members),
        provenance=Markup('Roll-up release <span class="lit">{}</span>').format(version),
        lead=Markup("A roll-up of the district partnerships' audit figures for their county community safety "
                    "agreement, generated from their published tables and edited by the partnerships."),
    )  # fmt: skip
