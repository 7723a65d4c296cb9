"""check_connector against the stack's real Kafka Connect worker, through the HTTP connection.

Each test registers connectors of its own (the idle demo connector's class, or Debezium's) and moves them
through the REST API, then asks the check. States are reached by polling the worker's status until a
deadline, never by sleeping. What a worker cannot be made to answer on demand (a slow or broken body,
HTTP 500) is covered in tests/unit/test_connector_deadline.py.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid

import pytest
from confluent_kafka import Producer

from devstack.stack.config import CONNECTOR, REPO
from devstack.stack.connect import DEBEZIUM_CLASS, IDLE_CONFIG, TOPICS, in_state, rest_path, running
from include.cdc.airflow import tasks
from include.cdc.connect.check import ConnectorNotReady

pytestmark = pytest.mark.integration

SHIPPED = REPO / "include" / "connect" / "sqlserver-product-v2.json"
PLACEHOLDER = re.compile(r"\$\{(env|file):[^}]*\}")
DEADLINE = 90


def restarting(status_code: int, body: object) -> bool:
    """The connector or a task is RESTARTING (a restart that ``GET .../status`` already shows)."""
    if status_code != 200 or not isinstance(body, dict):
        return False
    return "RESTARTING" in {body["connector"]["state"], *(t["state"] for t in body["tasks"])}


def task_failed(status_code: int, body: object) -> bool:
    return status_code == 200 and isinstance(body, dict) and [t["state"] for t in body["tasks"]] == ["FAILED"]


def until(condition, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s"
        time.sleep(0.5)


def unknown(status_code: int, body: object) -> bool:
    return status_code == 404


@pytest.fixture
def worker(stack):
    return stack.connect


@pytest.fixture
def idle_connector(worker, monkeypatch):
    """A RUNNING connector of this test's own, which the check is pointed at."""
    name = f"it-{uuid.uuid4().hex[:8]}"
    answer = worker.request("PUT", f"{rest_path(name)}/config", IDLE_CONFIG)
    assert answer.status_code == 201, answer.text
    worker.wait_for_status(name, running, DEADLINE)
    monkeypatch.setenv("PRODUCT_CDC_CONNECTOR_NAME", name)
    yield name
    worker.request("DELETE", rest_path(name))


def unreachable_sql_server(stack) -> dict[str, str]:
    """The shipped configuration, pointed at a loopback port nothing listens on.

    Its placeholders (the password's ``${env:MSSQL_SA_PASSWORD}``) become dummy values; the schema history
    goes to the stack's broker; the driver's login timeout is cut to 2 s so that the refusal comes fast.
    """
    config = json.loads(SHIPPED.read_text())
    with socket.socket() as probe:  # a port that was free a moment ago, and that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in config.items():
        config[key] = PLACEHOLDER.sub(f"dummy-{key}", value)
    config.update(
        {
            "database.hostname": "127.0.0.1",
            "database.port": str(port),
            "schema.history.internal.kafka.bootstrap.servers": stack.kafka.bootstrap,
            "driver.loginTimeout": "2",
        }
    )
    return config


def test_the_demo_connector_passes(worker, monkeypatch):
    monkeypatch.delenv("PRODUCT_CDC_CONNECTOR_NAME", raising=False)
    assert f"connector {CONNECTOR!r} is RUNNING" in tasks.check_connector.function()


def test_the_shipped_debezium_config_is_valid_but_for_the_missing_sql_server(stack, worker):
    config = unreachable_sql_server(stack)
    answer = worker.request("PUT", f"/connector-plugins/{DEBEZIUM_CLASS}/config/validate", config)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    errors = {
        item["value"]["name"]: item["value"]["errors"]
        for item in result["configs"]
        if item.get("value") and item["value"]["errors"]
    }
    assert result["name"] == DEBEZIUM_CLASS
    assert list(errors) == ["database.hostname"], errors
    (error,) = errors["database.hostname"]
    assert error.startswith("Unable to connect.")
    assert f"port {config['database.port']} has failed" in error
    assert result["error_count"] == 1


@pytest.fixture
def debezium_connector(stack, worker, monkeypatch):
    """Write Debezium's connector, pointed at no SQL Server, into the worker's config topic; the check is
    pointed at it.

    The REST API refuses to register a connector whose database it cannot reach, so the records go into
    the config topic the way the herder writes them: as for a connector registered while SQL Server was
    up, once SQL Server has gone. ``write(with_task=True)`` also writes task 0's configuration, as
    Debezium's taskConfigs() gave it while it could reach the database.
    """
    name = f"it-debezium-{uuid.uuid4().hex[:8]}"
    config = {**unreachable_sql_server(stack), "name": name}
    monkeypatch.setenv("PRODUCT_CDC_CONNECTOR_NAME", name)

    def write(with_task: bool, **overrides: str) -> dict[str, str]:
        written = {**config, **overrides}
        records = [(f"connector-{name}", {"properties": written})]
        if with_task:
            task = {**written, "task.class": f"{DEBEZIUM_CLASS}Task", "task.id": "0"}
            records += [(f"task-{name}-0", {"properties": task}), (f"commit-{name}", {"tasks": 1})]
        producer = Producer({"bootstrap.servers": stack.kafka.bootstrap})
        for key, value in records:
            producer.produce(TOPICS["config"], key=key, value=json.dumps(value))
        assert producer.flush(30) == 0
        return written

    yield name, write
    assert worker.request("DELETE", rest_path(name)).status_code == 204
    worker.wait_for_status(name, unknown, DEADLINE)


