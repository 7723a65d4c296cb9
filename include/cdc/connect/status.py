"""Kafka Connect's status body, read strictly: the fields the connector check uses, and the helpers that
quote what came back (one line, redacted, cut short) in the check's messages.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Annotated

import msgspec

TRACE_LINES = 5
SNIPPET_CHARS = 200


class ConnectorNotReady(RuntimeError):
    """The connector is not RUNNING with every task RUNNING, or Kafka Connect did not answer."""


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
        tasks = ", ".join(f"task {t.id} {word(t.state)}" for t in self.tasks) or "no tasks"
        return f"connector {self.name!r} is {word(self.state)} on {word(self.worker_id)} ({tasks})"


class _ErrorBody(msgspec.Struct):
    """Kafka Connect's error answer, ``{"error_code": 500, "message": "..."}``."""

    message: str | None = None


def word(text: str) -> str:
    """A short server-given word (state, worker id) as is; anything long or unprintable quoted and cut."""
    return text if len(text) <= 80 and text.isprintable() else repr(text[:80])


def one_line(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Whitespace collapsed and cut, so a worker's message cannot stretch or break the log line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + " ..."


def _snippet(body: str) -> str:
    """The start of a body, quoted with repr so control characters and odd Unicode show as escapes."""
    more = f" ({len(body)} characters in all)" if len(body) > SNIPPET_CHARS else ""
    return repr(body[:SNIPPET_CHARS]) + more


def first_lines(trace: str | None, count: int = TRACE_LINES) -> str:
    lines = [line.rstrip()[:300] for line in (trace or "").strip().splitlines()]
    shown = "\n    ".join(lines[:count])
    more = f"\n    ... ({len(lines) - count} more lines in the task's trace)" if len(lines) > count else ""
    return shown + more if shown else "(no trace reported)"


def redact(text: str) -> str:
    """Drop ``user:password@`` from URLs: a connection's host may carry credentials, logs must not."""
    return re.sub(r"[^\s/'\"@]+:[^\s/'\"@]*@", "***@", text)


def http_status(code: int) -> str:
    try:
        return f"HTTP {code} ({HTTPStatus(code).phrase})"
    except ValueError:
        return f"HTTP {code}"


def error_detail(body: str) -> str:
    """The worker's own error message when it sent one, else the start of whatever came back."""
    try:
        message = msgspec.json.decode(body, type=_ErrorBody).message
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        message = None
    if message and message.strip():
        return one_line(message)
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
            problem = f"not JSON ({one_line(str(exc))})"
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
