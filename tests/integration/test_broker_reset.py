"""A broker restart between the drain and the offset commit: Apache Kafka keeps its logs and the group's
offsets on disk, so the commit after the restart lands on the same log, and the next run neither loses
nor doubles a record. (A log that really was replaced is tests/integration/test_drain_on_kafka.py's.)"""

from __future__ import annotations

import pytest

from include.cdc.airflow import tasks
from include.cdc.archive.landing import decode_record, read_lines
from tests.integration.warehouse import RUN, ingest

pytestmark = pytest.mark.integration


def archived(corner) -> list[tuple[str, int, int]]:
    """(topic, partition, offset) of every record in the test's archive."""
    client = corner.stack.s3.client()
    bodies = [client.get_object(Bucket="cord-raw", Key=key)["Body"].read() for key in corner.archive_keys()]
    records = [decode_record(line) for body in bodies for line in read_lines(body)]
    return [(r.topic, r.partition, r.offset) for r in records]


def test_a_broker_restart_between_drain_and_commit_loses_nothing_and_doubles_nothing(corner):
    generator = corner.generator(products=10, events=3000, seed=1)
    batches = generator.batches()
    first = corner.produce_until(batches, 1500)
    drained = tasks.drain_kafka.function(params=RUN)
    assert drained["events"] == len(first)

    corner.stack.kafka.stop()
    corner.stack.kafka.start()
    tasks.commit_offsets.function(drained)
    rest = [message for batch in batches for message in batch]
    corner.produce(rest)
    ingest()

    records = archived(corner)
    assert len(records) == len(set(records)) == len(first) + len(rest)
    for name, counts in generator.counts.items():
        bronze = f"bronze.{generator.tables[name].bronze_table}"
        assert corner.scalar(f"select count(*) from {bronze}") == counts.envelopes, bronze
    assert tasks.drain_kafka.function(params=RUN)["events"] == 0
