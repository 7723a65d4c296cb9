"""Is the Debezium connector capturing? Evaluate Kafka Connect's ``GET /connectors/{name}/status``.

Draining Kafka while the connector is down is not wrong, but it hides the outage: the DAG would
report success while the warehouse silently stops moving. So the run stops here, with a message
that tells the operator what state the connector is in and what to do about it.

Whatever comes back (a status, an error, a proxy's HTML page, JSON of some other shape, no answer at
all), the outcome is one of two: a ``ConnectorStatus`` when the connector and every task are RUNNING,
or ``ConnectorNotReady`` naming the connector, the HTTP status or state, and the next step. Never a
bare ``AttributeError`` that leaves the operator guessing which connector or worker it was about.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Annotated, Protocol
from urllib.parse import quote

import msgspec
import requests

TRACE_LINES = 5
SNIPPET_CHARS = 200


class ConnectorNotReady(RuntimeError):
    """The connector is not RUNNING with every task RUNNING, or Kafka Connect did not answer."""


class HttpGetter(Protocol):
    """The part of Airflow's HttpHook this module uses."""

    base_url: str

    def run(self, endpoint: str, extra_options: dict) -> requests.Response: ...


class TaskState(msgspec.Struct, frozen=True):
    """One entry of ``tasks``. Only the fields the check reads; others (``version``, ...) are ignored."""

    id: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]  # a Java int: anything else is not a worker
    state: str
    worker_id: str | None = None
    trace: str | None = None


class ConnectorState(msgspec.Struct, frozen=True):
    """The ``connector`` object of the status body."""

    state: str
    worker_id: str | None = None
    trace: str | None = None


class ConnectorStatus(msgspec.Struct, frozen=True):
    """The status body. msgspec checks its shape while decoding, so nothing below meets a wrong type."""

    connector: ConnectorState
    tasks: tuple[TaskState, ...]
    name: str | None = None

    @property
    def state(self) -> str:
        return self.connector.state

    @property
    def worker_id(self) -> str:
        return self.connector.worker_id or "unknown worker"

    @property
    def summary(self) -> str:
        tasks = ", ".join(f"task {t.id} {_word(t.state)}" for t in self.tasks) or "no tasks"
        return f"connector {self.name!r} is {_word(self.state)} on {_word(self.worker_id)} ({tasks})"


class _ErrorBody(msgspec.Struct):
    """Kafka Connect's error answer, ``{"error_code": 500, "message": "..."}``."""

    message: str | None = None


def _word(text: str) -> str:
    """A short server-given word (state, worker id) as is; anything long or unprintable quoted and cut."""
    return text if len(text) <= 80 and text.isprintable() else repr(text[:80])


