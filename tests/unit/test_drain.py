"""The drain on logs shaped like production's: batches and keys, the end of a partition by position
(transaction markers, aborted and open transactions, compaction), crashes and recovery, retention,
recreated topics, and the per-run cap shared across topics.

Committed transactions also run on the local broker (tests/integration/test_transactional_topics.py);
Tansu's handling of aborted and open transactions is partial, so those cases are shown here with a fake
consumer that behaves like librdkafka (tests/unit/fake_kafka.py)."""

from __future__ import annotations

import logging

import boto3
import pytest
from confluent_kafka import TopicPartition
from moto import mock_aws

from include.cdc.archive.landing import ObjectKey, decode_record, read_lines
from include.cdc.archive.storage import ObjectStore
from include.cdc.ingest.drain import KafkaDrain
from include.cdc.ingest.errors import LogReplaced, LostOffsets
from include.cdc.ingest.kafka import commit_offsets
from tests.unit.fake_kafka import FakeConsumer
from tests.unit.memory_store import MemoryStore

TOPIC = "cord.ConcordDb.dbo.Product"
PREFIX = "product/raw/"


@pytest.fixture
def store():
    return MemoryStore()


def values(count: int, start: int = 0) -> list[bytes | None]:
    return [None if i % 10 == 9 else f'{{"n":{i}}}'.encode() for i in range(start, start + count)]


def drain(consumer, store, batch_size=4, max_events=0, accept_lost_offsets=False, prefixes=None):
    """A drain of the test topics; the result of the first one."""
    kafka_drain = KafkaDrain(consumer, store, "cord_kafka", batch_size=batch_size, timeout=2)
    results = kafka_drain.drain(prefixes or {TOPIC: PREFIX}, max_events, accept_lost_offsets)
    return results if prefixes else results[TOPIC]


def commit(consumer, result) -> None:
    commit_offsets(consumer, "cord_kafka", result.topic, result.next_offsets, timeout=1)


def landed(store) -> list[tuple[int, int, int]]:
    keys = [ObjectKey.parse(k) for k in store.list_keys(PREFIX)]
    return [(k.partition, k.first_offset, k.last_offset) for k in keys]


def landed_offsets(store, partition: int = 0) -> list[int]:
    return [
        decode_record(line).offset
        for key in store.list_keys(f"{PREFIX}topic={TOPIC}/partition={partition}/")
        for line in read_lines(store.get(key))
    ]


def test_drains_every_partition_in_batches_with_tiling_keys():
    with mock_aws():  # the real S3 client once, against moto
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="cord-raw")
        store = ObjectStore(client, "cord-raw", "cord_minio")
        consumer = FakeConsumer(TOPIC, {0: values(10), 1: values(3)})
        result = drain(consumer, store)
        assert result.events == 13
        assert result.next_offsets == {0: 10, 1: 3}
        assert landed(store) == [(0, 0, 3), (0, 4, 7), (0, 8, 9), (1, 0, 2)]
        records = [decode_record(line) for k in store.list_keys(PREFIX) for line in read_lines(store.get(k))]
        assert [(r.partition, r.offset) for r in records][:4] == [(0, 0), (0, 1), (0, 2), (0, 3)]
        assert sum(r.is_tombstone for r in records) == 1  # tombstones land too; bronze counts them
        assert consumer.committed_offsets == {}  # the drain never commits


def test_nothing_new_lands_nothing(store):
    consumer = FakeConsumer(TOPIC, {0: values(5)})
    consumer.commit_offset(0, 5)
    result = drain(consumer, store)
    assert result.events == 0
    assert result.objects == []
    assert result.next_offsets == {0: 5}


def test_an_empty_log_ends_without_polling(store):
    consumer = FakeConsumer(TOPIC, {0: []})
    result = drain(consumer, store)
    assert result.events == 0
    assert consumer.consume_calls == 0


def test_records_after_a_capped_run_are_read_when_the_reported_end_equals_the_committed_offset(store):
    # A capped run stopped inside the last batch, right after its first record: Tansu then reports
    # that batch's first offset + 1 as the end, which is exactly the committed offset.
    consumer = FakeConsumer(TOPIC, {0: values(4)}, tansu_end=True)
    consumer.append(0, values(6, start=4))  # one batch: offsets 4..9
    consumer.commit_offset(0, 5)
    assert consumer.get_watermark_offsets(TopicPartition(TOPIC, 0), 1, False)[1] == 5
    result = drain(consumer, store, batch_size=100)
    assert result.events == 5
    assert result.next_offsets == {0: 10}


def test_reads_from_committed_offsets_to_the_end_of_the_log(store):
    consumer = FakeConsumer(TOPIC, {0: values(12)})
    consumer.commit_offset(0, 6)
    result = drain(consumer, store)
    assert [(o.first_offset, o.last_offset) for o in result.objects] == [(6, 9), (10, 11)]


