"""Whatever Kafka Connect (or something in front of it) answers, the check gives exactly one outcome.

Either a ConnectorStatus, and then only for a connector RUNNING with at least one task and every task
RUNNING, or ConnectorNotReady whose message names the connector. Never another exception. The
expected outcome is worked out here from the JSON itself (``expected_status`` below is the shape the
module promises to accept, written independently of it), so the properties can fail both ways: a
body wrongly refused and a body wrongly accepted.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from include.cdc.connect.check import ConnectorNotReady, check_connector, evaluate_status

SAMPLES = Path(__file__).resolve().parents[2] / "devstack" / "kafka_connect_samples"
CONN_ID = "cord_kafka_connect"
WHERE = f"connection {CONN_ID!r}, http://connect:8083"
NAME = "sqlserver-product-v2"
STATUS_BODIES = [json.loads(p.read_text()) for p in sorted(SAMPLES.glob("200-*.json"))]
SAMPLE_TEXTS = [p.read_text() for p in sorted(SAMPLES.glob("*.json"))]
STATES = ["RUNNING", "PAUSED", "STOPPED", "FAILED", "UNASSIGNED", "RESTARTING", "DESTROYED"]
SAMPLE_TASKS = [task for body in STATUS_BODIES for task in body["tasks"]]
KEYS = ["name", "connector", "tasks", "state", "worker_id", "trace", "id", "type", "version"]

odd_text = st.sampled_from(
    [
        "",
        " RUNNING",
        "running",
        "RUNNİNG",  # dotted capital I
        "ＲＵＮＮＩＮＧ",  # full width
        "RUNNING\u200b",  # zero-width space
        "\u202eGNINNUR",  # right-to-left override
        "RUNNING\x00",
        "😀",
        "e\u0301",
        "\ufeff",
        "x" * 5000,
    ]
) | st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
huge_numbers = st.sampled_from([2**31, 2**63, 2**64, -(2**63) - 1, 10**400, -1, 1e308, -0.0, 0.5])
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge_numbers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(STATES)
    | odd_text
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=15,
)


def _paths(value, prefix=()):
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


@st.composite
def mutated_statuses(draw):
    """A real status body with one to three fields replaced, removed or added."""
    body = copy.deepcopy(draw(st.sampled_from(STATUS_BODIES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(body))))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if not path:
            if action == "replace":
                body = draw(json_values)
            continue
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        target = parent[path[-1]]
        if action == "replace":
            parent[path[-1]] = draw(json_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(target, dict):
            target[draw(st.sampled_from(KEYS) | odd_text)] = draw(json_values)
        elif isinstance(target, list):
            # a copy: the samples are shared between examples and must not change under them
            target.append(copy.deepcopy(draw(json_values | st.sampled_from(SAMPLE_TASKS))))
    return body


@st.composite
def well_formed_statuses(draw):
    """Bodies of the right shape, in every combination of connector and task states."""
    task_states = draw(st.lists(st.sampled_from(STATES), max_size=4))
    body = {
        "name": draw(st.sampled_from([NAME, None])),
        "connector": {"state": draw(st.sampled_from(STATES)), "worker_id": "10.0.0.7:8083"},
        "tasks": [
            {"id": i, "state": s, "worker_id": draw(st.sampled_from(["10.0.0.7:8083", None]))}
            for i, s in enumerate(task_states)
        ],
    }
    for task in body["tasks"]:
        if task["state"] == "FAILED":
            task["trace"] = draw(st.text(max_size=200))
    return body


def _no_lone_surrogates(value) -> bool:
    """RFC 8259 leaves lone surrogates undefined; the module's decoder refuses them, json.loads does not."""
    if isinstance(value, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return all(_no_lone_surrogates(k) and _no_lone_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_no_lone_surrogates(v) for v in value)
    return True


NOT_JSON = object()


def _refuse(constant: str):
    raise ValueError(f"{constant} is not JSON")  # json.loads would take NaN and Infinity


def parsed(body: str):
    """The body as JSON by the letter of RFC 8259, or NOT_JSON."""
    try:
        value = json.loads(body, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return NOT_JSON
    return value if _no_lone_surrogates(value) else NOT_JSON


def expected_status(value, name: str = NAME) -> bool:
    """The shape the check accepts: what a Kafka Connect worker sends, extra fields allowed."""

    def optional_str(obj, key):
        return obj.get(key) is None or isinstance(obj[key], str)

    def task_ok(task):
        return (
            isinstance(task, dict)
            and type(task.get("id")) is int
            and 0 <= task["id"] < 2**31
            and isinstance(task.get("state"), str)
            and optional_str(task, "worker_id")
            and optional_str(task, "trace")
        )

    if not isinstance(value, dict):
        return False
    connector, tasks = value.get("connector"), value.get("tasks")
    return (
        isinstance(connector, dict)
        and isinstance(connector.get("state"), str)
        and optional_str(connector, "worker_id")
        and optional_str(connector, "trace")
        and isinstance(tasks, list)
        and all(task_ok(t) for t in tasks)
        and (value.get("name") is None or value["name"] == name)
    )


def capturing(value) -> bool:
    tasks = value["tasks"]
    return (
        value["connector"]["state"] == "RUNNING"
        and bool(tasks)
        and all(t["state"] == "RUNNING" for t in tasks)
    )


def assert_one_outcome(status_code: int, body: str, connector: str = NAME, outcome=None):
    """Evaluate an answer (or take the outcome of check_connector) and hold it against the spec."""
    value = parsed(body) if status_code == 200 else NOT_JSON
    well_formed = status_code == 200 and expected_status(value, connector)
    should_pass = well_formed and capturing(value)
    try:
        status = outcome() if outcome else evaluate_status(connector, status_code, body, WHERE)
    except ConnectorNotReady as exc:
        message = str(exc)
        assert not should_pass, f"a capturing connector was refused: {message}"
        assert repr(connector) in message
        if status_code == 200 and not well_formed:
            assert "answered HTTP 200" in message
            assert repr(body[:200]) in message
        elif status_code == 200:
            assert message.startswith(f"Debezium connector {connector!r} is ")
        else:
            assert_http_hint(status_code, message)
        return None
    assert should_pass, f"accepted HTTP {status_code} {body[:300]!r}"
    assert status.state == "RUNNING"
    assert len(status.tasks) >= 1
    assert all(t.state == "RUNNING" for t in status.tasks)
    return status


def assert_http_hint(status_code: int, message: str):
    assert f"HTTP {status_code}" in message
    assert CONN_ID in message
    if status_code == 404:
        assert "does not know connector" in message
    elif status_code in (401, 403):
        assert "login and password" in message
        assert "rest.extension.classes" in message
        assert "worker log" not in message
    elif status_code == 409:
        assert "rerun in a minute" in message
    elif status_code >= 500:
        assert "worker log" in message


@given(value=json_values, ascii_only=st.booleans())
def test_any_json_body_gives_one_outcome(value, ascii_only):
    assert_one_outcome(200, json.dumps(value, ensure_ascii=ascii_only))


@given(body=mutated_statuses(), ascii_only=st.booleans())
def test_mutated_real_statuses_give_one_outcome(body, ascii_only):
    assert_one_outcome(200, json.dumps(body, ensure_ascii=ascii_only))


@given(body=well_formed_statuses())
def test_well_formed_statuses_pass_exactly_when_everything_runs(body):
    status = assert_one_outcome(200, json.dumps(body))
    assert (status is not None) == capturing(body)


@given(
    status_code=st.sampled_from([200, 401, 403, 404, 409, 500, 502]) | st.integers(100, 599),
    body=st.sampled_from(SAMPLE_TEXTS)
    | json_values.map(json.dumps)
    | st.text(st.characters(exclude_categories=[]), max_size=300),
)
def test_every_status_code_and_text_body_gives_one_outcome(status_code, body):
    assert_one_outcome(status_code, body)


@given(
    status_code=st.sampled_from([200, 200, 401, 404, 409, 500]) | st.integers(100, 599),
    content=st.binary(max_size=300)
    | st.sampled_from(SAMPLE_TEXTS).map(str.encode)
    | mutated_statuses().map(lambda b: json.dumps(b, ensure_ascii=False).encode()),
    encoding=st.sampled_from([None, "utf-8", "latin-1", "utf-16", "no-such-codec"]),
)
def test_any_bytes_from_the_hook_give_one_outcome(status_code, content, encoding):
    response = requests.Response()
    response.status_code, response.raw, response.encoding = status_code, io.BytesIO(content), encoding
    hook = _Hook(lambda: response)
    assert_one_outcome(
        status_code,
        response.text,
        outcome=lambda: check_connector(hook, CONN_ID, NAME, timeout=3),
    )


@given(
    connector=st.text(min_size=1, max_size=40),
    status_code=st.sampled_from([200, 200, 200, 401, 404, 409, 502]),
    body=st.sampled_from(STATUS_BODIES),
)
def test_the_message_names_any_connector_name(connector, status_code, body):
    response = requests.Response()
    response.status_code = status_code
    response.raw = io.BytesIO(json.dumps({**body, "name": connector}).encode())
    hook = _Hook(lambda: response)
    assert_one_outcome(
        status_code,
        response.text,
        connector=connector,
        outcome=lambda: check_connector(hook, CONN_ID, connector, timeout=3),
    )


def _request_errors():
    """Every exception requests defines for a failed request, built as the library would build it."""
    kinds = [
        kind
        for kind in vars(requests.exceptions).values()
        if isinstance(kind, type) and issubclass(kind, requests.exceptions.RequestException)
    ]
    assert len(kinds) > 15  # the list is read from requests, so a rename there cannot empty it
    return kinds


@given(kind=st.sampled_from(_request_errors()), text=st.text(max_size=60))
def test_every_request_exception_becomes_connector_not_ready(kind, text):
    error = kind(text, "", 0) if issubclass(kind, json.JSONDecodeError) else kind(text)

    def fail():
        raise error

    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(_Hook(fail), CONN_ID, NAME, timeout=3)
    message = str(raised.value)
    assert repr(NAME) in message
    assert CONN_ID in message
    assert raised.value.__cause__ is error
    if issubclass(kind, requests.exceptions.Timeout):
        assert "did not answer" in message


class _Hook:
    base_url = "http://connect:8083"

    def __init__(self, behaviour):
        self.behaviour = behaviour

    def run(self, endpoint, extra_options):
        return self.behaviour()
