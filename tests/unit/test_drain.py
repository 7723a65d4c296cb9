"""The drain where a broker cannot show the case on demand: objects of a crashed attempt with some of its
uploads missing, expired group offsets, the per-run cap shared across topics, and the consumer's
settings and refusals. Transactions, compaction, retention, added partitions, recreated topics and
broker restarts run on Apache Kafka (tests/integration/test_drain_on_kafka.py)."""

from __future__ import annotations

import logging

import boto3
import pytest
from confluent_kafka import KafkaError, KafkaException
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from include.cdc.archive.landing import ObjectKey, decode_record, read_lines
from include.cdc.archive.storage import ObjectStore
from include.cdc.errors import ConfigurationError
from include.cdc.ingest.drain import KafkaDrain
from include.cdc.ingest.errors import KafkaRefused
from include.cdc.ingest.kafka import DrainConsumer, Refusals, commit_offsets, until_settled
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


def test_reads_from_committed_offsets_to_the_end_of_the_log(store):
    consumer = FakeConsumer(TOPIC, {0: values(12)})
    consumer.commit_offset(0, 6)
    result = drain(consumer, store)
    assert [(o.first_offset, o.last_offset) for o in result.objects] == [(6, 9), (10, 11)]


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
    from include.cdc.airflow import clients

    seen = {}
    monkeypatch.setattr(clients, "DrainConsumer", lambda config, conn_id: seen.update(config, conn=conn_id))
    hook = clients.DrainConsumerHook(topics=[], kafka_config_id="cord_kafka")
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
    assert seen["conn"] == "cord_kafka"  # the refusals name it
    with pytest.raises(ValueError, match=r"group\.id"):
        hook._get_client({})


PASSWORD = "s3cret-pw"


@pytest.mark.parametrize(
    ("code", "check"),
    [
        (KafkaError.SASL_AUTHENTICATION_FAILED, "sasl.password"),
        (KafkaError._AUTHENTICATION, "sasl.password"),
        (KafkaError._SSL, "ssl.ca.location"),
    ],
)
def test_a_refused_password_or_certificate_names_the_connection_and_what_to_check(code, check):
    consumer = DrainConsumer(
        {"bootstrap.servers": "127.0.0.1:9", "group.id": "g", "sasl.password": PASSWORD, "log_level": 0},
        "cord_kafka",
    )
    try:
        consumer.refusals(KafkaError(code, f"refused, and librdkafka quoted {PASSWORD}"))
        with pytest.raises(KafkaRefused) as refused:
            consumer.raise_refusal()
    finally:
        consumer.close()
    message = str(refused.value)
    assert "connection 'cord_kafka'" in message
    assert check in message
    assert PASSWORD not in message
    assert isinstance(refused.value, ConfigurationError)  # drain_kafka fails at once, not retried


def test_brokers_that_are_down_are_no_refusal(caplog):
    refusals = Refusals("cord_kafka", [PASSWORD])
    with caplog.at_level(logging.WARNING):
        refusals(KafkaError(KafkaError._TRANSPORT, f"connection refused {PASSWORD}"))
    assert refusals.refusal is None  # librdkafka retries: a stalled drain says so after its timeout
    assert "cord_kafka" in caplog.text
    assert PASSWORD not in caplog.text


SECRET = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=12, max_size=40)
# librdkafka's texts are UTF-8 C strings: any character but NUL, and no lone surrogate (which UTF-8
# cannot encode: KafkaError's constructor refuses one before the callback under test runs).
LIBRDKAFKA_TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=60)


@given(
    secret=SECRET,
    before=LIBRDKAFKA_TEXT,
    after=LIBRDKAFKA_TEXT,
    code=st.sampled_from(
        [
            KafkaError.SASL_AUTHENTICATION_FAILED,
            KafkaError._AUTHENTICATION,
            KafkaError._SSL,
            KafkaError._TRANSPORT,
        ]
    ),
)
def test_whatever_librdkafka_reports_never_raises_and_never_carries_a_secret(secret, before, after, code):
    """The error callback reads librdkafka's text, which may quote the connection's settings: it keeps a
    refusal or logs, never raises, and no secret reaches the refusal's message or the log."""
    logged = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logger = logging.getLogger("include.cdc.ingest.kafka")
    logger.addHandler(handler)
    try:
        refusals = Refusals("cord_kafka", [secret])
        refusals(KafkaError(code, before + secret + after))
    finally:
        logger.removeHandler(handler)
    told = [str(refusals.refusal)] if refusals.refusal is not None else logged
    assert told, "a refusal is kept or the error is logged"
    assert all(secret not in text for text in told)


class RefusingConsumer(FakeConsumer):
    """A broker that refuses the password: metadata requests time out, the reason reaches only the
    error callback, served by the next poll."""

    def list_topics(self, topic, timeout):
        raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "Failed to get metadata: timed out"))

    def poll(self, timeout):
        self.refusals(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED, "SASL authentication error"))


def test_a_drain_refused_by_the_broker_fails_at_once_naming_the_connection(store):
    from airflow.sdk.exceptions import AirflowFailException

    from include.cdc.airflow.tasks import fails_at_once

    consumer = RefusingConsumer(TOPIC, {0: values(3)})
    with pytest.raises(AirflowFailException, match=r"connection 'cord_kafka'.*credentials.*not retried"):
        fails_at_once(drain)(consumer, store)
    assert store.objects == {}


def test_a_busy_group_coordinator_is_waited_for_and_other_errors_are_not():
    answers = iter([KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.NOT_COORDINATOR, None])

    def commit():
        code = next(answers)
        if code is not None:
            raise KafkaException(KafkaError(code))
        return "committed"

    assert until_settled(commit, timeout=10) == "committed"  # as after a broker restart

    def refused():
        raise KafkaException(KafkaError(KafkaError.GROUP_AUTHORIZATION_FAILED))

    with pytest.raises(KafkaException):
        until_settled(refused, timeout=10)
