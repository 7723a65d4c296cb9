"""Object keys and the JSONL line format of landed Kafka records."""

from __future__ import annotations

import gzip
import json

import pytest

from include.cdc.archive.landing import (
    BatchBuffer,
    ObjectKey,
    decode_record,
    encode_record,
    keys_from,
    partition_prefix,
    read_lines,
)

TOPIC = "cord.ConcordDb.dbo.Product"


def test_key_names_topic_partition_and_offset_range_zero_padded():
    key = ObjectKey("product/raw/", TOPIC, 2, 5000, 9999)
    assert str(key) == (
        "product/raw/topic=cord.ConcordDb.dbo.Product/partition=2/"
        "00000000000000005000-00000000000000009999.jsonl.gz"
    )
    assert ObjectKey.parse(str(key)) == key


def test_key_order_is_offset_order():
    keys = [str(ObjectKey("p/", TOPIC, 0, first, first + 9)) for first in (0, 10, 100, 1000, 10_000)]
    assert sorted(keys) == keys


@pytest.mark.parametrize("bad", ["product/raw/x.jsonl.gz", "product/raw/topic=t/partition=0/1-2.jsonl.gz"])
def test_parse_rejects_other_keys(bad):
    with pytest.raises(ValueError, match="not a landed batch key"):
        ObjectKey.parse(bad)


def test_keys_from_lists_exactly_the_objects_starting_at_or_after_an_offset():
    keys = [str(ObjectKey("p/", TOPIC, 0, a, b)) for a, b in [(0, 99), (100, 149), (150, 150), (151, 400)]]
    bound = keys_from("p/", TOPIC, 0, 150)
    assert [k for k in sorted(keys) if k > bound] == keys[2:]
    assert bound.startswith(partition_prefix("p/", TOPIC, 0))
    assert keys_from("p/", TOPIC, 0, 0) is None


def test_record_keeps_everything_kafka_delivered_and_round_trips():
    value = '{"op":"u","after":{"Name":"Гальмівний диск"}}'.encode()
    line = encode_record(TOPIC, 1, 42, 1_760_000_000_123, b'{"ID":1}', value, [("h", b"v"), ("none", None)])
    assert line.endswith(b"\n")
    document = json.loads(line)
    assert document["topic"] == TOPIC
    assert document["partition"] == 1
    assert document["offset"] == 42
    assert document["timestamp"] == 1_760_000_000_123
    assert document["headers"] == [{"key": "h", "value": "v"}, {"key": "none", "value": None}]
    record = decode_record(line)
    assert record.raw_value() == value
    assert record.key == '{"ID":1}'
    assert not record.is_tombstone


def test_bytes_that_are_not_utf8_are_kept_exactly_as_base64():
    value = b"\xff\xfe not utf-8 \x00"
    record = decode_record(encode_record(TOPIC, 0, 7, None, b"\xc3", value, None))
    assert record.value is None
    assert record.raw_value() == value
    assert record.key_bytes == b"\xc3"
    assert not record.is_tombstone


def test_tombstone_is_a_record_with_a_null_value():
    record = decode_record(encode_record(TOPIC, 0, 8, 1, b'{"ID":1}', None, []))
    assert record.is_tombstone


def test_batch_buffer_compresses_deterministically():
    def build():
        batch = BatchBuffer(first_offset=10, gzip_level=1)
        for offset in range(10, 15):
            batch.add(offset, encode_record(TOPIC, 0, offset, 1, b"{}", b"{}", []))
        return batch

    first, second = build(), build()
    assert (first.first_offset, first.last_offset, first.count) == (10, 14, 5)
    body = first.finish()
    assert body == second.finish()  # a retry rewrites byte-identical objects
    assert len(list(read_lines(body))) == 5
    assert gzip.decompress(body).count(b"\n") == 5


def test_the_pipelines_s3_client_gives_up_instead_of_waiting_forever():
    """The client the tasks build (not only the module's constant) bounds every call's wait and retries."""
    from include.cdc.airflow import clients
    from include.cdc.settings import Settings

    config = clients.object_store(Settings()).client.meta.config
    assert 0 < config.connect_timeout <= 10
    assert 0 < config.read_timeout <= 120
    assert 1 < config.retries["total_max_attempts"] <= 6  # a few retries, not endless ones
