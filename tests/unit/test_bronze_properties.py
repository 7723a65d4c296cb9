"""Whatever the bytes of a Kafka record, preparing its landed object for the bronze load never raises.

Every record is loaded (a COPY row), counted as a tombstone or quarantined with a reason that is true of
it; a loaded record is one PostgreSQL stores and staging decodes, unchanged but for the schema wrapper.
What is true of a record comes from tests/records.py, worked out apart from the loader.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.cdc.bronze.prepare import prepare_object
from include.cdc.bronze.target import BronzeTarget
from include.cdc.contract import load_contract
from tests.records import (
    NUMBER_BEYOND_NUMERIC,
    Record,
    arbitrary_record,
    damaged_record,
    landed_object,
    not_this_rows_event,
    staging_refusal,
    untrue_reason,
)

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TARGETS = {
    table.table: BronzeTarget(table, table.topic("cord", "ConcordDb"), f"{table.slug}/raw/", "q/")
    for table in load_contract()
}
_COPY_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def _copy_text(field: str) -> str:
    """A field of COPY's text format, unescaped."""
    return re.sub(r"\\(.)", lambda m: _COPY_ESCAPES.get(m[1], m[1]), field)


def assert_every_record_accounted_for(records: list[Record]) -> None:
    target = TARGETS[records[0].table.table]
    key, body = landed_object(target.raw_prefix, target.topic, 3, 100, records)

    prepared = prepare_object(key, body, target)

    sent = dict(enumerate(records, start=100))
    assert prepared.counts.records == len(records)
    assert prepared.counts.tombstones == sum(r.value is None for r in records)
    assert len(prepared.rows) + len(prepared.quarantined) + prepared.counts.tombstones == len(records)
    assert prepared.counts.quarantined == len(prepared.quarantined)
    for bad in prepared.quarantined:
        record = sent[bad.offset]
        assert bad.raw == record.value  # the bytes, exactly as received
        assert untrue_reason(bad.reason, record) is None, (bad.reason, record)
    for row in prepared.rows:
        offset, _, key_field, value_field, topic, partition, batch_file = row.decode()[:-1].split("\t")
        assert (topic, partition, batch_file) == (target.topic, "3", key)
        record = sent[int(offset)]
        key_text, value_text = _copy_text(key_field), _copy_text(value_field)
        refusal = staging_refusal(key_text, value_text, record.table)
        # PostgreSQL alone refuses numbers beyond numeric's limits; the load then quarantines the row
        assert refusal in {None, f"jsonb: {NUMBER_BEYOND_NUMERIC}"}, (refusal, key_text, value_text)
        assert value_text == record.value.decode() or record.value.decode().endswith(
            f',"payload":{value_text}}}'
        )


@PROPERTY
@given(
    st.sampled_from(sorted(TARGETS)).flatmap(
        lambda t: st.lists(arbitrary_record(TARGETS[t].table), min_size=1, max_size=8)
    )
)
def test_arbitrary_bytes_are_loaded_counted_or_quarantined_with_a_true_reason(records):
    assert_every_record_accounted_for(records)


@PROPERTY
@given(st.lists(damaged_record(), min_size=1, max_size=8))
def test_damaged_envelopes_are_loaded_only_when_staging_decodes_them(records):
    for table in {r.table.table for r in records}:
        assert_every_record_accounted_for([r for r in records if r.table.table == table])


@PROPERTY
@given(st.lists(not_this_rows_event(), min_size=1, max_size=8))
def test_truncates_messages_and_other_rows_keys_are_quarantined_each_with_its_own_reason(events):
    """Well-formed events that are no change of the row their key names: on whichever path their
    envelope takes (the fast path refuses ops t and m; a rekeyed event passes it), the same reasons."""
    for table in {record.table.table for record, _ in events}:
        mine = [(record, reason) for record, reason in events if record.table.table == table]
        target = TARGETS[table]
        key, body = landed_object(target.raw_prefix, target.topic, 0, 0, [record for record, _ in mine])
        prepared = prepare_object(key, body, target)
        assert not prepared.rows
        assert [q.offset for q in prepared.quarantined] == list(range(len(mine)))
        for bad, (record, reason) in zip(prepared.quarantined, mine, strict=True):
            assert bad.reason.startswith(reason), (bad.reason, record)
            assert bad.truncate == (reason == "truncate event: ")
            assert untrue_reason(bad.reason, record) is None
        assert_every_record_accounted_for([record for record, _ in mine])


def test_a_value_with_a_huge_integer_before_deep_nesting_is_quarantined_for_its_nesting():
    """Found by Hypothesis in CI: a 5,000-digit integer ahead of 1,500 levels of nesting, both in fields
    the contract does not have (msgspec skips the one and recurses into the other)."""
    table = TARGETS["Product"].table
    value = '{"op":"c","after":{"Extra":' + "1" * 5000 + ',"Deep":' + "[" * 1500 + "]" * 1500 + "}}"
    assert_every_record_accounted_for([Record(table, b'{"ID":1}', value.encode())])