def _one_line(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Whitespace collapsed and cut, so a worker's message cannot stretch or break the log line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + " ..."


def _snippet(body: str) -> str:
    """The start of a body, quoted with repr so control characters and odd Unicode show as escapes."""
    more = f" ({len(body)} characters in all)" if len(body) > SNIPPET_CHARS else ""
    return repr(body[:SNIPPET_CHARS]) + more


def _first_lines(trace: str | None, count: int = TRACE_LINES) -> str:
    lines = [line.rstrip()[:300] for line in (trace or "").strip().splitlines()]
    shown = "\n    ".join(lines[:count])
    more = f"\n    ... ({len(lines) - count} more lines in the task's trace)" if len(lines) > count else ""
    return shown + more if shown else "(no trace reported)"


def _redact(text: str) -> str:
    """Drop ``user:password@`` from URLs: a connection's host may carry credentials, logs must not."""
    return re.sub(r"[^\s/'\"@]+:[^\s/'\"@]*@", "***@", text)


def _http(code: int) -> str:
    try:
        return f"HTTP {code} ({HTTPStatus(code).phrase})"
    except ValueError:
        return f"HTTP {code}"


def _detail(body: str) -> str:
    """The worker's own error message when it sent one, else the start of whatever came back."""
    try:
        message = msgspec.json.decode(body, type=_ErrorBody).message
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        message = None
    if message and message.strip():
        return _one_line(message)
    return f"body {_snippet(body)}" if body.strip() else "no body"


def parse_status(connector: str, body: str, where: str) -> ConnectorStatus:
    """Turn a 200 body into a ``ConnectorStatus``, or raise ``ConnectorNotReady`` saying what it is instead.

    The one place the body's shape is checked: a field of the wrong type, a missing field, or a body
    that is not JSON at all is reported here, with the path to the field and the start of the body.
    """
    if not body.strip():
        problem = "empty"
    else:
        try:
            status = msgspec.json.decode(body, type=ConnectorStatus)
        except msgspec.ValidationError as exc:
            problem = f"JSON of the wrong shape for a connector status ({exc})"
        except (msgspec.DecodeError, UnicodeError) as exc:
            problem = f"not JSON ({_one_line(str(exc))})"
        except RecursionError:
            problem = "JSON nested too deeply to read"
        else:
            if status.name in (None, connector):
                return msgspec.structs.replace(status, name=connector)
            problem = f"the status of another connector, {status.name[:80]!r}"
    raise ConnectorNotReady(
        f"Kafka Connect ({where}) answered HTTP 200 for connector {connector!r} with a body that is "
        f"{problem}. First {SNIPPET_CHARS} characters: {_snippet(body)}. Something other than the "
        f"Kafka Connect REST API may have answered (a proxy, a login page, another service): check that "
        f"the connection's host, port and schema point at the worker's REST listener, then rerun."
    )


def _http_problem(connector: str, code: int, body: str, where: str) -> str:
    """What a non-200 answer means, and what to do about it."""
    detail = _detail(body)
    if code == 404:
        return (
            f"Kafka Connect ({where}) does not know connector {connector!r} (HTTP 404: {detail}). "
            f"Check the connector name (PRODUCT_CDC_CONNECTOR_NAME) against GET /connectors, "
            f"or create the connector if it was deleted."
        )
    head = f"Kafka Connect ({where}) answered {_http(code)} for connector {connector!r}: {detail}."
    if code in (401, 403):
        refused = (
            "did not accept this request's credentials"
            if code == 401
            else "accepted the login but does not allow it to read connector status"
        )
        return (
            f"{head} The worker's REST API requires authentication and {refused}: check the login and "
            f"password of that Airflow connection, and the worker's REST authentication "
            f"(rest.extension.classes, e.g. BasicAuthSecurityRestExtension and its JAAS users), "
            f"then rerun."
        )
    if code == 409:
        return (
            f"{head} Kafka Connect answers 409 while its workers rebalance: rerun in a minute. If it keeps "
            f"answering 409, check the worker log for a rebalance that does not finish."
        )
    if code >= 500:
        return (
            f"{head} The worker (or a proxy in front of it) cannot report the status: check the "
            f"Kafka Connect worker log, then rerun."
        )
    if code >= 400:
        return (
            f"{head} The request was rejected: check that the connection's host, port and schema point "
            f"at the worker's REST API (GET /connectors/{{name}}/status), then rerun."
        )
    return (
        f"{head} Kafka Connect reports a status with HTTP 200, so this answer probably came from something "
        f"in between (a proxy or a redirect): check that the connection's host, port and schema point "
        f"at the worker's REST listener, then rerun."
    )


def _not_capturing(connector: str, status: ConnectorStatus) -> str | None:
    """Why a well-formed status does not mean capturing, with what to do; None when it does."""
    path = f"/connectors/{quote(connector, safe='')}"
    failed = [t for t in status.tasks if t.state == "FAILED"]
    if status.state == "FAILED" or failed:
        if failed:
            details = "\n".join(
                f"  task {t.id} FAILED on {_word(t.worker_id or 'unknown worker')}:\n"
                f"    {_first_lines(t.trace)}"
                for t in failed
            )
        else:
            details = f"  connector FAILED:\n    {_first_lines(status.connector.trace)}"
        return (
            f"Debezium {status.summary}.\n{details}\n"
            f"Fix the cause shown in the trace (often the SQL Server connection or CDC settings), "
            f"then restart the failed tasks: POST {path}/restart?includeTasks=true&onlyFailed=true"
        )
    if status.state == "PAUSED":
        return (
            f"Debezium {status.summary}: it was paused on purpose. "
            f"Resume it with PUT {path}/resume when capture should continue."
        )
    if status.state == "STOPPED":
        return (
            f"Debezium {status.summary}: it was stopped (PUT {path}/stop) and holds no "
            f"tasks. Resume it with PUT {path}/resume."
        )
    if status.state == "UNASSIGNED":
        return (
            f"Debezium {status.summary}: no worker has picked it up yet. Usually a rebalance is in "
            f"progress; if it stays UNASSIGNED, check that the Kafka Connect workers are up and healthy."
        )
    if status.state == "RESTARTING":
        return (
            f"Debezium {status.summary}: it is being restarted. Rerun in a minute; if it stays "
            f"RESTARTING, check the worker log."
        )
    if status.state != "RUNNING":
        return f"Debezium {status.summary}: unexpected state; check the worker log."
    if not status.tasks:
        return (
            f"Debezium {status.summary}: a connector that was just created or is rebalancing has no "
            f"tasks yet. Rerun in a minute; if it still has none, check tasks.max and the worker log."
        )
    if any(t.state != "RUNNING" for t in status.tasks):
        return (
            f"Debezium {status.summary}: every task must be RUNNING. PAUSED tasks resume with "
            f"PUT {path}/resume; UNASSIGNED and RESTARTING tasks wait for a rebalance or restart."
        )
    return None


def evaluate_status(connector: str, status_code: int, body: str, where: str) -> ConnectorStatus:
    """Return the parsed status when the connector and all its tasks run; raise ConnectorNotReady otherwise.

    ``where`` names the Airflow connection and URL, so every message says which endpoint answered.
    """
    if status_code != 200:
        raise ConnectorNotReady(_http_problem(connector, status_code, body, where))
    status = parse_status(connector, body, where)
    problem = _not_capturing(connector, status)
    if problem:
        raise ConnectorNotReady(problem)
    return status


_REQUEST_HINTS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str], ...] = (
    (
        requests.exceptions.SSLError,
        "Check that the connection's schema (http or https) matches the worker's REST listener and "
        "that the worker's certificate is trusted",
    ),
    (
        requests.exceptions.TooManyRedirects,
        "Something between Airflow and the worker redirects in a loop: point the connection's host "
        "and port straight at the worker's REST listener",
    ),
    (
        (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError),
        "The answer broke off or could not be decoded: check the worker and any proxy in between",
    ),
)


