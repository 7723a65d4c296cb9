"""Which records may enter bronze, in both JsonConverter forms, and why the others are quarantined."""

from __future__ import annotations

import dataclasses
import json
import re

import msgspec
import pytest

from include.cdc.contract import table
from include.cdc.debezium import envelope as envelope_module
from include.cdc.debezium.envelope import failure_reason, parse_change_event, parse_envelope
from include.cdc.debezium.jsonb_text import NotAnEnvelope
from include.cdc.debezium.keys import parse_key

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


def wrapped(text: str) -> str:
    """JsonConverter's schemas.enable=true form of an envelope, its payload byte for byte."""
    return f'{{"schema":{{"type":"struct","optional":false}},"payload":{text}}}'


@pytest.mark.parametrize(
    ("column", "literal", "problem"),
    [
        ("Status", "256", "outside tinyint's range 0..255"),
        ("Status", "-1", "outside tinyint's range 0..255"),
        ("SupplierID", str(2**31), "outside int's range"),
        ("ID", str(2**63), "outside bigint's range"),
        ("MinOrderQty", "1" + "0" * 30, "outside int's range"),
        ("AvailableFrom", "3000000", "0001-01-01..9999-12-31"),  # date: days since 1970-01-01
        ("PriceUpdated", "1e20", "holds float"),  # an epoch number with an exponent is JSON's float
        ("PriceUpdated", str(10**17), "0001-01-01..9999-12-31"),
        ("Created", str(2**63), "1677-09-21..2262-04-11"),  # datetime2(7): nanoseconds in 64 bits
        ("Rating", "1e400", "beyond real's range"),  # Python reads inf
        ("Rating", "3.5e38", "beyond real's range"),
        ("Rating", "1e-46", "real rounds it to 0"),  # Python reads a float, real cannot hold it
        ("PopularityScore", "1e-400", "float rounds it to 0"),  # Python reads 0.0
        ("PopularityScore", "-1.8e308", "beyond float's range"),
        ("Weight", '"12.5.5"', "neither base64 nor a plain decimal number"),
        ("Weight", '"abc-"', "neither base64 nor a plain decimal number"),
        ("Weight", '"NaN"', "neither base64 nor a plain decimal number"),
        ("Weight", '"A==="', "neither base64 nor a plain decimal number"),
        ("Weight", '""', "an empty string"),
        ("Weight", '"12345678.5"', "does not fit decimal(10,3)"),
        ("Weight", '"9999999.9995"', "does not fit decimal(10,3)"),  # rounds to 10000000.000
        ("Weight", '"1e-20000"', "more digits after the point than PostgreSQL's numeric holds"),
        ("Weight", '"f/////////////////////8="', "17 bytes, more than staging decodes (16)"),
        ("Weight", '"AlQL5AA="', "base64 of 10000000.000, which does not fit decimal(10,3)"),
        ("Weight", "1234", "would read as base64"),  # a JSON number of 4 digits
        ("Weight", "1.0e3", "would read as base64"),  # jsonb gives it back as 1000
        ("NetUID", '"{5A3E9C1B-7A44-4C2B-9F0E-2D3C4B5A6F70}"', "not a uniqueidentifier"),
        ("NetUID", '"5A3E9C1B-7A44-4C2B-9F0E-2D3C4B5A6F70\\n"', "not a uniqueidentifier"),
        ("CatalogSyncedAt", '"2026-01-05 06:00:00Z"', "not an ISO-8601 timestamp with an offset"),
        ("CatalogSyncedAt", '"2026-02-30T06:00:00Z"', "not a valid timestamp"),
        ("CatalogSyncedAt", '"2026-01-05T06:00:00+14:30"', "an offset beyond ±14:00"),
        ("CatalogSyncedAt", '"2026-01-05T06:00+01:75"', "not an ISO-8601 timestamp"),
    ],
)
def test_values_staging_could_not_decode_are_refused_with_the_column(column, literal, problem):
    text = json.dumps(envelope("c", after={"ID": 1, column: "@"})).replace('"@"', literal)
    for form in (text, wrapped(text)):
        with pytest.raises(NotAnEnvelope, match=f"column {column} holds") as raised:
            parse_envelope(form, PRODUCT)
        assert problem in str(raised.value)
        assert "stg_product.yml" in str(raised.value)


