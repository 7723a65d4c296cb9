"""The Astro project's files, as `astro dev start` and `astro deploy` read them (no Docker here).

``docker-compose.override.yml`` runs the pipeline's real services beside Astro's Airflow containers,
``airflow_settings.yaml`` points the DAG's connections at them, ``include/connect/sqlserver-product-v2.json``
is the connector the stack registers, and ``devstack/compose/sqlserver_cdc_init.sql`` the source database it
creates. None of it can run on this machine, so these tests read the files and check them against each
other and against the code that consumes what the services produce. The image itself, and the DAGs parsed
under `astro dev start`'s mounts: test_astro_image.py.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from devstack.sqlserver_init import OUTPUT as INIT_SQL
from devstack.sqlserver_init import render, seed_rows, type_ddl
from devstack.synth.debezium_encoding import CONNECTOR_VERSION, TableEncoder, lsn
from include.cdc.contract import SqlServerType, load_contract, table
from include.cdc.debezium.envelope import parse_change_event
from include.cdc.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.override.yml"
AIRFLOW_SETTINGS = REPO / "airflow_settings.yaml"
CONNECTOR = REPO / "include" / "connect" / "sqlserver-product-v2.json"
ENV_EXAMPLE = REPO / ".env.example"
WAREHOUSE_ROLE_SQL = REPO / "include" / "sql" / "setup" / "warehouse_role.sql"
DBT_PROJECT = REPO / "include" / "dbt" / "dbt_project.yml"

# What `astro dev start` puts beside the override (astro-cli, airflow/include/airflow3/composeyml.go.tmpl):
# these services, every one on this network only.
ASTRO_SERVICES = {"postgres", "db-migration", "scheduler", "dag-processor", "api-server", "triggerer"}
ASTRO_NETWORK = "airflow"
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"  # the decoder reads JSON text
# Connector values that staging's decimal decoding reads, by the dbt var debezium_decimal_handling
# (include/dbt/macros/debezium_decode.sql).
DECIMAL_MODES_READ = {"auto": {"precise", "string"}, "precise": {"precise"}, "string": {"string"}}


@cache
def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@cache
def connections() -> dict[str, dict]:
    document = yaml.safe_load(AIRFLOW_SETTINGS.read_text())
    return {c["conn_id"]: c for c in document["airflow"]["connections"]}


@cache
def connector() -> dict[str, str]:
    return json.loads(CONNECTOR.read_text())


def env_example() -> dict[str, str]:
    """The variables .env.example asks for, with the values it gives (the user's .env holds theirs)."""
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE))


def env_file_names() -> set[str]:
    return set(env_example())


def shell_text(service: dict) -> str:
    """Everything a service's container runs: entrypoint, command and healthcheck."""
    parts = [
        service.get("entrypoint", []),
        service.get("command", []),
        service.get("healthcheck", {}).get("test"),
    ]
    return " ".join(part if isinstance(part, str) else " ".join(part or []) for part in parts)


def configured_text(service: dict) -> list[str]:
    """The service's environment values and what it runs, where it names its ports and peers."""
    return [str(value) for value in (service.get("environment") or {}).values()] + [shell_text(service)]


def bind_mounts(service: dict) -> dict[str, Path]:
    """Container path -> file of this repository, for the service's ./ volumes."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = REPO / source
    return mounts


def mounted_at(service: dict, path: Path) -> str:
    (target,) = [target for target, source in bind_mounts(service).items() if source == path]
    return target


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return host, int(port)


def endpoints(connection: dict) -> list[tuple[str, int]]:
    """Where a connection sends the DAG: (host, port) for each server it names."""
    extra = connection.get("conn_extra") or {}
    if "bootstrap.servers" in extra:
        return [host_port(address) for address in extra["bootstrap.servers"].split(",")]
    if "endpoint_url" in extra:
        url = urlsplit(extra["endpoint_url"])
        return [(url.hostname, url.port)]
    return [(connection["conn_host"], int(connection["conn_port"]))]


def listening_ports(service: dict) -> set[int]:
    """Ports the service's own configuration names (listeners, bind addresses, port variables)."""
    ports = set()
    for text in configured_text(service):
        ports |= {int(port) for port in re.findall(r"(?:^|:)(\d{2,5})(?=$|[\s,/])", text)}
    return ports


# -- the compose stack and the connections ------------------------------------------------------


def test_the_compose_override_and_the_airflow_settings_hold_services_and_the_dags_connections():
    assert services()
    settings = Settings()
    conn_ids = {getattr(settings, name) for name in vars(settings) if name.endswith("_conn_id")}
    assert set(connections()) == conn_ids  # cord_superset included: bi_refresh reads it