def test_records_past_a_too_low_high_watermark_are_read_to_the_end(store):
    # Tansu reports the last batch's first offset + 1 as the end before reading.
    consumer = FakeConsumer(TOPIC, {0: values(8)}, tansu_end=True)
    first = drain(consumer, store, batch_size=100)
    assert first.events == 8
    assert first.next_offsets == {0: 8}
    commit(consumer, first)
    consumer.append(0, values(4, start=8))  # the committed offset is now above the reported end
    second = drain(consumer, store, batch_size=100)
    assert second.events == 4
    assert landed_offsets(store) == list(range(12))


def test_committed_transactions_end_past_their_markers(store):
    consumer = FakeConsumer(TOPIC, {0: []})
    for start in (0, 5, 10):  # offsets 0-4, 6-10, 12-16; markers at 5, 11, 17
        consumer.log(0).committed_transaction(values(5, start))
    result = drain(consumer, store, batch_size=100)
    assert landed_offsets(store) == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16]
    assert result.next_offsets == {0: 18}  # past the last marker: the next run has nothing to read
    commit(consumer, result)
    again = drain(consumer, store)
    assert (again.events, again.objects, again.next_offsets) == (0, [], {0: 18})


def test_aborted_transactions_are_never_landed(store):
    consumer = FakeConsumer(TOPIC, {0: []})
    consumer.log(0).committed_transaction(values(3))
    consumer.log(0).aborted_transaction(4)
    consumer.log(0).committed_transaction(values(2, 3))
    result = drain(consumer, store)
    assert landed_offsets(store) == [0, 1, 2, 9, 10]  # 3: marker, 4-7: aborted, 8: its marker
    assert result.next_offsets == {0: 12}


def test_an_open_transaction_is_the_next_runs(store):
    consumer = FakeConsumer(TOPIC, {0: []})
    consumer.log(0).committed_transaction(values(3))
    consumer.log(0).open_transaction(values(4, 3))
    first = drain(consumer, store)
    assert landed_offsets(store) == [0, 1, 2]
    assert first.next_offsets == {0: 4}  # the last stable offset: where the open transaction begins
    commit(consumer, first)
    consumer.log(0).open_from = None  # it commits
    consumer.log(0).marker()
    second = drain(consumer, store)
    assert second.events == 4
    assert landed_offsets(store) == [0, 1, 2, 4, 5, 6, 7]


def test_compaction_gaps_are_read_over(store):
    consumer = FakeConsumer(TOPIC, {0: values(10)})
    consumer.log(0).compact([2, 3, 9])
    result = drain(consumer, store, batch_size=3)
    assert landed_offsets(store) == [0, 1, 4, 5, 6, 7, 8]
    assert landed(store) == [(0, 0, 4), (0, 5, 7), (0, 8, 8)]
    assert result.next_offsets == {0: 10}


def test_a_crash_before_the_first_commit_lands_only_what_the_archive_lacks(store):
    consumer = FakeConsumer(TOPIC, {0: values(10)})
    drain(consumer, store)  # lands 3 objects, "crashes" before its commit
    store.delete(str(ObjectKey(PREFIX, TOPIC, 0, 0, 3)))  # an earlier upload still in flight at the kill
    consumer.append(0, values(3, start=10))
    second = drain(consumer, store)
    assert landed(store) == [(0, 0, 3), (0, 4, 7), (0, 8, 9), (0, 10, 12)]
    assert landed_offsets(store) == list(range(13))
    assert second.recovered_objects == 2
    assert second.next_offsets == {0: 13}


def test_objects_of_a_crashed_attempt_are_handed_over_and_never_written_twice(store):
    consumer = FakeConsumer(TOPIC, {0: values(4)})
    commit(consumer, drain(consumer, store))
    consumer.append(0, values(10, start=4))
    drain(consumer, store)  # lands [4-7], [8-11], [12-13], "crashes" before its commit
    puts = store.puts
    again = drain(consumer, store, batch_size=3)
    assert store.puts == puts
    assert again.recovered_objects == 3
    assert [o.key for o in again.objects] == [
        str(ObjectKey(PREFIX, TOPIC, 0, a, b)) for a, b in [(4, 7), (8, 11), (12, 13)]
    ]
    assert again.events == 10
    assert again.next_offsets == {0: 14}


def test_an_upload_that_never_landed_is_written_around_the_later_ones(store):
    """Uploads overlap: after a kill, [4-7] can be missing while [8-11] landed. The rerun writes exactly
    the hole, whatever its batch size, so objects never overlap and a load finds both."""
    consumer = FakeConsumer(TOPIC, {0: values(4)})
    commit(consumer, drain(consumer, store))
    consumer.append(0, values(12, start=4))
    drain(consumer, store)  # [4-7], [8-11], [12-15]
    store.delete(str(ObjectKey(PREFIX, TOPIC, 0, 4, 7)))
    again = drain(consumer, store, batch_size=100)
    assert landed(store) == [(0, 0, 3), (0, 4, 7), (0, 8, 11), (0, 12, 15)]
    assert landed_offsets(store) == list(range(16))
    assert again.recovered_objects == 2
    assert again.next_offsets == {0: 16}


