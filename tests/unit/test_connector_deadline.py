"""The connector check's timeout bounds the whole answer, over real HTTP, through Airflow's HttpHook.

A real Kafka Connect worker (tests/integration/test_connector_check.py) cannot be made slow, busy or
broken on demand, so this tiny in-test worker plays those answers.

requests' timeout bounds each socket read, not the answer: a worker (or a proxy) that trickles its body
would keep the check, and the task, waiting for as long as it keeps trickling. And a body cut off half
way must fail the check with a message naming the connection, whether the connection's extra asks
requests to stream the body (``{"stream": true}``) or not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from airflow.providers.http.hooks.http import HttpHook

from include.cdc.connect.check import ConnectorNotReady, check_connector

CONN_ID = "cord_test_connect"
NAME = "sqlserver-product-v2"
RUNNING = json.dumps(
    {
        "name": NAME,
        "connector": {"state": "RUNNING", "worker_id": "10.0.0.7:8083"},
        "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "10.0.0.7:8083"}],
        "type": "source",
    }
).encode()
# What a worker answers when its herder does not reply in time (e.g. while it rebalances).
BUSY = json.dumps(
    {"error_code": 500, "message": "Request timed out. The worker is currently rebalancing"}
).encode()
TRICKLE_BYTES, TRICKLE_EVERY = 8, 1.6  # 24 pieces of the body: 38 s


class _Worker(BaseHTTPRequestHandler):
    """A Kafka Connect worker that answers as ``server.behaviour`` says."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        behaviour = self.server.behaviour
        if behaviour == "silent":  # no status line before the timeout
            self.server.stopped.wait(TRICKLE_EVERY * 5)
        if behaviour == "busy":
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BUSY)))
            self.end_headers()
            self.wfile.write(BUSY)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if behaviour == "trickle":
            self.send_header("Content-Length", str(len(RUNNING)))
            self.end_headers()
            for start in range(0, len(RUNNING), TRICKLE_BYTES):
                self.wfile.write(RUNNING[start : start + TRICKLE_BYTES])
                self.wfile.flush()
                if self.server.stopped.wait(TRICKLE_EVERY):
                    return
        elif behaviour == "cut-off":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = RUNNING[: len(RUNNING) // 2]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(half), half))
            self.wfile.write(b"%x\r\n" % len(RUNNING))  # announces a chunk it never sends
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(RUNNING)))
            self.end_headers()
            self.wfile.write(RUNNING)


@pytest.fixture
def worker() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Worker)
    server.daemon_threads = True
    server.behaviour, server.stopped = "running", threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stopped.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(params=[{}, {"stream": True}, {"stream": False}], ids=["no-extra", "stream", "no-stream"])
def hook(request, worker, monkeypatch) -> HttpHook:
    port = worker.server_address[1]
    fields = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    fields["extra"] = request.param
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(fields))
    return HttpHook(method="GET", http_conn_id=CONN_ID)


def test_a_whole_answer_passes(hook):
    assert check_connector(hook, CONN_ID, NAME, timeout=10).state == "RUNNING"


def test_a_trickled_body_fails_within_the_timeout(worker, hook):
    worker.behaviour = "trickle"
    started = time.monotonic()
    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(hook, CONN_ID, NAME, timeout=2)
    elapsed = time.monotonic() - started
    # Generous for a loaded machine, and far below the 38 s the trickle would take.
    assert elapsed < 2 + 6
    message = str(raised.value)
    assert f"connection {CONN_ID!r}" in message
    assert f"did not answer GET /connectors/{NAME}/status for connector {NAME!r} within 2 s" in message


def test_a_body_cut_off_half_way_fails_naming_the_connection(worker, hook):
    worker.behaviour = "cut-off"
    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(hook, CONN_ID, NAME, timeout=10)
    message = str(raised.value)
    assert f"connection {CONN_ID!r}, http://127.0.0.1:{worker.server_address[1]}" in message
    assert repr(NAME) in message
    assert "The answer broke off" in message


def test_a_worker_silent_until_the_timeout_fails_within_it(worker, hook):
    worker.behaviour = "silent"
    started = time.monotonic()
    with pytest.raises(ConnectorNotReady, match=r"did not answer .* within 1 s"):
        check_connector(hook, CONN_ID, NAME, timeout=1)
    assert time.monotonic() - started < 1 + 6


def test_a_busy_worker_names_the_status_and_its_message(worker, hook):
    worker.behaviour = "busy"
    with pytest.raises(ConnectorNotReady) as raised:
        check_connector(hook, CONN_ID, NAME, timeout=10)
    message = str(raised.value)
    assert "answered HTTP 500 (Internal Server Error)" in message
    assert "The worker is currently rebalancing" in message
    assert "check the Kafka Connect worker log" in message
