"""The event generator encodes like Debezium and keeps the true final state."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from devstack.synth.debezium_encoding import encode_value, lsn
from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions
from include.cdc.contract import SqlServerType


def test_decimal_in_base64_matches_the_reference_example():
    # Debezium's docs: 10.2345 with scale 4 is the unscaled 102345, bytes 01 8F C9, base64 AY/J.
    assert (
        encode_value(SqlServerType("decimal", precision=10, scale=4), Decimal("10.2345"), "precise") == "AY/J"
    )


@pytest.mark.parametrize("value", ["0", "-1", "-128.5", "127", "255.99", "-922337203685477.5808"])
def test_negative_and_boundary_decimals_are_twos_complement(value):
    encoded = encode_value(SqlServerType("money", precision=19, scale=4), Decimal(value), "precise")
    unscaled = int.from_bytes(base64.b64decode(encoded), "big", signed=True)
    assert Decimal(unscaled).scaleb(-4) == Decimal(value)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [("-0.0128", "gA=="), ("-0.0129", "/38="), ("0.0128", "AIA="), ("-922337203685477.5808", "gAAAAAAAAAA=")],
)
def test_decimal_bytes_are_the_shortest_twos_complement_like_java(value, encoded):
    assert encode_value(SqlServerType("money", precision=19, scale=4), Decimal(value), "precise") == encoded


def test_string_decimals_keep_their_scale():
    assert encode_value(SqlServerType("decimal", precision=10, scale=3), Decimal("1.5"), "string") == "1.500"


def test_time_encodings_follow_the_column_precision():
    moment = datetime(2026, 1, 5, 6, 0, 0, 123456)
    micros = 1_767_592_800_123_456
    assert encode_value(SqlServerType("datetime"), moment, "precise") == micros // 1000
    assert encode_value(SqlServerType("datetime2", precision=3), moment, "precise") == micros // 1000
    assert encode_value(SqlServerType("datetime2", precision=6), moment, "precise") == micros
    assert (
        encode_value(SqlServerType("datetime2", precision=7), moment, "precise", sub_micro=700)
        == micros * 1000 + 700
    )
    assert encode_value(SqlServerType("date"), date(1970, 1, 11), "precise") == 10
    zoned = encode_value(SqlServerType("datetimeoffset"), moment.replace(tzinfo=UTC), "precise")
    assert zoned == "2026-01-05T06:00:00.123456Z"


def test_lsn_strings_sort_like_their_sequence():
    values = [0, 1, 4095, 4096, 70_000, 2**28, 2**28 + 1, 2**30]
    assert sorted(lsn(v) for v in values) == [lsn(v) for v in values]


@pytest.fixture(scope="module")
def stream():
    generator = ChangeEventGenerator(GeneratorOptions(products=20, events=3000, restart_every=900))
    return generator, list(generator.messages())


def payload(message) -> dict:
    document = json.loads(message.value)
    return document.get("payload", document)


def test_counts_and_final_state(stream):
    generator, messages = stream
    envelopes = [m for m in messages if m.value is not None]
    tombstones = [m for m in messages if m.value is None]
    assert len(envelopes) == 3000 == generator.total.envelopes
    assert len(tombstones) == generator.total.tombstones == generator.total.by_op["d"]
    assert len(generator.state["Product"].active_keys()) == 20
    assert generator.total.reemitted > 0
    assert {m.topic for m in messages} == set(generator.topics.values())
    for name, counts in generator.counts.items():
        assert counts.envelopes == sum(
            m.value is not None for m in messages if m.topic == generator.topics[name]
        )


def test_snapshot_comes_first_table_by_table(stream):
    generator, messages = stream
    snapshot = list(messages[: generator.total.by_op["r"]])
    payloads = [payload(m) for m in snapshot]
    assert {p["op"] for p in payloads} == {"r"}
    assert payloads[0]["source"]["snapshot"] == "first"
    assert payloads[-1]["source"]["snapshot"] == "last"
    assert {p["source"]["snapshot"] for p in payloads[1:-1]} <= {
        "true",
        "first_in_data_collection",
        "last_in_data_collection",
    }
    assert all(p["source"]["change_lsn"] is None for p in payloads)
    assert snapshot[0].topic == generator.topics["Product"]


def test_both_converter_forms_and_both_decimal_modes_appear(stream):
    _, messages = stream
    documents = [json.loads(m.value) for m in messages if m.value is not None]
    wrapped = [d for d in documents if "schema" in d]
    assert wrapped
    assert len(wrapped) < len(documents)
    weights = {(d.get("payload", d)["after"] or {}).get("Weight") for d in documents}
    assert any(isinstance(w, str) and "." in w for w in weights)  # string mode
    assert any(isinstance(w, str) and "." not in w for w in weights)  # base64


def test_delete_is_followed_by_a_tombstone_with_the_same_key(stream):
    _, messages = stream
    tombstones = 0
    for index, message in enumerate(messages):
        if message.value is None:
            tombstones += 1
            deleted = messages[index - 1]
            assert payload(deleted)["op"] == "d"
            assert message.topic == deleted.topic
            assert message.partition == deleted.partition
            assert json.loads(message.key).get("payload", json.loads(message.key)) == json.loads(
                deleted.key
            ).get("payload", json.loads(deleted.key))
    assert tombstones


def test_children_point_at_products_and_deleted_products_lose_their_children(stream):
    generator, _ = stream
    products = generator.state["Product"]
    for name in ("ProductAvailability", "ProductOEMNumber", "ProductAnalogue"):
        state = generator.state[name]
        assert state.rows
        for key in state.live_keys():
            row = state.rows[key]
            assert (row["ProductID"],) in products.live_keys(), (name, row)
            if name == "ProductAnalogue":
                assert (row["AnalogueProductID"],) in products.live_keys()


def test_key_change_is_a_delete_and_a_create_with_the_same_lsns():
    generator = ChangeEventGenerator(GeneratorOptions(products=10, events=3000, pk_change_share=0.01))
    messages = [m for m in generator.messages() if m.value is not None]
    products = [payload(m) for m in messages if m.topic == generator.topics["Product"]]
    pairs = [
        (a, b)
        for a, b in itertools.pairwise(products)
        if a["op"] == "d" and b["op"] == "c" and a["source"]["change_lsn"] == b["source"]["change_lsn"]
    ]
    assert pairs
    for deleted, created in pairs:
        assert (deleted["source"]["event_serial_no"], created["source"]["event_serial_no"]) == (1, 2)
        assert deleted["before"]["ID"] != created["after"]["ID"]


def test_events_of_one_key_can_spread_over_partitions():
    generator = ChangeEventGenerator(GeneratorOptions(products=10, events=1000, repartition_at=0.5))
    partitions: dict[bytes, set[int]] = {}
    for message in generator.messages():
        key = json.dumps(json.loads(message.key).get("payload", json.loads(message.key)), sort_keys=True)
        partitions.setdefault((message.topic, key), set()).add(message.partition)
    assert any(len(p) > 1 for p in partitions.values())


def test_same_seed_same_stream():
    def values(**options):
        return [
            m.value
            for m in ChangeEventGenerator(GeneratorOptions(products=5, events=200, **options)).messages()
        ]

    assert values() == values()
    assert values() != values(seed=8)
