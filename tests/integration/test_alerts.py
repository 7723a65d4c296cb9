"""The deadline email and the run's one failure email, under a real scheduler, triggerer, DAG processor
and API server.

Each run is made slow and failing on purpose, with a deadline a few seconds after its logical date, so
the triggerer sends the deadline email while it is still retrying. Then the run fails and the DAG
processor sends one failure email naming each task that failed for good, its first error line and a link
to its log. Both land in the SMTP sink. In the first run, events whose product does not exist fail two
dbt relationships tests (a data failure); in the second, Kafka Connect reports a FAILED task and the
Python task ``check_connector`` fails.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import uuid

import pytest

from devstack.stack.config import CONNECTOR
from devstack.stack.connect import in_state, rest_path, running
from tests.integration.conftest import leaked_secrets, real_airflow

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

DAG_ID = "product_cdc_sync"
MISSING_PRODUCT = 987_654_321
AVAILABILITY_TEST = (
    "relationships_as_drained_stg_product_availability_product_id__product_id__ref_stg_product_"
)
OEM_TEST = "relationships_as_drained_stg_product_oem_number_product_id__product_id__ref_stg_product_"


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


def orphans(messages, table: str, count: int) -> list:
    """Copies of ``count`` inserts of ``table`` under new ids, for a product that does not exist."""
    copies = []
    for message in messages:
        if not message.topic.endswith(f".dbo.{table}") or message.value is None:
            continue
        value = json.loads(message.value)
        if value["payload"]["op"] not in {"c", "r"}:
            continue
        key = json.loads(message.key)
        key["payload"]["ID"] += 10_000_000
        value["payload"]["after"]["ID"] = key["payload"]["ID"]
        value["payload"]["after"]["ProductID"] = MISSING_PRODUCT
        copies.append(
            message.__class__(
                message.topic,
                message.partition,
                json.dumps(key).encode(),
                json.dumps(value).encode(),
                message.headers,
                message.timestamp_ms,
            )
        )
        if len(copies) == count:
            break
    return copies


def failed_tasks(airflow, run_id: str) -> set[str]:
    return {task for task, (state, _) in airflow.task_instances(DAG_ID, run_id).items() if state == "failed"}


def run_and_read_mails(stack, airflow, timeout: float) -> tuple[str, email.message.EmailMessage]:
    airflow.wait_for_dag(DAG_ID)
    run_id = f"alert-test-{uuid.uuid4().hex[:8]}"
    airflow.trigger(DAG_ID, run_id)
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=timeout) == "failed"
    mails = wait_for_mails(stack, run_id, count=2, timeout=60)
    time.sleep(5)  # a second failure email would come now
    mails = mails_about(stack, run_id)
    subjects = sorted(m["Subject"] for m in mails)
    assert len(subjects) == 2, subjects
    assert subjects[1] == f"[Airflow] {DAG_ID}: run {run_id} missed its deadline"
    for message in mails:
        assert set(message["To"].split(", ")) == {"oncall@cord.local", "bi-team@cord.local"}
        assert message["From"] == "airflow@cord.local"
    failure = next(m for m in mails if "deadline" not in m["Subject"])
    print(failure.as_string())  # the alert as received, for the record
    for text in [m.as_string() for m in mails]:
        assert leaked_secrets(stack, text) == []
    return run_id, failure


def items(failure: email.message.EmailMessage) -> dict[str, tuple[str, str]]:
    """Per failed task in the email: (its error line, its log link)."""
    body = failure.get_body(preferencelist=("html",)).get_content()
    pattern = r'<li><b>([^<]+)</b>: <code>([^<]*)</code><br><a href="([^"]+)">'
    return {task: (line, url) for task, line, url in re.findall(pattern, body)}


def assert_no_secret_in_logs(stack):
    logs = [*(stack.dir / "logs").glob("airflow-*.log"), *(stack.dir / "airflow" / "logs").rglob("*.log")]
    for path in logs:
        assert leaked_secrets(stack, path.read_text(errors="replace")) == [], path


ENV = {
    "PRODUCT_CDC_DEADLINE_MINUTES": "0.05",  # 3 seconds after the run's logical date
    "PRODUCT_CDC_RETRY_DELAY_SECONDS": "1",
    "PRODUCT_CDC_HTTP_TIMEOUT_SECONDS": "20",
    "PRODUCT_CDC_ALERT_RECIPIENTS": "oncall@cord.local,bi-team@cord.local",
}


def test_a_run_failing_two_dbt_tests_sends_one_email_naming_both(stack, corner):
    messages = [m for batch in corner.generator(products=10, events=400).batches() for m in batch]
    messages += orphans(messages, "ProductAvailability", 3) + orphans(messages, "ProductOEMNumber", 2)
    corner.produce(messages)
    with real_airflow(stack, {**corner.environment(), **ENV}) as airflow:
        run_id, failure = run_and_read_mails(stack, airflow, timeout=600)
        failed = failed_tasks(airflow, run_id)

    assert failure["Subject"] == f"[Airflow] {DAG_ID}: run {run_id} failed ({len(failed)} tasks failed)"
    listed = items(failure)
    assert set(listed) == failed
    assert {f"dbt.{AVAILABILITY_TEST}_test", f"dbt.{OEM_TEST}_test"} <= failed
    assert (
        listed[f"dbt.{AVAILABILITY_TEST}_test"][0]
        == f"{AVAILABILITY_TEST}: Got 3 results, configured to fail if != 0"
    )
    assert listed[f"dbt.{OEM_TEST}_test"][0] == f"{OEM_TEST}: Got 2 results, configured to fail if != 0"
    for task_id, (_, url) in listed.items():
        assert url == f"{airflow.url}/dags/{DAG_ID}/runs/{run_id}/tasks/{task_id}"
    assert "did not run (upstream failed)" in failure.get_body(preferencelist=("html",)).get_content()
    assert_no_secret_in_logs(stack)


def test_a_failed_connector_check_sends_one_email_with_its_error(stack):
    # A real worker answers at once, so the run can end before a 3 s deadline: this one has passed before
    # any task can start, and the deadline's email comes whatever the machine's speed.
    with real_airflow(stack, {**ENV, "PRODUCT_CDC_DEADLINE_MINUTES": "0.001"}) as airflow:
        # The demo connector, paused through the worker's REST API, as an operator would.
        assert stack.connect.request("PUT", f"{rest_path(CONNECTOR)}/pause").status_code == 202
        try:
            stack.connect.wait_for_status(CONNECTOR, in_state("PAUSED"), 90)
            run_id, failure = run_and_read_mails(stack, airflow, timeout=180)
        finally:
            stack.connect.request("PUT", f"{rest_path(CONNECTOR)}/resume")
            stack.connect.wait_for_status(CONNECTOR, running, 90)

    assert failure["Subject"] == f"[Airflow] {DAG_ID}: run {run_id} failed (1 task failed)"
    ((task_id, (line, url)),) = items(failure).items()
    assert task_id == "check_connector"
    assert "is PAUSED on" in line
    assert "(task 0 PAUSED)" in line
    assert url.endswith(f"/dags/{DAG_ID}/runs/{run_id}/tasks/check_connector")
    assert_no_secret_in_logs(stack)
