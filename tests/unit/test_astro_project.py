"""The Astro project's files, as `astro dev start` and `astro deploy` read them (no Docker here).

``include/connect/sqlserver-product-v2.json`` is the Debezium connector the `astro dev start` stack
registers, and ``devstack/compose/sqlserver_cdc_init.sql`` the source database it creates (rendered from
the contract by ``devstack.sqlserver_init``). Neither can run on this machine, so these tests read the
files and check them against the settings, the contract and the code that decodes what they produce.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path

import yaml

from devstack.debezium_encoding import TableEncoder, lsn
from devstack.sqlserver_init import OUTPUT as INIT_SQL
from devstack.sqlserver_init import render, seed_rows
from include.cdc.contract import SqlServerType, load_contract, table
from include.cdc.debezium import parse_change_event
from include.cdc.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CONNECTOR = REPO / "include" / "connect" / "sqlserver-product-v2.json"
DBT_PROJECT = REPO / "include" / "dbt" / "dbt_project.yml"

# Astro Runtime images for Airflow 3: astrocrpublic.azurecr.io/runtime:<Airflow major.minor>-<release>
RUNTIME_IMAGE = re.compile(r"astrocrpublic\.azurecr\.io/runtime:(?P<airflow>\d+\.\d+)-(?P<release>\d+)")
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"  # the decoder reads JSON text
# Connector values that staging's decimal decoding reads, by the dbt var debezium_decimal_handling
# (include/dbt/macros/debezium_decode.sql).
DECIMAL_MODES_READ = {"auto": {"precise", "string"}, "precise": {"precise"}, "string": {"string"}}


def base_image() -> str:
    (line,) = [line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("FROM ")]
    return line.split()[1]


def pinned_airflow() -> str:
    requirements = (REPO / "requirements-dev.txt").read_text()
    return re.search(r"^apache-airflow==(\S+)$", requirements, re.MULTILINE).group(1)


@cache
def connector() -> dict[str, str]:
    return json.loads(CONNECTOR.read_text())


def test_the_base_image_is_an_astro_runtime_image_as_the_registry_names_them():
    assert RUNTIME_IMAGE.fullmatch(base_image()), base_image()


def test_the_base_image_runs_the_airflow_minor_version_the_project_is_developed_and_tested_on():
    major, minor, _ = pinned_airflow().split(".", 2)
    assert RUNTIME_IMAGE.fullmatch(base_image())["airflow"] == f"{major}.{minor}"


def test_the_connector_is_the_one_the_dag_checks_and_writes_the_topics_it_drains():
    settings, config = Settings(), connector()
    assert config["name"] == settings.connector_name
    assert config["connector.class"] == "io.debezium.connector.sqlserver.SqlServerConnector"
    assert config["topic.prefix"] == settings.topic_prefix
    assert config["database.names"] == settings.source_database
    included = config["table.include.list"].split(",")
    assert sorted(included) == sorted(f"{t.schema}.{t.table}" for t in settings.contract)
    for entry in included:
        topic = f"{config['topic.prefix']}.{config['database.names']}.{entry}"
        assert topic == settings.topic(table(entry.partition(".")[2]))


def test_the_connector_encodes_as_the_decoder_and_staging_read():
    config = connector()
    assert config["key.converter"] == config["value.converter"] == JSON_CONVERTER
    dbt_mode = yaml.safe_load(DBT_PROJECT.read_text())["vars"]["debezium_decimal_handling"]
    assert config["decimal.handling.mode"] in DECIMAL_MODES_READ[dbt_mode]


def debezium_epoch_unit(time_precision_mode: str, sql_type: SqlServerType) -> str:
    """The unit Debezium's SQL Server connector writes a temporal column in, by time.precision.mode
    (its documentation, "Temporal types"): connect gives milliseconds for every timestamp, adaptive
    and adaptive_time_microseconds follow the column's precision."""
    if sql_type.name == "date":
        return "days"
    precision = sql_type.precision if sql_type.name == "datetime2" else 3
    if time_precision_mode == "connect" or precision <= 3:
        return "ms"
    return "us" if precision <= 6 else "ns"


def test_the_connector_writes_timestamps_in_the_units_the_contract_decodes():
    mode = connector()["time.precision.mode"]
    types = {c.sqlserver_type for t in load_contract() for c in t.columns if c.sqlserver_type.epoch_unit}
    types |= {SqlServerType.parse(f"datetime2({p})") for p in range(8)}
    for sql_type in types:
        assert debezium_epoch_unit(mode, sql_type) == sql_type.epoch_unit, sql_type


def test_the_seed_rows_encoded_as_the_connector_is_configured_pass_the_loaders_checks():
    config, settings = connector(), Settings()
    wrap = config["value.converter.schemas.enable"] == "true"
    assert config["key.converter.schemas.enable"] == config["value.converter.schemas.enable"]
    rows = seed_rows(settings.contract)
    source = {"commit_lsn": lsn(1), "change_lsn": None, "event_serial_no": None, "snapshot": "true"}
    for source_table in settings.contract:
        encoder = TableEncoder(source_table, settings.topic_prefix, settings.source_database, 1)
        assert encoder.topic == settings.topic(source_table)
        for row in rows[source_table.table]:
            message = encoder.message(
                "r", None, row, source, datetime(2026, 1, 5), 0, wrap, config["decimal.handling.mode"]
            )
            parse_change_event(message.key.decode(), message.value.decode(), source_table)


def test_the_committed_sqlserver_init_script_is_what_the_contract_gives():
    assert INIT_SQL.read_text(encoding="utf-8") == render(), "run: python -m devstack.sqlserver_init"


def created_columns(sql: str, schema: str, name: str) -> tuple[dict[str, SqlServerType], list[str]]:
    """Columns and types of one CREATE TABLE of the script, and its primary key columns."""
    body = re.search(rf"CREATE TABLE \[{schema}\]\.\[{name}\] \((.*?)\n    \);", sql, re.DOTALL).group(1)
    columns = re.findall(r"^\s*\[(\w+)\] (\w+(?:\([\w,]+\))?) (?:NOT )?NULL,?$", body, re.MULTILINE)
    primary_key = re.search(r"PRIMARY KEY \(([^)]*)\)", body).group(1)
    return {c: SqlServerType.parse(t) for c, t in columns}, re.findall(r"\[(\w+)\]", primary_key)


def test_the_init_script_creates_every_contract_column_with_its_type_and_enables_cdc_on_each_table():
    sql, settings = INIT_SQL.read_text(encoding="utf-8"), Settings()
    assert f"USE [{settings.source_database}];" in sql
    assert "EXEC sys.sp_cdc_enable_db;" in sql
    for t in settings.contract:
        columns, primary_key = created_columns(sql, t.schema, t.table)
        assert columns == {c.source_column: c.sqlserver_type for c in t.columns}, t.table
        assert primary_key == [c.source_column for c in t.key_columns], t.table
        assert (
            f"EXEC sys.sp_cdc_enable_table @source_schema = N'{t.schema}', @source_name = N'{t.table}',"
            in sql
        )
