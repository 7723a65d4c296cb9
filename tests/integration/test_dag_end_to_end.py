"""The whole DAG, run with dag.test() on the local stack: marts equal the generator's final state."""

from __future__ import annotations

import pytest

from devstack.demo import ensure_airflow_db, load_dag
from devstack.generator import expected_staging_rows

pytestmark = pytest.mark.integration

COMPARED_MART_COLUMNS = (
    "net_uid",
    "vendor_code",
    "name",
    "retail_price",
    "weight_kg",
    "is_for_sale",
    "updated_at",
)


@pytest.fixture
def dag(stack, corner, monkeypatch):
    """Parsed for each test, after its settings are in place, as a worker parses it for each task."""
    monkeypatch.setenv("PRODUCT_CDC_RETRY_DELAY_SECONDS", "1")
    ensure_airflow_db(stack)
    return load_dag()


def staging_mismatches(corner, generator) -> list[str]:
    expected = expected_staging_rows(generator)
    actual = {(row["product_id"],): row for row in corner.query("select * from staging.stg_product")}
    problems = []
    if actual.keys() != expected.keys():
        problems.append(
            f"keys differ: missing {sorted(expected.keys() - actual.keys())[:5]}, "
            f"extra {sorted(actual.keys() - expected.keys())[:5]}"
        )
    for key in expected.keys() & actual.keys():
        for column, value in expected[key].items():
            got = actual[key][column]
            got = str(got) if column == "net_uid" and got is not None else got
            if got != value:
                problems.append(f"{key} {column}: expected {value!r}, got {got!r}")
    return problems


def mart_mismatches(corner, generator) -> list[str]:
    expected = expected_staging_rows(generator)
    active = {key: expected[key] for key in generator.state.active_keys()}
    mart = {(row["product_id"],): row for row in corner.query("select * from marts.dim_product")}
    problems = (
        [] if mart.keys() == active.keys() else [f"mart keys differ from the {len(active)} active products"]
    )
    for key in mart.keys() & active.keys():
        for column in COMPARED_MART_COLUMNS:
            got = mart[key][column]
            got = str(got) if column == "net_uid" else got
            if got != active[key][column]:
                problems.append(f"{key} {column}: expected {active[key][column]!r}, got {got!r}")
    return problems


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
    assert staging_mismatches(corner, early) == []
    assert mart_mismatches(corner, early) == []

    corner.produce(messages[cut:])
    second = run_dag(dag)

    assert second.succeeded, second.failed_tasks()
    assert staging_mismatches(corner, generator) == []
    assert mart_mismatches(corner, generator) == []
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
