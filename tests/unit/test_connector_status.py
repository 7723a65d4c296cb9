"""Connector status evaluation against every response a real Kafka Connect worker gave."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import requests

from include.cdc.connect.check import ConnectorNotReady, check_connector, evaluate_status

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
    assert [t.state for t in status.tasks] == ["RUNNING"]
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


def failure(status_code: int, body: str) -> str:
    """The message of the one ConnectorNotReady an answer gives; HTTP-level ones also name the connection."""
    with pytest.raises(ConnectorNotReady) as raised:
        evaluate_status(NAME, status_code, body, WHERE)
    message = str(raised.value)
    assert repr(NAME) in message
    assert message.startswith("Debezium connector") or "cord_kafka_connect" in message
    return message


@pytest.mark.parametrize(
    ("status_code", "refusal"),
    [(401, "did not accept this request's credentials"), (403, "does not allow it to read")],
)
def test_unauthorized_points_at_the_credentials_not_the_worker_log(status_code, refusal):
    message = failure(
        status_code, json.dumps({"error_code": status_code, "message": "Credentials not found"})
    )
    assert f"HTTP {status_code}" in message
    assert "Credentials not found" in message
    assert refusal in message
    assert "login and password" in message
    assert "rest.extension.classes" in message
    assert "worker log" not in message


def test_conflict_during_a_rebalance_says_rerun_in_a_minute():
    rebalance = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
    message = failure(409, json.dumps({"error_code": 409, "message": rebalance}))
    assert "HTTP 409 (Conflict)" in message
    assert "conflicting operation" in message
    assert "rerun in a minute" in message


def test_bad_gateway_from_a_proxy_quotes_its_page_and_points_at_the_worker_log():
    message = failure(502, "<html><body><h1>502 Bad Gateway</h1>\n</body></html>")
    assert "HTTP 502 (Bad Gateway)" in message
    assert repr("<html><body><h1>502 Bad Gateway</h1>\n</body></html>") in message
    assert "worker log" in message


@pytest.mark.parametrize(("status_code", "expected"), [(400, "HTTP 400 (Bad Request)"), (405, "HTTP 405")])
def test_other_client_errors_say_what_they_were(status_code, expected):
    message = failure(status_code, "")
    assert expected in message
    assert "no body" in message
    assert "login" not in message


def test_a_redirect_or_other_non_200_success_is_not_a_status():
    message = failure(302, "")
    assert "HTTP 302 (Found)" in message
    assert "proxy or a redirect" in message


def test_html_with_status_200_is_reported_as_not_json_with_its_start():
    page = "<!DOCTYPE html><html><head><title>Sign in</title></head>" + "x" * 500
    message = failure(200, page)
    assert "HTTP 200" in message
    assert "not JSON" in message
    assert repr(page[:200]) in message
    assert f"({len(page)} characters in all)" in message
    assert "x" * 201 not in message


@pytest.mark.parametrize(
    ("body", "where_in_body"),
    [
        (json.dumps({"name": NAME, "connector": "RUNNING", "tasks": []}), "$.connector"),
        (json.dumps({"connector": {"state": "RUNNING"}, "tasks": {"0": "RUNNING"}}), "$.tasks"),
        (json.dumps({"connector": {"state": "RUNNING"}, "tasks": ["RUNNING"]}), "$.tasks[0]"),
        (json.dumps({"connector": {"state": 1}, "tasks": []}), "$.connector.state"),
        (json.dumps({"connector": {"state": "RUNNING"}, "tasks": [{"state": "RUNNING"}]}), "`id`"),
        ('{"connector":{"state":"RUNNING"}}', "tasks"),
        ("[]", "array"),
        ("42", "int"),
        ('"RUNNING"', "str"),
        ("null", "null"),
    ],
)
def test_json_of_the_wrong_shape_names_the_field_and_quotes_the_body(body, where_in_body):
    message = failure(200, body)
    assert "JSON of the wrong shape for a connector status" in message
    assert where_in_body in message
    assert repr(body) in message


@pytest.mark.parametrize("task_id", [-1, 2**31, 10**400, True, 0.0, "0"])
def test_a_task_id_no_worker_would_send_is_not_taken_for_a_running_task(task_id):
    body = json.loads(sample("200-running.json")[1])
    body["tasks"][0]["id"] = task_id
    message = failure(200, json.dumps(body))
    assert "JSON of the wrong shape for a connector status" in message
    assert "$.tasks[0].id" in message


def test_a_status_for_another_connector_is_not_taken_for_this_one():
    body = json.loads(sample("200-running.json")[1])
    body["name"] = "sqlserver-customer-v1"
    message = failure(200, json.dumps(body))
    assert "another connector, 'sqlserver-customer-v1'" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "a body that is empty"),
        ("[" * 100_000, "JSON of the wrong shape for a connector status"),
        (
            '{"name":"x","connector":{"state":"RUNNING"},"tasks":[],"v":'
            + "[" * 100_000
            + "]" * 100_000
            + "}",
            "nested too deeply",
        ),
        ('{"connector":"' + chr(0xD800) + '"}', "not JSON"),  # a lone surrogate cannot be UTF-8
        ('{"connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"RUNNING"}],"x":NaN}', "not JSON"),
    ],
)
def test_bodies_the_decoder_cannot_read_fail_clearly(body, expected):
    assert expected in failure(200, body)


def test_a_failed_connector_without_failed_tasks_shows_the_connector_trace():
    body = json.loads(sample("200-stopped.json")[1])
    body["connector"].update(
        state="FAILED", trace="java.lang.IllegalStateException: boom\n\tat A.b(A.java:1)"
    )
    message = failure(200, json.dumps(body))
    assert "connector FAILED" in message
    assert "IllegalStateException: boom" in message
    assert f"POST /connectors/{NAME}/restart?includeTasks=true&onlyFailed=true" in message


def test_a_restarting_connector_says_rerun_in_a_minute():
    body = json.loads(sample("200-running.json")[1])
    body["connector"]["state"] = "RESTARTING"
    assert "being restarted. Rerun in a minute" in failure(200, json.dumps(body))


def test_an_unknown_state_is_shown_quoted_when_it_is_not_a_plain_word():
    body = json.loads(sample("200-running.json")[1])
    body["connector"]["state"] = "RUNNING\n\x1b[31m"
    message = failure(200, json.dumps(body))
    assert "is 'RUNNING\\n\\x1b[31m'" in message
    assert "unexpected state" in message


def test_fields_the_check_does_not_use_may_be_missing_or_extra():
    body = {
        "connector": {"state": "RUNNING", "extra": [1, {"x": None}]},
        "tasks": [{"id": 0, "state": "RUNNING", "worker_id": None, "version": 10**40}],
        "type": "source",
    }
    status = evaluate_status(NAME, 200, json.dumps(body), WHERE)
    assert status.name == NAME
    assert status.summary == f"connector {NAME!r} is RUNNING on unknown worker (task 0 RUNNING)"


def streamed(status_code: int, body: str) -> requests.Response:
    """A response as the hook returns it with ``stream=True``: the body still to be read."""
    response = requests.Response()
    response.status_code, response.raw = status_code, io.BytesIO(body.encode())
    return response


class _Hook:
    base_url = "http://connect:8083"

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.calls = []

    def run(self, endpoint, extra_options):
        self.calls.append((endpoint, extra_options))
        return self.behaviour()


def test_check_asks_the_status_endpoint_with_a_timeout_and_without_raising_on_status():
    response = streamed(*sample("200-running.json"))
    hook = _Hook(lambda: response)
    check_connector(hook, "cord_kafka_connect", NAME, timeout=7)
    # The body is streamed, read by the check under its own deadline, whatever the connection's extra says.
    options = {"timeout": 7, "check_response": False, "stream": True}
    assert hook.calls == [(f"connectors/{NAME}/status", options)]


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


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (requests.exceptions.SSLError("certificate verify failed"), "schema (http or https)"),
        (requests.exceptions.InvalidURL("Failed to parse: http://connect:80x3"), "host, port and schema"),
        (requests.exceptions.TooManyRedirects("Exceeded 30 redirects."), "redirects in a loop"),
        (requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"), "broke off"),
        (requests.exceptions.RequestException("something else"), "host, port and schema"),
    ],
)
def test_any_failed_request_names_the_error_the_connection_and_the_connector(error, expected):
    def fail():
        raise error

    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(_Hook(fail), "cord_kafka_connect", NAME, timeout=3)
    message = str(raised.value)
    assert f"{type(error).__name__}: {error}" in message
    assert expected in message
    assert "connection 'cord_kafka_connect', http://connect:8083" in message
    assert repr(NAME) in message
    assert raised.value.__cause__ is error


def _credentials_hook(behaviour):
    hook = _Hook(behaviour)
    hook.base_url = "https://admin:s3cret@connect:8083"
    return hook


def test_credentials_in_the_connection_url_are_never_printed():
    response = streamed(401, '{"error_code":401,"message":"Credentials not found"}')
    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(_credentials_hook(lambda: response), "cord_kafka_connect", NAME, timeout=3)
    assert "s3cret" not in str(raised.value)
    assert "https://***@connect:8083" in str(raised.value)

    def fail():
        raise requests.exceptions.InvalidURL("Invalid URL 'https://admin:s3cret@connect:8083x/connectors'")

    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(_credentials_hook(fail), "cord_kafka_connect", NAME, timeout=3)
    assert "s3cret" not in str(raised.value)
    assert "InvalidURL" in str(raised.value)
