"""The operator procedures of docs/operations.md ("When something fails") and the DAG's Docs tab, run step
by step as written, with whole DAG runs: each ends green, and no run fails that the procedure does not
announce.

Where a step names a command this machine does not have (`aws s3 mv`, `kafka-consumer-groups.sh`), the
test does what that command does, through the same APIs (S3 copy and delete; a commit of the group's
offsets to the start of the log), and says so beside the step.

Retention deleting records before they were drained is reproduced with Kafka's DeleteRecords, which
is what retention does to the log's start.
"""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from devstack.dag_runner import run_dag
from devstack.demo import ensure_airflow_db, load_dag
from devstack.stack.process import wait_until
from devstack.synth.debezium_encoding import Message
from devstack.synth.feed import ensure_topic
from devstack.verify import mart_mismatches
from include.cdc.contract import load_contract

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture
def dag(stack, corner, monkeypatch):
    monkeypatch.setenv("PRODUCT_CDC_RETRY_DELAY_SECONDS", "1")
    ensure_airflow_db(stack)
    return load_dag()


def move_out_of_raw(corner, topic: str) -> None:
    """Step 1, `aws s3 mv --recursive s3://cord-raw/<table>/raw/topic=<topic>/
    s3://cord-raw/<table>/raw-before-reset/topic=<topic>/`: a copy and a delete per object."""
    client = corner.stack.s3.client()
    for key in [k for k in corner.archive_keys() if f"/topic={topic}/" in k]:
        aside = key.replace("/raw/", "/raw-before-reset/", 1)
        client.copy_object(Bucket="cord-raw", Key=aside, CopySource={"Bucket": "cord-raw", "Key": key})
        client.delete_object(Bucket="cord-raw", Key=key)


def reset_offsets_to_earliest(corner, topic: str) -> None:
    """Step 2, `kafka-consumer-groups.sh --group <group> --topic <topic> --reset-offsets --to-earliest
    --execute`: the group's offset of each partition set to the start of its log."""
    consumer = Consumer({"bootstrap.servers": corner.stack.kafka.bootstrap, "group.id": corner.group})
    try:
        earliest = [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0])
            for p in range(PARTITIONS)
        ]
        consumer.commit(offsets=earliest, asynchronous=False)
    finally:
        consumer.close()


def recreate_topic(corner, topic: str) -> None:
    """What happened to the operator: the topic was deleted and created again (empty, same name)."""
    admin = AdminClient({"bootstrap.servers": corner.stack.kafka.bootstrap})
    admin.delete_topics([topic])[topic].result(timeout=15)
    # The deletion is done once the broker's metadata no longer lists the topic.
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, f"{topic} deleted", 30)
    ensure_topic(corner.stack.kafka.bootstrap, topic, PARTITIONS)


def delete_to_the_end(corner, topic: str) -> None:
    """What retention did: every record of the topic deleted before it was drained (DeleteRecords up to
    each partition's end, as `kafka-delete-records.sh` or `retention.ms` would)."""
    consumer = Consumer({"bootstrap.servers": corner.stack.kafka.bootstrap, "group.id": "procedure-reader"})
    try:
        ends = [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1])
            for p in range(PARTITIONS)
        ]
    finally:
        consumer.close()
    admin = AdminClient({"bootstrap.servers": corner.stack.kafka.bootstrap})
    for deleted in admin.delete_records(ends).values():
        deleted.result(timeout=15)


def live_product_ids(corner) -> set[int]:
    return {
        r["product_id"] for r in corner.query("select product_id from staging.stg_product where not deleted")
    }


