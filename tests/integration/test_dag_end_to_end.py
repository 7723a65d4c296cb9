"""The whole DAG, run with dag.test() on the local stack: marts equal the generator's final state."""

from __future__ import annotations

import pytest

from devstack.demo import ensure_airflow_db, load_dag
from devstack.verify import mart_mismatches, staging_mismatches

pytestmark = pytest.mark.integration


@pytest.fixture
def dag(stack, corner, monkeypatch):
    """Parsed for each test, after its settings are in place, as a worker parses it for each task."""
    monkeypatch.setenv("PRODUCT_CDC_RETRY_DELAY_SECONDS", "1")
    ensure_airflow_db(stack)
    return load_dag()


def test_dag_run_builds_marts_equal_to_the_source_then_follows_new_events(dag, corner):
    generator = corner.generator(products=40, events=6000, restart_every=2000, pk_change_share=0.005)
    messages = list(generator.messages())
    from devstack.dag_runner import run_dag

    # Events up to some point: the source as it was then is what the first run must show.
    cut = 4000
    early = corner.generator(products=40, events=6000, restart_every=2000, pk_change_share=0.005)
    early_messages = []
    for message in early.messages():
        early_messages.append(message)
        if len(early_messages) == cut:
            break
    assert early_messages == messages[:cut]
    corner.produce(messages[:cut])

    first = run_dag(dag)
    assert first.succeeded, first.failed_tasks()
    assert set(first.task_states) == set(dag.task_ids)
    assert staging_mismatches(corner.query, early) == []
    assert mart_mismatches(corner.query, early) == []

    corner.produce(messages[cut:])
    second = run_dag(dag)

    assert second.succeeded, second.failed_tasks()
    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []
    assert corner.scalar("select count(*) from marts.dim_product") == 40
    assert corner.scalar("select count(*) from bronze.product_cdc") == generator.counts.envelopes


def test_full_refresh_run_gives_the_same_marts(dag, corner):
    generator = corner.generator(products=25, events=2500)
    corner.produce(list(generator.messages()))
    from devstack.dag_runner import run_dag

    assert run_dag(dag).succeeded
    before = corner.query("select * from marts.dim_product order by product_id")

    refreshed = run_dag(dag, {"full_refresh": True})

    assert refreshed.succeeded, refreshed.failed_tasks()
    assert refreshed.task_states["drain_kafka"] == "skipped"
    assert refreshed.task_states["commit_offsets"] == "skipped"
    after = corner.query("select * from marts.dim_product order by product_id")
    strip = [{k: v for k, v in row.items() if k != "ingested_at"} for row in before]
    assert [{k: v for k, v in row.items() if k != "ingested_at"} for row in after] == strip
