"""The dbt unit tests (``unit_tests:`` in the models' property files) on the test stack's PostgreSQL.

They specify staging's latest-state rule and the marts' derived columns on hand-made rows; the DAG's
dbt commands leave them out (include/cdc/airflow/dbt_group.py), so they run here, in ``make test``. dbt
reads each mocked input's column types from its relation, so the test's database first gets empty
bronze tables and every model built on them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from include.cdc.airflow import tasks
from tests.integration.warehouse import DBT_PROJECT, RUN, dbt

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(corner, monkeypatch, tmp_path):
    """The test's database with empty bronze tables and every model built on them."""
    tasks.load_bronze.function(params=RUN)  # creates bronze, loads nothing
    dbt(corner, monkeypatch, tmp_path / "build", "run")
    return corner


def unit_test_outcomes(corner, monkeypatch, tmp_path: Path, project: Path = DBT_PROJECT) -> dict[str, str]:
    """Every unit test the project's manifest declares, with the status dbt gave it (none: not run)."""
    result = dbt(
        corner, monkeypatch, tmp_path, "test", "--select", "test_type:unit", project=project, check=False
    )
    assert result.exception is None, result.exception
    declared = json.loads((tmp_path / "target" / "manifest.json").read_text())["unit_tests"]
    statuses = {r.node.unique_id: str(r.status) for r in result.result.results}
    return {unique_id: statuses.get(unique_id, "not run") for unique_id in declared}


def test_every_dbt_unit_test_passes(warehouse, monkeypatch, tmp_path):
    outcomes = unit_test_outcomes(warehouse, monkeypatch, tmp_path)

    assert outcomes == dict.fromkeys(outcomes, "pass")
    # Every model's logic is specified: each staging model and each mart has unit tests.
    tested = {unique_id.split(".")[2] for unique_id in outcomes}
    models = {path.stem for path in (DBT_PROJECT / "models").rglob("*.sql")}
    assert tested == models


def test_a_broken_rule_fails_the_unit_tests_that_specify_it(warehouse, monkeypatch, tmp_path):
    """The suite can fail: in a copy of the project, a weight of exactly 5 kg becomes medium, and an
    incremental staging run rewrites a key even for an older event."""
    project = tmp_path / "project"
    shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    breaks = {
        "models/marts/dim_product.sql": ("weight_kg < 5 then 'medium'", "weight_kg <= 5 then 'medium'"),
        "macros/cdc_staging.sql": ("where is_new", "where true"),
    }
    for relative, (rule, broken) in breaks.items():
        path = project / relative
        assert rule in path.read_text()
        path.write_text(path.read_text().replace(rule, broken))

    outcomes = unit_test_outcomes(warehouse, monkeypatch, tmp_path, project)

    by_name = {unique_id.rsplit(".", 1)[1]: status for unique_id, status in outcomes.items()}
    assert {name: status for name, status in by_name.items() if status != "pass"} == {
        "dim_product_weight_category_boundaries": "fail",
        "stg_product_incremental_keeps_the_later_state": "fail",
    }
