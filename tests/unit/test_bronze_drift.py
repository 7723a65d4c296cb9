"""Schema drift as the bronze load finds it: the columns a table's events carry, compared with the contract.

Events are the generator's valid ones, reshaped here (a column added to or dropped from their row
images, in either JsonConverter form); what each one carries is read from the reshaped image itself,
apart from the loader.
"""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from include.cdc.bronze.drift import TableDrift
from include.cdc.bronze.prepare import PreparedObject, prepare_object
from include.cdc.bronze.target import BronzeTarget
from include.cdc.contract import table
from include.cdc.debezium.columns import NEW_COLUMN, TYPE_CHANGE, ColumnsSeen
from include.cdc.debezium.envelope import parse_change_event
from tests.records import Record, keyed, landed_object, table_of, valid_messages, with_images

PRODUCT = table("Product")
TOPIC = "cord.ConcordDb.dbo.Product"
TARGET = BronzeTarget(PRODUCT, TOPIC, "product/raw/", "product/quarantine/")
KEYS = frozenset(c.source_column for c in PRODUCT.key_columns)
CONTRACT = frozenset(c.source_column for c in PRODUCT.columns)

column_names = st.text(min_size=1, max_size=12).filter(lambda name: "\x00" not in name)


def product_events(ops: str = "cur") -> list[bytes]:
    """Values of dbo.Product's valid events with these ops, both JsonConverter forms."""
    values = [m.value for m in valid_messages() if m.value and table_of(m.topic) == PRODUCT]
    return [v for v in values if _op(v) in ops]


def _op(value: bytes) -> str:
    document = msgspec.json.decode(value)
    return document.get("payload", document)["op"]


def without(value: bytes, *columns: str, image: str | None = None) -> bytes:
    """The event without ``columns`` in its row images (only in ``image`` when given)."""

    def drop(name: str, row: dict) -> None:
        if image in (None, name):
            for column in columns:
                row.pop(column, None)

    return with_images(value, drop)


def with_column(value: bytes, column: str, json_text: bytes = b'"red"') -> bytes:
    return with_images(value, lambda _, row: row.update({column: msgspec.Raw(json_text)}))


def prepared(values: list[bytes], first: int = 0, partition: int = 0) -> PreparedObject:
    records = [Record(PRODUCT, keyed(PRODUCT, value), value) for value in values]
    key, body = landed_object(TARGET.raw_prefix, TOPIC, partition, first, records)
    return prepare_object(key, body, TARGET)


def run(*objects: PreparedObject) -> TableDrift:
    drift = TableDrift(TARGET)
    for one in objects:
        drift.add(one)
    return drift


@given(
    message=st.sampled_from([m for m in valid_messages() if m.value]),
    extra=st.sets(column_names, max_size=3),
    data=st.data(),
)
def test_the_comparison_sees_the_columns_each_image_carries(message, extra, data):
    source_table = table_of(message.topic)
    contract = {c.source_column for c in source_table.columns}
    keys = {c.source_column for c in source_table.key_columns}
    extra -= contract
    dropped = data.draw(st.sets(st.sampled_from(sorted(contract - keys)), max_size=6))
    carried: dict[str, set[str]] = {}

    def reshape(name: str, image: dict) -> None:
        for column in dropped:
            image.pop(column, None)
        image.update({column: msgspec.Raw(b"1") for column in extra})
        carried[name] = set(image)

    value = with_images(message.value, reshape)
    seen = ColumnsSeen(source_table)
    seen.add(7, parse_change_event(message.key.decode(), value.decode(), source_table))

    every = set().union(*carried.values())
    assert set(seen.new) == every - contract
    assert all((s.first, s.last, s.events) == (7, 7, 1) for s in seen.new.values())
    assert seen.present == every & contract
    assert (seen.full_images is not None) == ("after" in carried)


def test_an_event_of_contract_columns_only_is_read_without_a_dict_of_its_columns():
    """The load's common case pays nothing for the comparison: its images are the fast path's structs."""
    for value in product_events("curd"):
        key = keyed(PRODUCT, value).decode()
        event = parse_change_event(key, value.decode(), PRODUCT)
        assert not isinstance(event.after, dict)
        assert not isinstance(event.before, dict)
        event = parse_change_event(key, with_column(value, "Colour").decode(), PRODUCT)
        assert isinstance(event.after or event.before, dict)


def test_a_column_missing_from_every_event_of_the_run_is_missing_one_present_in_some_is_not():
    events = product_events()
    half = len(events) // 2
    first = prepared([without(v, "ErpCode", "Barcode") for v in events[:half]])
    second = prepared(
        [without(v, "ErpCode", *(["Barcode"] if i % 3 else [])) for i, v in enumerate(events[half:])],
        first=1000,
        partition=1,
    )
    assert first.counts.quarantined == second.counts.quarantined == 0

    assert run(first).missing == ["Barcode", "ErpCode"]
    drift = run(first, second)
    assert drift.missing == ["ErpCode"]
    assert drift.full_images.events == len(events)
    assert drift.full_images.first == (0, 0, first.key_text)
    assert drift.full_images.last == (1, 1000 + len(events) - half - 1, second.key_text)


def test_a_column_carried_only_by_a_before_image_is_not_missing():
    updates = product_events("u")
    assert updates
    drift = run(prepared([without(v, "ErpCode", image="after") for v in updates]))
    assert "ErpCode" not in drift.missing
    assert run(prepared([without(v, "ErpCode") for v in updates])).missing == ["ErpCode"]


def test_deletes_whose_before_holds_only_the_key_show_no_missing_column():
    deletes = [without(v, *(CONTRACT - KEYS), image="before") for v in product_events("d")]
    assert deletes
    alone = run(prepared(deletes))
    assert alone.missing == []
    assert alone.full_images is None
    assert run(prepared(deletes + product_events()[:3])).missing == []


@given(objects=st.lists(st.lists(st.booleans(), min_size=1, max_size=6), min_size=1, max_size=4))
def test_a_column_is_missing_exactly_when_no_event_of_the_run_carries_it(objects):
    events = product_events()
    found = [
        prepared(
            [
                events[i % len(events)] if carries else without(events[i % len(events)], "ErpCode")
                for i, carries in enumerate(flags)
            ],
            first=100 * n,
        )
        for n, flags in enumerate(objects)
    ]
    carried_somewhere = any(any(flags) for flags in objects)
    assert ("ErpCode" in run(*found).missing) == (not carried_somewhere)


def test_new_columns_and_type_changes_are_placed_by_partition_offset_and_object():
    events = product_events()[:6]
    values = list(events)
    values[3] = with_column(values[3], "Colour")
    values[5] = with_column(values[5], "Colour", b'{"rgb":[1,2,3]}')
    values[4] = with_images(values[4], lambda name, row: row.update({"Status": msgspec.Raw(b"300")}))
    one = prepared(values, first=100, partition=2)

    assert [bad.offset for bad in one.quarantined] == [104]
    drift = run(one)
    assert drift.columns(NEW_COLUMN) == ["Colour"]
    assert drift.columns(TYPE_CHANGE) == ["Status"]
    colour = drift.found[("Colour", NEW_COLUMN)]
    assert (colour.first, colour.last, colour.events) == ((2, 103, one.key_text), (2, 105, one.key_text), 2)
    status = drift.found[("Status", TYPE_CHANGE)]
    assert status.first[:2] == status.last[:2] == (2, 104)
    assert status.detail.startswith("column Status holds 300: outside tinyint's range")
    assert drift.missing == []
