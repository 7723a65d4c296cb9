"""Runs started by new changes, under a real scheduler, triggerer, DAG processor and API server, on the
real Kafka (SASL_SSL, as the pipeline connects).

With scheduled runs on (the scheduler creates asset-triggered runs on the same switch as cron runs)
and a short interval: the cron's run of the latest 6-hour boundary, which the scheduler starts at once,
is failed through the API so that it holds no run slot; quiet topics start no run over a few intervals;
changes produced in a transaction (commit markers in the logs) start an asset-triggered run, triggered
by the watcher's Asset event; the runs it starts drain them, and the drained topics (markers past the
last record included) then stay quiet over a few intervals. The triggerer's log holds no secret.
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
    corner.produce(messages, transaction_size=len(messages))
    # How soon is the benchmark's figure (devstack/bench/bi_latency.py); here, only that it comes, with
    # room for a triggerer and a scheduler slowed by a busy machine.
    wait_until(
        lambda: airflow.runs_of(DAG_ID, "asset_triggered", started),
        "an asset-triggered run",
        timeout=API,
    )
    waited = time.monotonic() - produced_at
    print(f"asset-triggered run created {waited:.1f} s after the changes were produced")
    first = airflow.runs_of(DAG_ID, "asset_triggered", started)[-1]
    events = consumed_events(airflow, first)
    assert events
    for event in events:
        assert event["name"].endswith(".new_changes")
        assert event["extra"]["from_trigger"] is True
        payload = event["extra"]["payload"]
        assert payload["records"] > 0
        assert all(name.startswith(f"{corner.topic_prefix}.") for name in payload["pending"])
    assert airflow.wait_for_run(DAG_ID, first["dag_run_id"], timeout=900) == "success"

    # A transaction's commit markers reach its partitions one by one, so the watcher may have seen part
    # of them and announced the rest an interval later, before the first run committed: a second run,
    # which drains what is left. Whatever the broker's timing, every run it started ends green, and
    # together they land every change.
    time.sleep(QUIET_INTERVALS * INTERVAL_SECONDS)
    wait_until(lambda: not queued_events(airflow), "no asset event waiting for a run", timeout=API)
    runs = airflow.runs_of(DAG_ID, "asset_triggered", started)
    states = [airflow.wait_for_run(DAG_ID, r["dag_run_id"], timeout=900) for r in runs]
    assert states == ["success"] * len(runs)
    assert corner.bronze_rows() == generator.total.envelopes

    # Drained and committed, transaction markers included: quiet. No event is newer than the last
    # commit of the offsets, however long a busy machine kept the triggerer or the scheduler.
    last_commit = max(commit_offsets_end(airflow, r) for r in runs)
    time.sleep(QUIET_INTERVALS * INTERVAL_SECONDS)
    announced = asset_events(airflow, events[0]["asset_id"], started)
    assert [e["timestamp"] for e in announced if datetime.fromisoformat(e["timestamp"]) > last_commit] == []
    assert [r["dag_run_id"] for r in airflow.runs_of(DAG_ID, "asset_triggered", started)] == [
        r["dag_run_id"] for r in runs
    ]
    assert leaked_secrets(stack, stack.airflow["triggerer"].log.read_text(errors="replace")) == []


def consumed_events(airflow, run: dict) -> list[dict]:
    """The Asset events that started ``run``."""
    url = f"{airflow.url}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
    response = requests.get(url, timeout=API)
    response.raise_for_status()
    return response.json()["asset_events"]


def queued_events(airflow) -> list[dict]:
    """Asset events the scheduler has not turned into a run yet."""
    response = requests.get(f"{airflow.url}/api/v2/dags/{DAG_ID}/assets/queuedEvents", timeout=API)
    response.raise_for_status()
    return response.json()["queued_events"]


def asset_events(airflow, asset_id: int, since: datetime) -> list[dict]:
    """Every event of the Asset since ``since``, as the triggerer recorded it."""
    response = requests.get(
        f"{airflow.url}/api/v2/assets/events",
        params={"asset_id": asset_id, "timestamp_gte": since.isoformat(), "limit": 100},
        timeout=API,
    )
    response.raise_for_status()
    return response.json()["asset_events"]


def commit_offsets_end(airflow, run: dict) -> datetime:
    """When the run's ``commit_offsets`` task ended: its offsets were committed before."""
    url = f"{airflow.url}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances/commit_offsets"
    response = requests.get(url, timeout=API)
    response.raise_for_status()
    return datetime.fromisoformat(response.json()["end_date"])