def test_every_service_joins_astros_network_under_a_name_astro_does_not_use():
    for name, service in services().items():
        assert name not in ASTRO_SERVICES, f"{name} would replace Astro's own service"
        assert service.get("networks") == [ASTRO_NETWORK], f"{name}: Airflow's containers cannot reach it"


@pytest.mark.parametrize("conn_id", sorted(connections()))
def test_each_connection_names_a_service_and_a_port_it_exposes(conn_id):
    for host, port in endpoints(connections()[conn_id]):
        assert host in services(), f"{conn_id}: no service {host!r} in {COMPOSE.name}"
        exposed = {int(p) for p in services()[host].get("expose", [])}
        assert port in exposed, f"{conn_id}: {host} exposes {sorted(exposed)}, not {port}"


def test_every_exposed_port_is_one_the_service_is_configured_to_listen_on():
    for name, service in services().items():
        exposed = {int(p) for p in service.get("expose", [])}
        assert exposed <= listening_ports(service), f"{name} exposes {sorted(exposed)}"


def test_kafka_advertises_the_address_the_dag_and_connect_bootstrap_from():
    bootstrap = connections()["cord_kafka"]["conn_extra"]["bootstrap.servers"]
    advertised = services()["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert {f"//{address}" for address in bootstrap.split(",")} <= {
        listener.partition(":")[2] for listener in advertised.split(",")
    }
    assert services()["connect"]["environment"]["BOOTSTRAP_SERVERS"] == bootstrap
    assert connector()["schema.history.internal.kafka.bootstrap.servers"] == bootstrap


def test_startup_waits_for_health_or_completion_where_the_peer_has_one():
    for name, service in services().items():
        for peer, spec in (service.get("depends_on") or {}).items():
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services()[peer], f"{name} waits for {peer}'s health, it has none"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {peer}: {condition}"
                assert services()[peer]["restart"] == "no", f"{peer} runs once, it must not restart"


def test_every_service_waits_for_the_services_it_talks_to():
    for name, service in services().items():
        peers = {
            host
            for text in configured_text(service)
            for host in re.findall(r"([a-z][\w-]*)[:,]\d+", text)
            if host in services() and host != name
        }
        assert peers <= set(service.get("depends_on") or {}), f"{name} talks to {sorted(peers)}"


def test_bind_mounts_name_files_or_folders_of_this_repository_and_named_volumes_are_declared():
    declared = set(yaml.safe_load(COMPOSE.read_text())["volumes"])
    for name, service in services().items():
        for path in bind_mounts(service).values():
            assert path.is_file() or path.is_dir(), f"{name} mounts {path}, which does not exist"
        named = {v.split(":")[0] for v in service.get("volumes", []) if not v.startswith("./")}
        assert named <= declared, f"{name} uses undeclared volumes {sorted(named - declared)}"


def test_no_password_is_committed_in_the_stack_or_the_connections():
    example = env_file_names()
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            assert not re.search(r"PASSWORD|SECRET", key), f"{name}: {key}={value!r} belongs in .env"
        from_env_file = set(re.findall(r"\$\$\{?([A-Z][A-Z0-9_]*)", shell_text(service)))
        from_env_file -= set(service.get("environment") or {})
        assert from_env_file <= example, (
            f"{name} reads {sorted(from_env_file - example)}, not in .env.example"
        )
        if from_env_file:
            assert service.get("env_file") == ".env", f"{name} reads {sorted(from_env_file)} but not .env"
    assert all(not c.get("conn_password") for c in connections().values())
    assert not any(env_example().values()), ".env.example names the variables; their values go in .env"


# -- the connector ------------------------------------------------------------------------------


def test_connect_runs_the_debezium_minor_version_the_generated_events_imitate():
    images = {services()[name]["image"] for name in ("connect", "register-connector")}
    (image,) = images
    version = image.rpartition(":")[2]
    assert version.split(".")[:2] == CONNECTOR_VERSION.split(".")[:2]


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


