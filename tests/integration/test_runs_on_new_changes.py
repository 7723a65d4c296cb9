"""Runs started by new changes, under a real scheduler, triggerer, DAG processor and API server, on the
real Kafka (SASL_SSL, as the pipeline connects).

With scheduled runs on (the scheduler creates asset-triggered runs on the same switch as cron runs)
and a short interval: the cron's run of the latest 6-hour boundary, which the scheduler starts at once,
is failed through the API so that it holds no run slot; quiet topics start no run over a few intervals;
changes produced in transactions (commit markers in the logs) start one asset-triggered run, triggered
by the watcher's Asset event; that run drains them, and the drained topics (markers past the last
record included) then stay quiet over a few intervals. The triggerer's log holds no secret.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import requests

from devstack.stack.process import wait_until
from tests.integration.conftest import leaked_secrets, real_airflow

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

DAG_ID = "product_cdc_sync"
INTERVAL_SECONDS = 5  # the watcher checks the topics this often: three checks per quiet spell
QUIET_INTERVALS = 3
API = 120  # seconds a busy API server may take to answer


@pytest.fixture
def started() -> datetime:
    """Runs queued before this are other sessions' (the stack's metadata database outlives a session)."""
    return datetime.now(UTC)


@pytest.fixture
def airflow(stack, corner, started):
    env = {
        **corner.environment(),
        "PRODUCT_CDC_RUN_ON_NEW_CHANGES": "true",
        "PRODUCT_CDC_MIN_RUN_INTERVAL_MINUTES": str(INTERVAL_SECONDS / 60),
        "PRODUCT_CDC_RETRY_DELAY_SECONDS": "1",
    }
    with real_airflow(stack, env, scheduled_runs=True) as services:
        yield services


def test_new_changes_start_a_run_and_quiet_topics_none(stack, corner, airflow, started):
    corner.produce([])  # empty topics: partitions, no committed offsets
    airflow.wait_for_dag(DAG_ID)
    # What the UI shows of the schedule, from the API it reads.
    details = requests.get(f"{airflow.url}/api/v2/dags/{DAG_ID}/details", timeout=API)
    details.raise_for_status()
    assert details.json()["timetable_summary"] == "Asset or 0 */6 * * *"
    assert details.json()["timetable_description"] == "Triggered by assets or Every 6 hours"
    assert ".new_changes" in json.dumps(details.json()["asset_expression"])

    airflow.fail_the_due_cron_run(DAG_ID, started)

    # Empty topics, no committed offsets: quiet.
    time.sleep(QUIET_INTERVALS * INTERVAL_SECONDS)
    assert airflow.runs_of(DAG_ID, "asset_triggered", started) == []

    generator = corner.generator(products=20, events=600)
    messages = [m for batch in generator.batches() for m in batch]
    produced_at = time.monotonic()
    # One transaction: every partition's end moves at its commit (a marker each), so the watcher sees
    # all of them at once rather than a first part that would start a second run an interval later.
    corner.produce(messages, transaction_size=len(messages))
    # How soon is the benchmark's figure (devstack/bench/bi_latency.py); here, only that it comes, with
    # room for a triggerer and a scheduler slowed by a busy machine.
    wait_until(
        lambda: airflow.runs_of(DAG_ID, "asset_triggered", started),
        "an asset-triggered run",
        timeout=API,
    )
    started_after = time.monotonic() - produced_at
    (run,) = airflow.runs_of(DAG_ID, "asset_triggered", started)
    print(f"asset-triggered run created {started_after:.1f} s after the changes were produced")

    runs_url = f"{airflow.url}/api/v2/dags/{DAG_ID}/dagRuns"
    events = requests.get(f"{runs_url}/{run['dag_run_id']}/upstreamAssetEvents", timeout=API)
    events.raise_for_status()
    (event,) = events.json()["asset_events"]
    assert event["name"].endswith(".new_changes")
    assert event["extra"]["from_trigger"] is True
    assert event["extra"]["payload"]["records"] >= len(messages)  # commit markers count as offsets

    assert airflow.wait_for_run(DAG_ID, run["dag_run_id"], timeout=900) == "success"
    assert corner.bronze_rows() == generator.total.envelopes

    # Drained and committed, transaction markers included: quiet.
    time.sleep(QUIET_INTERVALS * INTERVAL_SECONDS)
    triggered = airflow.runs_of(DAG_ID, "asset_triggered", started)
    assert [r["dag_run_id"] for r in triggered] == [run["dag_run_id"]]
    assert leaked_secrets(stack, stack.airflow["triggerer"].log.read_text(errors="replace")) == []
