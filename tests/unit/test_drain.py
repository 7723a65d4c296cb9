"""The bounded drain: windows, batching, recovery after a crash, and the per-run cap (moto S3)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from include.cdc.drain import KafkaDrain, commit_offsets
from include.cdc.landing import ObjectKey, decode_record, read_lines
from include.cdc.storage import ObjectStore
from tests.unit.fake_kafka import FakeConsumer

TOPIC = "cord.ConcordDb.dbo.Product"
PREFIX = "product/raw/"


@pytest.fixture
def store():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="cord-raw")
        yield ObjectStore(client, "cord-raw", "cord_minio")


def values(count: int, start: int = 0) -> list[bytes | None]:
    return [None if i % 10 == 9 else f'{{"n":{i}}}'.encode() for i in range(start, start + count)]


def drain(consumer, store, batch_size=4, max_events=0):
    """A drain of the one test topic."""
    kafka_drain = KafkaDrain(consumer, store, "cord_kafka", batch_size=batch_size, timeout=2)
    return kafka_drain.drain({TOPIC: PREFIX}, max_events=max_events)[TOPIC]


def landed(store) -> list[ObjectKey]:
    return [ObjectKey.parse(k) for k in store.list_keys(PREFIX)]


def test_drains_every_partition_in_batches_with_tiling_keys(store):
    consumer = FakeConsumer(TOPIC, {0: values(10), 1: values(3)})
    result = drain(consumer, store)
    assert result.events == 13
    assert result.next_offsets == {0: 10, 1: 3}
    keys = landed(store)
    assert [(k.partition, k.first_offset, k.last_offset) for k in keys] == [
        (0, 0, 3),
        (0, 4, 7),
        (0, 8, 9),
        (1, 0, 2),
    ]
    records = [decode_record(line) for k in keys for line in read_lines(store.get(str(k)))]
    assert [(r.partition, r.offset) for r in records][:4] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert sum(r.is_tombstone for r in records) == 1  # tombstones land too; bronze counts them
    assert consumer.committed_offsets == {}  # the drain never commits


def test_nothing_new_ends_without_polling(store):
    consumer = FakeConsumer(TOPIC, {0: values(5)})
    consumer.committed_offsets = {0: 5}
    result = drain(consumer, store)
    assert result.events == 0
    assert result.objects == []
    assert consumer.consume_calls == 0


def test_reads_from_committed_offsets_up_to_the_end_seen_at_start(store):
    consumer = FakeConsumer(TOPIC, {0: values(12)})
    consumer.committed_offsets = {0: 6}
    result = drain(consumer, store)
    assert [(o.first_offset, o.last_offset) for o in result.objects] == [(6, 9), (10, 11)]


def test_records_past_a_too_low_high_watermark_are_taken_from_the_same_poll(store):
    # Tansu can report the last batch's base offset + 1 as the high watermark.
    consumer = FakeConsumer(TOPIC, {0: values(8)}, high_watermark_lag=5)
    result = drain(consumer, store, batch_size=100)
    assert result.events == 8
    assert result.next_offsets == {0: 8}


def test_a_crashed_attempt_is_recovered_without_reading_or_writing_twice(store):
    consumer = FakeConsumer(TOPIC, {0: values(10)})
    first = drain(consumer, store)  # lands 3 objects, "crashes" before commit
    consumer.append(0, values(3, start=10))
    consumer.consume_calls = 0
    second = drain(consumer, store)
    assert second.recovered_objects == 3
    assert [o.key for o in second.objects[:3]] == [o.key for o in first.objects]
    assert second.events == 13  # the recovered objects' events are handed over again
    assert [(k.first_offset, k.last_offset) for k in landed(store)] == [(0, 3), (4, 7), (8, 9), (10, 12)]
    assert second.next_offsets == {0: 13}


def test_cap_per_run_leaves_the_rest_for_the_next_run(store):
    consumer = FakeConsumer(TOPIC, {0: values(10), 1: values(10)})
    first = drain(consumer, store, max_events=7)
    assert first.events == 7
    commit_offsets(consumer, "cord_kafka", TOPIC, first.next_offsets, timeout=1)
    second = drain(consumer, store)
    assert second.events == 13
    assert sum(o.events for o in first.objects + second.objects) == 20


def test_offsets_deleted_before_they_were_drained_stop_the_drain(store):
    consumer = FakeConsumer(TOPIC, {0: values(10)})
    consumer.committed_offsets = {0: 2}
    consumer.get_watermark_offsets = lambda tp, timeout, cached: (5, 10)
    with pytest.raises(Exception, match="deleted by retention"):
        drain(consumer, store)


def test_missing_topic_is_reported_not_failed(store):
    consumer = FakeConsumer("other.topic", {0: values(1)})
    result = drain(consumer, store)
    assert result.topic_missing
    assert result.events == 0


def test_the_consumer_never_auto_commits_and_its_prefetch_can_be_tuned(monkeypatch):
    from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook

    from include.cdc.tasks import DrainConsumerHook

    seen = {}
    monkeypatch.setattr(KafkaConsumerHook, "_get_client", lambda self, config: seen.update(config))
    hook = DrainConsumerHook(topics=[], kafka_config_id="cord_kafka")
    hook._get_client({"group.id": "g", "enable.auto.commit": True, "queued.max.messages.kbytes": 4096})
    assert seen["enable.auto.commit"] is False
    assert seen["enable.auto.offset.store"] is False
    assert seen["queued.max.messages.kbytes"] == 4096  # the connection's extra wins for tuning
    assert seen["fetch.queue.backoff.ms"] == 5
    with pytest.raises(ValueError, match=r"group\.id"):
        hook._get_client({})
