"""Consecutive runs under a real scheduler, triggerer, DAG processor and API server (LocalExecutor).

dag.test() runs one task at a time in one process. Here every task is a process of its own, started by
the executor, and the dbt stage's tasks meet as they do in production: the watcher's model tasks read
what the build task pushed to XCom through the API server. Four runs in a row (the first, nothing new,
a little new, a full refresh) all succeed; the warehouse then equals the source, and each model's run
and tests have a log of their own that names the model.
"""

from __future__ import annotations

import uuid

import pytest

from devstack.verify import mart_mismatches, staging_mismatches
from tests.integration.conftest import real_airflow

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

DAG_ID = "product_cdc_sync"


@pytest.fixture
def airflow(stack, corner):
    with real_airflow(stack, {**corner.environment(), "PRODUCT_CDC_RETRY_DELAY_SECONDS": "1"}) as services:
        yield services


def task_log(stack, run_id: str, task_id: str) -> str:
    folder = stack.dir / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(path.read_text(errors="replace") for path in sorted(folder.glob("attempt=*.log")))


def test_first_nothing_new_a_little_new_and_full_refresh_runs_succeed(stack, corner, airflow):
    generator = corner.generator(products=20, events=1500, restart_every=600)
    batches = generator.batches()
    corner.produce_until(batches, 1000)
    airflow.wait_for_dag(DAG_ID)

    runs = []
    for label, conf in (
        ("first", {}),
        ("nothing-new", {}),
        ("a-little-new", {}),
        ("full-refresh", {"full_refresh": True}),
    ):
        if label == "a-little-new":
            corner.produce([m for batch in batches for m in batch])
        run_id = f"{label}-{uuid.uuid4().hex[:6]}"
        airflow.trigger(DAG_ID, run_id, conf)
        assert airflow.wait_for_run(DAG_ID, run_id, timeout=900) == "success", label
        runs.append(run_id)

    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []
    assert corner.bronze_rows() == generator.total.envelopes
    for model in ("stg_product", "dim_product", "dim_product_search"):
        assert model in task_log(stack, runs[-1], f"dbt.{model}.run"), model
        assert model in task_log(stack, runs[-1], f"dbt.{model}.test"), model
