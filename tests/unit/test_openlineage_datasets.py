"""The datasets the custom tasks report to OpenLineage, and that reporting never fails a task."""

from __future__ import annotations

import json
import logging

import pytest
from airflow.providers.openlineage import api

from include.cdc.airflow import lineage
from include.cdc.contract import table
from include.cdc.settings import Settings

SETTINGS = Settings()
PRODUCT, OEM = table("Product"), table("ProductOEMNumber")


@pytest.fixture
def emitted(monkeypatch):
    """What the tasks emit, with OpenLineage active; the connections are the deployment's names."""
    events = []
    monkeypatch.setattr(api, "is_openlineage_active", lambda: True)
    monkeypatch.setattr(api, "emit_dataset_lineage", lambda **datasets: events.append(datasets))
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SETTINGS.kafka_conn_id.upper()}",
        json.dumps({"conn_type": "kafka", "extra": {"bootstrap.servers": "broker-1:9092,broker-2:9092"}}),
    )
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{SETTINGS.warehouse_conn_id.upper()}",
        json.dumps({"conn_type": "postgres", "host": "warehouse", "port": 5433, "schema": "analytics"}),
    )
    return events


def names(datasets) -> list[str]:
    return [f"{d.namespace}/{d.name}" for d in datasets]


@pytest.mark.parametrize(
    ("servers", "namespace"),
    [
        ("broker:9092", "kafka://broker:9092"),
        ("broker-1:9092, broker-2:9092", "kafka://broker-1:9092"),
        ("SASL_SSL://broker:9093", "kafka://broker:9093"),
    ],
)
def test_a_kafka_cluster_is_named_after_its_first_broker(servers, namespace):
    assert lineage.kafka_namespace(servers) == namespace


def test_the_drain_reports_the_topics_read_and_the_prefixes_landed_in(emitted):
    read = [SETTINGS.topic(PRODUCT), SETTINGS.topic(OEM)]
    lineage.report_drain(SETTINGS, read, [SETTINGS.topic(OEM)])

    [event] = emitted
    assert names(event["inputs"]) == [f"kafka://broker-1:9092/{topic}" for topic in read]
    assert names(event["outputs"]) == [f"s3://cord-raw/product_oem_number/raw/topic={SETTINGS.topic(OEM)}"]


def test_the_load_reports_the_prefixes_of_the_tables_it_wrote(emitted):
    lineage.report_bronze_load(SETTINGS, ["bronze.product_cdc"])

    [event] = emitted
    assert names(event["inputs"]) == [f"s3://cord-raw/product/raw/topic={SETTINGS.topic(PRODUCT)}"]
    assert names(event["outputs"]) == ["postgres://warehouse:5433/analytics.bronze.product_cdc"]


def test_a_load_that_wrote_nothing_reports_nothing(emitted):
    lineage.report_bronze_load(SETTINGS, [])
    assert emitted == []


def test_without_a_transport_nothing_is_read_or_emitted(emitted, monkeypatch, caplog):
    monkeypatch.setattr(api, "is_openlineage_active", lambda: False)
    monkeypatch.delenv(f"AIRFLOW_CONN_{SETTINGS.kafka_conn_id.upper()}")
    with caplog.at_level(logging.WARNING):
        lineage.report_drain(SETTINGS, [SETTINGS.topic(PRODUCT)], [SETTINGS.topic(PRODUCT)])
    assert emitted == []
    assert caplog.records == []


def test_a_lineage_failure_is_a_warning_not_a_failed_task(emitted, monkeypatch, caplog):
    monkeypatch.setenv(f"AIRFLOW_CONN_{SETTINGS.kafka_conn_id.upper()}", json.dumps({"conn_type": "kafka"}))
    with caplog.at_level(logging.WARNING):
        lineage.report_drain(SETTINGS, [SETTINGS.topic(PRODUCT)], [SETTINGS.topic(PRODUCT)])
    assert emitted == []
    assert "OpenLineage datasets not reported" in caplog.text


def test_a_query_with_a_bound_parameter_or_ctes_names_its_tables():
    read, written = lineage.tables_in(
        "with previous as (select value from cdc_meta.run_metrics) "
        "insert into cdc_meta.run_metrics select count(*) from marts.dim_product, previous "
        "where supplier_name <> all(%(allowed_suppliers)s::text[])"
    )
    assert sorted(read) == ["cdc_meta.run_metrics", "marts.dim_product"]
    assert written == ["cdc_meta.run_metrics"]


def test_a_check_the_provider_could_not_parse_reports_the_tables_it_read(emitted):
    from airflow.providers.openlineage.extractors import OperatorLineage

    found = lineage.fill_sql_lineage(
        SETTINGS, "select count(*) > 0 from marts.dim_product where x = %(y)s", OperatorLineage()
    )
    assert names(found.inputs) == ["postgres://warehouse:5433/analytics.marts.dim_product"]
    assert found.outputs == []
