"""Kafka records for the bronze load's property tests, and what is true of them.

Two kinds of input: arbitrary bytes, and valid Debezium envelopes (from devstack's generator) with
structured damage: deep nesting, huge and non-finite numbers, odd Unicode, wrong types, extra and
missing fields, in both JsonConverter forms. What is true of a record is worked out here from its bytes,
apart from the loader: ``staging_refusal`` emulates what PostgreSQL's jsonb and staging's
casts (include/dbt/macros/debezium_decode.sql) would refuse, and ``untrue_reason`` what a quarantine
reason claims. So the properties can fail both ways: a record wrongly loaded and one wrongly refused.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import cache

import msgspec
import yaml
from hypothesis import strategies as st

from devstack.synth.debezium_encoding import Message
from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions
from include.cdc.archive.landing import BatchBuffer, ObjectKey, encode_record
from include.cdc.contract import STAGING_MODELS_DIR, SourceTable, load_contract

DEEP = 1_000  # levels of nesting that Python's and msgspec's decoders cannot follow


@dataclass(frozen=True)
class Record:
    """One Kafka record of a captured table's topic."""

    table: SourceTable
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def landed_object(raw_prefix: str, topic: str, partition: int, first: int, records: list[Record]):
    """(key, body) of the object the drain writes for these records at offsets first, first + 1, ..."""
    batch = BatchBuffer(first, 1)
    for offset, record in enumerate(records, start=first):
        line = encode_record(
            topic, partition, offset, 1_767_600_000_000, record.key, record.value, list(record.headers)
        )
        batch.add(offset, line)
    return str(ObjectKey(raw_prefix, topic, partition, first, first + len(records) - 1)), batch.finish()


@cache
def valid_messages() -> tuple[Message, ...]:
    """A small catalog's stream, every table, both JsonConverter forms and both decimal modes."""
    generator = ChangeEventGenerator(GeneratorOptions(products=6, events=300, partitions=1))
    return tuple(generator.messages())


def with_images(value: bytes, change: Callable[[str, dict[str, msgspec.Raw]], None]) -> bytes:
    """The envelope ``value`` with each row image (``after``, ``before``) that is an object changed in place
    by ``change(name, image)``, in the same JsonConverter form; everything else, numbers included, keeps
    its text (the image's values are msgspec Raw)."""
    document = msgspec.json.decode(value, type=dict[str, msgspec.Raw])
    wrapped = document.keys() == {"schema", "payload"}
    envelope = msgspec.json.decode(document["payload"], type=dict[str, msgspec.Raw]) if wrapped else document
    for name in ("after", "before"):
        image = msgspec.json.decode(envelope.get(name, b"null"), type=dict[str, msgspec.Raw] | None)
        if image is not None:
            change(name, image)
            envelope[name] = msgspec.Raw(msgspec.json.encode(image))
    if wrapped:
        document["payload"] = msgspec.Raw(msgspec.json.encode(envelope))
    return msgspec.json.encode(document)


def keyed(table: SourceTable, value: bytes, like: bytes | None = None) -> bytes:
    """The key Debezium gives the event ``value``: the primary key of its row image (``after``, ``before``
    for a delete), in the JsonConverter form of the key ``like`` (bare when None)."""
    document = json.loads(value)
    document = document["payload"] if document.keys() == {"schema", "payload"} else document
    image = document["before" if document["op"] == "d" else "after"]
    return dumps_key(table, {c.source_column: image[c.source_column] for c in table.key_columns}, like)


def dumps_key(table: SourceTable, columns: dict, like: bytes | None) -> bytes:
    """A key of these primary-key columns, in the JsonConverter form of the key ``like``."""
    form = json.loads(like) if like is not None else {}
    if isinstance(form, dict) and form.keys() == {"schema", "payload"}:
        columns = {"schema": form["schema"], "payload": columns}
    return json.dumps(columns, separators=(",", ":")).encode()


def table_of(topic: str) -> SourceTable:
    return next(t for t in load_contract() if topic.endswith(f".{t.schema}.{t.table}"))


