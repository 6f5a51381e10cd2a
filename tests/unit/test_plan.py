"""Tests of the shared data plan: validation, one request per agency, due dates, the arrival board and CLI.

The demo region is generated once (one month of police data is enough: the plan only needs its lookups),
and variants of the demo plan are written beside it so relative paths resolve as in real use. Expected due
dates are spelled out literally so a change to the date arithmetic cannot silently change what is checked.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from csp_audit.cli.plan import add_plan_commands
from csp_audit.plan.model import DataPlan, Geography, PlanError, load_plan
from csp_audit.plan.periods import Month
from csp_audit.quality.gate import PERIOD_NOT_IN_CADENCE, cadence_refusal
from csp_audit.requests.arrivals import (
    BoardRow,
    arrival_board,
    board_html,
    expected_deliveries,
    format_board,
    scan_landing,
    unmatched,
    write_board_html,
)
from csp_audit.requests.letters import render_requests, write_csv, write_markdown
from csp_audit.sources.delivery import Delivery
from csp_audit_demo.plan import write_demo_plan
from csp_audit_demo.region import generate_demo_region

ALL_CSPS = ["E22990001", "E22990002", "E22990003", "E22990004", "E22990005"]
NORTHSHIRE_CSPS = ["E22990001", "E22990002", "E22990003"]
SOUTHMOOR_CSPS = ["E22990004", "E22990005"]


@pytest.fixture(scope="module")
def region_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo_region(out, months=1)
    write_demo_plan(out)
    return out


@pytest.fixture(scope="module")
def plan(region_dir: Path) -> DataPlan:
    return load_plan(region_dir / "plan.yaml")


def _variant(region_dir: Path, name: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the demo plan, changed, written beside the region so 'region: region.yaml' still resolves."""
    doc = yaml.safe_load((region_dir / "plan.yaml").read_text(encoding="utf-8"))
    change(doc)
    path = region_dir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _errors(path: Path) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    assert isinstance(caught.value, ValueError)
    return caught.value.errors


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csp-audit")
    add_plan_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return int(args.func(args))


