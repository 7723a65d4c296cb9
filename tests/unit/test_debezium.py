"""Which records may enter bronze, in both JsonConverter forms, and why the others are quarantined."""

from __future__ import annotations

import json

import pytest

from include.cdc.contract import table
from include.cdc.debezium import NotAnEnvelope, parse_change_event, parse_envelope, parse_key

PRODUCT = table("Product")

SOURCE = {"schema": "dbo", "table": "Product", "commit_lsn": "00000027:00000758:0005", "change_lsn": None}


def envelope(op="u", **overrides):
    document = {
        "before": {"ID": 1, "Name": "old"} if op in {"u", "d"} else None,
        "after": {"ID": 1, "Name": "new"} if op != "d" else None,
        "source": dict(SOURCE),
        "op": op,
        "ts_ms": 1,
    }
    document.update(overrides)
    return document


@pytest.mark.parametrize("op", ["r", "c", "u", "d"])
def test_plain_envelope_is_loaded_as_received(op):
    text = json.dumps(envelope(op))
    assert parse_envelope(text, PRODUCT) == text


def test_schema_wrapped_envelope_is_unwrapped():
    wrapped = json.dumps({"schema": {"type": "struct", "fields": []}, "payload": envelope("c")})
    assert json.loads(parse_envelope(wrapped, PRODUCT)) == envelope("c")


def test_key_in_both_forms():
    assert parse_key('{"ID":1004}') == '{"ID":1004}'
    wrapped = json.dumps({"schema": {"type": "struct"}, "payload": {"ID": 1004}})
    assert json.loads(parse_key(wrapped)) == {"ID": 1004}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not json at all", "value is not JSON"),
        ('{"op": "u", "after": {"ID"', "value is not JSON"),
        ('{"price": NaN}', "value is not JSON"),
        ("[1, 2, 3]", "not a Debezium envelope (a list)"),
        ('{"id": 1, "name": "a plain row"}', "no 'op'"),
        (json.dumps(envelope(op="x")), "unknown op 'x'"),
        (json.dumps(envelope(source=None)), "no 'source' block"),
        (json.dumps(envelope(source={**SOURCE, "table": "Customer"})), "envelope for dbo.Customer"),
        (json.dumps(envelope(source={**SOURCE, "commit_lsn": None})), "no source.commit_lsn"),
        (json.dumps(envelope(op="c", after=None)), "without its 'after' row image"),
        (json.dumps(envelope(op="d", before=None)), "without its 'before' row image"),
    ],
)
def test_records_that_are_not_change_events_are_refused_with_the_reason(value, reason):
    with pytest.raises(NotAnEnvelope, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_envelope(value, PRODUCT)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "missing key"),
        ("{oops", "key is not JSON"),
        ("[]", "not a JSON object"),
        ("{}", "not a JSON object"),
    ],
)
def test_bad_keys_are_refused(key, reason):
    with pytest.raises(NotAnEnvelope, match=reason):
        parse_change_event(key, json.dumps(envelope()), PRODUCT)


@pytest.mark.parametrize(
    ("column", "value", "declared"),
    [
        ("Weight", 12.5, None),  # decimal.handling.mode=double: a number is a decimal too
        ("Weight", True, "decimal"),
        ("Weight", [1], "decimal"),
        ("Status", "1", "tinyint"),
        ("Status", True, "tinyint"),
        ("IsForSale", 1, "bit"),
        ("Name", 42, "nvarchar"),
        ("Created", "2026-01-05T06:00:00", "datetime2"),
        ("Rating", "4.5", "real"),
    ],
)
def test_a_captured_column_with_another_type_is_refused_with_the_column(column, value, declared):
    document = envelope("c", after={"ID": 1, column: value})
    if declared is None:
        parse_envelope(json.dumps(document), PRODUCT)
        return
    with pytest.raises(NotAnEnvelope, match=f"column {column} holds .* declares it {declared}") as raised:
        parse_envelope(json.dumps(document), PRODUCT)
    assert "stg_product.yml" in str(raised.value)


def test_columns_the_contract_does_not_know_pass():
    document = envelope("c", after={"ID": 1, "Name": "x", "ColumnAddedAtTheSource": {"any": "thing"}})
    assert parse_envelope(json.dumps(document), PRODUCT)