@pytest.mark.parametrize(
    ("column", "literal"),
    [
        ("Status", "255"),
        ("ID", str(2**63 - 1)),
        ("Rating", "3.4028235e38"),  # Java's Float.MAX_VALUE, as JsonConverter writes it
        ("Rating", "1.5e-45"),  # real's smallest
        ("Rating", "0.0"),
        ("PopularityScore", "-0.0"),
        ("PopularityScore", "5e-324"),
        ("Weight", '"9999999.999"'),
        ("Weight", '"AlQL4/8="'),  # base64 of 9999999.999
        ("Weight", "12.5"),  # decimal.handling.mode=double
        ("Weight", "12345"),  # 5 digits: staging reads a number
        ("NetUID", '"5a3e9c1b-7a44-4c2b-9f0e-2d3c4b5a6f70"'),
        ("CatalogSyncedAt", '"2019-03-01T12:34:56.1234567+14:00"'),
        ("CatalogSyncedAt", '"2019-03-01T12:34Z"'),
        ("Created", str(2**63 - 1)),
    ],
)
def test_values_at_the_edge_of_their_range_pass_unchanged(column, literal):
    text = json.dumps(envelope("c", after={"ID": 1, column: "@"})).replace('"@"', literal)
    assert parse_envelope(text, PRODUCT) == text
    assert parse_envelope(wrapped(text), PRODUCT) == text


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"ts_ms": 1.5e12}, "source.ts_ms holds 1500000000000.0"),
        ({"ts_ms": 10**17}, "source.ts_ms holds"),
        ({"ts_ms": "1767592800000"}, "source.ts_ms holds '1767592800000'"),
        ({"event_serial_no": 2**31}, "source.event_serial_no holds 2147483648"),
        ({"event_serial_no": True}, "source.event_serial_no holds True"),
    ],
)
def test_source_fields_staging_casts_are_checked(source, reason):
    with pytest.raises(NotAnEnvelope, match=re.escape(reason)):
        parse_envelope(json.dumps(envelope(source={**SOURCE, **source})), PRODUCT)


def test_a_row_image_without_its_primary_key_is_refused():
    with pytest.raises(NotAnEnvelope, match="'after' row image has no primary key ID"):
        parse_envelope(json.dumps(envelope("c", after={"Name": "no id"})), PRODUCT)
    with pytest.raises(NotAnEnvelope, match="'before' row image has no primary key ID"):
        parse_envelope(json.dumps(envelope("d", before={"ID": None})), PRODUCT)


def test_numbers_keep_their_text_when_the_schema_wrapper_is_removed():
    # staging reads only the 'after' image of an update: its 'before' may hold what the fast path refuses
    document = envelope(
        "u", before={"ID": 1, "Status": 300}, after={"ID": 1, "Rating": "@", "ColumnAddedAtTheSource": "@@"}
    )
    text = json.dumps(document).replace('"@"', "4.50").replace('"@@"', "1e400")
    assert parse_envelope(wrapped(text), PRODUCT) == text
    assert parse_envelope(text, PRODUCT) == text


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (json.dumps(envelope(extra="\u0000")), "value contains a NUL character"),
        ('{"op": [1], "source": {}}', "unknown op [1]"),
        ('{"op": "c", "before": null, "after": {"ID": 1, "Name": "\\ud800"}}', "no 'source' block"),
        ("[" * 1000 + "]" * 1000, None),  # RecursionError: the loader turns it into a reason
        ("9" * 5000, "value holds an integer of 5000 digits"),
    ],
)
def test_odd_json_is_refused_with_what_is_wrong(value, reason):
    if reason is None:
        with pytest.raises(RecursionError):
            parse_envelope(value, PRODUCT)
        return
    with pytest.raises(NotAnEnvelope, match=re.escape(reason)):
        parse_change_event('{"ID":1}', value, PRODUCT)


def test_unpaired_surrogates_and_nul_characters_are_told_apart_from_escaped_backslashes():
    document = envelope("c", after={"ID": 1, "Name": "@"})
    for literal, reason in [
        ('"\\ud800"', "unpaired UTF-16 surrogate"),
        ('"\\udc00\\ud800"', "unpaired UTF-16 surrogate"),
        ('"\\u0000"', "NUL character"),
    ]:
        with pytest.raises(NotAnEnvelope, match=reason):
            parse_change_event('{"ID":1}', json.dumps(document).replace('"@"', literal), PRODUCT)
    for literal in ('"\\\\u0000"', '"\\\\ud800"', '"\\ud83d\\ude00"'):  # text, not a NUL; a pair
        text = json.dumps(document).replace('"@"', literal)
        assert parse_change_event('{"ID":1}', text, PRODUCT).envelope_json == text


def test_failure_reason_names_the_exception_and_how_deep_the_json_nests():
    value = '{"a": "[[[[ in a string", "b": ' + "[" * 1200 + "]" * 1200 + "}"
    reason = failure_reason(RecursionError("maximum recursion depth exceeded"), '{"ID":1}', value)
    assert reason == (
        "value nests JSON arrays and objects 1201 levels deep, deeper than the decoder follows "
        "(RecursionError)"
    )
    assert failure_reason(KeyError("x"), None, "{}").startswith("checking it raised KeyError ('x')")


