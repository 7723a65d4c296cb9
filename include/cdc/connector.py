"""Is the Debezium connector capturing? Evaluate Kafka Connect's ``GET /connectors/{name}/status``.

Draining Kafka while the connector is down is not wrong, but it hides the outage: the DAG would
report success while the warehouse silently stops moving. So the run stops here, with a message
that tells the operator what state the connector is in and what to do about it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import requests

TRACE_LINES = 5


class ConnectorNotReady(RuntimeError):
    """The connector is not RUNNING with every task RUNNING, or Kafka Connect did not answer."""


class HttpGetter(Protocol):
    """The part of Airflow's HttpHook this module uses."""

    base_url: str

    def run(self, endpoint: str, extra_options: dict) -> requests.Response: ...


@dataclass(frozen=True)
class ConnectorStatus:
    name: str
    state: str
    worker_id: str
    tasks: tuple[dict, ...]

    @property
    def summary(self) -> str:
        tasks = ", ".join(f"task {t.get('id')} {t.get('state')}" for t in self.tasks) or "no tasks"
        return f"connector {self.name!r} is {self.state} on {self.worker_id} ({tasks})"


def _first_lines(trace: str | None, count: int = TRACE_LINES) -> str:
    lines = [line.rstrip() for line in (trace or "").strip().splitlines()]
    shown = "\n    ".join(lines[:count])
    more = f"\n    ... ({len(lines) - count} more lines in the task's trace)" if len(lines) > count else ""
    return shown + more if shown else "(no trace reported)"


def evaluate_status(connector: str, status_code: int, body: str, where: str) -> ConnectorStatus:
    """Return the parsed status when the connector and all its tasks run; raise ConnectorNotReady otherwise.

    ``where`` names the Airflow connection and URL, so every message says which endpoint answered.
    """
    restart = f"POST /connectors/{connector}/restart?includeTasks=true&onlyFailed=true"
    try:
        payload = json.loads(body) if body else {}
    except json.JSONDecodeError:
        payload = None
    if status_code == 404:
        message = payload.get("message") if isinstance(payload, dict) else body[:200]
        raise ConnectorNotReady(
            f"Kafka Connect ({where}) does not know connector {connector!r} (HTTP 404: {message}). "
            f"Check the connector name (PRODUCT_CDC_CONNECTOR_NAME) against GET /connectors, "
            f"or create the connector if it was deleted."
        )
    if status_code != 200 or not isinstance(payload, dict):
        detail = payload.get("message") if isinstance(payload, dict) else body[:200].strip()
        raise ConnectorNotReady(
            f"Kafka Connect ({where}) answered HTTP {status_code} for connector {connector!r}: "
            f"{detail or 'no body'}. The worker is up but cannot report the status: check the "
            f"Kafka Connect worker log, then rerun."
        )

    connector_info = payload.get("connector") or {}
    status = ConnectorStatus(
        name=payload.get("name", connector),
        state=str(connector_info.get("state", "UNKNOWN")),
        worker_id=str(connector_info.get("worker_id", "unknown worker")),
        tasks=tuple(payload.get("tasks") or ()),
    )

    failed = [t for t in status.tasks if t.get("state") == "FAILED"]
    if status.state == "FAILED" or failed:
        if failed:
            details = "\n".join(
                f"  task {t.get('id')} FAILED on {t.get('worker_id')}:\n    {_first_lines(t.get('trace'))}"
                for t in failed
            )
        else:
            details = f"  connector FAILED:\n    {_first_lines(connector_info.get('trace'))}"
        raise ConnectorNotReady(
            f"Debezium {status.summary}.\n{details}\n"
            f"Fix the cause shown in the trace (often the SQL Server connection or CDC settings), "
            f"then restart the failed tasks: {restart}"
        )
    if status.state == "PAUSED":
        raise ConnectorNotReady(
            f"Debezium {status.summary}: it was paused on purpose. "
            f"Resume it with PUT /connectors/{connector}/resume when capture should continue."
        )
    if status.state == "STOPPED":
        raise ConnectorNotReady(
            f"Debezium {status.summary}: it was stopped (PUT /connectors/{connector}/stop) and holds no "
            f"tasks. Resume it with PUT /connectors/{connector}/resume."
        )
    if status.state == "UNASSIGNED":
        raise ConnectorNotReady(
            f"Debezium {status.summary}: no worker has picked it up yet. Usually a rebalance is in "
            f"progress; if it stays UNASSIGNED, check that the Kafka Connect workers are up and healthy."
        )
    if status.state != "RUNNING":
        raise ConnectorNotReady(f"Debezium {status.summary}: unexpected state; check the worker log.")
    if not status.tasks:
        raise ConnectorNotReady(
            f"Debezium {status.summary}: a connector that was just created or is rebalancing has no "
            f"tasks yet. Rerun in a minute; if it still has none, check tasks.max and the worker log."
        )
    not_running = [t for t in status.tasks if t.get("state") != "RUNNING"]
    if not_running:
        raise ConnectorNotReady(
            f"Debezium {status.summary}: every task must be RUNNING. PAUSED tasks resume with "
            f"PUT /connectors/{connector}/resume; UNASSIGNED tasks wait for a rebalance."
        )
    return status


def check_connector(hook: HttpGetter, conn_id: str, connector: str, timeout: float) -> ConnectorStatus:
    """Ask Kafka Connect for the connector's status and evaluate it."""
    endpoint = f"connectors/{quote(connector, safe='')}/status"
    try:
        response = hook.run(endpoint=endpoint, extra_options={"timeout": timeout, "check_response": False})
    except requests.exceptions.Timeout as exc:
        raise ConnectorNotReady(
            f"Kafka Connect (connection {conn_id!r}, {hook.base_url}) did not answer GET /{endpoint} "
            f"within {timeout:g} s. The worker may be overloaded or rebalancing: check it, then rerun."
        ) from exc
    except requests.exceptions.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        raise ConnectorNotReady(
            f"Cannot reach Kafka Connect (connection {conn_id!r}, {hook.base_url}) to check connector "
            f"{connector!r}: {reason}. Check that the worker is running and that the connection's "
            f"host and port point at its REST listener."
        ) from exc
    where = f"connection {conn_id!r}, {hook.base_url}"
    return evaluate_status(connector, response.status_code, response.text, where)