def test_offsets_deleted_before_they_were_drained_stop_the_drain_until_accepted(store, caplog):
    consumer = FakeConsumer(TOPIC, {0: values(10)})
    consumer.commit_offset(0, 2)
    consumer.log(0).delete_before(5)
    with pytest.raises(LostOffsets, match=r"offsets 2\.\.4 were deleted .*'accept_lost_offsets'"):
        drain(consumer, store)
    assert store.objects == {}
    with caplog.at_level(logging.WARNING):
        result = drain(consumer, store, accept_lost_offsets=True)
    assert "ACCEPTED AS LOST" in caplog.text
    assert result.lost == [(0, 2, 4)]
    assert landed_offsets(store) == [5, 6, 7, 8, 9]


def test_a_committed_offset_beyond_the_end_of_the_log_stops_the_drain(store):
    consumer = FakeConsumer(TOPIC, {0: values(5)})  # the topic was recreated: 5 records
    consumer.commit_offset(0, 40)
    with pytest.raises(LogReplaced, match=r"recreated or the broker's log was reset"):
        drain(consumer, store)
    assert store.objects == {}


@pytest.mark.parametrize("new_log_size", [6, 30], ids=["shorter", "longer"])
def test_archive_of_another_log_is_never_taken_as_covering_this_one(store, new_log_size):
    old = FakeConsumer(TOPIC, {0: values(12)})
    commit(old, drain(old, store))
    # The broker's log was reset: a new log and no committed offsets (they were lost with it).
    new = FakeConsumer(TOPIC, {0: [f'{{"new":{i}}}'.encode() for i in range(new_log_size)]})
    with pytest.raises(LogReplaced, match=r"recreated or the broker's log was reset"):
        drain(new, store)
    assert landed(store) == [(0, 0, 3), (0, 4, 7), (0, 8, 11)]


def test_expired_group_offsets_reread_the_log_and_land_only_what_the_archive_lacks(store, caplog):
    consumer = FakeConsumer(TOPIC, {0: values(12)})
    commit(consumer, drain(consumer, store))
    consumer.committed_offsets.clear()  # offsets.retention.minutes passed without a run
    consumer.append(0, values(2, start=12))
    with caplog.at_level(logging.WARNING):
        result = drain(consumer, store)
    assert "no committed offset" in caplog.text
    assert result.recovered_objects == 3
    assert landed(store) == [(0, 0, 3), (0, 4, 7), (0, 8, 11), (0, 12, 13)]


def test_the_cap_is_shared_across_topics_and_leaves_the_rest_for_the_next_run(store):
    topics = {
        "t.product": {0: values(40), 1: values(40)},
        "t.availability": {0: values(5)},
        "t.oem": {0: values(30)},
    }
    consumer = FakeConsumer(topics)
    prefixes = {t: f"{t}/raw/" for t in topics}
    first = drain(consumer, store, max_events=30, prefixes=prefixes)
    assert {t: r.events for t, r in first.items()} == {"t.product": 13, "t.availability": 5, "t.oem": 12}
    per_partition = {p: sum(o.events for o in first["t.product"].objects if o.partition == p) for p in (0, 1)}
    assert per_partition == {0: 7, 1: 6}
    for result in first.values():
        commit(consumer, result)
    rest = drain(consumer, store, prefixes=prefixes)
    assert sum(r.events for r in rest.values()) == 115 - 30


def test_an_unused_share_goes_to_the_others(store):
    consumer = FakeConsumer(TOPIC, {0: values(10), 1: values(20)})
    consumer.log(0).compact(range(2, 10))  # 10 offsets, 2 records: its share is more than it holds
    result = drain(consumer, store, max_events=15)
    events = {p: sum(o.events for o in result.objects if o.partition == p) for p in (0, 1)}
    assert events == {0: 2, 1: 13}
    assert result.next_offsets == {0: 10, 1: 13}


def test_a_missing_topic_is_logged_and_skipped(store, caplog):
    consumer = FakeConsumer("other.topic", {0: values(1)})
    with caplog.at_level(logging.WARNING):
        result = drain(consumer, store)
    assert "does not exist" in caplog.text
    assert result.events == 0


def test_the_consumer_reads_committed_records_to_the_end_and_never_jumps(monkeypatch):
    from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook

    from include.cdc.airflow.clients import DrainConsumerHook

    seen = {}
    monkeypatch.setattr(KafkaConsumerHook, "_get_client", lambda self, config: seen.update(config))
    hook = DrainConsumerHook(topics=[], kafka_config_id="cord_kafka")
    hook._get_client(
        {
            "group.id": "g",
            "enable.auto.commit": True,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_uncommitted",
            "queued.max.messages.kbytes": 4096,
        }
    )
    assert seen["enable.auto.commit"] is False
    assert seen["enable.auto.offset.store"] is False
    assert seen["auto.offset.reset"] == "error"
    assert seen["isolation.level"] == "read_committed"
    assert seen["enable.partition.eof"] is True
    assert seen["queued.max.messages.kbytes"] == 4096  # the connection's extra wins for tuning
    assert seen["fetch.queue.backoff.ms"] == 5
    with pytest.raises(ValueError, match=r"group\.id"):
        hook._get_client({})