# -- Events that are no row change, and keys that disagree with their row image ------------------------


@pytest.fixture(params=["fast", "checked"])
def path(request, monkeypatch):
    """Each case on both paths: the fast decode, and the readable checks it hands what it refuses."""
    if request.param == "checked":

        def refuse(value, table):
            raise envelope_module.Recheck

        monkeypatch.setattr(envelope_module, "_fast_envelope", refuse)
    return request.param


def not_a_row_change(op, **fields):
    return {"before": None, "after": None, "source": dict(SOURCE), "op": op, "ts_ms": 1, **fields}


@pytest.mark.parametrize("key", [None, '{"ID":1}'])
@pytest.mark.parametrize("form", ["bare", "wrapped"])
def test_a_truncate_is_refused_as_a_truncate_never_as_a_missing_key(path, key, form):
    document = not_a_row_change("t")
    value = json.dumps(document if form == "bare" else {"schema": {}, "payload": document})
    with pytest.raises(envelope_module.TruncateEvent) as raised:
        parse_change_event(key, value, PRODUCT)
    assert str(raised.value).startswith(
        "truncate event: dbo.Product was truncated at the source; Debezium sends no per-row deletes for it"
    )
    assert "full_refresh" in str(raised.value)


@pytest.mark.parametrize("key", [None, '{"prefix":"audit"}'])
def test_a_logical_decoding_message_is_refused_as_no_row_change(path, key):
    value = json.dumps(not_a_row_change("m", message={"prefix": "audit", "content": "aGk="}))
    with pytest.raises(NotAnEnvelope, match=r"^message event \(op 'm'\): not a row change") as raised:
        parse_change_event(key, value, PRODUCT)
    assert not isinstance(raised.value, envelope_module.TruncateEvent)


@pytest.mark.parametrize(
    ("op", "key", "reason"),
    [
        ("c", '{"ID":900105}', "key says ID=900105 but the after image holds ID=900106"),
        (
            "r",
            '{"schema":{},"payload":{"ID":900105}}',
            "key says ID=900105 but the after image holds ID=900106",
        ),
        ("u", '{"ID":900105}', "key says ID=900105 but the after image holds ID=900106"),
        ("d", '{"ID":900105}', "key says ID=900105 but the before image holds ID=900106"),
        ("c", '{"ID":"900106"}', "key says ID='900106' but the after image holds ID=900106"),
        ("c", '{"ID":null}', "key says ID=null but the after image holds ID=900106"),
        ("c", '{"id":900106}', "key says ID absent but the after image holds ID=900106"),
    ],
)
def test_a_key_that_is_not_the_row_images_primary_key_is_refused_naming_both(path, op, key, reason):
    document = envelope(op)
    for image in ("before", "after"):
        if document[image] is not None:
            document[image]["ID"] = 900106
    with pytest.raises(NotAnEnvelope, match=f"^{re.escape(reason)}"):
        parse_change_event(key, json.dumps(document), PRODUCT)


@pytest.mark.parametrize(
    "key", ['{"ID":900106}', '{"schema":{},"payload":{"ID":900106}}', '{"ID":9.00106e5}']
)
def test_a_key_that_is_the_row_images_primary_key_passes(path, key):
    document = envelope("u", before={"ID": 1, "Name": "before a key change"}, after={"ID": 900106})
    assert parse_change_event(key, json.dumps(document), PRODUCT).key_json


def test_a_composite_key_is_compared_column_by_column(path):
    composite = dataclasses.replace(
        PRODUCT, staging_model="stg_composite", primary_key=("product_id", "name")
    )
    document = envelope("c", after={"ID": 7, "Name": "disc", "VendorCode": "BOS-1"})
    for key in ('{"ID":7,"Name":"disc"}', '{"Name":"disc","ID":7,"Other":1}'):  # any order; others ignored
        assert parse_change_event(key, json.dumps(document), composite)
    with pytest.raises(
        NotAnEnvelope, match=r"^key says ID=7, Name='pad' but the after image holds ID=7, Name='disc'"
    ):
        parse_change_event('{"ID":7,"Name":"pad"}', json.dumps(document), composite)


def test_the_fast_path_hands_truncates_and_messages_to_the_checked_path():
    for op in ("t", "m"):
        with pytest.raises(msgspec.ValidationError):
            envelope_module._fast_envelope(json.dumps(not_a_row_change(op)), PRODUCT)
