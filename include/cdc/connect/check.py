"""Is the Debezium connector capturing? Evaluate Kafka Connect's ``GET /connectors/{name}/status``.

Draining Kafka while the connector is down is not wrong, but it hides the outage: the DAG would
report success while the warehouse silently stops moving. So the run stops here, with a message
that tells the operator what state the connector is in and what to do about it.

Whatever comes back (a status, an error, a proxy's HTML page, JSON of some other shape, no answer at
all), the outcome is one of two: a ``ConnectorStatus`` when the connector and every task are RUNNING,
or ``ConnectorNotReady`` naming the connector, the HTTP status or state, and the next step. Never a
bare ``AttributeError`` that leaves the operator guessing which connector or worker it was about.

The timeout bounds the whole answer (connecting, the headers and the body together), not each read of
the socket as requests' own timeout does: a worker or proxy that trickles its body fails the check when
the time is up instead of holding the task for as long as it keeps trickling.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Protocol
from urllib.parse import quote

import requests
import urllib3

from include.cdc.connect.status import (
    ConnectorNotReady,
    ConnectorStatus,
    error_detail,
    first_lines,
    http_status,
    one_line,
    parse_status,
    redact,
    word,
)

BODY_CHUNK = 1024  # a status body is a few hundred bytes; small reads see the deadline soon


class HttpGetter(Protocol):
    """The part of Airflow's HttpHook this module uses."""

    base_url: str

    def run(self, endpoint: str, extra_options: dict) -> requests.Response: ...


def _http_problem(connector: str, code: int, body: str, where: str) -> str:
    """What a non-200 answer means, and what to do about it."""
    detail = error_detail(body)
    if code == 404:
        return (
            f"Kafka Connect ({where}) does not know connector {connector!r} (HTTP 404: {detail}). "
            f"Check the connector name (PRODUCT_CDC_CONNECTOR_NAME) against GET /connectors, "
            f"or create the connector if it was deleted."
        )
    head = f"Kafka Connect ({where}) answered {http_status(code)} for connector {connector!r}: {detail}."
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
                f"  task {t.id} FAILED on {word(t.worker_id or 'unknown worker')}:\n"
                f"    {first_lines(t.trace)}"
                for t in failed
            )
        else:
            details = f"  connector FAILED:\n    {first_lines(status.connector.trace)}"
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
        (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.DecodeError,
            http.client.IncompleteRead,
        ),
        "The answer broke off or could not be decoded: check the worker and any proxy in between",
    ),
)


def _request_failed(exc: Exception, where: str, endpoint: str, connector: str) -> str:
    """The request itself failed (bad URL, TLS, redirects, broken body): name the error and a next step."""
    hint = next(
        (text for kinds, text in _REQUEST_HINTS if isinstance(exc, kinds)),
        "Check the connection's host, port and schema",
    )
    return (
        f"Kafka Connect ({where}) could not be asked GET /{endpoint} for connector {connector!r}: "
        f"{type(exc).__name__}: {one_line(redact(str(exc)))}. {hint}, then rerun."
    )


class _NoAnswer(Exception):
    """The whole answer did not arrive within the timeout."""


def _get(hook: HttpGetter, endpoint: str, timeout: float) -> tuple[int, str]:
    """The status code and body of ``GET /endpoint``, read whole within ``timeout`` seconds of the start.

    The request runs in a thread of its own that the caller stops waiting for at the deadline, so no
    stage can outlast it: not the connection, nor headers or a body that trickle in. The thread given
    up on (a daemon, which never holds the process) stops after its current read, which requests'
    timeout bounds. The body is always streamed (``stream`` passed here wins over the connection's
    extra), so it is read, and can break off, here whatever the extra says.
    """
    answer: list[tuple[int, str]] = []
    failure: list[BaseException] = []
    gave_up = threading.Event()

    def ask() -> None:
        try:
            options = {"timeout": timeout, "check_response": False, "stream": True}
            response = hook.run(endpoint=endpoint, extra_options=options)
            try:
                chunks = []
                for chunk in response.iter_content(BODY_CHUNK):
                    if gave_up.is_set():
                        return
                    chunks.append(chunk)
                # Decoded as requests does (the declared charset, else a guess), from the bytes read here.
                response._content, response._content_consumed = b"".join(chunks), True
                answer.append((response.status_code, response.text))
            finally:
                response.close()
        except BaseException as exc:  # handed to the caller, which maps it
            failure.append(exc)

    deadline = time.monotonic() + timeout
    thread = threading.Thread(target=ask, name=f"GET /{endpoint}", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        gave_up.set()
        raise _NoAnswer
    if failure:
        raise failure[0]
    return answer[0]


def check_connector(hook: HttpGetter, conn_id: str, connector: str, timeout: float) -> ConnectorStatus:
    """Ask Kafka Connect for the connector's status and evaluate it.

    Every failure of the request becomes ConnectorNotReady too; the hook fills in ``base_url`` while it
    runs, so the description of the endpoint is built afterwards.
    """
    endpoint = f"connectors/{quote(connector, safe='')}/status"

    def where() -> str:
        return f"connection {conn_id!r}, {redact(hook.base_url)}"

    def no_answer() -> str:
        return (
            f"Kafka Connect ({where()}) did not answer GET /{endpoint} for connector {connector!r} "
            f"within {timeout:g} s. The worker may be overloaded or rebalancing: check it, then rerun."
        )

    try:
        status_code, body = _get(hook, endpoint, timeout)
    except _NoAnswer:
        raise ConnectorNotReady(no_answer()) from None
    except requests.exceptions.Timeout as exc:
        raise ConnectorNotReady(no_answer()) from exc
    except requests.exceptions.SSLError as exc:
        raise ConnectorNotReady(_request_failed(exc, where(), endpoint, connector)) from exc
    except requests.exceptions.ConnectionError as exc:
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):  # reading the body
            raise ConnectorNotReady(no_answer()) from exc
        reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        raise ConnectorNotReady(
            f"Cannot reach Kafka Connect ({where()}) to check connector "
            f"{connector!r}: {reason}. Check that the worker is running and that the connection's "
            f"host and port point at its REST listener."
        ) from exc
    except (
        requests.exceptions.RequestException,
        urllib3.exceptions.HTTPError,  # what requests does not wrap, while the body is read
        http.client.HTTPException,
        OSError,
    ) as exc:
        raise ConnectorNotReady(_request_failed(exc, where(), endpoint, connector)) from exc
    return evaluate_status(connector, status_code, body, where())
