"""The drain's rules on Apache Kafka, each case made by the broker itself: transactions committed,
aborted and still open; compaction leaving offset gaps (also under the archive's newest record);
records deleted before they were drained; partitions added between runs; topics deleted and recreated
shorter and longer than the committed offset, with the recovery of docs/operations.md; a password or a CA
the broker refuses.

Records are written to the test's Product topic with confluent_kafka's own producer on the stack's
PLAINTEXT listener, then drained and committed by the Airflow task bodies through the ``cord_kafka``
connection (SASL_SSL), as a deployment runs them.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import time
import uuid
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from include.cdc.airflow import tasks
from include.cdc.archive.landing import decode_record, read_lines
from include.cdc.errors import ConfigurationError
from tests.integration.conftest import leaked_secrets
from tests.integration.warehouse import RUN, ingest

pytestmark = pytest.mark.integration

BROKER_SECONDS = 120  # how long the broker may take to do what it does on its own (compaction, deletion)


def admin(corner) -> AdminClient:
    """An admin client: keep it while its futures are pending (dropping it cancels them)."""
    return AdminClient({"bootstrap.servers": corner.stack.kafka.bootstrap})


def create_topic(corner, partitions: int = 1, **config: str) -> str:
    topic = corner.topic
    client = admin(corner)
    client.create_topics([NewTopic(topic, partitions, 1, config=config)])[topic].result(timeout=30)
    return topic


def producer(corner, transactional: bool = False) -> Producer:
    config = {"bootstrap.servers": corner.stack.kafka.bootstrap, "linger.ms": 0}
    if transactional:
        config["transactional.id"] = f"test-{uuid.uuid4().hex[:8]}"
    made = Producer(config)
    if transactional:
        made.init_transactions(30)
    return made


def send(made: Producer, topic: str, values: list[str], partition: int = 0, key: str | None = None) -> None:
    for value in values:
        made.produce(topic, value.encode(), (key or value).encode(), partition=partition)
    assert made.flush(30) == 0


def drain(**params) -> dict:
    return tasks.drain_kafka.function(params={**RUN, **params})


def drain_and_commit(**params) -> dict:
    drained = drain(**params)
    tasks.commit_offsets.function(drained)
    return drained


def next_offsets(drained: dict, topic: str) -> dict[int, int]:
    (result,) = [t for t in drained["topics"] if t["topic"] == topic]
    return {int(p): o for p, o in result["next_offsets"].items()}


def landed(corner) -> list[tuple[int, int, str]]:
    """(partition, offset, value) of every record in the test's archive, in key order."""
    client = corner.stack.s3.client()
    return [
        (record.partition, record.offset, record.value)
        for key in corner.raw_keys()
        for record in map(
            decode_record, read_lines(client.get_object(Bucket="cord-raw", Key=key)["Body"].read())
        )
    ]