@cache
def guarded_columns() -> frozenset[str]:
    """Source columns that dbt tests guard beyond their type (not null, relationships, accepted values),
    primary keys aside: damaging them would fail a dbt test, rightly, not stop a cast."""
    guarded = set()
    for path in STAGING_MODELS_DIR.glob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            keys = (model.get("config") or {}).get("unique_key") or []
            for column in model.get("columns", []):
                source = (column.get("meta") or {}).get("source_column")
                if source and column.get("data_tests") and column["name"] not in keys:
                    guarded.add(source)
    return frozenset(guarded)


# -- JSON text with what json.dumps cannot write: literals as written, lone surrogates, NaN --------


@dataclass(frozen=True)
class Raw:
    """JSON text put into a document as is."""

    text: str


def dumps(document: object, ensure_ascii: bool) -> str:
    raws: list[str] = []

    def mark(value: object) -> object:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        return value

    text = json.dumps(mark(document), ensure_ascii=ensure_ascii)
    return re.sub(r'"@@raw(\d+)@@"', lambda m: raws[int(m[1])], text)


NUMBERS = [
    "1e400", "-1e400", "1e-400", "5e-324", "1e-46", "7e-46", "1.5e-45", "3.5e38", "3.4028235e38",
    "1.7976931348623157e308", "1.8e308", "0.0", "-0", "-0.0", "1E2", "1.0e3", "100e-2", "1e131072",
    "1e-16384", "12.345678901234567890123456789", str(2**63), str(-(2**63) - 1), str(2**63 - 1),
    str(2**31), str(-(2**31) - 1), "256", "-1", "32768", "1234", "12345678", "9" * 30, "9" * 5000,
    "NaN", "Infinity", "-Infinity",
]  # fmt: skip
STRINGS = [
    "", " ", "AAAA", "AA==", "A===", "////", "/////////////////////w==", "AAAAAAAAAAAAAAAAAAAAAAA=",
    "12.5", "12.5.5", "-3.0000", "1e5", "1e99999", ".5", "5.", "NaN", "Infinity", "-Infinity", "0x1F",
    "1_000", "١٢٣", " 12.5", "12.5 ", "abc-", "5A3E9C1B-7A44-4C2B-9F0E-2D3C4B5A6F70",
    "{5A3E9C1B-7A44-4C2B-9F0E-2D3C4B5A6F70}", "5a3e9c1b7a444c2b9f0e2d3c4b5a6f70",
    "5A3E9C1B-7A44-4C2B-9F0E-2D3C4B5A6F70\n", "2026-01-05T06:00:00.1234567Z", "2026-01-05T06:00:00+14:00",
    "2026-01-05T06:00:00+14:30", "2026-01-05T06:00+01:75", "2026-02-30T06:00:00Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.9999999Z", "2026-01-05 06:00:00Z", "2026-01-05T24:00:00Z", "nul\x00inside",
    "rtl \u202eabc\u202c", "emoji 😀🚗", "\ufeffbom", "\\u0000 as text", "tab\tand\nnewline\r",
    "back\\slash",
]  # fmt: skip
RAW_STRINGS = [
    '"\\ud800"',
    '"x\\udfff"',
    '"\\ude00\\ud83d"',
    '"\\u0000"',
    '"\\\\u0000"',
    '"ok \\ud83d\\ude00"',
]

