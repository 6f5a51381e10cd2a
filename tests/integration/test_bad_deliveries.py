"""A malformed file is rejected whole with file, line and rule; bad rows are quarantined; the rest counts."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli
from csp_audit_demo.region import generate_demo_region

pytestmark = pytest.mark.integration

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)


@pytest.fixture(scope="module")
def small_region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad")
    generate_demo_region(out, months=3, scale=0.3)
    return out


def _good_rows(region: Path, n: int, month: str) -> list[str]:
    """n located rows with a Crime ID taken from a generated file, moved to `month` under new Crime IDs."""
    source = next((region / "police" / "2021-04").glob("*-northshire-street.csv"))
    rows = [line for line in source.read_text().splitlines()[1:] if line.split(",")[0] and '"' not in line]
    out = []
    for i, line in enumerate(rows[:n]):
        fields = line.split(",")
        fields[0] = hashlib.sha256(f"{month}-{i}".encode()).hexdigest()
        fields[1] = month
        out.append(",".join(fields))
    return out


def test_rejection_quarantine_and_corrected_redelivery(small_region: Path) -> None:
    police = small_region / "police"
    rows = _good_rows(small_region, 6, "2021-07")
    (police / "2021-07").mkdir()
    ragged = police / "2021-07" / "2021-07-northshire-street.csv"
    ragged.write_text("\n".join([HEADER, *rows[:3], rows[3] + ",extra", *rows[4:]]) + "\n")

    bad_rows = _good_rows(small_region, 6, "2021-08")
    bad_rows[1] = bad_rows[1].replace(",2021-08,", ",2021-09,", 1)  # month outside the file's period
    fields = bad_rows[2].split(",")
    fields[7] = "X01BAD"  # malformed LSOA code
    bad_rows[2] = ",".join(fields)
    (police / "2021-08").mkdir()
    (police / "2021-08" / "2021-08-northshire-street.csv").write_text("\n".join([HEADER, *bad_rows]) + "\n")

    warehouse = small_region / "warehouse.duckdb"
    proc = run_cli("run", "--region", str(small_region / "region.yaml"), "--warehouse", str(warehouse))
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    message = proc.stderr.strip().splitlines()[-1]
    assert "2021-07/2021-07-northshire-street.csv, line 5: rule field_count" in message

    with duckdb.connect(str(warehouse), read_only=True) as con:
        files = {r[0]: r[1:] for r in con.execute(
            "select source_file, rows_read, rows_counted, rows_quarantined from audit.reconciliation "
            "where outcome = 'loaded'").fetchall()}  # fmt: skip
        refused = con.execute(
            "select source_file, agency, period, rows_read, rows_counted, rejected_because from audit.reconciliation "
            "where outcome = 'rejected'"
        ).fetchall()
        quarantined = con.execute(
            "select row_number, rule from audit.quarantined_rows "
            "where source_file = '2021-08/2021-08-northshire-street.csv' order by row_number"
        ).fetchall()
        raw_ragged = con.execute(
            "select count(*) from raw.ds__police_uk_street where _source_file like '2021-07/%'"
        ).fetchone()[0]
    assert "2021-07/2021-07-northshire-street.csv" not in files
    # the refused file is reconciled all the same: nothing counted, and why (issue 16)
    ((source, agency, period, read, counted, because),) = refused
    assert (source, period, counted) == ("2021-07/2021-07-northshire-street.csv", "2021-07", 0)
    assert agency == "northshire"  # a region without a plan: the force's police.uk slug
    assert read is None  # a structural refusal: the gate could not read the file as CSV
    assert because.startswith("rule field_count: line 5: "), because
    assert raw_ragged == 0  # never half-loaded
    assert files["2021-08/2021-08-northshire-street.csv"] == (6, 4, 2)
    assert quarantined == [(2, "month_matches_file_period"), (3, "lsoa_code_format")]
    assert len(files) == 3 * 2 + 1  # the three generated months of both forces still count

    # the agency re-delivers a corrected file: it loads, and nothing else changes
    ragged.write_text("\n".join([HEADER, *rows]) + "\n")
    proc = run_cli("run", "--region", str(small_region / "region.yaml"), "--warehouse", str(warehouse))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(
            "select outcome, rows_read, rows_counted from audit.reconciliation "
            "where source_file = '2021-07/2021-07-northshire-street.csv' order by outcome"
        ).fetchall() == [("loaded", 6, 6), ("rejected", None, 0)]
    # the feedback still tells the force about the refused file, and that it has been replaced (issue 19)
    feedback = "".join(p.read_text() for p in (small_region / "feedback").glob("*.md"))
    refused = next(line for line in feedback.splitlines() if "2021-07-northshire-street.csv" in line)
    assert "rule `field_count`" in refused and "since replaced by an accepted delivery" in refused


def test_unusable_lookup_fails_with_one_line_cause(small_region: Path, tmp_path: Path) -> None:
    broken = tmp_path / "region"
    broken.mkdir()
    (broken / "lad.csv").write_text("FID,LAD19CD,LAD19NM,PFA19CD,PFA19NM\n1,E06990001,X,E23990001,Y\n")
    body = (small_region / "region.yaml").read_text()
    body = body.replace("lookups/LAD19_CSP19_PFA19_lookup_EW_Dec2019.csv", str(broken / "lad.csv"))
    body = body.replace("lookups/", f"{small_region}/lookups/").replace("police/", f"{small_region}/police/")
    (broken / "region.yaml").write_text(f"data_roots: [{small_region}]\n{body}")
    proc = run_cli("run", "--region", str(broken / "region.yaml"), "--warehouse", str(broken / "w.duckdb"))
    assert proc.returncode == 1
    message = proc.stderr.strip().splitlines()[-1]
    # the police.uk gate is the first to read the lookups (which force area is each LSOA in?)
    assert message.startswith(
        "csp-audit: error: csp_audit_ingest__police_uk_street: step validate failed: GeographyError:"
    )
    assert "lad.csv" in message and "csp" in message.lower()


@pytest.mark.parametrize(
    ("selection", "key"),
    [
        ("police_force_areas: [E23999999]", "partnerships.police_force_areas"),
        ("codes: [E22999999]", "partnerships.codes"),
    ],
)
def test_an_unknown_force_or_partnership_code_exits_2_naming_the_key(
    small_region: Path, tmp_path: Path, selection: str, key: str
) -> None:
    """A typo in the region is the region's fault (exit 2, the key), not a failed run naming the lookup."""
    body = re.sub(r"police_force_areas: \[[^\]]*\]", selection, (small_region / "region.yaml").read_text())
    region = small_region / f"unknown-{key.rsplit('.', 1)[1]}.yaml"
    region.write_text(body)
    proc = run_cli("run", "--region", str(region), "--warehouse", str(tmp_path / "w.duckdb"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    message = proc.stderr.strip().splitlines()[-1]
    assert f"key '{key}'" in message and "999999" in message
    assert not (tmp_path / "w.duckdb").exists()
