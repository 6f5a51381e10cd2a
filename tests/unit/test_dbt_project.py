"""The dbt project as its anchors write it: every audit model documented beside it, with a contract."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO

MODELS = REPO / "dbt_project" / "models"


def _model_docs(folder: Path) -> dict[str, tuple[Path, dict]]:
    out = {}
    for path in folder.rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            out[model["name"]] = (path, model)
    return out


MARTS = sorted(p for p in (MODELS / "marts").rglob("*.sql"))


@pytest.mark.parametrize("sql", MARTS, ids=lambda p: p.stem)
def test_every_audit_model_has_a_yml_beside_it_with_every_column_documented_and_a_contract(sql: Path) -> None:
    beside = sql.with_suffix(".yml")
    assert beside.is_file(), f"{sql.name}: no {beside.name} beside it"
    [model] = yaml.safe_load(beside.read_text(encoding="utf-8"))["models"]
    assert model["name"] == sql.stem
    assert str(model.get("description") or "").strip(), f"{sql.stem}: no description"
    assert (model.get("config") or {}).get("contract", {}).get("enforced") is True, f"{sql.stem}: no contract"
    columns = model.get("columns") or []
    assert columns, f"{sql.stem}: no columns"
    for column in columns:
        assert column.get("data_type"), f"{sql.stem}.{column['name']}: no data_type"
        assert str(column.get("description") or "").strip(), f"{sql.stem}.{column['name']}: no description"


def test_helpers_are_intermediate_and_staging_follows_one_source_per_folder() -> None:
    assert (
        not (MODELS / "marts" / "area_lsoas.sql").exists()
        and (MODELS / "intermediate" / "int_area_lsoas.sql").exists()
    )
    documented = _model_docs(MODELS)
    for sql in MODELS.rglob("*.sql"):
        assert sql.stem in documented, f"{sql.relative_to(MODELS)} is described in no .yml"
    for folder in (MODELS / "staging").iterdir():
        source = folder.name
        assert (folder / f"_{source}__sources.yml").is_file(), f"staging/{source}: no _{source}__sources.yml"
        for sql in folder.glob("*.sql"):
            assert sql.stem.startswith(f"stg_{source}__"), f"{sql.name} is not stg_{source}__<entity>s"
    for sql in (MODELS / "intermediate").glob("*.sql"):
        assert sql.stem.startswith("int_"), sql.name


def test_descriptions_become_duckdb_comments() -> None:
    project = yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text(encoding="utf-8"))
    assert project["models"]["csp_audit"]["+persist_docs"] == {"relation": True, "columns": True}


def test_not_null_is_a_constraint_the_engine_enforces_on_tables_with_a_contract() -> None:
    """A mart's required columns and ranges are NOT NULL and CHECK constraints (DuckDB refuses a bad row
    at build time, with no test query per column); a constraint only holds on a table with an enforced
    contract, and a mart column never carries a not_null test beside it."""
    constrained = checks = 0
    for path, model in _model_docs(MODELS / "marts").values():
        config = model.get("config") or {}
        for column in model.get("columns") or []:
            kinds = [c.get("type") for c in column.get("constraints") or []]
            tests = column.get("data_tests") or []
            assert "not_null" not in tests, (
                f"{model['name']}.{column['name']}: a not_null test, not a constraint"
            )
            checks += kinds.count("check")
            if "not_null" in kinds or "check" in kinds:
                constrained += "not_null" in kinds
                assert config.get("contract", {}).get("enforced") is True, (
                    f"{path.name}: constraint without contract"
                )
                assert config.get("materialized", "table") == "table", (
                    f"{model['name']}: a view enforces nothing"
                )
    assert constrained >= 100 and checks >= 40
