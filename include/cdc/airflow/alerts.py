"""Email alerts: one when a task fails for good, one when a run misses its deadline.

Airflow 3 has no SLAs; a Deadline Alert plays that role. It is measured from the run's logical date (a
scheduled run's: when it was due; a run triggered from the UI: when it was triggered), not from when the
run was queued: on Airflow 3.3.0-3.3.2, clearing a task of a DAG with a DAGRUN_QUEUED_AT deadline fails
with HTTP 500 (apache/airflow#70368, fix proposed in #70370), so an operator could not retry from the UI.
A run with no logical date (an API trigger with ``logical_date: null``) gets no deadline. Its callback
runs in the triggerer, so it must be awaitable: the smtp provider's SmtpNotifier is.
Recipients, sender and the deadline come from Settings; the SMTP credentials from the connection.
"""

from __future__ import annotations

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

from include.cdc.settings import Settings

FAILURE_SUBJECT = "[Airflow] {{ dag.dag_id }}: task {{ ti.task_id }} failed (run {{ run_id }})"
FAILURE_BODY = """
<p>Task <b>{{ ti.task_id }}</b> of <b>{{ dag.dag_id }}</b> failed after {{ ti.try_number }} tries.</p>
<p><b>Error:</b></p><pre>{{ exception }}</pre>
<p>Run: {{ run_id }}. The DAG's documentation (Docs tab) says what to do for each stage;
the task log has the details: <a href="{{ ti.log_url }}">{{ ti.log_url }}</a></p>
"""
DEADLINE_SUBJECT = "[Airflow] {{ dag_run.dag_id }}: run {{ dag_run.dag_run_id }} missed its deadline"
DEADLINE_BODY = """
<p>Run <b>{{ dag_run.dag_run_id }}</b> of <b>{{ dag_run.dag_id }}</b>, due at {{ dag_run.logical_date }},
has not finished by its deadline, {{ deadline.deadline_time }}.</p>
<p>Its state when the deadline passed: {{ dag_run.state }}. Look for a task that is stuck or retrying
(Kafka Connect or Kafka unreachable, a long dbt run, a lock held by another load).</p>
"""


def failure_email(settings: Settings) -> SmtpNotifier:
    return SmtpNotifier(
        to=list(settings.alert_recipients),
        from_email=settings.alert_from,
        smtp_conn_id=settings.smtp_conn_id,
        subject=FAILURE_SUBJECT,
        html_content=FAILURE_BODY,
    )


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
