"""The deadline email and the failure email, under a real scheduler, triggerer and API server.

One run is made slow and failing on purpose: the Kafka Connect stand-in answers after a delay and
reports a FAILED task. The deadline (a few seconds after the run is queued) passes while the run is
still retrying, so the triggerer sends the deadline email; then check_connector fails for good and its
failure callback sends the failure email. Both land in the SMTP sink.
"""

from __future__ import annotations

import email
import email.policy
import time
import uuid

import pytest

from tests.integration.conftest import leaked_secrets, real_airflow

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

DAG_ID = "product_cdc_sync"


def mails_about(stack, run_id: str) -> list[email.message.EmailMessage]:
    found = []
    for path in stack.smtp.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if run_id in message["Subject"]:
            found.append(message)
    return found


def wait_for_mails(stack, run_id: str, count: int, timeout: float) -> list[email.message.EmailMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = mails_about(stack, run_id)
        if len(mails) >= count:
            return mails
        time.sleep(1)
    return mails_about(stack, run_id)


@pytest.fixture
def airflow(stack, corner):
    extra_env = {
        "PRODUCT_CDC_DEADLINE_MINUTES": "0.05",  # 3 seconds after the run is queued
        "PRODUCT_CDC_RETRY_DELAY_SECONDS": "1",
        "PRODUCT_CDC_HTTP_TIMEOUT_SECONDS": "20",
        "PRODUCT_CDC_ALERT_RECIPIENTS": "oncall@cord.local,bi-team@cord.local",
    }
    with real_airflow(stack, extra_env) as services:
        stack.connect.set_state("task-failed", delay_seconds=4)
        yield services
        stack.connect.set_state("running")


def test_deadline_and_failure_emails(stack, airflow):
    airflow.wait_for_dag(DAG_ID)
    run_id = f"alert-test-{uuid.uuid4().hex[:8]}"

    airflow.trigger(DAG_ID, run_id)
    mails = wait_for_mails(stack, run_id, count=2, timeout=180)

    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == [
        f"[Airflow] {DAG_ID}: run {run_id} missed its deadline",
        f"[Airflow] {DAG_ID}: task check_connector failed (run {run_id})",
    ]
    for message in mails:
        assert set(message["To"].split(", ")) == {"oncall@cord.local", "bi-team@cord.local"}
        assert message["From"] == "airflow@cord.local"
    failure = next(m for m in mails if "failed" in m["Subject"])
    body = failure.get_body(preferencelist=("html", "plain")).get_content()
    assert "task 0 FAILED" in body
    assert "failed after 3 tries" in body
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=60) == "failed"

    # Neither the mails nor any log of the API server, scheduler, triggerer or task holds a credential.
    logs = [*(stack.dir / "logs").glob("airflow-*.log"), *(stack.dir / "airflow" / "logs").rglob("*.log")]
    assert any("check_connector" in path.read_text(errors="replace") for path in logs)
    for text in [m.as_string() for m in mails] + [p.read_text(errors="replace") for p in logs]:
        assert leaked_secrets(stack, text) == []
