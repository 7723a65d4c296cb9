"""check_connector against the Kafka Connect stand-in, over real HTTP, through the HTTP connection."""

from __future__ import annotations

import json

import pytest
import requests

from devstack.stack.config import CONNECTOR
from include.cdc.airflow import tasks
from include.cdc.connect.check import ConnectorNotReady

pytestmark = pytest.mark.integration


@pytest.fixture
def connect(stack):
    stack.connect.set_state("running")
    yield stack.connect
    stack.connect.set_state("running")


def test_running_connector_passes(connect):
    assert "is RUNNING" in tasks.check_connector.function()


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("task-failed", "task 0 FAILED"),
        ("paused", "is PAUSED"),
        ("stopped", "is STOPPED"),
        ("just-created", "no tasks"),
        ("unassigned", "UNASSIGNED"),
        ("http-500", "HTTP 500"),
    ],
)
def test_states_that_do_not_capture_fail_the_task(connect, state, expected):
    connect.set_state(state)
    with pytest.raises(ConnectorNotReady, match=expected) as raised:
        tasks.check_connector.function()
    assert CONNECTOR in str(raised.value)


def test_the_stand_in_changes_state_like_the_rest_api(connect):
    assert requests.put(f"{connect.url}/connectors/{CONNECTOR}/pause", timeout=5).status_code == 202
    with pytest.raises(ConnectorNotReady, match="PAUSED"):
        tasks.check_connector.function()
    assert requests.put(f"{connect.url}/connectors/{CONNECTOR}/resume", timeout=5).status_code == 202
    tasks.check_connector.function()
    assert requests.put(f"{connect.url}/connectors/{CONNECTOR}/stop", timeout=5).status_code == 204
    with pytest.raises(ConnectorNotReady, match="STOPPED"):
        tasks.check_connector.function()
    restart = requests.post(f"{connect.url}/connectors/{CONNECTOR}/restart?includeTasks=true", timeout=5)
    assert restart.status_code == 202
    assert requests.get(f"{connect.url}/connectors", timeout=5).json() == [CONNECTOR]


def test_unknown_connector_name(connect, monkeypatch):
    monkeypatch.setenv("PRODUCT_CDC_CONNECTOR_NAME", "sqlserver-customer-v1")
    with pytest.raises(ConnectorNotReady, match="does not know connector 'sqlserver-customer-v1'"):
        tasks.check_connector.function()


def test_slow_worker_times_out(connect, monkeypatch):
    connect.set_state("running", delay_seconds=3)
    monkeypatch.setenv("PRODUCT_CDC_HTTP_TIMEOUT_SECONDS", "1")
    with pytest.raises(ConnectorNotReady, match=r"did not answer .* within 1 s"):
        tasks.check_connector.function()


def test_refused_connection(connect, monkeypatch):
    fields = {"conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http"}
    monkeypatch.setenv("AIRFLOW_CONN_CORD_KAFKA_CONNECT", json.dumps(fields))
    with pytest.raises(ConnectorNotReady, match="connection refused") as raised:
        tasks.check_connector.function()
    assert "cord_kafka_connect" in str(raised.value)