def _touch(path: Path, when: datetime, text: str = "a,b\n1,2\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (when.timestamp(), when.timestamp()))


# -------------------------------------------------------------------------------------------------- the plan


def test_demo_plan_validates_with_the_agencies_the_region_needs(plan: DataPlan, region_dir: Path) -> None:
    lookup = list(
        csv.DictReader(
            (region_dir / "lookups/LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv").open(encoding="utf-8-sig")
        )
    )
    region_lads = {row["LAD19CD"] for row in lookup if row["PFA19CD"] in {"E23990001", "E23990002"}}
    types = [a.type for a in plan.agencies.values()]
    assert types.count("local_authority") == len(region_lads) == 6
    assert (
        types.count("police") == 2
        and types.count("emergency_department") == 2
        and types.count("housing") == 2
    )
    for kind in ("fire_and_rescue", "youth_offending", "probation", "public_health", "consultation"):
        assert types.count(kind) == 1
    assert plan.agencies["northshire_police"].serves == tuple(NORTHSHIRE_CSPS)
    assert plan.agencies["fire_and_rescue"].serves == tuple(ALL_CSPS)
    assert set(plan.datasets) == {
        "police_uk_street", "fire_incidents", "ed_assaults", "la_asb_reports", "yot_first_time_entrants",
        "probation_caseload", "housing_asb_complaints", "substance_misuse_treatment", "proven_reoffending",
        "domestic_abuse_incidents", "consultation_survey",
    }  # fmt: skip
    assert plan.datasets["police_uk_street"].agencies == ("northshire_police", "southmoor_police")
    assert plan.datasets["domestic_abuse_incidents"].agencies == ("northshire_police", "southmoor_police")
    assert plan.datasets["domestic_abuse_incidents"].geography.code == "lsoa 2011"
    assert plan.datasets["proven_reoffending"].agencies == ("probation_service",)
    assert plan.datasets["substance_misuse_treatment"].agencies == ("drug_alcohol_treatment",)
    for dataset in ("substance_misuse_treatment", "proven_reoffending", "domestic_abuse_incidents"):
        assert plan.datasets[dataset].sharing.level == "aggregate"
        assert plan.datasets[dataset].sharing.min_cell_size == 10
    assert plan.datasets["fire_incidents"].geography.code == "ward 2015"
    assert plan.datasets["ed_assaults"].sharing.pseudonymise == ("patient_id",)
    ed = plan.datasets["ed_assaults"].geography  # placed where it happened, else by the home area
    assert (ed.key, ed.column) == ("lsoa_2011", "incident_lsoa_code")
    assert ed.fallback == Geography("postcode_district", None, "patient_postcode_district")
    assert plan.datasets["consultation_survey"].sharing.level == "deidentified"
    assert plan.partnership_names["E22990001"] == "Vale of Harrow and Aldbury"


def test_geography_columns_must_be_code_columns_of_the_contract(region_dir: Path) -> None:
    def break_it(doc: dict[str, Any]) -> None:
        datasets = doc["datasets"]
        datasets["ed_assaults"]["geography"]["column"] = "incident_lsoa"
        datasets["ed_assaults"]["geography"]["fallback"]["vintage"] = 1066
        datasets["fire_incidents"]["geography"]["column"] = "ward_name"
        datasets["housing_asb_complaints"]["geography"]["fallback"] = {"type": "ward", "column": "lsoa_code"}

    errors = [e.split(": ", 1)[1] for e in _errors(_variant(region_dir, "columns", break_it))]
    for fragment in [
        "datasets.ed_assaults.geography.column: 'incident_lsoa' is not a column of the dataset",
        "datasets.ed_assaults.geography.fallback.vintage: must be the boundary year, e.g. 2011, got 1066",
        "datasets.fire_incidents.geography.column: 'ward_name' holds area codes, so its type must be code",
        "datasets.housing_asb_complaints.geography.fallback.vintage: is required for wards",
        "datasets.housing_asb_complaints.geography.fallback.column: must differ from the column it stands in for",
    ]:
        assert any(e.startswith(fragment) for e in errors), (fragment, errors)


def test_schema_errors_name_the_key_path_and_come_together(region_dir: Path) -> None:
    def break_it(doc: dict[str, Any]) -> None:
        datasets = doc["datasets"]
        datasets["fire_incidents"]["sharing"]["min_cell_size"] = "ten"
        datasets["ed_assaults"]["due_day"] = 31
        datasets["ed_assaults"]["sharing"]["pseudonymise"] = ["patient_ref"]
        datasets["probation_caseload"]["agency"] = "probation_services"
        datasets["consultation_survey"]["sharing"]["level"] = "record"
        datasets["la_asb_reports"]["formt"] = datasets["la_asb_reports"].pop("format")
        doc["agencies"]["southmoor_police"]["serves"] = ["E22990004", "E2299005"]
        doc["agencies"]["moorland_homes"]["serves"] = ["E22990001"]
        datasets["housing_asb_complaints"]["partnerships"] = ["E22990001", "E22990004"]
        datasets["housing_asb_complaints"]["agency"] = "moorland_homes"

    errors = _errors(_variant(region_dir, "broken", break_it))
    assert (
        "broken.yaml: datasets.fire_incidents.sharing.min_cell_size: must be an integer >= 1, got 'ten'"
        in [e.split(str(region_dir) + os.sep)[-1] for e in errors]
    )
    expected = [
        "datasets.ed_assaults.due_day: must be a day of the month 1-28",
        "datasets.ed_assaults.sharing.pseudonymise[0]: 'patient_ref' is not a column of this dataset",
        "datasets.probation_caseload.agency: unknown agency 'probation_services' (did you mean 'probation_service'?)",
        "datasets.consultation_survey.sharing.level: consultation responses must be shared 'aggregate' or",
        "datasets.la_asb_reports.format: is required",
        "datasets.la_asb_reports.formt: unknown key (did you mean 'format'?",
        "agencies.southmoor_police.serves[1]: must be an ONS partnership code",
        "datasets.housing_asb_complaints.partnerships[1]: E22990004 is not served by moorland_homes",
    ]
    for fragment in expected:
        assert any(fragment in e for e in errors), (fragment, errors)
    assert all(e.startswith(str(region_dir / "broken.yaml") + ": ") for e in errors)


def test_more_rules_region_codes_landing_and_time(region_dir: Path) -> None:
    def break_it(doc: dict[str, Any]) -> None:
        doc["agencies"]["fire_and_rescue"]["serves"].append(
            "E22990006"
        )  # a real code, but outside the region
        doc["cycle"]["months"] = 10  # quarterly and yearly datasets no longer fit
        doc["datasets"]["police_uk_street"]["landing"] = {"path": "police"}  # two forces, one folder
        doc["datasets"]["fire_incidents"]["sharing"].pop("min_cell_size")
        doc["datasets"]["fire_incidents"]["geography"] = {"type": "lsoa", "vintage": 1991}

    errors = "\n".join(_errors(_variant(region_dir, "broken2", break_it)))
    assert (
        "agencies.fire_and_rescue.serves[5]: E22990006 is not a partnership of region 'demo-region'" in errors
    )
    assert (
        "datasets.fire_incidents.cadence: quarterly deliveries need cycle.months to be a multiple of 3"
        in errors
    )
    assert "datasets.consultation_survey.cadence: yearly deliveries need cycle.months" in errors
    assert "datasets.police_uk_street.landing.path: must contain {agency}" in errors
    assert "datasets.fire_incidents.sharing.min_cell_size: is required when level is 'aggregate'" in errors
    assert (
        "datasets.fire_incidents.geography.vintage: LSOA boundaries exist for the 2001, 2011 and 2021"
        in errors
    )


def test_a_dataset_no_model_reads_is_refused_when_the_plan_is_validated(region_dir: Path) -> None:
    """Before, its deliveries loaded and then every build failed (issue 19)."""

    def add_dataset(doc: dict[str, Any]) -> None:
        doc["datasets"]["knife_crime"] = dict(doc["datasets"]["fire_incidents"])

    errors = "\n".join(_errors(_variant(region_dir, "unmodelled", add_dataset)))
    assert "datasets.knife_crime: no dbt model reads dataset 'knife_crime'" in errors
    assert "fire_incidents" not in errors.split("datasets with models:")[0]


def test_a_missing_plan_or_bad_yaml_is_one_plain_error(tmp_path: Path) -> None:
    assert _errors(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: plan file not found"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    assert "not valid YAML" in _errors(bad)[0]


# ------------------------------------------------------------------------------------------------- requests


def test_one_request_per_agency_covering_all_its_partnerships(plan: DataPlan) -> None:
    requests = render_requests(plan, None)
    ids = [r.agency.id for r in requests]
    assert len(ids) == len(set(ids)) == len(plan.agencies)
    by_id = {r.agency.id: r for r in requests}
    fire = by_id["fire_and_rescue"]
    assert fire.partnerships == tuple(ALL_CSPS)
    assert [ds.dataset.id for ds in fire.datasets] == ["fire_incidents"]
    # Each police force is its own agency with its own request for the shared police.uk contract.
    assert by_id["northshire_police"].partnerships == tuple(NORTHSHIRE_CSPS)
    assert by_id["southmoor_police"].partnerships == tuple(SOUTHMOOR_CSPS)
    assert by_id["brackwater_royal_ed"].partnerships == ("E22990003", *SOUTHMOOR_CSPS)


def test_an_agency_with_several_datasets_still_gets_one_request(region_dir: Path) -> None:
    def share(doc: dict[str, Any]) -> None:
        doc["datasets"]["probation_caseload"]["agency"] = "youth_justice_service"
        doc["datasets"]["proven_reoffending"]["agency"] = "youth_justice_service"

    plan = load_plan(_variant(region_dir, "shared", share))
    requests = [r for r in render_requests(plan, None) if r.agency.id == "youth_justice_service"]
    assert len(requests) == 1
    assert [ds.dataset.id for ds in requests[0].datasets] == [
        "yot_first_time_entrants", "probation_caseload", "proven_reoffending",
    ]  # fmt: skip
    assert requests[0].deliveries == 12
    assert "probation_service" not in {r.agency.id for r in render_requests(plan, None)}


def test_csv_has_a_row_per_agency_dataset_period_with_due_dates(plan: DataPlan, tmp_path: Path) -> None:
    requests = render_requests(plan, "2021-04")
    rows = list(csv.DictReader(write_csv(requests, tmp_path).open(encoding="utf-8")))
    per_cadence = {"monthly": 12, "quarterly": 4, "yearly": 1}
    assert len(rows) == sum(
        per_cadence[ds.cadence] for ds in plan.datasets.values() for _agency in ds.agencies
    )
    assert list(rows[0])[:10] == [
        "agency", "agency_name", "dataset", "period", "due_date", "partnerships", "geography",
        "sharing_level", "min_cell_size", "fields",
    ]  # fmt: skip
    keyed = {(r["agency"], r["dataset"], r["period"]): r for r in rows}
    assert len(keyed) == len(rows)
    police = keyed[("northshire_police", "police_uk_street", "2021-04")]
    assert police["due_date"] == "2021-05-15"
    assert police["partnerships"] == ";".join(NORTHSHIRE_CSPS) and police["geography"] == "lsoa 2011"
    assert keyed[("northshire_police", "police_uk_street", "2022-03")]["due_date"] == "2022-04-15"
    assert keyed[("southmoor_police", "police_uk_street", "2021-12")]["due_date"] == "2022-01-15"
    fire = keyed[("fire_and_rescue", "fire_incidents", "2021-07")]
    assert (fire["due_date"], fire["period_end"], fire["min_cell_size"]) == ("2021-10-20", "2021-09", "5")
    assert fire["partnerships"] == ";".join(ALL_CSPS) and fire["sharing_level"] == "aggregate"
    assert keyed[("community_safety_survey", "consultation_survey", "2021-04")]["due_date"] == "2022-04-28"
    assert (
        "patient_id (string, pseudonymise)"
        in keyed[("kestlebury_general_ed", "ed_assaults", "2021-04")]["fields"]
    )
    next_cycle = {r.agency.id: r for r in render_requests(plan, "2022-04")}
    assert next_cycle["fire_and_rescue"].first_due == date(2022, 7, 20)
    with pytest.raises(ValueError, match="not the start of a cycle"):
        render_requests(plan, "2022-05")


def test_markdown_is_one_letter_per_agency_plus_an_index(plan: DataPlan, tmp_path: Path) -> None:
    requests = render_requests(plan, None)
    files = write_markdown(requests, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*(f"{a}.md" for a in plan.agencies), "index.md"]
    )
    assert len(files) == len(plan.agencies)
    fire = (tmp_path / "fire_and_rescue.md").read_text(encoding="utf-8")
    assert fire.startswith("# Data request for Northshire and Southmoor Fire and Rescue Service\n")
    for code in ALL_CSPS:
        assert code in fire
    assert "## What we are asking for, and when" in fire and "Tue 20 July 2021" in fire
    # exact counts in (what the gate accepts), disclosure control on output: never '<5' (issue 16)
    assert "Send every count exactly as a whole number" in fire and "publish no figure below 5" in fire
    assert "write it as" not in fire
    ed = (tmp_path / "kestlebury_general_ed.md").read_text(encoding="utf-8")
    assert "| `patient_id` | text | yes | **Pseudonymise**" in ed
    assert "Postcode district" in ed and "Sat 15 May 2021" in ed
    index = (tmp_path / "index.md").read_text(encoding="utf-8")
    assert "[fire_and_rescue.md](fire_and_rescue.md)" in index


def test_markdown_escapes_names_that_would_format_or_inject(region_dir: Path, tmp_path: Path) -> None:
    def rename(doc: dict[str, Any]) -> None:
        doc["agencies"]["fire_and_rescue"]["name"] = "<script>alert(1)</script> | *Fire*"

    plan = load_plan(_variant(region_dir, "rename", rename))
    write_markdown(render_requests(plan, None), tmp_path)
    text = (tmp_path / "fire_and_rescue.md").read_text(encoding="utf-8")
    assert "<script>" not in text and "\\<script\\>" in text and "\\| \\*Fire\\*" in text


# --------------------------------------------------------------------------------------------------- status


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    """Deliveries covering every status as of 2021-06-25 (police due on the 15th of the next month)."""
    root = tmp_path / "landing"
    north = root / "police" / "northshire_police"
    _touch(north / "2021-04" / "2021-04-northshire-street.csv", datetime(2021, 5, 10, 9, 0))  # received
    _touch(north / "2021-05" / "2021-05-northshire-street.csv", datetime(2021, 6, 20, 9, 0))  # late
    _touch(root / "police" / "southmoor_police" / "2021-04" / ".DS_Store", datetime(2021, 5, 1))  # ignored
    ed = root / "kestlebury_general_ed" / "ed_assaults"
    _touch(ed / "2021-04" / "assaults.csv", datetime(2021, 5, 1, 12, 0))
    _touch(ed / "2021-04" / "rejected" / "assaults-resend.csv", datetime(2021, 5, 20, 12, 0))  # rejected
    _touch(ed / "2021-05" / "rejected" / "assaults.csv", datetime(2021, 6, 1, 12, 0))
    _touch(ed / "2021-05" / "assaults-fixed.csv", datetime(2021, 6, 10, 12, 0))  # received on the resend
    _touch(
        root / "fire_and_rescue" / "fire_incidents" / "2021-05" / "fires.csv", datetime(2021, 6, 1)
    )  # stray
    return root


def test_board_statuses_from_a_landing_folder(plan: DataPlan, landing: Path) -> None:
    today = date(2021, 6, 25)
    expected = expected_deliveries(plan, None, today)
    received = scan_landing(plan, landing)
    board = {(r.agency, r.dataset, r.period): r for r in arrival_board(expected, received, today)}
    assert len(board) == len(expected)
    assert board[("northshire_police", "police_uk_street", "2021-04")].status == "received"
    late = board[("northshire_police", "police_uk_street", "2021-05")]
    assert late.status == "late" and late.received_at == datetime(2021, 6, 20, 9, 0)
    assert late.source_file == "police/northshire_police/2021-05/2021-05-northshire-street.csv"
    assert board[("northshire_police", "police_uk_street", "2021-06")].status == "requested"
    assert board[("southmoor_police", "police_uk_street", "2021-04")].status == "overdue"
    rejected = board[("kestlebury_general_ed", "ed_assaults", "2021-04")]
    assert rejected.status == "rejected" and rejected.deliveries == 2
    assert board[("kestlebury_general_ed", "ed_assaults", "2021-05")].status == "received"
    assert board[("fire_and_rescue", "fire_incidents", "2021-04")].status == "requested"  # due 2021-07-20
    assert [r.source_file for r in unmatched(expected, received)] == [
        "fire_and_rescue/fire_incidents/2021-05/fires.csv"
    ]
    text = format_board(list(board.values()))
    assert text.splitlines()[0].split() == [
        "AGENCY",
        "DATASET",
        "PERIOD",
        "DUE",
        "STATUS",
        "RECEIVED",
        "FILE",
    ]
    assert "1 rejected" in text and "1 received late" in text


def test_default_cycle_is_the_one_today_falls_in(plan: DataPlan) -> None:
    expected = expected_deliveries(plan, None, date(2022, 6, 1))
    assert min(e.period for e in expected) == "2022-04" and max(e.period for e in expected) == "2023-03"
    assert {e.period for e in expected_deliveries(plan, None, date(2020, 1, 1))} >= {"2021-04", "2022-03"}


class _Checker(HTMLParser):
    """Fails on a mismatched or unclosed tag; records tags and attributes to check self-containment."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_board_html_is_well_formed_self_contained_and_escaped(tmp_path: Path) -> None:
    rows = [
        BoardRow(
            "evil", '<script>alert("x")</script>', "ds", "2021-04", "April 2021", date(2021, 5, 15), "overdue"
        ),
        BoardRow(
            "ok",
            "Northshire Police",
            "police_uk_street",
            "2021-04",
            "April 2021",
            date(2021, 5, 15),
            "late",
            datetime(2021, 5, 20, 8, 30),
            "police/x/2021-04/a&b.csv",
            1,
        ),  # fmt: skip
    ]
    path = write_board_html(rows, tmp_path / "out" / "board.html", title="Board <b>", as_of=date(2021, 6, 1))
    page = path.read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.stack == []
    assert "script" not in checker.tags and "link" not in checker.tags and "img" not in checker.tags
    assert not any(value and "http" in value for _name, value in checker.attrs)
    assert "&lt;script&gt;" in page and "a&amp;b.csv" in page and "Board &lt;b&gt;" in page
    text = " ".join(checker.text)
    assert "Overdue" in text and "Received late" in text  # colours always come with a text label
    assert 'name="viewport"' in page
    assert board_html([]).count("<table>") == 1


# ------------------------------------------------------------------------------------------------------ CLI


def test_cli_requests_and_status(
    region_dir: Path, landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_file = str(region_dir / "plan.yaml")
    out = tmp_path / "requests"
    assert _run("plan", "requests", "--plan", plan_file, "--cycle", "2021-04", "--out", str(out)) == 0
    assert (out / "index.md").is_file() and (out / "requests.csv").is_file()
    assert (out / "fire_and_rescue.md").is_file()
    printed = capsys.readouterr().out
    assert "fire_and_rescue: 1 dataset(s), 4 deliveries for 5 partnership(s), first due 2021-07-20" in printed

    assert _run("plan", "requests", "--plan", plan_file) == 0
    assert (region_dir / "requests" / "2021-04" / "requests.csv").is_file()

    html_out = tmp_path / "board.html"
    code = _run(
        "plan", "status", "--plan", plan_file, "--today", "2021-06-25", "--landing", str(landing),
        "--html", str(html_out),
    )  # fmt: skip
    assert code == 0 and html_out.is_file()
    captured = capsys.readouterr()
    assert "late" in captured.out and "overdue" in captured.out and "rejected" in captured.out
    assert "fires.csv: period 2021-05 is not a delivery of this cycle" in captured.err

    assert _run("plan", "requests", "--plan", plan_file, "--cycle", "2021-05") == 2
    assert _run("plan", "status", "--plan", str(tmp_path / "missing.yaml")) == 2
    assert "plan file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _run("plan", "status", "--plan", plan_file, "--today", "25/06/2021")


def _delivery(dataset: str, period: str) -> Delivery:
    return Delivery(sha256="0" * 64, dataset=dataset, agency="a", period=period, source_file=f"x/{period}/f.csv",
                    size=1, received_at="2022-01-01T00:00:00", path="/nonexistent")  # fmt: skip


def test_a_delivery_in_a_period_folder_off_the_cadence_is_refused(plan: DataPlan) -> None:
    """Quarterly data in a month folder between quarters would count as another quarter (issue 19)."""
    quarterly = next(d for d in plan.datasets.values() if d.cadence == "quarterly")
    start = plan.cycle.start
    assert cadence_refusal(plan, quarterly, _delivery(quarterly.id, str(start))) is None
    assert cadence_refusal(plan, quarterly, _delivery(quarterly.id, str(start.plus(-3)))) is None
    refused = cadence_refusal(plan, quarterly, _delivery(quarterly.id, str(start.plus(1))))
    assert refused is not None and refused.rule == PERIOD_NOT_IN_CADENCE
    assert str(start) in refused.detail and str(start.plus(3)) in refused.detail
    monthly = next(d for d in plan.datasets.values() if d.cadence == "monthly")
    assert all(
        cadence_refusal(plan, monthly, _delivery(monthly.id, str(Month.parse("2021-01").plus(n)))) is None
        for n in range(24)
    )


def test_every_rule_of_a_suite_is_stated_once(plan: DataPlan) -> None:
    """A rule stated twice would report every failing row twice; ED's area and fallback rules once each."""
    import json

    from csp_audit.quality import suites

    for dataset in plan.datasets.values():
        stated = [
            json.dumps([e["type"], e["kwargs"]], sort_keys=True)
            for e in suites.suite_document(dataset)["expectations"]
        ]
        assert len(stated) == len(set(stated)), dataset.id
    rules = [e["meta"]["rule"] for e in suites.suite_document(plan.datasets["ed_assaults"])["expectations"]]
    for rule in ("area_code_format", "area_code_in_lookup", "fallback_area_code_format"):
        assert rules.count(rule) == 1, (rule, rules)


def test_the_known_area_rule_runs_as_a_join_never_as_a_list_of_literals(plan: DataPlan) -> None:
    """GX writes an in-set value list into its SQL as literals (every LSOA code: 18 s per half a
    million rows in DuckDB); on a batch the rule reads a column the batch table fills with a join."""
    import duckdb
    from csp_audit.quality import batch, suites
    from csp_audit.quality.contract_suites import AREA_UNKNOWN, BATCH_FILE, area_column

    dataset = next(
        d for d in plan.datasets.values() if d.id != "police_uk_street" and area_column(d) is not None
    )
    document = suites.suite_document(dataset)
    column = suites.checks_known_areas(document)
    assert column == area_column(dataset).name
    adapted = suites.for_batches(document)
    assert suites.checks_known_areas(adapted) is None and "known_areas" not in str(adapted)
    rule = next(
        e for e in adapted["expectations"] if (e.get("meta") or {}).get("rule") == "area_code_in_lookup"
    )
    assert rule["type"] == "expect_column_values_to_be_null" and rule["kwargs"] == {"column": AREA_UNKNOWN}
    listed = next(
        e for e in adapted["expectations"] if e["type"] == "expect_table_columns_to_match_ordered_list"
    )
    assert listed["kwargs"]["column_list"][-2:] == [BATCH_FILE, AREA_UNKNOWN]
    assert suites.fingerprint_of(document) == suites.fingerprint_of(suites.suite_document(dataset))

    header = [c.name for c in dataset.columns]
    con = duckdb.connect()
    con.execute("create table files (_file bigint, _file_month varchar, _period_regex varchar)")
    con.execute("insert into files values (0, '2021-01', '.*')")
    cols = ", ".join(f"'' as {batch.quote_ident(h)}" for h in header if h != column)
    records = (
        f"create table rec as select row_number, 0::bigint as _file, code as {batch.quote_ident(column)}, {cols} "  # noqa: S608
        "from (values (1, 'E01000001'), (2, 'W99999999'), (3, '')) as t(row_number, code)"
    )
    con.execute(records)
    con.execute("create table known_areas (code varchar primary key)")
    con.execute("insert into known_areas values ('E01000001')")
    con.execute(batch.contract_batch_sql("b", "rec", dataset, header, known_area=column))
    names = [d[0] for d in con.execute("select * from b").description]
    assert names[-2:] == [BATCH_FILE, AREA_UNKNOWN]
    flagged = f"select row_number, {AREA_UNKNOWN} from b order by 1"  # noqa: S608
    assert con.execute(flagged).fetchall() == [(1, None), (2, "W99999999"), (3, None)]
    con.execute(batch.contract_batch_sql("b", "rec", dataset, header, known_area=column, lookup_known=False))
    assert con.execute(f"select count({AREA_UNKNOWN}) from b").fetchone() == (0,)  # noqa: S608
