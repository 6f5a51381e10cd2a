"""The gate between the harmonised fact and the marts, and the swap after it: a critical failure or a
failing test of the marts leaves the warehouse as it was."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli
from csp_audit.paths import dbt_project_dir
from csp_audit.quality.fact_gate import FactGateFailed
from csp_audit.steps.build import build_marts
from csp_audit.warehouse.dbt_runner import DbtFailed
from csp_audit_demo.region import generate_demo_region
from test_end_to_end import mart_checksums, table_checksums

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo region run once; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("fact-gate")
    generate_demo_region(folder, months=3, scale=0.2)
    warehouse = folder / "warehouse.duckdb"
    proc = run_cli("run", "--region", str(folder / "region.yaml"), "--warehouse", str(warehouse))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "fact gate: harmonised fact passed" in proc.stdout
    (folder / "console.txt").write_text(proc.stdout + proc.stderr)
    return folder


def test_a_run_shows_its_own_progress_and_logs_the_rest(built: Path) -> None:
    """Quiet by default: Airflow, GX and dbt write to csp-audit.log; the console has progress lines only."""
    console = (built / "console.txt").read_text().splitlines()
    assert console and all(line.startswith("[csp-audit] ") for line in console), [
        line for line in console if not line.startswith("[csp-audit] ")
    ][:5]
    assert any("outputs:" in line for line in console)
    assert console[-1].startswith("[csp-audit]   run log") and console[-1].endswith("csp-audit.log")
    log = (built / "csp-audit.log").read_text()
    assert "[DAG TEST]" in log and "great_expectations" in log  # the libraries' lines, kept
    assert "[csp-audit] fact gate: harmonised fact passed" in log  # and the progress, for the whole story


def test_critical_fact_failure_keeps_the_last_good_marts(built: Path, tmp_path: Path) -> None:
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    warehouse = tmp_path / "warehouse.duckdb"
    good = _marts(warehouse)

    # a row that slipped past the delivery gate (as a bug upstream would let it): dated 2099
    tampered = tmp_path / "tampered.duckdb"
    shutil.copy(warehouse, tampered)
    with duckdb.connect(str(tampered)) as con:
        con.execute(
            """
            insert into raw.ds__police_uk_street
            select _sha256, _source_file, 999999, _loaded_at, 'f' || repeat('0', 63), '2099-01', "Reported by",
                   "Falls within", "Longitude", "Latitude", "Location", "LSOA code", "LSOA name", "Crime type",
                   "Last outcome category", "Context"
            from raw.ds__police_uk_street where "LSOA code" is not null and "Crime ID" is not null limit 1
            """
        )
    assert _marts(tampered) == good
    with pytest.raises(FactGateFailed, match="month_within_deliveries.*not refreshed"):
        build_marts(str(tmp_path / "region.yaml"), str(tampered))
    assert _marts(tampered) == good  # the last good marts stay published


def test_a_failing_mart_test_swaps_nothing_in(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt replaces a model before testing it: the build runs on a copy, swapped in only when all passed."""
    shutil.copytree(built, tmp_path, dirs_exist_ok=True)
    warehouse = tmp_path / "warehouse.duckdb"
    # new populations for the marts to pick up, so a half-swapped build would show
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw.geo_populations set population = population * 2")
    before = _tables(warehouse)
    # the project as shipped plus one test of a mart that fails: dbt builds the marts, then fails
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_project_dir(), project, ignore=shutil.ignore_patterns("target", "logs"))
    (project / "tests" / "assert_planted_failure.sql").write_text(
        "-- planted by the test: fails whenever area_rates has a row\nselect * from {{ ref('area_rates') }}\n"
    )
    monkeypatch.setenv("CSP_AUDIT_DBT_PROJECT", str(project))
    with pytest.raises(DbtFailed, match="assert_planted_failure"):
        build_marts(str(tmp_path / "region.yaml"), str(warehouse))
    assert _tables(warehouse) == before  # staging, intermediate and audit all as they were
    failed = tmp_path / "warehouse.failed-build.duckdb"
    assert failed.exists() and not (tmp_path / "warehouse.building.duckdb").exists()
    assert _tables(failed)["audit.area_rates"] != before["audit.area_rates"]  # the failed build rebuilt it


def _tables(warehouse: Path) -> dict[str, str]:
    """Every table and view the build writes (staging, intermediate, audit), and the raw police rows."""
    return table_checksums(
        warehouse,
        "table_schema in ('staging', 'intermediate', 'audit') or table_name = 'ds__police_uk_street'",
    )


def _marts(warehouse: Path) -> dict[str, str]:
    """Checksums of the audit marts only (the raw tables were changed on purpose)."""
    return {k: v for k, v in mart_checksums(warehouse).items() if k != "raw_rows"}


def test_data_docs_need_nothing_from_outside(built: Path) -> None:
    """GX Data Docs load their styles and scripts from the site itself (offline, air-gapped servers)."""
    site = built / "gx-docs" / "uncommitted" / "data_docs" / "local_site"
    pages = list(site.rglob("*.html"))
    assert len(pages) >= 3 and (site / "index.html") in pages
    resource = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=[\"']([^\"']+)[\"']", re.IGNORECASE)
    local = 0
    for page in pages:
        for target in resource.findall(page.read_text(encoding="utf-8")):
            assert not re.match(r"(?i)(https?:)?//", target), (page.name, target)
            if "static/vendor/" in target:  # (GX's own favicon link is one level off on some pages)
                assert (page.parent / target).resolve().is_file(), (page.name, target)
                local += 1
    assert local >= 5 * len(pages)  # bootstrap, jquery, popper, bootstrap-table ... on every page
    # each validation page says which dataset, agencies, periods and files its batch held
    validations = [p for p in pages if "validations" in p.parts]
    assert validations
    for page in validations:
        text = page.read_text(encoding="utf-8")
        assert "police_uk_street" in text and "northshire" in text and "southmoor" in text, page.name
        assert re.search(r"\d{4}-\d{2}-northshire-street\.csv", text), page.name
