"""Topics written the way Kafka Connect writes them with exactly-once source support: in transactions,
whose commit markers take offsets and are never delivered to a consumer, through the whole pipeline to
bronze. Aborted and open transactions are tests/integration/test_drain_on_kafka.py's."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from devstack.synth.debezium_encoding import Message
from include.cdc.airflow import tasks
from tests.integration.warehouse import RUN

pytestmark = pytest.mark.integration

DEPTH = 1000  # JSON nested this deep makes msgspec and Python's json raise RecursionError


def ends_and_committed(corner) -> list[tuple[int, int]]:
    """(end of the log, committed offset) of every partition of the test's topics."""
    consumer = Consumer({"bootstrap.servers": corner.stack.kafka.bootstrap, "group.id": corner.group})
    try:
        partitions = [TopicPartition(topic, p) for topic in corner.topics for p in range(3)]
        committed = consumer.committed(partitions, timeout=10)
        return [
            (consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1], c.offset)
            for tp, c in zip(partitions, committed, strict=True)
        ]
    finally:
        consumer.close()


def test_transactional_topics_with_a_poison_record_go_through_in_one_attempt(corner, monkeypatch):
    timeout = 30
    monkeypatch.setenv("PRODUCT_CDC_KAFKA_TIMEOUT_SECONDS", str(timeout))
    generator = corner.generator(products=30, events=3000, restart_every=1000)
    messages = list(generator.messages())
    poison = Message(
        corner.topic,
        1,
        b'{"ID":990001}',
        ('{"a":' * DEPTH + "1" + "}" * DEPTH).encode(),
        [],
        messages[0].timestamp_ms,
    )
    messages.insert(len(messages) // 2, poison)
    corner.produce(messages, transaction_size=300)

    started = time.monotonic()
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    loaded = tasks.load_bronze.function(params=RUN)
    elapsed = time.monotonic() - started
    print(f"drain + commit + load of {len(messages)} transactional records: {elapsed:.1f} s")

    assert drained["events"] == len(messages)
    ends = ends_and_committed(corner)
    assert all(committed == end for end, committed in ends), ends  # past the last commit markers
    assert sum(end for end, _ in ends) > len(messages)  # the markers took offsets
    for name, counts in generator.counts.items():
        bronze = f"bronze.{generator.tables[name].bronze_table}"
        assert corner.scalar(f"select count(*) from {bronze}") == counts.envelopes, bronze
    assert loaded["total"]["tombstones"] == generator.total.tombstones
    quarantined = corner.query("select kafka_topic, kafka_partition, reason from cdc_meta.quarantine")
    assert [(q["kafka_topic"], q["kafka_partition"]) for q in quarantined] == [(corner.topic, 1)]
    assert "1000 levels deep" in quarantined[0]["reason"]

    again = tasks.drain_kafka.function(params=RUN)
    assert again["events"] == 0