def values_at(corner, partition: int = 0) -> dict[int, str]:
    """offset -> value of what the partition holds now, read committed, from its first offset."""
    consumer = Consumer(
        {
            "bootstrap.servers": corner.stack.kafka.bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    held: dict[int, str] = {}
    try:
        consumer.assign([TopicPartition(corner.topic, partition, 0)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is None:
                continue
            if message.error() is not None:
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                return held
            held[message.offset()] = message.value().decode()
        raise AssertionError(f"{corner.topic}[{partition}] did not reach its end within 60 s")
    finally:
        consumer.close()


def high_watermark(corner, partition: int = 0) -> int:
    consumer = Consumer({"bootstrap.servers": corner.stack.kafka.bootstrap, "group.id": corner.group})
    try:
        return consumer.get_watermark_offsets(TopicPartition(corner.topic, partition), 10, cached=False)[1]
    finally:
        consumer.close()


def wait_for(condition, what: str):
    """Poll until the broker has done ``what`` on its own; its value then."""
    deadline = time.monotonic() + BROKER_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"the broker did not {what} within {BROKER_SECONDS} s")


def test_only_committed_transactions_land_and_an_open_one_is_the_next_runs(corner):
    topic = create_topic(corner)
    writer, other = producer(corner, transactional=True), producer(corner, transactional=True)
    writer.begin_transaction()
    send(writer, topic, ["c0", "c1", "c2"])
    writer.commit_transaction(30)  # offsets 0-2, marker 3
    writer.begin_transaction()
    send(writer, topic, ["a0", "a1", "a2", "a3"])
    writer.abort_transaction(30)  # offsets 4-7, marker 8
    other.begin_transaction()
    send(other, topic, ["o0", "o1"])  # offsets 9-10, open while the drain runs
    writer.begin_transaction()
    send(writer, topic, ["c3", "c4"])
    writer.commit_transaction(30)  # offsets 11-12, marker 13: behind the open transaction

    first = drain_and_commit()
    assert [value for _, _, value in landed(corner)] == ["c0", "c1", "c2"]
    assert next_offsets(first, topic) == {0: 9}  # the last stable offset: the open transaction's first

    other.commit_transaction(30)  # marker 14
    second = drain_and_commit()
    assert [value for _, _, value in landed(corner)] == ["c0", "c1", "c2", "o0", "o1", "c3", "c4"]
    assert next_offsets(second, topic) == {0: high_watermark(corner)} == {0: 15}  # past every marker
    assert drain()["events"] == 0


def test_compaction_gaps_are_read_over_even_under_the_archives_newest_record(corner):
    """The drain checks the archive's newest record against the log; compaction may have removed it,
    which is no sign of another log. Segments are 1 MB at least (Apache Kafka's minimum segment.bytes),
    so records of a third of that roll them; the cleaner runs on its own (every log.cleaner.backoff.ms,
    a broker setting no topic can lower: 15 s by default), so the test polls until it has cleaned."""
    topic = create_topic(
        corner,
        **{
            "cleanup.policy": "compact",
            "segment.bytes": str(1 << 20),
            "min.cleanable.dirty.ratio": "0.01",
            "min.compaction.lag.ms": "0",
        },
    )
    writer = producer(corner)
    keys = [f"k{i}" for i in range(5)]
    padding = ";" + "x" * 350_000

    def round_of(number: int) -> None:
        for k in keys:
            send(writer, topic, [f"{k}={number}{padding}"], key=k)

    def tags(held: dict[int, str]) -> dict[int, str]:
        return {offset: value.split(";")[0] for offset, value in held.items()}

    round_of(0)
    first = drain_and_commit()
    archived_last = next_offsets(first, topic)[0] - 1
    for number in range(1, 4):
        round_of(number)
    for i in range(3):  # over a segment's worth: the last round is out of the active segment
        send(writer, topic, [f"tail{i}{padding}"], key=f"tail{i}")
    latest = {f"{k}=3" for k in keys} | {f"tail{i}" for i in range(3)}

    def compacted() -> dict[int, str] | None:
        held = tags(values_at(corner))
        return held if sorted(held.values()) == sorted(latest) else None

    held = wait_for(compacted, "compact the topic down to every key's latest value")
    assert archived_last not in held  # the archive's newest record is gone from the log

    second = drain_and_commit()
    after = tags({o: v for _, o, v in landed(corner) if o > archived_last})
    assert after == held  # what the log holds, with the gaps compaction left
    assert next_offsets(second, topic) == {0: high_watermark(corner)}


def test_records_deleted_before_they_were_drained_stop_the_drain_until_accepted(corner):
    topic = create_topic(corner)
    writer = producer(corner)
    send(writer, topic, [f"v{i}" for i in range(4)])
    drain_and_commit()
    send(writer, topic, [f"v{i}" for i in range(4, 10)])
    client = admin(corner)
    (deleted,) = client.delete_records([TopicPartition(topic, 0, 7)]).values()
    assert deleted.result(timeout=30).low_watermark == 7  # the log now starts at offset 7

    with pytest.raises(AirflowFailException, match=r"offsets 4\.\.6 were deleted .*not retried"):
        drain()
    assert [o for _, o, _ in landed(corner)] == [0, 1, 2, 3]

    accepted = drain_and_commit(accept_lost_offsets=True)
    assert [o for _, o, _ in landed(corner)] == [0, 1, 2, 3, 7, 8, 9]
    (result,) = [t for t in accepted["topics"] if t["topic"] == topic]
    assert result["lost_offsets"] == [[0, 4, 6]]
    assert next_offsets(accepted, topic) == {0: 10}


def test_partitions_added_between_runs_are_drained_from_their_first_offset(corner):
    topic = create_topic(corner, partitions=2)
    writer = producer(corner)
    for partition in (0, 1):
        send(writer, topic, [f"p{partition}-{i}" for i in range(3)], partition=partition)
    drain_and_commit()
    client = admin(corner)
    client.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=30)
    writer = producer(corner)  # a fresh one knows the new partitions
    for partition in range(4):
        send(writer, topic, [f"p{partition}-{i}" for i in range(3, 5)], partition=partition)

    second = drain_and_commit()
    assert next_offsets(second, topic) == {0: 5, 1: 5, 2: 2, 3: 2}
    assert sorted((p, v) for p, _, v in landed(corner) if p >= 2) == [
        (2, "p2-3"),
        (2, "p2-4"),
        (3, "p3-3"),
        (3, "p3-4"),
    ]
    assert len(landed(corner)) == 14


def recreate_topics(corner, partitions: int = 3) -> None:
    """Delete the test's topics and create them again, empty, once the broker has let them go."""
    client = admin(corner)
    for future in client.delete_topics(corner.topics).values():
        future.result(timeout=30)
    pending = set(corner.topics)

    def created() -> bool:
        for topic, future in client.create_topics([NewTopic(t, partitions, 1) for t in pending]).items():
            try:
                future.result(timeout=30)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # else: still being deleted
                    raise
            else:
                pending.discard(topic)
        return not pending

    wait_for(created, "delete the topics and create them again")


@pytest.mark.parametrize("new_events", [400, 2500], ids=["shorter new log", "longer new log"])
def test_a_recreated_topic_stops_the_drain_and_the_documented_recovery_loads_the_new_log(corner, new_events):
    old = corner.generator(products=10, events=1200, seed=1)
    corner.produce(list(old.messages()))
    ingest()

    recreate_topics(corner)
    new = corner.generator(products=12, events=new_events, seed=2)
    corner.produce(list(new.messages()))

    with pytest.raises(AirflowFailException, match=r"recreated or the broker's log was reset.*not retried"):
        drain()

    # docs/operations.md's recovery: move the old log's objects out of raw/, replay the archive, rerun.
    client = corner.stack.s3.client()
    for key in corner.archive_keys():
        aside = key.replace("/raw/", "/raw-before-reset/", 1)
        client.copy_object(Bucket="cord-raw", Key=aside, CopySource={"Bucket": "cord-raw", "Key": key})
        client.delete_object(Bucket="cord-raw", Key=key)
    tasks.load_bronze.function(params={**RUN, "full_refresh": True})
    ingest()
    for name, counts in new.counts.items():
        bronze = f"bronze.{new.tables[name].bronze_table}"
        assert corner.scalar(f"select count(*) from {bronze}") == counts.envelopes, bronze


def test_the_drain_reads_over_sasl_ssl_with_only_the_connections_settings(corner):
    """The cord_kafka connection's extra is all the drain knows of the broker: its SASL_SSL listener,
    the SCRAM user and the CA; the PLAINTEXT listener the test writes through is not the drain's."""
    extra = json.loads(os.environ["AIRFLOW_CONN_CORD_KAFKA"])["extra"]
    assert extra["security.protocol"] == "SASL_SSL"
    assert extra["bootstrap.servers"] != corner.stack.kafka.bootstrap
    topic = create_topic(corner)
    send(producer(corner), topic, ["v0", "v1", "v2"])
    drained = drain_and_commit()
    assert [value for _, _, value in landed(corner)] == ["v0", "v1", "v2"]
    assert next_offsets(drained, topic) == {0: 3}


def other_ca(path: Path) -> Path:
    """A CA certificate that signed nothing the broker holds."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(
    ("setting", "check"),
    [("sasl.password", r"sasl\.password"), ("ssl.ca.location", r"ssl\.ca\.location")],
    ids=["wrong password", "unknown CA"],
)
def test_a_refused_connection_fails_the_drain_at_once_naming_it(
    corner, monkeypatch, tmp_path, caplog, capfd, setting, check
):
    """librdkafka only reports the refusal to the error callback; the drain names the connection and
    what to check in it, once (no retry meets another answer), and the password appears nowhere."""
    connection = json.loads(os.environ["AIRFLOW_CONN_CORD_KAFKA"])
    wrong = "not-the-password" if setting == "sasl.password" else str(other_ca(tmp_path / "ca.pem"))
    connection["extra"][setting] = wrong
    monkeypatch.setenv("AIRFLOW_CONN_CORD_KAFKA", json.dumps(connection))
    monkeypatch.setenv("PRODUCT_CDC_KAFKA_TIMEOUT_SECONDS", "5")
    create_topic(corner)

    with caplog.at_level(logging.DEBUG), pytest.raises(AirflowFailException) as failed:
        drain()
    message = str(failed.value)
    assert re.search(rf"connection 'cord_kafka'.*{check}.*not retried", message), message
    assert isinstance(failed.value.__cause__, ConfigurationError)
    said = message + caplog.text + "".join(capfd.readouterr())
    assert leaked_secrets(corner.stack, said) == []
    assert "not-the-password" not in said  # a wrong password is a secret too
    assert corner.raw_keys() == []
