"""Connector status evaluation against every response a real Kafka Connect worker gave."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from include.cdc.connector import ConnectorNotReady, check_connector, evaluate_status

SAMPLES = Path(__file__).resolve().parents[2] / "devstack" / "kafka_connect_samples"
WHERE = "connection 'cord_kafka_connect', http://connect:8083"
NAME = "sqlserver-product-v2"


def sample(name: str) -> tuple[int, str]:
    return int(name.split("-")[0]), (SAMPLES / name).read_text()


def test_every_sample_is_covered():
    assert {p.name for p in SAMPLES.glob("*.json")} == {
        "200-running.json",
        "200-task-failed.json",
        "200-paused.json",
        "200-stopped.json",
        "200-just-created.json",
        "404-unknown.json",
    }


def test_running_connector_with_running_task_passes():
    status = evaluate_status(NAME, *sample("200-running.json"), WHERE)
    assert status.state == "RUNNING"
    assert [t["state"] for t in status.tasks] == ["RUNNING"]
    assert "task 0 RUNNING" in status.summary


def test_failed_task_names_the_task_and_shows_the_start_of_its_trace():
    with pytest.raises(ConnectorNotReady) as raised:
        evaluate_status(NAME, *sample("200-task-failed.json"), WHERE)
    message = str(raised.value)
    assert "task 0 FAILED" in message
    assert "ConnectException: An exception occurred in the change event producer" in message
    assert "ErrorHandler.setProducerThrowable" in message
    # only the first lines of the trace, then a count of the rest
    assert "SQLServerException.makeFromDriverError" not in message
    assert "more lines in the task's trace" in message
    assert f"/connectors/{NAME}/restart?includeTasks=true&onlyFailed=true" in message


@pytest.mark.parametrize(
    ("sample_name", "expected"),
    [
        ("200-paused.json", ["is PAUSED", f"PUT /connectors/{NAME}/resume"]),
        ("200-stopped.json", ["is STOPPED", "no tasks", f"PUT /connectors/{NAME}/resume"]),
        ("200-just-created.json", ["is RUNNING", "no tasks", "Rerun in a minute"]),
        ("404-unknown.json", ["does not know connector", "HTTP 404", "PRODUCT_CDC_CONNECTOR_NAME"]),
    ],
)
def test_not_capturing_states_fail_with_the_state_and_what_to_do(sample_name, expected):
    with pytest.raises(ConnectorNotReady) as raised:
        evaluate_status(NAME, *sample(sample_name), WHERE)
    message = str(raised.value)
    assert NAME in message
    for fragment in expected:
        assert fragment in message


def test_unassigned_connector_fails():
    body = json.loads(sample("200-running.json")[1])
    body["connector"]["state"] = "UNASSIGNED"
    with pytest.raises(ConnectorNotReady, match=r"UNASSIGNED.*rebalance"):
        evaluate_status(NAME, 200, json.dumps(body), WHERE)


def test_a_paused_task_under_a_running_connector_fails():
    body = json.loads(sample("200-running.json")[1])
    body["tasks"][0]["state"] = "PAUSED"
    with pytest.raises(ConnectorNotReady, match="every task must be RUNNING"):
        evaluate_status(NAME, 200, json.dumps(body), WHERE)


def test_server_error_names_the_status_code_and_the_connection():
    with pytest.raises(ConnectorNotReady) as raised:
        evaluate_status(NAME, 500, '{"error_code":500,"message":"Request timed out"}', WHERE)
    assert "HTTP 500" in str(raised.value)
    assert "Request timed out" in str(raised.value)
    assert "cord_kafka_connect" in str(raised.value)


def test_non_json_answer_fails_clearly():
    with pytest.raises(ConnectorNotReady, match="HTTP 200"):
        evaluate_status(NAME, 200, "<html>proxy error</html>", WHERE)


class _Hook:
    base_url = "http://connect:8083"

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.calls = []

    def run(self, endpoint, extra_options):
        self.calls.append((endpoint, extra_options))
        return self.behaviour()


def test_check_asks_the_status_endpoint_with_a_timeout_and_without_raising_on_status():
    response = requests.Response()
    response.status_code, response._content = (
        sample("200-running.json")[0],
        sample("200-running.json")[1].encode(),
    )
    hook = _Hook(lambda: response)
    check_connector(hook, "cord_kafka_connect", NAME, timeout=7)
    assert hook.calls == [(f"connectors/{NAME}/status", {"timeout": 7, "check_response": False})]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (requests.exceptions.ConnectTimeout("slow"), "did not answer"),
        (requests.exceptions.ReadTimeout("slow"), "did not answer"),
        (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), "connection refused"),
    ],
)
def test_unreachable_worker_fails_with_the_connection_id(error, expected):
    def fail():
        raise error

    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(_Hook(fail), "cord_kafka_connect", NAME, timeout=3)
    assert expected in str(raised.value)
    assert "cord_kafka_connect" in str(raised.value)
    assert NAME in str(raised.value)
