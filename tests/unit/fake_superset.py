"""A fake of the few Superset 6.1 REST endpoints the BI refresh calls, on loopback, for unit tests.

It answers as the real one did when measured (login → JWT, CSRF token bound to a session cookie,
400 "The CSRF token is missing." for a POST or PUT without it, 401 without a token) and records every
call, so tests see which datasets and charts were chosen. ``fail`` maps a path to a status to answer.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

LOGIN = "bi-refresh"
PASSWORD = secrets.token_urlsafe(16)  # made per test session, so the tests can look for it in errors
TOKEN = "jwt-token"
CSRF = "csrf-token"


@dataclass
class State:
    # id -> {"schema", "table_name", "kind", "columns": [...], "charts": [(id, name)]}
    datasets: dict[int, dict] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)  # path -> status answered
    viz_errors: dict[int, str] = field(default_factory=dict)  # chart id -> warm-up error
    hang: set[str] = field(default_factory=set)  # paths that never answer (until the server stops)
    calls: list[tuple[str, str, dict]] = field(default_factory=list)  # method, path, JSON body
    stopped: threading.Event = field(default_factory=threading.Event)
    logins: int = 0  # tokens issued; only the latest is valid (``expire_token`` makes it stale)
    expired: bool = False

    def expire_token(self) -> None:
        self.expired = True

    @property
    def token(self) -> str:
        return f"{TOKEN}-{self.logins}"

    def add_dataset(self, id_, schema, table, columns, charts=(), sql=None, database="warehouse"):
        self.datasets[id_] = {
            "database": database,
            "schema": schema,
            "table_name": table,
            "kind": "virtual" if sql else "physical",
            "sql": sql,
            "columns": list(columns),
            "charts": list(charts),
        }

    def paths(self, method: str) -> list[str]:
        return [path for m, path, _ in self.calls if m == method]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format, *args):
        pass

    def _answer(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        state: State = self.server.state
        path, _, raw_query = self.path.partition("?")
        query = parse_qs(raw_query).get("q", [""])[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        state.calls.append((method, path, body))
        if path in state.hang:
            state.stopped.wait(30)
            return None
        if path in state.fail:
            status = state.fail[path]
            return self._answer(status, {"message": f"fake failure {status}"})
        if path == "/api/v1/security/login":
            if body.get("username") == LOGIN and body.get("password") == PASSWORD:
                state.logins, state.expired = state.logins + 1, False
                return self._answer(200, {"access_token": state.token})
            return self._answer(401, {"message": "Not authorized"})
        if state.expired or self.headers.get("Authorization") != f"Bearer {state.token}":
            return self._answer(401, {"msg": "Token has expired"})
        if path == "/api/v1/security/csrf_token/":
            return self._answer(200, {"result": CSRF}, {"Set-Cookie": "session=s1; Path=/"})
        if method in ("POST", "PUT") and (
            self.headers.get("X-CSRFToken") != CSRF or "session=s1" not in (self.headers.get("Cookie") or "")
        ):
            return self._answer(400, {"errors": [{"message": "400 Bad Request: The CSRF token is missing."}]})
        return self._route(state, method, path, query, body)

    def _route(self, state: State, method: str, path: str, query: str, body: dict) -> None:
        if method == "GET" and path == "/api/v1/dataset/":
            page = int(re.search(r"page:(\d+)", query).group(1))
            size = int(re.search(r"page_size:(\d+)", query).group(1))
            rows = [
                {"id": i, "schema": d["schema"], "table_name": d["table_name"], "kind": d["kind"]}
                | {"sql": d["sql"], "database": {"database_name": d["database"]}}
                for i, d in sorted(state.datasets.items())
            ]
            return self._answer(200, {"count": len(rows), "result": rows[page * size : (page + 1) * size]})
        match = re.fullmatch(r"/api/v1/dataset/(\d+)(/refresh|/related_objects)?", path)
        if match and int(match.group(1)) in state.datasets:
            dataset = state.datasets[int(match.group(1))]
            if method == "GET" and not match.group(2):
                columns = [{"column_name": c, "expression": None} for c in dataset["columns"]]
                columns.append({"column_name": "calculated", "expression": "1 + 1"})
                return self._answer(200, {"result": {"columns": columns}})
            if method == "PUT" and match.group(2) == "/refresh":
                return self._answer(200, {"message": "OK"})
            if method == "GET" and match.group(2) == "/related_objects":
                charts = [{"id": c, "slice_name": name} for c, name in dataset["charts"]]
                return self._answer(200, {"charts": {"count": len(charts), "result": charts}})
        if method == "POST" and path == "/api/v1/cachekey/invalidate":
            return self._answer(201, {})
        if method == "PUT" and path == "/api/v1/chart/warm_up_cache":
            chart = body["chart_id"]
            error = state.viz_errors.get(chart)
            return self._answer(200, {"result": [{"chart_id": chart, "viz_error": error, "viz_status": "x"}]})
        return self._answer(404, {"message": "Not found"})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")


@contextmanager
def fake_superset() -> Iterator[tuple[str, State]]:
    """(base URL, state) of a fake Superset on a free loopback port, stopped on the way out."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = State()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.state
    finally:
        server.state.stopped.set()
        server.shutdown()
        server.server_close()
