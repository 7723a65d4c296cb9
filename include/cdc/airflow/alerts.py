"""Email alerts: one per run that ends failed, naming each failed task; one when a run misses its deadline.

**One email per failed run.** Three pieces, because Airflow 3.3 keeps no task's error anywhere a later
process can read it:

* each task's ``on_failure_callback`` (``record_error``) runs in the task's own process, only when the
  task failed for good (a try that will be retried calls ``on_retry_callback``, so it records nothing),
  and before the supervisor reports FAILED to the API server: it pushes the first line of the error to
  the task's XCom (``alert_error``, one short line, secrets masked). For dbt tasks that line comes from
  dbt's ``target/run_results.json``, read by a Cosmos ``callback`` (``record_dbt_failures``) that runs
  after every dbt command, failed or not, in watcher mode (the build, and a model task's retry that runs
  its model alone) and in local mode alike; Cosmos's own exception says only "dbt command failed … exit
  code 1", dbt's ``message`` names the rows (``Got 61 results, configured to fail if != 0``);
* the DAG's ``on_failure_callback`` (``email_failed_run``) is called by the scheduler once, when the run
  ends failed (a failed task, or ``dagrun_timeout``), and runs in the DAG processor, whose Task SDK
  answers ``RuntimeTaskInstance.get_task_states`` and ``XCom.get_one``: it lists the run's FAILED tasks
  (not the upstream_failed ones, only counted), reads each one's line and sends one email.

Rejected: a last task with trigger rule ALL_DONE or ONE_FAILED. It would be a leaf whose success turns a
failed run green (a run's state is its leaves'), unless it failed on purpose; it costs a task start in
every run; and it never runs when ``dagrun_timeout`` ends the run. The DAG-level callback alone gets
only the last failed task in its context, not the others nor any task's error.

The body is built by plain functions (``failure_subject``, ``failure_html``) and sent through the smtp
provider's hook, not rendered as a Jinja template: an error line may hold ``{{``. Every text in it is
HTML-escaped. Log links are built as Airflow's ``ti.log_url`` builds them, from ``[api] base_url``.

**Deadline.** Airflow 3 has no SLAs; a Deadline Alert plays that role. It is measured from the run's
logical date (a scheduled run's: when it was due; a run triggered from the UI: when it was triggered),
not from when the run was queued: on Airflow 3.3.0-3.3.2, clearing a task of a DAG with a
DAGRUN_QUEUED_AT deadline fails with HTTP 500 (apache/airflow#70368, fix proposed in #70370), so an
operator could not retry from the UI. A run with no logical date (an API trigger with
``logical_date: null``) gets no deadline. Its callback runs in the triggerer, so it must be awaitable:
the smtp provider's SmtpNotifier is.
Recipients, sender and the deadline come from Settings; the SMTP credentials from the connection.
"""

from __future__ import annotations

import functools
import html
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from include.cdc.settings import Settings

log = logging.getLogger(__name__)

ERROR_KEY = "alert_error"
MAX_LINE = 400
DBT_FAILED = ("fail", "error", "runtime error")

DEADLINE_SUBJECT = "[Airflow] {{ dag_run.dag_id }}: run {{ dag_run.dag_run_id }} missed its deadline"
DEADLINE_BODY = """
<p>Run <b>{{ dag_run.dag_run_id }}</b> of <b>{{ dag_run.dag_id }}</b>, due at {{ dag_run.logical_date }},
has not finished by its deadline, {{ deadline.deadline_time }}.</p>
<p>Its state when the deadline passed: {{ dag_run.state }}. Look for a task that is stuck or retrying
(Kafka Connect or Kafka unreachable, a long dbt run, a lock held by another load).</p>
"""


@dataclass(frozen=True)
class FailedTask:
    task_id: str
    line: str | None  # None: the task recorded no error (killed, or lost its worker)
    log_url: str


def first_line(text: str) -> str:
    """The first non-blank line of an error, at most MAX_LINE characters."""
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


@dataclass(frozen=True)
class DbtNode:
    unique_id: str  # model.<project>.<name>, test.<project>.<name>.<hash>
    status: str
    message: str

    @property
    def name(self) -> str:
        parts = self.unique_id.split(".")
        return parts[2] if len(parts) > 2 else self.unique_id


def read_run_results(project_dir: str) -> list[DbtNode] | None:
    """The nodes of the dbt command's ``target/run_results.json``; None when it is absent or not in
    dbt's shape. dbt writes that file: an odd one is logged, and must neither fail the task nor count as
    a passing build."""
    path = Path(project_dir) / "target" / "run_results.json"
    if not path.is_file():
        return None
    try:
        results = json.loads(path.read_bytes())["results"]
        if not isinstance(results, list):
            raise TypeError(f"results is a {type(results).__name__}, not a list")
        return [_dbt_node(node) for node in results]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        log.warning("unreadable %s", path, exc_info=True)
        return None


def _dbt_node(node: dict[str, Any]) -> DbtNode:
    unique_id, status, message = node["unique_id"], node["status"], node.get("message")
    if not isinstance(unique_id, str) or not isinstance(status, str):
        raise TypeError(f"a node's unique_id and status are text in dbt's run_results: {node!r:.200}")
    return DbtNode(unique_id, status, message if isinstance(message, str) else "")


