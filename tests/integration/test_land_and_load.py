"""Kafka drain -> MinIO -> bronze on the real local stack, through the DAG's own task code."""

from __future__ import annotations

import gzip
import json

import pytest

from include.cdc.airflow import tasks
from include.cdc.archive.landing import ObjectKey

pytestmark = pytest.mark.integration

RUN = {"full_refresh": False, "max_events": 0}


def run_ingest(params=RUN) -> tuple[dict, dict]:
    """drain_kafka -> commit_offsets -> load_bronze, as one DAG run does."""
    drained = tasks.drain_kafka.function(params=params)
    tasks.commit_offsets.function(drained)
    return drained, tasks.load_bronze.function(params=params)


def test_bronze_holds_every_event_produced_and_nothing_twice(corner):
    generator = corner.generator(products=30, events=4000, restart_every=1500)
    messages = list(generator.messages())
    corner.produce(messages)

    drained, loaded = run_ingest()

    counts = loaded["total"]
    assert drained["events"] == len(messages)
    assert {t["topic"] for t in drained["topics"]} == set(corner.topics)
    assert counts["records"] == len(messages)
    assert counts["rows_loaded"] == generator.total.envelopes == 4000
    assert counts["tombstones"] == generator.total.tombstones
    assert counts["quarantined"] == 0
    assert counts["duplicates_skipped"] == 0
    for name, table_counts in generator.counts.items():
        bronze_table = f"bronze.{generator.tables[name].bronze_table}"
        assert loaded["tables"][bronze_table]["rows_loaded"] == table_counts.envelopes
        assert (
            corner.scalar(
                f"select count(distinct (kafka_topic, kafka_partition, kafka_offset)) from {bronze_table}"
            )
            == table_counts.envelopes
        )
    assert corner.bronze_rows() == 4000
    # tasks hand over keys and counts only
    assert all(
        set(o) == {"key", "partition", "first_offset", "last_offset", "events"}
        for t in drained["topics"]
        for o in t["objects"]
    )


def test_objects_hold_records_exactly_as_received_in_batches_of_at_most_n(corner):
    generator = corner.generator(products=10, events=2500)
    messages = list(generator.messages())
    corner.produce(messages)

    drained, _ = run_ingest()

    keys = corner.raw_keys()
    assert sorted(keys) == sorted(
        o["key"] for t in drained["topics"] if t["topic"] == corner.topic for o in t["objects"]
    )
    landed = {}
    for key in keys:
        parsed = ObjectKey.parse(key)
        body = corner.stack.s3.client().get_object(Bucket="cord-raw", Key=key)["Body"].read()
        lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
        assert 1 <= len(lines) <= 1000
        assert lines[0]["offset"] == parsed.first_offset
        assert lines[-1]["offset"] == parsed.last_offset
        for line in lines:
            landed[(line["partition"], line["offset"])] = line
    produced = {}
    next_offset = {}
    for message in (m for m in messages if m.topic == corner.topic):
        offset = next_offset.get(message.partition, 0)
        next_offset[message.partition] = offset + 1
        produced[(message.partition, offset)] = message
    assert landed.keys() == produced.keys()
    for position, message in produced.items():
        line = landed[position]
        assert line["topic"] == corner.topic
        assert line["key"].encode() == message.key
        assert line["timestamp"] == message.timestamp_ms
        assert (line["value"].encode() if line["value"] is not None else None) == message.value
        assert [(h["key"], h["value"].encode()) for h in line["headers"]] == message.headers


def test_second_run_with_nothing_new_loads_nothing(corner):
    corner.produce(list(corner.generator(products=10, events=500).messages()))
    run_ingest()
    objects_before = corner.raw_keys()

    drained, loaded = run_ingest()

    assert drained["events"] == 0
    assert loaded["total"]["objects"] == 0
    assert loaded["total"]["rows_loaded"] == 0
    assert corner.raw_keys() == objects_before


def test_run_after_new_events_loads_exactly_those(corner):
    messages = list(corner.generator(products=20, events=3000).messages())
    first, second = messages[:1700], messages[1700:]
    corner.produce(first)
    _, loaded_first = run_ingest()
    corner.produce(second)

    _, loaded_second = run_ingest()

    assert loaded_first["total"]["records"] == len(first)
    assert loaded_second["total"]["records"] == len(second)
    assert loaded_second["total"]["rows_loaded"] == sum(m.value is not None for m in second)
    assert corner.bronze_rows() == 3000


def test_a_retried_drain_rewrites_the_same_objects(corner):
    corner.produce(list(corner.generator(products=10, events=2200).messages()))
    first = tasks.drain_kafka.function(params=RUN)  # then the task "dies" before commit_offsets
    keys = corner.raw_keys()

    retried = tasks.drain_kafka.function(params=RUN)

    assert corner.raw_keys() == keys
    assert retried["topics"][0]["recovered_objects"] == len(keys)
    assert retried["events"] == first["events"]


def test_records_that_are_not_change_events_are_quarantined_and_counted(corner):
    good = list(corner.generator(products=5, events=50, partitions=1).messages())
    bad = [
        good[0].__class__(corner.topic, 0, b'{"ID":9}', b"not json", [], 1),
        good[0].__class__(
            corner.topic, 0, b'{"ID":9}', b'{"id": 9, "name": "a row, not an envelope"}', [], 1
        ),
    ]
    corner.produce(good + bad, partitions=1)

    _, loaded = run_ingest()

    assert loaded["total"]["quarantined"] == 2
    rows = corner.query(
        "select kafka_offset, reason, quarantine_key from cdc_meta.quarantine order by kafka_offset"
    )
    assert [r["reason"] for r in rows] == [
        "value is not JSON: Expecting value: line 1 column 1 (char 0)",
        "value is JSON but not a Debezium envelope (no 'op')",
    ]
    stored = corner.stack.s3.client().get_object(Bucket="cord-raw", Key=rows[0]["quarantine_key"])
    assert stored["Body"].read() == b"not json"
    assert stored["Metadata"]["reason"].startswith("value is not JSON")
    assert corner.bronze_rows() == sum(m.value is not None for m in good)


def test_full_refresh_rebuilds_bronze_from_the_archive(corner):
    messages = list(corner.generator(products=10, events=1500).messages())
    corner.produce(messages[:800])
    run_ingest()
    corner.produce(messages[800:])
    run_ingest()
    before = corner.query(
        "select kafka_partition, kafka_offset, cdc_payload from bronze.product_cdc order by 1, 2"
    )

    refresh = {"full_refresh": True, "max_events": 0}
    drained, loaded = run_ingest(refresh)  # nothing new: the archive is bronze's only source
    assert drained["events"] == 0

    after = corner.query(
        "select kafka_partition, kafka_offset, cdc_payload from bronze.product_cdc order by 1, 2"
    )
    assert after == before
    assert loaded["total"]["rows_loaded"] == 1500
    assert corner.scalar("select count(*) from cdc_meta.load_ledger") == loaded["total"]["objects"]


def test_max_events_caps_one_run(corner):
    messages = list(corner.generator(products=10, events=900).messages())
    corner.produce(messages)

    drained, _ = run_ingest({"full_refresh": False, "max_events": 400})
    rest, _ = run_ingest()

    assert drained["events"] == 400
    assert all(t["events"] > 0 for t in drained["topics"])  # the cap is shared: every table moves
    assert rest["events"] == len(messages) - 400
    assert corner.bronze_rows() == 900
