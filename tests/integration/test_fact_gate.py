"""The gate between the harmonised fact and the marts: a critical failure leaves the marts as they were."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import run_cli
from csp_audit.quality.fact_gate import FactGateFailed
from csp_audit.steps.build import build_marts
from csp_audit_demo.region import generate_demo_region
from test_end_to_end import mart_checksums

pytestmark = pytest.mark.integration


def test_critical_fact_failure_keeps_the_last_good_marts(tmp_path: Path) -> None:
    generate_demo_region(tmp_path, months=3, scale=0.2)
    warehouse = tmp_path / "warehouse.duckdb"
    proc = run_cli("run", "--region", str(tmp_path / "region.yaml"), "--warehouse", str(warehouse))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "fact gate: harmonised fact passed" in proc.stdout
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


def _marts(warehouse: Path) -> dict[str, str]:
    """Checksums of the audit marts only (the raw tables were changed on purpose)."""
    return {k: v for k, v in mart_checksums(warehouse).items() if k != "raw_rows"}