@pytest.mark.parametrize("recreated", ["Product", "every topic"])
def test_recreated_topic_procedure(dag, corner, recreated):
    generator = corner.generator(products=20, events=1500, restart_every=600)
    corner.produce(list(generator.messages()))
    assert run_dag(dag).succeeded

    if recreated == "every topic":  # the broker's logs were reset: every topic starts anew, offsets gone
        corner.stack.reset_kafka()
        corner.produce([m for table in generator.tables for m in generator.resnapshot(table)])
        topics = corner.topics
    else:  # Debezium re-snapshots the table whose topic was recreated; the others go on
        recreate_topic(corner, corner.topic)
        corner.produce(generator.resnapshot("Product"))
        topics = [corner.topic]

    # What the operator sees: the drain stops at once (no retry) with the message the Docs tab names.
    stopped = run_dag(dag)
    assert stopped.task_states["drain_kafka"] == "failed"
    assert stopped.task_tries["drain_kafka"] == 1
    assert stopped.task_states["commit_offsets"] == "upstream_failed"

    for topic in topics:
        move_out_of_raw(corner, topic)  # step 1
        reset_offsets_to_earliest(corner, topic)  # step 2, "if the group still has offsets for the topic"
    refreshed = run_dag(dag, {"full_refresh": True})  # step 3: a run with full_refresh
    assert refreshed.succeeded, refreshed.failed_tasks()

    assert mart_mismatches(corner.query, generator) == []
    source_live = {key[0] for key in generator.state["Product"].live_keys()}
    assert live_product_ids(corner) == source_live


def test_quarantine_limit_procedure(dag, corner, monkeypatch):
    """Docs tab: "N records were quarantined in this run, more than the limit": read them, then, when
    the producer was at fault, a normal run goes on (the records stay quarantined; nothing to replay)."""
    monkeypatch.setenv("PRODUCT_CDC_MAX_QUARANTINED_PER_RUN", "2")
    dag = load_dag()
    generator = corner.generator(products=10, events=400)
    bad = [Message(corner.topic, 0, b'{"ID": %d}' % i, b"not a change event", [], 1) for i in range(3)]
    corner.produce([*generator.messages(), *bad])

    failed = run_dag(dag)
    assert failed.task_states["load_bronze"] == "failed"
    assert failed.task_tries["load_bronze"] == 1, "no retry: it would pass without a word"
    assert {s for t, s in failed.task_states.items() if t.startswith("dbt.")} == {"upstream_failed"}

    reasons = corner.query("select reason, count(*) as records from cdc_meta.quarantine group by 1")
    assert [r["records"] for r in reasons] == [3]
    rerun = run_dag(dag)  # the producer is fixed: trigger a normal run (or clear load_bronze)
    assert rerun.succeeded, rerun.failed_tasks()
    assert mart_mismatches(corner.query, generator) == []
    assert sum(corner.scalar(f"select count(*) from bronze.{t.bronze_table}") for t in load_contract()) > 0


def test_lost_offsets_procedure(dag, corner):
    """Docs tab: "offsets A..B were deleted from Kafka (retention) before they were drained": re-snapshot
    the table, then its topic's steps of the recreated-topic procedure. (A run with `accept_lost_offsets`
    alone would keep the rows deleted in the lost range as live: a snapshot emits only live rows.)"""
    generator = corner.generator(products=20, events=1500)
    batches = generator.batches()
    corner.produce_until(batches, 700)
    assert run_dag(dag).succeeded

    corner.produce([message for batch in batches for message in batch])
    delete_to_the_end(corner, corner.topic)  # Product's changes since the last run: gone undrained

    stopped = run_dag(dag)  # what the operator sees: the drain stops at once, nothing landed
    assert stopped.task_states["drain_kafka"] == "failed"
    assert stopped.task_tries["drain_kafka"] == 1
    assert stopped.task_states["commit_offsets"] == "upstream_failed"

    corner.produce(generator.resnapshot("Product"))  # re-snapshot the table
    move_out_of_raw(corner, corner.topic)  # step 1
    reset_offsets_to_earliest(corner, corner.topic)  # step 2
    refreshed = run_dag(dag, {"full_refresh": True})  # step 3
    assert refreshed.succeeded, refreshed.failed_tasks()

    assert mart_mismatches(corner.query, generator) == []
    source_live = {key[0] for key in generator.state["Product"].live_keys()}
    assert live_product_ids(corner) == source_live
