"""The stack's Kafka as the pipeline meets it: the cord_kafka connection reaches it over SASL_SSL only
with the drain's credential, a restart keeps every topic's records, and the credential and the broker's
key stay out of argv, logs and world-readable files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from devstack.synth.debezium_encoding import Message

pytestmark = pytest.mark.integration


def drain_consumer(corner, **overrides) -> Consumer:
    """A consumer from the cord_kafka connection's extra, as the drain builds it."""
    extra = json.loads(os.environ["AIRFLOW_CONN_CORD_KAFKA"])["extra"]
    return Consumer({**extra, "auto.offset.reset": "earliest", "enable.partition.eof": True, **overrides})


def read_all(consumer: Consumer, topic: str) -> list[bytes]:
    consumer.assign([TopicPartition(topic, 0, 0)])
    values = []
    while (message := consumer.poll(30)) is not None and not message.error():
        values.append(message.value())
    assert message is not None, "no end of partition within 30 s"
    return values


def test_a_restart_keeps_the_records_and_the_connection_reads_them_over_sasl_ssl(corner):
    extra = json.loads(os.environ["AIRFLOW_CONN_CORD_KAFKA"])["extra"]
    assert extra["security.protocol"] == "SASL_SSL"
    assert extra["bootstrap.servers"] != corner.stack.kafka.bootstrap  # not the PLAINTEXT listener
    values = [f"record {i}".encode() for i in range(5)]
    corner.produce([Message(corner.topic, 0, b"k", v, [], 0) for v in values], partitions=1)

    corner.stack.kafka.stop()
    corner.stack.kafka.start()

    consumer = drain_consumer(corner)
    try:
        assert read_all(consumer, corner.topic) == values
    finally:
        consumer.close()


def test_the_sasl_listener_refuses_a_wrong_password():
    extra = json.loads(os.environ["AIRFLOW_CONN_CORD_KAFKA"])["extra"]
    wrong = {**extra, "sasl.password": "not-the-password", "log_level": 0}
    wrong.pop("group.id")
    with pytest.raises(KafkaException):
        AdminClient(wrong).list_topics(timeout=5)


def test_the_credential_and_the_key_are_in_no_argv_log_or_readable_file(stack):
    kafka = stack.kafka
    assert (stack.dir / "secrets.json").stat().st_mode & 0o077 == 0
    assert (kafka.tls / "broker.pem").stat().st_mode & 0o077 == 0
    password = stack.secrets.kafka_password.encode()
    assert password not in Path(f"/proc/{kafka.process.pid()}/cmdline").read_bytes()
    assert password not in kafka.log.read_bytes()
    assert not [p for p in kafka.root.rglob("*") if p.is_file() and password in p.read_bytes()]
