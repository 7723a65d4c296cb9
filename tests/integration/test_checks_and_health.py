"""The DAG's SQL checks and the health check, on a warehouse built from generated events."""

from __future__ import annotations

import json

import pytest

from devstack.demo import load_dag
from include.cdc.airflow.assets import DIM_PRODUCT, DIM_PRODUCT_SEARCH
from include.cdc.checks import health
from include.cdc.settings import Settings
from tests.integration.warehouse import dbt, ingest

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(corner, monkeypatch, tmp_path):
    corner.produce(list(corner.generator(products=30, events=2000).messages()))
    ingest()
    dbt(corner, monkeypatch, tmp_path, "build")
    return corner


@pytest.fixture
def checks(warehouse):
    """Each check of the DAG as (rendered SQL, bind parameters), as its operator would run it."""
    dag = load_dag()
    env = dag.get_template_env()
    found = {}
    for task in dag.task_group_dict["checks"].iter_tasks():
        sql = env.from_string(task.sql).render(params=task.params)  # the file's text, read at parse time
        found[task.task_id.removeprefix("check_")] = (sql, task.parameters)
    return found


def outcome(corner, check) -> dict[str, bool]:
    sql, parameters = check
    with corner.connect() as conn:
        return conn.execute(sql, parameters).fetchone()


def test_every_check_passes_on_a_consistent_warehouse(warehouse, checks):
    assert set(checks) == {
        "layers_consistent",
        "no_duplicate_products",
        "bronze_is_fresh",
        "multilingual_coverage",
        "supplier_concentration",
        "for_sale_share_stable",
    }
    for name, check in checks.items():
        result = outcome(warehouse, check)
        assert result, name
        assert all(result.values()), (name, result)
    assert set(outcome(warehouse, checks["layers_consistent"])) >= {
        "product_cdc_covers_stg_product",
        "product_availability_cdc_covers_stg_product_availability",
        "dim_product_equals_active_stg_product",
        "dim_product_search_equals_dim_product",
    }


def test_a_mart_out_of_step_with_staging_fails_the_layer_check(warehouse, checks):
    warehouse.execute(
        "delete from marts.dim_product_search where product_id in (select min(product_id) "
        "from marts.dim_product_search)"
    )
    result = outcome(warehouse, checks["layers_consistent"])
    assert result["dim_product_search_equals_dim_product"] is False


def test_for_sale_share_alarm_compares_with_the_previous_run(warehouse, checks):
    record = load_dag().get_template_env().get_template("monitoring/record_run_metrics.sql").render()
    with warehouse.connect() as conn:
        conn.execute(record, {"run_id": "run-1"})
    assert all(outcome(warehouse, checks["for_sale_share_stable"]).values())
    warehouse.execute("update marts.dim_product set is_for_sale = not is_for_sale")  # a mass change
    assert not any(outcome(warehouse, checks["for_sale_share_stable"]).values())


def test_supplier_concentration_allows_the_configured_suppliers(warehouse, checks, monkeypatch):
    warehouse.execute("update marts.dim_product set supplier_name = 'Inter Cars'")
    assert not any(outcome(warehouse, checks["supplier_concentration"]).values())
    monkeypatch.setenv("PRODUCT_CDC_DOMINANT_SUPPLIERS", "Inter Cars")
    sql, _ = checks["supplier_concentration"]
    allowed = {"allowed_suppliers": list(Settings.from_env().dominant_suppliers)}
    assert all(outcome(warehouse, (sql, allowed)).values())


def test_multilingual_coverage_below_the_threshold_fails(warehouse, checks):
    warehouse.execute("update marts.dim_product set multilingual_status = 'partial'")
    assert not any(outcome(warehouse, checks["multilingual_coverage"]).values())


def test_health_check_passes_then_warns_then_fails(warehouse, capsys):
    contract = Settings.from_env().contract
    every_layer = (
        [f"bronze.{t.bronze_table}" for t in contract]
        + [f"staging.{t.staging_model}" for t in contract]
        + [asset.name for asset in (DIM_PRODUCT, DIM_PRODUCT_SEARCH)]
    )
    assert health.main([]) == 0
    out = capsys.readouterr().out
    assert f"PASS: 0 failed, 0 warnings, {len(every_layer) + 1} passed" in out
    for relation in every_layer:
        assert f"PASS  {relation}" in out
    assert "PASS  cdc_meta.quarantine" in out
    assert "nothing quarantined in the last load" in out

    warehouse.execute("truncate marts.dim_product_search")
    assert health.main([]) == 0
    out = capsys.readouterr().out
    assert "WARN  marts.dim_product_search" in out
    assert "exists but holds no rows" in out

    warehouse.execute("drop table staging.stg_product_oem_number cascade")
    assert health.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL  staging.stg_product_oem_number" in out
    assert "missing" in out


def test_health_check_fails_clearly_without_a_reachable_warehouse(corner, monkeypatch, capsys):
    assert health.main(["--conn-id", "no_such_connection"]) == 1
    assert "Airflow connection 'no_such_connection' is not defined" in capsys.readouterr().out

    closed = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 9,
        "login": "x",
        "password": "y",
        "schema": "z",
    }
    monkeypatch.setenv("AIRFLOW_CONN_CORD_WAREHOUSE", json.dumps(closed))
    assert health.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL  warehouse connection" in out
    assert "'cord_warehouse'" in out
    assert "does not answer" in out
