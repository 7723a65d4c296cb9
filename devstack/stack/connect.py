"""An HTTP stand-in for the Kafka Connect REST API, answering like a real worker.

Kafka Connect itself cannot be installed here, so this serves the status bodies a real Kafka Connect
4.3 worker with Debezium 3.6 returned (``kafka_connect_samples/``) for the one connector it knows,
and changes state the way the real API does: ``PUT .../pause`` (202), ``PUT .../resume`` (202),
``PUT .../stop`` (204), ``POST .../restart`` (202). Situations an operator cannot cause through the
API (a failed task, a connector just created, a worker answering 500 or slowly) are set through
``PUT /__stub/state`` with ``{"state": ..., "delay_seconds": ...}``; the state is kept in a file so
that it survives a restart of the stub. ``ConnectStub`` runs it as a service of the stack
(``python -m devstack.stack.connect``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

from devstack.stack.config import CONNECTOR, HOST, REPO, STACK_DIR, Ports
from devstack.stack.service import ProcessService

SAMPLES = Path(__file__).resolve().parents[1] / "kafka_connect_samples"
SAMPLE_CONNECTOR = "sqlserver-product-v2"
STATES = {
    "running": "200-running.json",
    "task-failed": "200-task-failed.json",
    "paused": "200-paused.json",
    "stopped": "200-stopped.json",
    "just-created": "200-just-created.json",
    "unassigned": None,
    "http-500": None,
}


def status_body(state: str, connector: str) -> tuple[int, dict]:
    """The status code and body a worker answers for ``connector`` in ``state``."""
    if state == "http-500":
        return 500, {"error_code": 500, "message": "Request timed out: the herder is busy rebalancing"}
    if state == "unassigned":
        code, body = status_body("running", connector)
        body["connector"]["state"] = "UNASSIGNED"
        for task in body["tasks"]:
            task["state"] = "UNASSIGNED"
        return code, body
    body = json.loads((SAMPLES / STATES[state]).read_text())
    body["name"] = connector
    return 200, body


class StubState:
    def __init__(self, path: Path, connector: str) -> None:
        self.path = path
        self.connector = connector
        if not path.exists():
            self.write("running", 0.0)

    def read(self) -> dict:
        return json.loads(self.path.read_text())

    def write(self, state: str, delay_seconds: float) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; one of {sorted(STATES)}")
        self.path.write_text(json.dumps({"state": state, "delay_seconds": delay_seconds}))


def make_handler(stub: StubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "KafkaConnectStub/1.0"

        def _send(self, code: int, body: object | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(code)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> tuple[str | None, str | None]:
            parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
            if parts[0] != "connectors":
                return None, None
            name = parts[1] if len(parts) > 1 else None
            action = parts[2] if len(parts) > 2 else None
            return name, action

        def _unknown(self, name: str) -> None:
            self._send(404, {"error_code": 404, "message": f"No status found for connector {name}"})

        def do_GET(self) -> None:
            current = stub.read()
            time.sleep(current["delay_seconds"])
            if self.path.rstrip("/") == "/connectors":
                self._send(200, [stub.connector])
                return
            name, action = self._route()
            if name is None or action != "status":
                self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
            elif name != stub.connector:
                self._unknown(name)
            else:
                self._send(*status_body(current["state"], name))

        def do_PUT(self) -> None:
            if urlparse(self.path).path == "/__stub/state":
                length = int(self.headers.get("Content-Length", 0))
                try:
                    wanted = json.loads(self.rfile.read(length) or b"{}")
                    stub.write(wanted["state"], float(wanted.get("delay_seconds", 0)))
                except (ValueError, KeyError) as exc:
                    self._send(400, {"error_code": 400, "message": str(exc)})
                    return
                self._send(200, stub.read())
                return
            name, action = self._route()
            if name != stub.connector:
                self._unknown(name or "")
                return
            transitions = {"pause": ("paused", 202), "resume": ("running", 202), "stop": ("stopped", 204)}
            if action not in transitions:
                self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})
                return
            state, code = transitions[action]
            stub.write(state, stub.read()["delay_seconds"])
            self._send(code)

        def do_POST(self) -> None:
            name, action = self._route()
            if name != stub.connector:
                self._unknown(name or "")
            elif action == "restart":
                stub.write("running", stub.read()["delay_seconds"])
                self._send(int(HTTPStatus.ACCEPTED))
            else:
                self._send(404, {"error_code": 404, "message": "HTTP 404 Not Found"})

    return Handler


class ConnectStub(ProcessService):
    name = "the Kafka Connect stand-in"
    port_variable = "CORD_STACK_CONNECT_PORT"
    ready_seconds = 15
    cwd = REPO

    def __init__(self, ports: Ports, stack_dir: Path = STACK_DIR) -> None:
        super().__init__("kafka-connect-stub", stack_dir)
        self.port = ports.connect
        self.state_file = stack_dir / "connect" / "state.json"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def prepare(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "devstack.stack.connect",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--state-file",
            str(self.state_file),
            "--connector",
            CONNECTOR,
        ]

    def set_state(self, state: str, delay_seconds: float = 0.0) -> None:
        import requests

        response = requests.put(
            f"{self.url}/__stub/state", json={"state": state, "delay_seconds": delay_seconds}, timeout=5
        )
        response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--connector", default=SAMPLE_CONNECTOR)
    args = parser.parse_args()
    stub = StubState(args.state_file, args.connector)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(stub))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