def dbt_failure_line(nodes: list[DbtNode]) -> str | None:
    """``<node>: <dbt's message>`` for each failed or errored node, or None."""
    parts = [
        f"{node.name}: {first_line(node.message or node.status)}"
        for node in nodes
        if node.status in DBT_FAILED
    ]
    return first_line("; ".join(parts)) if parts else None


def log_url(base_url: str, dag_id: str, run_id: str, task_id: str) -> str:
    """A task's log in the UI, as ``RuntimeTaskInstance.log_url`` builds it (its latest try)."""
    return f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}"


def failure_subject(dag_id: str, run_id: str, failed: int) -> str:
    tasks = f"{failed} task{'s' if failed != 1 else ''} failed" if failed else "no task failed"
    return f"[Airflow] {dag_id}: run {run_id} failed ({tasks})"


def failure_html(dag_id: str, run_id: str, reason: str, failed: Sequence[FailedTask], not_run: int) -> str:
    e = html.escape
    items = "\n".join(
        f"<li><b>{e(t.task_id)}</b>: <code>{e(t.line or 'no error recorded: see its log')}</code><br>"
        f'<a href="{e(t.log_url, quote=True)}">{e(t.log_url)}</a></li>'
        for t in failed
    )
    did_not_run = (
        f" {not_run} task{'s' if not_run != 1 else ''} did not run (upstream failed)." if not_run else ""
    )
    return (
        f"<p>Run <b>{e(run_id)}</b> of <b>{e(dag_id)}</b> failed ({e(reason)}): "
        f"{len(failed)} task{'s' if len(failed) != 1 else ''} failed for good.{did_not_run}</p>\n"
        f"<ul>\n{items}\n</ul>\n"
        "<p>The DAG's documentation (its Docs tab) says what to do for each stage and message; each "
        "task's log has the details.</p>\n"
    )


def _masked(text: str) -> str:
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # pragma: no cover - the masker moved
        return text
    return str(redact(text))


def record_error(context: dict[str, Any]) -> None:
    """Task ``on_failure_callback``: the failed task's first error line to its XCom, unless dbt's
    callback recorded a better one in this try."""
    ti = context["ti"]
    try:
        if ti.xcom_pull(task_ids=ti.task_id, key=ERROR_KEY) is None:
            error = context.get("exception")
            line = (first_line(str(error)) or type(error).__name__) if error else "failed, no exception"
            ti.xcom_push(key=ERROR_KEY, value=_masked(line))
    except Exception:  # run outside the task's process (a task that was killed): the email says so
        log.warning("could not record the error line of %s", ti.task_id, exc_info=True)


def record_dbt_failures(project_dir: str, context: dict[str, Any] | None = None, **_: Any) -> None:
    """Cosmos ``callback`` after each dbt command: its failed nodes and dbt's message to the XCom."""
    nodes = read_run_results(project_dir) if context is not None else None
    line = dbt_failure_line(nodes) if nodes else None
    if line:
        context["ti"].xcom_push(key=ERROR_KEY, value=_masked(line))


def _send(settings: Settings, subject: str, html_content: str) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=settings.smtp_conn_id) as hook:
        hook.send_email_smtp(
            to=list(settings.alert_recipients),
            from_email=settings.alert_from,
            subject=subject,
            html_content=html_content,
        )


def email_failed_run(context: dict[str, Any], settings: Settings) -> None:
    """DAG ``on_failure_callback`` (in the DAG processor): one email naming each failed task."""
    from airflow.sdk.configuration import conf
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    from airflow.sdk.execution_time.xcom import XCom

    dag, run_id = context["dag"], context["run_id"]
    states = RuntimeTaskInstance.get_task_states(dag_id=dag.dag_id, run_ids=[run_id]).get(run_id, {})
    base_url = conf.get("api", "base_url", fallback="http://localhost:8080/")
    failed = [
        FailedTask(
            task_id,
            XCom.get_one(key=ERROR_KEY, dag_id=dag.dag_id, task_id=task_id, run_id=run_id),
            log_url(base_url, dag.dag_id, run_id, task_id),
        )
        for task_id in dag.task_ids
        if states.get(task_id) == "failed"
    ]
    not_run = sum(state == "upstream_failed" for state in states.values())
    _send(
        settings,
        failure_subject(dag.dag_id, run_id, len(failed)),
        failure_html(dag.dag_id, run_id, str(context.get("reason") or "failed"), failed, not_run),
    )


def failed_run_email(settings: Settings) -> Callable[[dict[str, Any]], None]:
    return functools.partial(email_failed_run, settings=settings)


def deadline_alert(settings: Settings) -> DeadlineAlert:
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=settings.deadline,
        callback=AsyncCallback(
            SmtpNotifier,
            kwargs={
                "to": list(settings.alert_recipients),
                "from_email": settings.alert_from,
                "smtp_conn_id": settings.smtp_conn_id,
                "subject": DEADLINE_SUBJECT,
                "html_content": DEADLINE_BODY,
            },
        ),
    )


def task_defaults(settings: Settings, max_retry_delay: timedelta, execution_timeout: timedelta) -> dict:
    """``default_args`` of this package's DAGs: retries with backoff, and each failure's first error
    line recorded for the run's one email."""
    return {
        "owner": "data-platform",
        "retries": settings.retries,
        "retry_delay": settings.retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max_retry_delay,
        "execution_timeout": execution_timeout,
        "on_failure_callback": record_error,
    }