def test_the_connector_reads_the_stack_s_sql_server_with_a_password_connect_resolves_from_env():
    config, connect = connector(), services()["connect"]["environment"]
    host, port = config["database.hostname"], int(config["database.port"])
    assert port in {int(p) for p in services()[host]["expose"]}
    (variable,) = re.fullmatch(r"\$\{env:([A-Z][A-Z0-9_]*)\}", config["database.password"]).groups()
    assert variable in env_file_names()
    assert services()["connect"]["env_file"] == ".env"
    assert connect["CONNECT_CONFIG_PROVIDERS"] == "env"
    assert connect["CONNECT_CONFIG_PROVIDERS_ENV_CLASS"].endswith(".EnvVarConfigProvider")
    allowed = connect["CONNECT_CONFIG_PROVIDERS_ENV_PARAM_ALLOWLIST_PATTERN"].replace("$$", "$")
    assert re.fullmatch(allowed, variable)


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
    types |= {SqlServerType("datetime2", precision=p) for p in range(8)}
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


def test_the_stack_registers_that_connector_at_connect_once_the_source_database_is_ready():
    register = services()["register-connector"]
    target = mounted_at(register, CONNECTOR)
    name, (host, port) = Settings().connector_name, endpoints(connections()["cord_kafka_connect"])[0]
    assert f"--data @{target} http://{host}:{port}/connectors/{name}/config" in shell_text(register)
    assert "-X PUT" in shell_text(register)
    assert register["depends_on"]["sqlserver-init"]["condition"] == "service_completed_successfully"


# -- the source database --------------------------------------------------------------------------


def test_the_committed_sqlserver_init_script_is_what_the_contract_gives():
    assert INIT_SQL.read_text(encoding="utf-8") == render(), "run: python -m devstack.sqlserver_init"


def created_columns(sql: str, schema: str, name: str) -> tuple[dict[str, str], list[str]]:
    """Columns and their types' text in one CREATE TABLE of the script, and its primary key columns."""
    body = re.search(rf"CREATE TABLE \[{schema}\]\.\[{name}\] \((.*?)\n    \);", sql, re.DOTALL).group(1)
    columns = re.findall(r"^\s*\[(\w+)\] (\w+(?:\([\w,]+\))?) (?:NOT )?NULL,?$", body, re.MULTILINE)
    primary_key = re.search(r"PRIMARY KEY \(([^)]*)\)", body).group(1)
    return dict(columns), re.findall(r"\[(\w+)\]", primary_key)


def test_the_init_script_creates_every_contract_column_with_its_type_and_enables_cdc_on_each_table():
    sql, settings = INIT_SQL.read_text(encoding="utf-8"), Settings()
    assert f"USE [{settings.source_database}];" in sql
    assert "EXEC sys.sp_cdc_enable_db;" in sql
    for t in settings.contract:
        columns, primary_key = created_columns(sql, t.schema, t.table)
        assert columns == {c.source_column: type_ddl(c.sqlserver_type) for c in t.columns}, t.table
        assert primary_key == [c.source_column for c in t.key_columns], t.table
        assert (
            f"EXEC sys.sp_cdc_enable_table @source_schema = N'{t.schema}', @source_name = N'{t.table}',"
            in sql
        )


def test_the_stack_runs_the_init_script_on_sql_server_with_its_agent():
    init = services()["sqlserver-init"]
    assert f"-i {mounted_at(init, INIT_SQL)}" in shell_text(init)
    assert init["depends_on"]["sqlserver"]["condition"] == "service_healthy"
    assert services()["sqlserver"]["environment"]["MSSQL_AGENT_ENABLED"] == "true"  # runs the capture jobs


# -- MinIO and the warehouse ------------------------------------------------------------------------


def test_minio_init_creates_the_landing_bucket():
    command = shell_text(services()["minio-init"])
    assert re.search(rf"\bmc mb (?:--\S+ )*local/{re.escape(Settings().bucket)}(?:\s|$)", command)
    assert f"mc alias set local {connections()['cord_minio']['conn_extra']['endpoint_url']} " in command


def test_the_warehouse_creates_the_dags_role_with_warehouse_role_sql_from_the_services_settings():
    warehouse, connection = services()["warehouse"], connections()["cord_warehouse"]
    environment = warehouse["environment"]
    assert environment["POSTGRES_DB"] == connection["conn_schema"]
    assert environment["WAREHOUSE_ROLE"] == connection["conn_login"]
    (init_script,) = [
        s for t, s in bind_mounts(warehouse).items() if t.startswith("/docker-entrypoint-initdb.d/")
    ]
    script = init_script.read_text()
    assert f"\\i {mounted_at(warehouse, WAREHOUSE_ROLE_SQL)}\n" in script
    getenv = dict(re.findall(r"^\\getenv (\w+) (\w+)$", script, re.MULTILINE))
    assert set(re.findall(r":'(\w+)'", WAREHOUSE_ROLE_SQL.read_text())) == set(getenv)
    assert set(getenv.values()) <= set(environment) | env_file_names()
