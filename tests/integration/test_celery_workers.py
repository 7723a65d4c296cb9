"""A whole run under a real scheduler with the CeleryExecutor: Redis and two Celery workers, each with
its own queue and working directory, as ``CORD_AIRFLOW_EXECUTOR=celery make airflow`` starts them.

The dbt build (Cosmos's watcher producer) goes to the dbt queue (``PRODUCT_CDC_DBT_QUEUE``), every other
task to the default queue: the per-model tasks read what the build pushed to XCom from the other worker,
through the API server, as on hosts of their own.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from devstack.stack.celery_workers import DBT_QUEUE, DEFAULT_QUEUE, CeleryWorkers
from devstack.verify import mart_mismatches, staging_mismatches
from tests.integration.conftest import leaked_secrets, real_airflow

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

DAG_ID = "product_cdc_sync"
PRODUCER = "dbt.dbt_producer_watcher"
MODELS = ("stg_product", "dim_product", "dim_product_search")
# A Celery worker's log line for each task it runs.
EXECUTED = re.compile(r"Executing workload in Celery: .*? ti=TaskInstanceDTO\(id=[^,]*, task_id='([^']+)'")


@pytest.fixture
def workers(stack):
    return CeleryWorkers(stack)


@pytest.fixture
def airflow(stack, corner, workers):
    with real_airflow(stack, corner.environment(), workers) as services:
        yield services


def task_instances(airflow, run_id: str) -> list[dict]:
    response = requests.get(
        f"{airflow.url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
        params={"limit": 200},
        timeout=120,
    )
    response.raise_for_status()
    return response.json()["task_instances"]


def test_a_run_on_two_celery_workers_builds_the_marts(stack, corner, workers, airflow):
    generator = corner.generator(products=20, events=1500, restart_every=600)
    corner.produce_until(generator.batches(), 1500)
    airflow.wait_for_dag(DAG_ID)
    run_id = f"celery-{uuid.uuid4().hex[:6]}"
    airflow.trigger(DAG_ID, run_id)
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=1500) == "success"

    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []

    default, dbt = workers.workers
    ran = {ti["task_id"]: ti for ti in task_instances(airflow, run_id) if ti["state"] == "success"}
    print("\ntask -> queue, host (operator)")
    for task_id, ti in sorted(ran.items()):
        print(f"  {task_id}: {ti['queue']}, {ti['hostname']} ({ti['operator']})")
    assert (ran[PRODUCER]["queue"], ran[PRODUCER]["hostname"]) == (DBT_QUEUE, dbt.hostname)
    # An EmptyOperator (the producer's "done" marker) is set to success by the scheduler, on no worker.
    others = {
        task_id: ti
        for task_id, ti in ran.items()
        if task_id != PRODUCER and ti["operator"] != "EmptyOperator"
    }
    assert {f"dbt.{model}.{step}" for model in MODELS for step in ("run", "test")} <= others.keys()
    assert {(ti["queue"], ti["hostname"]) for ti in others.values()} == {(DEFAULT_QUEUE, default.hostname)}

    # What each worker's own log says it executed.
    logs = {w.name: workers.processes[w.name].log.read_text(errors="replace") for w in workers.workers}
    executed = {name: set(EXECUTED.findall(text)) for name, text in logs.items()}
    assert executed[dbt.name] == {PRODUCER}
    assert executed[default.name] == set(others)
    for name, text in logs.items():
        assert leaked_secrets(stack, text) == [], name
