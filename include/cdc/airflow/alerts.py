"""Email alerts: one when a task fails for good, one when a run misses its deadline.

Airflow 3 has no SLAs; a Deadline Alert measured from the moment the run was queued plays that role.
Its callback runs in the triggerer, so it must be awaitable: the smtp provider's SmtpNotifier is.
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
<p>Run <b>{{ dag_run.dag_run_id }}</b> of <b>{{ dag_run.dag_id }}</b> was queued at {{ dag_run.queued_at }}
and has not finished by its deadline, {{ deadline.deadline_time }}.</p>
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
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
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