nesting = st.integers(1, 3).map(lambda k: Raw("[" * (DEEP * k // 2 + 500) + "]" * (DEEP * k // 2 + 500)))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
nasty = st.one_of(
    st.sampled_from(NUMBERS).map(Raw),
    st.sampled_from(STRINGS),
    st.sampled_from(RAW_STRINGS).map(Raw),
    json_values,
    nesting,
)


def _plausible(sql_type) -> st.SearchStrategy:
    """Values of the column's own kind, in and near its range, so damaged records also load."""
    name = sql_type.name
    if name in {"tinyint", "smallint", "int", "bigint", "date", "datetime", "smalldatetime", "datetime2"}:
        return st.integers(-(2**64), 2**64) | st.integers(-300, 300)
    if name in {"real", "float"}:
        return st.floats(allow_nan=False, allow_infinity=False) | st.floats(width=32, allow_nan=False)
    if name in {"decimal", "numeric", "money", "smallmoney"}:
        return (
            st.binary(min_size=1, max_size=18).map(lambda b: base64.b64encode(b).decode())
            | st.decimals(allow_nan=False, allow_infinity=False, places=sql_type.scale).map(
                lambda d: f"{d:f}"
            )
            | st.floats(allow_nan=False, allow_infinity=False)
        )
    if name == "bit":
        return st.booleans()
    return st.text() | st.uuids().map(str)


@st.composite
def damaged_record(draw, untouchable: frozenset[str] = frozenset(), truncates: bool = True) -> Record:
    """A valid change event with one to three kinds of damage (or none), in either JsonConverter form.
    ``truncates``: the damage may make it a truncate (op t), which fails the load's run once it is done."""
    message = draw(st.sampled_from([m for m in valid_messages() if m.value is not None]))
    table = table_of(message.topic)
    document = json.loads(message.value)
    document = document.get("payload", document) if document.keys() == {"schema", "payload"} else document
    image = "before" if document["op"] == "d" else "after"
    fresh = draw(st.integers(10**12, 2**62))  # a key of its own: staging decodes only a key's latest event
    document[image].update({c.source_column: fresh for c in table.key_columns})
    columns = [c for c in table.columns if c.source_column not in untouchable]
    for _ in range(draw(st.integers(0, 3))):
        if not isinstance(document, dict):
            break
        damage = draw(
            st.sampled_from(["column", "plausible", "drop", "extra", "op", "source", "image", "whole"])
        )
        if damage in {"column", "plausible", "drop"}:
            column = draw(st.sampled_from(columns))
            row = document[image] if isinstance(document.get(image), dict) else {}
            if damage == "drop":
                row.pop(column.source_column, None)
            else:
                row[column.source_column] = draw(
                    nasty if damage == "column" else _plausible(column.sqlserver_type)
                )
        elif damage == "extra":
            target = draw(st.sampled_from([document, document.get("source"), document.get(image)]))
            if isinstance(target, dict):
                target[draw(st.text(max_size=8))] = draw(nasty)
        elif damage == "op":  # t and m too: a truncate and a message, no row changes
            document["op"] = draw(nasty | st.sampled_from(["c", "u", "d", "r", "m", *("t" * truncates)]))
        elif damage == "source" and isinstance(document.get("source"), dict):
            field = draw(
                st.sampled_from(["ts_ms", "event_serial_no", "commit_lsn", "change_lsn", "table", "schema"])
            )
            if draw(st.booleans()):
                document["source"].pop(field, None)
            else:
                document["source"][field] = draw(nasty)
        elif damage == "image":
            document[draw(st.sampled_from(["before", "after", "source"]))] = draw(nasty)
        elif damage == "whole":
            document = draw(nasty)
    value = dumps(document, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        value = f'{{"schema":{{"type":"struct","optional":false}},"payload":{value}}}'
    key = dumps_key(table, {c.source_column: fresh for c in table.key_columns}, message.key)
    if draw(st.integers(0, 3)) == 0:  # damage the key now and then
        other = draw(st.integers(10**12, 2**62).filter(lambda n: n != fresh))  # another row's key
        key = draw(
            st.none()
            | st.binary(max_size=12)
            | nasty.map(lambda v: dumps({"ID": v}, ensure_ascii=False).encode())
            | nasty.map(lambda v: dumps(v, ensure_ascii=False).encode())
            | st.just(dumps_key(table, {c.source_column: other for c in table.key_columns}, message.key))
        )
    return Record(table, key, value.encode())


@st.composite
def not_this_rows_event(draw) -> tuple[Record, str]:
    """A valid change event turned into what the load must refuse although it is well formed, and the
    reason it must give: a truncate or a logical decoding message (with or without row images and key),
    or a change whose key is another row's. Either JsonConverter form."""
    message = draw(st.sampled_from([m for m in valid_messages() if m.value is not None]))
    table = table_of(message.topic)
    document = json.loads(message.value)
    envelope = document["payload"] if document.keys() == {"schema", "payload"} else document
    kind = draw(st.sampled_from(["t", "m", "rekeyed"]))
    if kind == "rekeyed":
        image = "before" if envelope["op"] == "d" else "after"
        shift = draw(st.integers(1, 10**6))
        other = {c.source_column: envelope[image][c.source_column] + shift for c in table.key_columns}
        return Record(table, dumps_key(table, other, message.key), json.dumps(document).encode()), "key says"
    envelope["op"] = kind
    if draw(st.booleans()):  # as Debezium writes them: no row image
        envelope["before"] = envelope["after"] = None
    if kind == "m":
        envelope["message"] = {"prefix": "audit", "content": "aGk="}
    key = draw(st.sampled_from([None, message.key]))
    reason = "truncate event: " if kind == "t" else "message event (op 'm'): "
    return Record(table, key, json.dumps(document).encode()), reason


EDGES = {  # per kind of column: values near what staging's cast takes (JSON text, as written)
    "integer": ["256", "-1", "32768", str(2**31), str(2**63), str(-(2**63) - 1), "1.0e3", '"1"'],
    "epoch": [str(10**17), str(2**63), "-" + str(10**15), "1.5", '"2026-01-05"'],
    "decimal": [
        '"12.5.5"', '""', '"NaN"', '"Infinity"', '"1e99999"', '"1e-20000"', '" 12.5"', '"abc-"',
        '"f/////////////////////8="', '"f////////w=="', "1234", "1.0e3", "1e400",  # 17 bytes; too big
    ],
    "float": ["1e400", "-1e400", "1e-400", "1e-46", "3.5e38", "1.8e308", '"1.5"', "true"],
    "uniqueidentifier": [
        '"{5A3E9C1B-7A44-4C2B-9F0E-2D3C4B5A6F70}"', '"5a3e9c1b7a444c2b9f0e2d3c4b5a6f70"', '"x"',
    ],
    "datetimeoffset": [
        '"2026-01-05 06:00:00Z"', '"2026-01-05T06:00:00+14:30"', '"2026-01-05T06:00+01:75"',
        '"2026-02-30T06:00:00Z"', '"2026-01-05T24:00:00Z"', '"9999-12-31T23:59:59.9999999Z"',
    ],
    "bit": ["1", '"true"'],
    "string": ['"\\u0000"', '"\\ud800"', '"\\\\u0000"', '"rtl \u202e 😀"', "[" * DEEP + "]" * DEEP, "12"],
}  # fmt: skip


def _edge_kind(sql_type) -> str:
    name = sql_type.name
    if name in DECIMALS or name in {"bit", "uniqueidentifier", "datetimeoffset"}:
        return "decimal" if name in DECIMALS else name
    if name in INTEGERS:
        return "integer"
    if sql_type.epoch_unit:
        return "epoch"
    return "float" if name in {"real", "float"} else "string"


def edge_records(untouchable: frozenset[str] = frozenset()) -> list[Record]:
    """Every captured column (but the untouchable) of every table holding each value near its edge, in a
    valid change event of that table, in both JsonConverter forms. Each event has a primary key of its
    own, so it is the latest of its key, which staging decodes (it decodes only the latest)."""
    records = []
    for table in load_contract():
        message = next(
            m for m in valid_messages() if table_of(m.topic) == table and m.value and b'"op":"c"' in m.value
        )
        for column in table.columns:
            if column.source_column in untouchable:
                continue
            for edge in EDGES[_edge_kind(column.sqlserver_type)]:
                document = json.loads(message.value)
                document = document.get("payload", document)
                primary_key = {c.source_column: 10**12 + len(records) for c in table.key_columns}
                document["after"].update(primary_key)
                document["after"][column.source_column] = Raw(edge)
                value = dumps(document, ensure_ascii=True)
                key = dumps_key(table, primary_key, message.key)
                for form in (value, f'{{"schema":{{}},"payload":{value}}}'):  # the second, a re-emitted copy
                    records.append(Record(table, key, form.encode()))
    return records


def arbitrary_record(table: SourceTable) -> st.SearchStrategy[Record]:
    """Any bytes (or none) as key, value and header values."""
    headers = st.lists(st.tuples(st.text(max_size=8), st.none() | st.binary(max_size=16)), max_size=3)
    return st.builds(
        Record, st.just(table), st.none() | st.binary(), st.none() | st.binary(), headers.map(tuple)
    )


# -- What PostgreSQL and staging would refuse (an emulation, written apart from the loader) ---------

DECIMALS = {"decimal", "numeric", "money", "smallmoney"}
INTEGERS = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
DAY = {"days": 1, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
FIRST_DAY, DAYS_TO_10000 = -719_162, 2_932_897  # 0001-01-01 and 10000-01-01, in days since 1970-01-01
BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
ISO_OFFSET = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-]([0-9]{2}):([0-9]{2})(:[0-9]{2})?)"
)
_MICROS_2000 = 946_684_800_000_000  # 2000-01-01, PostgreSQL's epoch, in µs since 1970
_TIMESTAMP_RANGE = (-211_813_488_000_000_000, 9_223_371_331_200_000_000)  # µs since 2000: 4713 BC..294276


def _reject_constant(name: str):
    raise ValueError(name)


def _int(text: str) -> int | Decimal:
    return int(text) if len(text) < 4000 else Decimal(text)  # beyond every range, and Python's int()


def _json(text: str):
    """The document, JSON's floats as Decimal (PostgreSQL keeps numbers as written), its integers as int;
    ValueError when it is not JSON."""
    return json.loads(text, parse_float=Decimal, parse_int=_int, parse_constant=_reject_constant)


def _walk(document):
    stack = [document]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _strings(document) -> list[str]:
    return [item for item in _walk(document) if isinstance(item, str)]


NUMBER_BEYOND_NUMERIC = "a number beyond numeric's limits"  # PostgreSQL's to find: the load quarantines it


def jsonb_refusal(text: str) -> str | None:
    """Why ``text::jsonb`` fails, or None."""
    try:
        document = _json(text)
    except (ValueError, RecursionError):
        return "not JSON"
    if any("\x00" in s or re.search("[\ud800-\udfff]", s) for s in _strings(document)):
        return "NUL or unpaired surrogate"
    numbers = [n for n in _walk(document) if isinstance(n, Decimal)]
    if any(n.as_tuple().exponent < -16383 or n.adjusted() >= 131072 for n in numbers):
        return NUMBER_BEYOND_NUMERIC
    return None


def _text(value) -> str | None:
    """What ``->>`` gives for a JSON value."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{abs(value) if value.is_zero() else value:f}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _integer(text: str, bits: int) -> int | None:
    if len(text) > 100 or not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
        return None
    number = int(text)
    return number if -(2 ** (bits - 1)) <= number < 2 ** (bits - 1) else None


def _fits(number: Decimal, precision: int, scale: int) -> bool:
    with localcontext(prec=200):
        rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    return rounded.copy_abs() < Decimal(10) ** (precision - scale)


def _decimal_refusal(text: str, precision: int, scale: int) -> str | None:
    """debezium_decimal's auto mode, then numeric(p, s); a value it would misread counts as refused."""
    if re.search(r"[.-]", text) or len(text) % 4:
        if text.strip().lower() == "nan":
            return None
        match = re.fullmatch(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*", text)
        if not match:
            return "numeric input"
        number = Decimal(match[1])
        if number.as_tuple().exponent < -16383:
            return "numeric input overflow: more than 16383 digits after the point"
        try:
            return None if _fits(number, precision, scale) else "numeric field overflow"
        except InvalidOperation:
            return "numeric field overflow"
    try:
        raw = base64.b64decode(re.sub(r"[ \t\r\n]", "", text), validate=True)
    except ValueError:  # binascii.Error, or characters that are not ASCII
        return "base64"
    if not raw:
        return "get_byte of nothing"
    if len(raw) > 16:
        return "misread: the macro keeps 16 bytes"
    if len(raw) <= 8:
        number = int.from_bytes(raw, "big", signed=True)
    else:
        pad = "f" if raw[0] >= 128 else "0"
        high = int.from_bytes(bytes.fromhex(raw[:-8].hex().rjust(16, pad)), "big", signed=True)
        number = high * 2**64 + int.from_bytes(raw[-8:], "big")
    return None if _fits(Decimal(number).scaleb(-scale), precision, scale) else "numeric field overflow"


def _number_misread(number: int | Decimal) -> str | None:
    """A JSON number in a decimal column: a whole one of 4, 8, ... digits is read as base64."""
    text = _text(number)
    return None if re.search(r"[.-]", text) or len(text) % 4 else "misread: a number read as base64"


def _float_refusal(text: str, real: bool) -> str | None:
    if text.strip().lower() in {"nan", "infinity", "-infinity", "+infinity", "inf", "-inf", "+inf"}:
        return None
    try:
        number = float(text)
    except ValueError:
        return "float input"
    if real and not math.isinf(number):
        try:
            number = struct.unpack("<f", struct.pack("<f", number))[0]
        except OverflowError:
            number = math.inf
    if math.isinf(number) or (number == 0 and Decimal(text.strip()) != 0):
        return "out of range"
    return None


def _epoch_refusal(text: str, unit: str) -> str | None:
    if unit == "days":
        days = _integer(text, 32)
        return None if days is not None and 0 <= days + 2_440_588 <= 2_147_483_494 else "date out of range"
    if unit == "ns":  # floor(n::numeric / 1000)::bigint
        number = _integer(text, 128)
        micros = None if number is None or _integer(str(number // 1000), 64) is None else number // 1000
    else:
        number = _integer(text, 64)
        micros = None if number is None else number * (1000 if unit == "ms" else 1)
    if micros is None:
        return "bigint input"
    low, high = _TIMESTAMP_RANGE
    return None if low <= micros - _MICROS_2000 < high else "timestamp out of range"


def _cast_refusal(sql_type, text: str) -> str | None:
    """Why staging's cast of a column's ``->>`` text fails (include/dbt/macros/debezium_decode.sql)."""
    name = sql_type.name
    if name in {"tinyint", "smallint"}:  # both are cast to smallint
        return None if _integer(text, 16) is not None else "smallint"
    if name in {"int", "bigint"}:
        return None if _integer(text, 32 if name == "int" else 64) is not None else name
    if name == "bit":
        accepted = {"t", "true", "y", "yes", "on", "1", "f", "false", "n", "no", "off", "0"}
        return None if text.strip().lower() in accepted else "boolean"
    if name in DECIMALS:
        return _decimal_refusal(text, sql_type.precision, sql_type.scale)
    if name in {"real", "float"}:
        return _float_refusal(text, name == "real")
    if name == "uniqueidentifier":
        hex_uuid = r"[0-9a-fA-F]{4}(?:-?[0-9a-fA-F]{4}){7}"
        return None if re.fullmatch(rf"\{{{hex_uuid}\}}|{hex_uuid}", text) else "uuid"
    if sql_type.epoch_unit:
        return _epoch_refusal(text, sql_type.epoch_unit)
    if name == "datetimeoffset":
        try:
            offset = datetime.fromisoformat(text.strip()).utcoffset()
        except ValueError:
            return "timestamptz input"
        return None if offset is None or abs(offset) < timedelta(hours=16) else "time zone displacement"
    return None


def staging_refusal(key_text: str, value_text: str, table: SourceTable) -> str | None:
    """Why PostgreSQL or staging would refuse a loaded record (its COPY row's key and envelope), or None.

    Staging casts each captured column of the row image its op needs, ``source.ts_ms`` and
    ``source.event_serial_no``; its dbt tests want an op of c, u, d, r and a primary key."""
    for text in (key_text, value_text):
        refusal = jsonb_refusal(text)
        if refusal:
            return f"jsonb: {refusal}"
    envelope = _json(value_text)
    if not isinstance(envelope, dict) or _text(envelope.get("op")) not in {"c", "u", "d", "r"}:
        return "op"
    source = envelope.get("source") if isinstance(envelope.get("source"), dict) else {}
    serial = _text(source.get("event_serial_no"))
    if serial is not None and _integer(serial, 32) is None:
        return "event_serial_no"
    ts_ms = _text(source.get("ts_ms"))
    if ts_ms is not None and (
        _integer(ts_ms, 64) is None or not -210_866_803_200_000 <= int(ts_ms) < 9_224_318_016_000_000
    ):
        return "ts_ms"  # to_timestamp's range
    image = envelope.get("before" if envelope["op"] == "d" else "after")
    image = image if isinstance(image, dict) else {}
    for column in table.columns:
        value = image.get(column.source_column)
        if value is None:
            if column.name in table.primary_key:
                return f"primary key {column.source_column} is null"
            continue
        refusal = _cast_refusal(column.sqlserver_type, _text(value))
        if refusal is None and column.sqlserver_type.name in DECIMALS and not isinstance(value, str):
            refusal = _number_misread(value)
        if refusal:
            return f"{column.source_column}: {refusal}"
    return None


# -- Whether a quarantine reason is true of the record ---------------------------------------------


def _utf8(data: bytes | None) -> str | None:
    try:
        return None if data is None else data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unwrapped(text: str):
    document = _json(text)
    if isinstance(document, dict) and document.keys() == {"schema", "payload"}:
        return document["payload"]
    return document


def _not_debeziums_form(sql_type, value) -> bool:
    """Whether a value of the right JSON type is still not what Debezium writes for the SQL Server type:
    beyond its range, or (strings) not in the connector's format."""
    name = sql_type.name
    if isinstance(value, int) and name in INTEGERS:
        low, high = INTEGERS[name]
        return not low <= value <= high
    if isinstance(value, int) and sql_type.epoch_unit:
        low, high = FIRST_DAY * DAY[sql_type.epoch_unit], DAYS_TO_10000 * DAY[sql_type.epoch_unit] - 1
        return not max(low, -(2**63)) <= value <= min(high, 2**63 - 1)  # 0001..9999, in 64 bits
    if isinstance(value, str) and name in DECIMALS:
        if re.search(r"[.-]", value) or len(value) % 4:
            return not PLAIN_DECIMAL.fullmatch(value)
        return not value or not BASE64.fullmatch(value)
    if name in DECIMALS:
        return _number_misread(value) is not None
    if name == "uniqueidentifier":
        return not UUID.fullmatch(value)
    if name == "datetimeoffset":
        match = ISO_OFFSET.fullmatch(value)
        if not match:
            return True
        hours, minutes, seconds = int(match[4] or 0), int(match[5] or 0), int((match[6] or ":0")[1:])
        return minutes > 59 or seconds > 59 or (hours, minutes, seconds) > (14, 0, 0)
    return False


def _column_claim_true(table: SourceTable, name: str, value) -> bool:
    """Whether ``value`` in column ``name`` is of another JSON type than Debezium gives its SQL Server
    type, not in Debezium's form or range, or refused by staging's cast."""
    column = next((c for c in table.columns if c.source_column == name), None)
    if column is None or value is None:
        return False
    sql_type = column.sqlserver_type
    if isinstance(value, bool) or sql_type.name == "bit":
        return not (isinstance(value, bool) and sql_type.name == "bit")
    if sql_type.name in DECIMALS:
        json_types = (str, int, Decimal)
    elif sql_type.name in {"real", "float"}:
        json_types = (int, Decimal)
    elif sql_type.name in INTEGERS or sql_type.epoch_unit:
        json_types = (int,)
    else:
        json_types = (str,)
    return (
        not isinstance(value, json_types)
        or _not_debeziums_form(sql_type, value)
        or _cast_refusal(sql_type, _text(value)) is not None
    )


def _source_claim_true(source: dict, reason: str) -> bool:
    """source.ts_ms must be epoch ms within 0001-01-01..9999-12-31, source.event_serial_no an integer."""
    name = reason.split()[0].removeprefix("source.")
    value = source.get(name)
    if value is None:
        return False
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    if name == "event_serial_no":
        return not -(2**31) <= value < 2**31
    return not FIRST_DAY * DAY["ms"] <= value < DAYS_TO_10000 * DAY["ms"]


def _key_claim_true(key: str | None, image, table: SourceTable) -> bool:
    """Whether the key's primary-key columns are not the row image's: a column absent from the key, or
    another JSON value (numbers compared as numbers, true no 1, "1" no 1)."""
    document = _unwrapped(key) if key is not None else None
    if not isinstance(document, dict) or not isinstance(image, dict):
        return False
    for column in table.key_columns:
        name = column.source_column
        if name not in document:
            return True
        said, held = document[name], image.get(name)
        if isinstance(said, bool) != isinstance(held, bool) or said != held:
            return True
    return False


def _fails(call, error: type[BaseException]) -> bool:
    try:
        call()
    except error:
        return True
    return False


REASON_KINDS = [
    r"truncate event: ",
    r"message event \(op 'm'\): ",
    r"key says .* but the (after|before) image holds ",
    r"missing key",
    r"key is not valid UTF-8",
    r"value is not valid UTF-8",
    r"(key|value) is not JSON",
    r"(key|value) nests JSON arrays and objects \d+ levels deep",
    r"(key|value) holds an integer of \d+ digits",
    r"(key|value) holds an unpaired UTF-16 surrogate",
    r"(key|value) contains a NUL character",
    r"key is not a JSON object of primary-key columns",
    r"value is JSON but not a Debezium envelope",
    r"unknown op",
    r"envelope has no 'source' block",
    r"envelope for .* on the topic of",
    r"envelope has no source.commit_lsn",
    r"source\.(ts_ms|event_serial_no) holds",
    r"op '.' envelope without its '(before|after)' row image",
    r"op '.' envelope's '(before|after)' row image has no primary key",
    r"column \w+ holds",
]


def untrue_reason(reason: str, record: Record) -> str | None:
    """What is wrong with a quarantine reason given to ``record``, or None when it is true."""
    kind = next((k for k in REASON_KINDS if re.match(k, reason, re.DOTALL)), None)
    if kind is None:
        return "not a known kind of reason"
    key, value = _utf8(record.key), _utf8(record.value)
    part = {"key": key, "value": value}.get(reason.split(" ", 1)[0])
    about_bytes = {
        r"missing key": lambda: record.key is None,
        r"key is not valid UTF-8": lambda: record.key is not None and key is None,
        r"value is not valid UTF-8": lambda: value is None,
        r"(key|value) is not JSON": lambda: part is not None and _fails(lambda: _json(part), ValueError),
        r"(key|value) nests JSON arrays and objects \d+ levels deep": lambda: (
            part is not None and _fails(lambda: json.loads(part, parse_int=_int), RecursionError)
        ),
        r"(key|value) holds an integer of \d+ digits": lambda: bool(re.search("[0-9]{4301}", part or "")),
        r"(key|value) holds an unpaired UTF-16 surrogate": lambda: any(
            re.search("[\ud800-\udfff]", s) for s in _strings(_json(part))
        ),
        r"(key|value) contains a NUL character": lambda: any("\x00" in s for s in _strings(_json(part))),
        r"key is not a JSON object of primary-key columns": lambda: (
            not isinstance(_unwrapped(key), dict) or not _unwrapped(key)
        ),
    }
    if kind in about_bytes:
        return None if about_bytes[kind]() else "untrue"
    envelope = _unwrapped(value)
    document = envelope if isinstance(envelope, dict) else {}
    source = document.get("source")
    op = document.get("op")
    image = document.get("before" if op == "d" else "after")
    table = record.table
    column = reason.split()[1]
    about_envelope = {
        r"truncate event: ": lambda: op == "t",
        r"message event \(op 'm'\): ": lambda: op == "m",
        r"key says .* but the (after|before) image holds ": lambda: _key_claim_true(key, image, table),
        r"value is JSON but not a Debezium envelope": lambda: (
            not isinstance(envelope, dict) or "op" not in envelope
        ),
        r"unknown op": lambda: op not in ("c", "u", "d", "r"),
        r"envelope has no 'source' block": lambda: not isinstance(source, dict),
        r"envelope for .* on the topic of": lambda: (
            (source.get("table"), source.get("schema", table.schema)) != (table.table, table.schema)
        ),
        r"envelope has no source.commit_lsn": lambda: not isinstance(source.get("commit_lsn"), str),
        r"source\.(ts_ms|event_serial_no) holds": lambda: _source_claim_true(source, reason),
        r"op '.' envelope without its '(before|after)' row image": lambda: not isinstance(image, dict),
        r"op '.' envelope's '(before|after)' row image has no primary key": lambda: any(
            image.get(c.source_column) is None for c in table.key_columns
        ),
        r"column \w+ holds": lambda: (
            isinstance(image, dict) and _column_claim_true(table, column, image.get(column))
        ),
    }
    return None if about_envelope[kind]() else "untrue"