def _request_failed(exc: requests.RequestException, where: str, endpoint: str, connector: str) -> str:
    """The request itself failed (bad URL, TLS, redirects, broken body): name the error and a next step."""
    hint = next(
        (text for kinds, text in _REQUEST_HINTS if isinstance(exc, kinds)),
        "Check the connection's host, port and schema",
    )
    return (
        f"Kafka Connect ({where}) could not be asked GET /{endpoint} for connector {connector!r}: "
        f"{type(exc).__name__}: {_one_line(_redact(str(exc)))}. {hint}, then rerun."
    )


def check_connector(hook: HttpGetter, conn_id: str, connector: str, timeout: float) -> ConnectorStatus:
    """Ask Kafka Connect for the connector's status and evaluate it.

    Every failure of the request becomes ConnectorNotReady too; the hook fills in ``base_url`` while it
    runs, so the description of the endpoint is built afterwards.
    """
    endpoint = f"connectors/{quote(connector, safe='')}/status"

    def where() -> str:
        return f"connection {conn_id!r}, {_redact(hook.base_url)}"

    try:
        response = hook.run(endpoint=endpoint, extra_options={"timeout": timeout, "check_response": False})
    except requests.exceptions.Timeout as exc:
        raise ConnectorNotReady(
            f"Kafka Connect ({where()}) did not answer GET /{endpoint} for connector {connector!r} "
            f"within {timeout:g} s. The worker may be overloaded or rebalancing: check it, then rerun."
        ) from exc
    except requests.exceptions.SSLError as exc:
        raise ConnectorNotReady(_request_failed(exc, where(), endpoint, connector)) from exc
    except requests.exceptions.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        raise ConnectorNotReady(
            f"Cannot reach Kafka Connect ({where()}) to check connector "
            f"{connector!r}: {reason}. Check that the worker is running and that the connection's "
            f"host and port point at its REST listener."
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise ConnectorNotReady(_request_failed(exc, where(), endpoint, connector)) from exc
    return evaluate_status(connector, response.status_code, response.text, where())