def test_debezium_without_its_sql_server_holds_no_task_and_fails_the_check(worker, debezium_connector):
    """Debezium's taskConfigs() fails and the worker retries it with backoff: the connector is RUNNING with
    no task (not FAILED)."""
    name, write = debezium_connector
    config = write(with_task=False)
    refused = f"The TCP/IP connection to the host 127.0.0.1, port {config['database.port']} has failed"
    until(
        lambda: f"Failed to reconfigure connector's tasks ({name})" in worker.log.read_text(errors="replace")
    )
    assert refused in worker.log.read_text(errors="replace")
    body = worker.wait_for_status(name, in_state("RUNNING"), DEADLINE)
    assert body["connector"]["version"].endswith(".Final")  # Debezium's, not the idle connector
    assert body["tasks"] == []
    with pytest.raises(ConnectorNotReady, match=rf"connector '{name}' is RUNNING .*\(no tasks\)"):
        tasks.check_connector.function()


def test_a_debezium_task_that_gives_up_on_its_sql_server_fails_with_its_trace(worker, debezium_connector):
    """With ``errors.max.retries`` 0 the task gives up at the first failure. (Left unset, as in the shipped
    configuration, Debezium retries without end and its task stays RUNNING: the check cannot see it.)"""
    name, write = debezium_connector
    write(with_task=True, **{"errors.max.retries": "0"})
    failed = worker.wait_for_status(name, task_failed, DEADLINE)
    assert failed["connector"]["state"] == "RUNNING"
    trace = failed["tasks"][0]["trace"]
    assert trace.startswith(
        "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change"
    )
    with pytest.raises(ConnectorNotReady) as raised:
        tasks.check_connector.function()
    message = str(raised.value)
    assert f"connector '{name}' is RUNNING on 127.0.0.1:{worker.port} (task 0 FAILED)" in message
    assert "ConnectException: An exception occurred in the change event producer" in message
    assert "more lines in the task's trace" in message
    assert f"POST /connectors/{name}/restart?includeTasks=true&onlyFailed=true" in message


def test_a_paused_connector_fails_until_resumed(worker, idle_connector):
    assert worker.request("PUT", f"{rest_path(idle_connector)}/pause").status_code == 202
    worker.wait_for_status(idle_connector, in_state("PAUSED"), DEADLINE)
    with pytest.raises(ConnectorNotReady, match=rf"is PAUSED .*PUT /connectors/{idle_connector}/resume"):
        tasks.check_connector.function()
    assert worker.request("PUT", f"{rest_path(idle_connector)}/resume").status_code == 202
    worker.wait_for_status(idle_connector, running, DEADLINE)
    assert "is RUNNING" in tasks.check_connector.function()


def test_a_stopped_connector_holds_no_tasks_and_fails(worker, idle_connector):
    assert worker.request("PUT", f"{rest_path(idle_connector)}/stop").status_code == 204
    body = worker.wait_for_status(idle_connector, in_state("STOPPED"), DEADLINE)
    assert body["tasks"] == []
    with pytest.raises(ConnectorNotReady, match=r"is STOPPED .*\(no tasks\): it was stopped"):
        tasks.check_connector.function()


def test_a_deleted_connector_is_unknown(worker, idle_connector):
    assert worker.request("DELETE", rest_path(idle_connector)).status_code == 204
    worker.wait_for_status(idle_connector, unknown, DEADLINE)
    with pytest.raises(ConnectorNotReady, match=rf"does not know connector '{idle_connector}' \(HTTP 404"):
        tasks.check_connector.function()


def test_a_connector_restarted_with_its_tasks_runs_again(worker, idle_connector):
    restart = worker.request("POST", f"{rest_path(idle_connector)}/restart?includeTasks=true")
    assert restart.status_code == 202, restart.text
    accepted = restart.json()
    assert accepted["connector"]["state"] == "RESTARTING"
    assert [t["state"] for t in accepted["tasks"]] == ["RESTARTING"]
    # The status topic catches up after the 202: until it has, GET .../status still shows the old RUNNING.
    worker.wait_for_status(idle_connector, restarting, DEADLINE)
    worker.wait_for_status(idle_connector, running, DEADLINE)
    assert f"connector {idle_connector!r} is RUNNING" in tasks.check_connector.function()


def test_unknown_connector_name(worker, monkeypatch):
    monkeypatch.setenv("PRODUCT_CDC_CONNECTOR_NAME", "sqlserver-customer-v1")
    with pytest.raises(ConnectorNotReady, match="does not know connector 'sqlserver-customer-v1'"):
        tasks.check_connector.function()


def test_refused_connection(worker, monkeypatch):
    fields = {"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http"}
    monkeypatch.setenv("AIRFLOW_CONN_CORD_KAFKA_CONNECT", json.dumps(fields))
    with pytest.raises(ConnectorNotReady, match="connection refused") as raised:
        tasks.check_connector.function()
    assert "cord_kafka_connect" in str(raised.value)
