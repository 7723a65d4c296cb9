"""Feed generated Debezium change events into the local Kafka, as the connector would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from confluent_kafka import IsolationLevel, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from devstack.synth.debezium_encoding import Message
from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic in admin.list_topics(timeout=10).topics:
        return
    future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
    try:
        future.result(timeout=15)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def produce(bootstrap: str, messages: Iterable[Message], transaction_size: int = 0) -> int:
    """Produce the messages; with ``transaction_size``, in committed transactions of that many, as a Kafka
    Connect worker with exactly-once source support writes them (commit markers take offsets). Returns
    once a read-committed consumer sees every message."""
    config = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 20,
        "batch.num.messages": 5000,
        "message.max.bytes": 16_000_000,  # the connector may send messages over 1 MB
        "queue.buffering.max.messages": 200_000,
    }
    if transaction_size:
        config["transactional.id"] = f"devstack-feed-{uuid.uuid4().hex[:8]}"
    producer = Producer(config)
    if transaction_size:
        producer.init_transactions(30)
        producer.begin_transaction()
    errors: list[str] = []

    def delivered(error, _message) -> None:
        if error is not None:
            errors.append(str(error))

    count = 0
    written: set[TopicPartition] = set()
    for message in messages:
        while True:
            try:
                producer.produce(
                    message.topic,
                    value=message.value,
                    key=message.key,
                    partition=message.partition,
                    headers=message.headers,
                    timestamp=message.timestamp_ms,
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.05)
        count += 1
        written.add(TopicPartition(message.topic, message.partition))
        if transaction_size and count % transaction_size == 0:
            producer.commit_transaction(60)
            producer.begin_transaction()
        elif count % 10_000 == 0:
            producer.poll(0)
    if transaction_size:
        producer.commit_transaction(60)
    remaining = producer.flush(60)
    if remaining or errors:
        raise RuntimeError(f"{remaining} messages undelivered, {len(errors)} delivery errors: {errors[:3]}")
    if transaction_size and written:
        wait_for_commit_markers(bootstrap, written)
    return count


def wait_for_commit_markers(bootstrap: str, partitions: set[TopicPartition], timeout: float = 60) -> None:
    """The coordinator answers a commit once it has logged the decision, then writes the commit markers,
    a request per partition leader: wait until each partition's last stable offset has reached its end,
    so that what was committed is readable."""
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def ends(level: IsolationLevel) -> dict[tuple[str, int], int]:
        futures = admin.list_offsets(dict.fromkeys(partitions, OffsetSpec.latest()), isolation_level=level)
        return {(tp.topic, tp.partition): f.result(15).offset for tp, f in futures.items()}

    deadline = time.monotonic() + timeout
    stable, logged = ends(IsolationLevel.READ_COMMITTED), ends(IsolationLevel.READ_UNCOMMITTED)
    while stable != logged:
        if time.monotonic() > deadline:
            behind = {key: (stable[key], logged[key]) for key in logged if stable[key] != logged[key]}
            raise RuntimeError(f"commit markers not written after {timeout} s (stable, end): {behind}")
        time.sleep(0.05)
        stable, logged = ends(IsolationLevel.READ_COMMITTED), ends(IsolationLevel.READ_UNCOMMITTED)


def feed(bootstrap: str, options: GeneratorOptions) -> ChangeEventGenerator:
    """Generate and produce every captured table's change events; the generator keeps the final state."""
    generator = ChangeEventGenerator(options)
    for topic in generator.topics.values():
        ensure_topic(bootstrap, topic, options.partitions)
    produce(bootstrap, generator.messages())
    return generator
