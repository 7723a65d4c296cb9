"""What a Debezium SQL Server record must look like before it may enter bronze.

Bronze keeps envelopes as received, so staging can always be rebuilt; what is checked here is only
what staging relies on: a JSON key, a JSON envelope (bare, or wrapped by JsonConverter's
``schemas.enable=true`` form) with a known ``op``, the row image that op needs with its primary key,
the source block with its LSNs, the table the topic is for, and every value staging casts (the captured
columns, ``source.ts_ms``, ``source.event_serial_no``) of the JSON type and within the range its cast
takes (``include/dbt/macros/debezium_decode.sql``), so that no record in bronze can stop staging. Anything
else is quarantined with the reason, never dropped and never loaded.
"""

from __future__ import annotations

import base64
import decimal
import json
import math
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache, partial
from typing import Annotated, Literal

import msgspec

from include.cdc.contract import (
    DECIMAL_TYPES,
    FLOAT_TYPES,
    INTEGER_TYPES,
    Column,
    SourceTable,
    SqlServerType,
)

OPS = frozenset({"c", "u", "d", "r"})
_COMPACT = {"ensure_ascii": False, "separators": (",", ":")}


class NotAnEnvelope(ValueError):
    """The record cannot be loaded as a change event; ``str(exc)`` is the quarantine reason."""


class _Recheck(Exception):
    """The fast path cannot accept the record; the checked path accepts it or says why not."""


class _Literal(float):
    """A JSON number with a fraction or exponent, keeping its text: jsonb keeps the number as written,
    so staging's casts see that text, not Python's float (``1e-400`` is no 0.0 to PostgreSQL)."""

    literal: str

    def __new__(cls, text: str) -> _Literal:
        number = super().__new__(cls, text)
        number.literal = text
        return number


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON (and PostgreSQL's jsonb) does not.
    raise ValueError(f"{name} is not valid JSON")


def _integer(what: str, text: str) -> int:
    limit = sys.get_int_max_str_digits()
    if limit and len(text.lstrip("-")) > limit:
        raise NotAnEnvelope(
            f"{what} holds an integer of {len(text.lstrip('-'))} digits, more than any SQL Server type "
            f"holds and than Python reads ({limit})"
        )
    return int(text)


def _loads(text: str, what: str) -> object:
    try:
        return json.loads(
            text, parse_constant=_reject_constant, parse_float=_Literal, parse_int=partial(_integer, what)
        )
    except NotAnEnvelope:
        raise
    except ValueError as exc:
        raise NotAnEnvelope(f"{what} is not JSON: {exc}") from None


def _refuse_surrogates(document: object, what: str) -> None:
    """Python's JSON parser takes ``\\ud800`` alone; jsonb does not (msgspec refuses it, so only the
    checked path meets one)."""
    try:
        json.dumps(document, **_COMPACT).encode("utf-8")
    except UnicodeEncodeError:
        raise NotAnEnvelope(
            f"{what} holds an unpaired UTF-16 surrogate (a lone \\ud800-\\udfff escape), which PostgreSQL "
            f"jsonb cannot store"
        ) from None


_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _refuse_nul(text: str, what: str) -> None:
    if "\\u0000" in text and _NUL_ESCAPE.search(text):  # not an escaped backslash followed by 'u0000'
        raise NotAnEnvelope(f"{what} contains a NUL character (\\u0000), which PostgreSQL jsonb cannot store")


@dataclass(frozen=True)
class ChangeEvent:
    key_json: str  # the key (unwrapped), as JSON text
    envelope_json: str  # the envelope (unwrapped), as JSON text


def _unwrap(document: object) -> tuple[object, bool]:
    """Strip JsonConverter's schema wrapper; report whether there was one."""
    if isinstance(document, dict) and document.keys() == {"schema", "payload"}:
        return document["payload"], True
    return document, False


class _Wrapped(msgspec.Struct, forbid_unknown_fields=True):
    schema: msgspec.Raw
    payload: msgspec.Raw


_decode_json = msgspec.json.Decoder().decode
_decode_wrapped = msgspec.json.Decoder(_Wrapped).decode


def _payload(text: str) -> str:
    """The payload of the schema-wrapped form, byte for byte as written (numbers keep their text)."""
    return bytes(_decode_wrapped(text).payload).decode()


def parse_key(key: str | None) -> str:
    if key is None:
        raise NotAnEnvelope("missing key: a captured table with a primary key always has one")
    try:
        document, wrapped = _unwrap(_decode_json(key))
    except (msgspec.DecodeError, msgspec.ValidationError):
        document = _loads(key, "key")  # says why it is not JSON, or takes what msgspec refuses
        _refuse_surrogates(document, "key")
        document, wrapped = _unwrap(document)
    if not isinstance(document, dict) or not document:
        raise NotAnEnvelope("key is not a JSON object of primary-key columns")
    return _payload(key) if wrapped else key


def parse_envelope(value: str, table: SourceTable) -> str:
    """Return the envelope as JSON text; raise NotAnEnvelope with the reason when it is not one.

    Valid envelopes take the fast path: one C-level decode that checks the structure, every captured
    column's type and most ranges at once (msgspec), then the few checks msgspec cannot say. Anything
    it refuses goes through the slow, readable checks below, which say why.
    """
    try:
        return _fast_envelope(value, table)
    except (msgspec.DecodeError, msgspec.ValidationError, _Recheck):
        return _checked_envelope(value, table)


def parse_change_event(key: str | None, value: str, table: SourceTable) -> ChangeEvent:
    event = ChangeEvent(parse_key(key), parse_envelope(value, table))
    _refuse_nul(event.key_json, "key")
    _refuse_nul(event.envelope_json, "value")
    return event


def failure_reason(exc: Exception, key: str | None, value: str) -> str:
    """The quarantine reason for an exception the checks do not raise on purpose: its class and meaning."""
    if isinstance(exc, RecursionError):
        depth, part = max((_nesting(value), "value"), (_nesting(key or ""), "key"))
        return (
            f"{part} nests JSON arrays and objects {depth} levels deep, deeper than the decoder follows "
            f"(RecursionError)"
        )
    return f"checking it raised {type(exc).__name__} ({str(exc)[:200]}), which no check expects"


# A JSON string (or an unterminated one, to the end), else a bracket: one linear pass over any text.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def _nesting(text: str) -> int:
    """How deep ``[`` and ``{`` nest outside JSON strings."""
    depth = deepest = 0
    for token in _STRING_OR_BRACKET.finditer(text):
        bracket = token[0]
        if bracket in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in ("]", "}"):
            depth -= 1
    return deepest


def _checked_envelope(value: str, table: SourceTable) -> str:
    schema, table_name = table.schema, table.table
    parsed = _loads(value, "value")
    document, wrapped = _unwrap(parsed)
    if not isinstance(document, dict):
        raise NotAnEnvelope(f"value is JSON but not a Debezium envelope (a {_type_name(document)})")
    op = document.get("op")
    if not isinstance(op, str) or op not in OPS:
        if "op" not in document:
            raise NotAnEnvelope("value is JSON but not a Debezium envelope (no 'op')")
        raise NotAnEnvelope(f"unknown op {_shown(op)} (expected one of c, u, d, r)")
    source = document.get("source")
    if not isinstance(source, dict):
        raise NotAnEnvelope("envelope has no 'source' block")
    if source.get("table") != table_name or source.get("schema", schema) != schema:
        raise NotAnEnvelope(
            f"envelope for {_plain(source.get('schema'))}.{_plain(source.get('table'))} on the topic of "
            f"{schema}.{table_name}"
        )
    if not isinstance(source.get("commit_lsn"), str):
        raise NotAnEnvelope("envelope has no source.commit_lsn, so it cannot be ordered")
    for name, (low, high, cast) in _SOURCE_NUMBERS.items():
        number = source.get(name)
        if number is not None and (type(number) is not int or not low <= number <= high):
            raise NotAnEnvelope(f"source.{name} holds {_shown(number)}, but staging reads it as {cast}")
    image = "before" if op == "d" else "after"
    if not isinstance(document.get(image), dict):
        raise NotAnEnvelope(f"op {op!r} envelope without its '{image}' row image")
    missing = [c.source_column for c in table.key_columns if document[image].get(c.source_column) is None]
    if missing:
        raise NotAnEnvelope(
            f"op {op!r} envelope's '{image}' row image has no primary key {', '.join(missing)}: staging "
            f"keeps rows by their primary key"
        )
    _check_types(document[image], table)
    _refuse_surrogates(parsed, "value")
    return _payload(value) if wrapped else value


def _type_name(value: object) -> str:
    return "float" if isinstance(value, float) else type(value).__name__


def _plain(name: object) -> str:
    """A name from the record as a reason shows it: as is when it is short printable text."""
    return name if isinstance(name, str) and name.isprintable() and len(name) <= 40 else _shown(name)


def _shown(value: object) -> str:
    """A value as a reason shows it: numbers as written, the rest as Python's repr, at most 40 characters."""
    text = getattr(value, "literal", None) or (str(value) if type(value) is int else repr(value))
    return text if len(text) <= 40 else f"{text[:37]}..."


# -- What staging's casts take (include/dbt/macros/debezium_decode.sql and cdc_latest_state.sql) ----

_INTEGER_RANGES = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_UNITS_PER_DAY = {"days": 1, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_EPOCH = date(1970, 1, 1)
_FIRST_DAY = (date(1, 1, 1) - _EPOCH).days  # SQL Server's date and datetime2 range
_LAST_DAY = (date(9999, 12, 31) - _EPOCH).days


def _epoch_range(unit: str) -> tuple[int, int]:
    """0001-01-01 through 9999-12-31 in Debezium's epoch unit, within the 64-bit integer it writes
    (nanoseconds reach 1677..2262 only)."""
    per_day = _UNITS_PER_DAY[unit]
    low, high = _INTEGER_RANGES["bigint"]
    return max(_FIRST_DAY * per_day, low), min((_LAST_DAY + 1) * per_day - 1, high)


def _epoch_dates(unit: str) -> str:
    low, high = (_EPOCH + timedelta(days=bound // _UNITS_PER_DAY[unit]) for bound in _epoch_range(unit))
    return f"{low}..{high}"


_SOURCE_NUMBERS = {  # staging casts these source fields: (lowest, highest, what it reads them as)
    "ts_ms": (*_epoch_range("ms"), f"epoch milliseconds within {_epoch_dates('ms')}"),
    "event_serial_no": (*_INTEGER_RANGES["int"], "an integer"),
}


def _in_range(low: int, high: int, described: str, value: int) -> str | None:
    return None if low <= value <= high else f"outside {described}"


def _number_text(value: object) -> str | None:
    """A JSON number's text as written (None for null); a msgspec Raw that is no number goes to the
    checked path, which says what it is."""
    if isinstance(value, msgspec.Raw):
        text = bytes(value).decode()
        if text == "null":
            return None
        if text[0] not in "-0123456789":
            raise _Recheck
        return text
    return getattr(value, "literal", None) or str(value)


_FLOAT_LIMITS = {"real": 3.4028234663852886e38, "float": sys.float_info.max}


def _float_problem(type_name: str, value: object) -> str | None:
    """real and float: PostgreSQL refuses a number its type rounds to infinity, or to 0 when it is not 0."""
    text = _number_text(value)
    if text is None:
        return None
    number = float(text)  # correctly rounded, as PostgreSQL's strtod; inf beyond the range
    if type_name == "real" and not math.isinf(number):
        try:
            number = struct.unpack("<f", struct.pack("<f", number))[0]  # rounded to 32 bits, as strtof
        except OverflowError:
            number = math.inf
    if math.isinf(number):
        return f"beyond {type_name}'s range (±{_FLOAT_LIMITS[type_name]:.8g})"
    if number == 0 and Decimal(text) != 0:
        return f"so close to 0 that {type_name} rounds it to 0"
    return None


_DECIMAL_CONTEXT = decimal.Context(prec=100)
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_MAX_NUMERIC_SCALE = 16383  # PostgreSQL's numeric: digits after the point


def _decimal_problem(precision: int, scale: int, value: object) -> str | None:
    """decimal, numeric, money: what staging's ``auto`` decoding makes of the value's text."""
    if isinstance(value, str):
        return _decimal_string_problem(value, precision, scale)
    return _decimal_number_problem(_number_text(value), precision, scale)


def _fitting_decimal(precision: int, scale: int) -> str:
    """A pattern of the decimal strings that fit decimal(p, s) whatever their digits, as Debezium writes
    them: base64 of so few bytes that no integer of them reaches 10^p, or a plain number with a point, at
    most p - s digits before it and s after. The fast path takes these; other values are checked."""
    size = 0  # bytes of two's complement that always hold less than 10^p
    while 2 ** (8 * (size + 1) - 1) < 10**precision:
        size += 1
    char = "[A-Za-z0-9+/]"
    tails = {0: f"{char}{{4}}", 1: f"{char}{{3}}=", 2: f"{char}{{2}}=="}  # by padding
    encodings = [
        f"{char}{{{4 * (groups - 1)}}}{tail}"
        for groups in range(1, size // 3 + 2)
        for padding, tail in tails.items()
        if 1 <= 3 * groups - padding <= size
    ]
    if 0 < scale < precision:
        encodings.append(f"-?[0-9]{{1,{precision - scale}}}\\.[0-9]{{1,{scale}}}")
    return f"\\A(?:{'|'.join(encodings) or '(?!)'})\\Z"  # (?!) matches nothing


def _base64_looking(text: str) -> bool:
    """How staging's ``auto`` mode tells base64 from a decimal string: base64 never holds '.' or '-',
    and its length is a multiple of 4."""
    return "." not in text and "-" not in text and len(text) % 4 == 0


def _decimal_string_problem(text: str, precision: int, scale: int) -> str | None:
    if not _base64_looking(text):
        if not _DECIMAL_TEXT.fullmatch(text):
            return "neither base64 nor a plain decimal number"
        return _decimal_value_problem(Decimal(text), precision, scale)
    try:
        unscaled = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or characters that are not ASCII
        return "neither base64 nor a plain decimal number"
    if not unscaled:
        return "an empty string, neither base64 nor a decimal number"
    if len(unscaled) > 16:
        return f"a base64 integer of {len(unscaled)} bytes, more than staging decodes (16)"
    number = int.from_bytes(unscaled, "big", signed=True)
    if abs(number) >= 10**precision:
        shown = _DECIMAL_CONTEXT.scaleb(number, -scale)
        return f"base64 of {shown}, which does not fit decimal({precision},{scale})"
    return None


def _decimal_number_problem(text: str, precision: int, scale: int) -> str | None:
    """A JSON number: staging reads the text jsonb gives back (plain notation, a '-' when negative, a '.'
    when it has decimals), so a whole number of 4, 8, ... digits would be read as base64."""
    number = Decimal(text)
    exponent = number.as_tuple().exponent
    digits = 1 if number.is_zero() else number.adjusted() + 1
    if not number.is_signed() and exponent >= 0 and digits % 4 == 0:
        return "a whole number of 4, 8, ... digits, which staging's decimal decoding would read as base64"
    return _decimal_value_problem(number, precision, scale)


@lru_cache
def _decimal_limit(precision: int, scale: int) -> Decimal:
    """numeric(p, s) rounds half away from zero to s decimals: what rounds to 10^(p-s) does not fit."""
    return _DECIMAL_CONTEXT.subtract(Decimal(10) ** (precision - scale), Decimal(5).scaleb(-scale - 1))


def _decimal_value_problem(number: Decimal, precision: int, scale: int) -> str | None:
    if number.as_tuple().exponent < -_MAX_NUMERIC_SCALE:
        return f"more digits after the point than PostgreSQL's numeric holds ({_MAX_NUMERIC_SCALE})"
    if number.copy_abs() >= _decimal_limit(precision, scale):
        return f"does not fit decimal({precision},{scale})"
    return None


_UUID = r"\A[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\Z"
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-5][0-9](?::[0-5][0-9])?)"
)
_MAX_OFFSET = timedelta(hours=14)


def _uuid_problem(value: str) -> str | None:
    return None if re.search(_UUID, value) else "not a uniqueidentifier (8-4-4-4-12 hex digits)"


def _timestamp_problem(value: str) -> str | None:
    """datetimeoffset: an ISO-8601 timestamp with its offset, as Debezium's ZonedTimestamp writes it."""
    if _TIMESTAMP.fullmatch(value) is None:
        return "not an ISO-8601 timestamp with an offset"
    try:
        offset = datetime.fromisoformat(value).utcoffset()
    except ValueError as exc:
        return f"not a valid timestamp ({exc})"
    return None if abs(offset) <= _MAX_OFFSET else "an offset beyond ±14:00"


@dataclass(frozen=True)
class _Rule:
    """What one captured column may hold: the JSON types its SQL Server type gives, and what staging's
    cast needs of the value."""

    types: tuple[type, ...]
    description: str
    annotation: object  # the msgspec type the fast path decodes it as (with the ranges msgspec can say)
    problem: Callable[[object], str | None] | None = None  # range or format, None when fine
    fast: bool = False  # the fast path runs ``problem`` too: its annotation cannot say it


def _rule(sql_type: SqlServerType) -> _Rule:
    name = sql_type.name
    if name in INTEGER_TYPES or sql_type.epoch_unit:
        if name in INTEGER_TYPES:
            low, high = _INTEGER_RANGES[name]
            described, description = f"{name}'s range {low}..{high}", "an integer"
        else:
            low, high = _epoch_range(sql_type.epoch_unit)
            described = (
                f"{_epoch_dates(sql_type.epoch_unit)} ({low}..{high} {sql_type.epoch_unit} since 1970-01-01)"
            )
            description = "an epoch number"
        return _Rule(
            (int,),
            description,
            Annotated[int, msgspec.Meta(ge=low, le=high)],
            partial(_in_range, low, high, described),
        )
    if name == "bit":
        return _Rule((bool,), "true or false", bool)
    if name in DECIMAL_TYPES:  # numbers (decimal.handling.mode=double) and rarer strings: checked path
        fitting = Annotated[str, msgspec.Meta(pattern=_fitting_decimal(sql_type.precision, sql_type.scale))]
        check = partial(_decimal_problem, sql_type.precision, sql_type.scale)
        return _Rule((str, int, float), "a base64 or decimal string", fitting, check)
    if name in FLOAT_TYPES:  # decoded raw: the check needs the number's text
        return _Rule((int, float), "a number", msgspec.Raw, partial(_float_problem, name), fast=True)
    if name == "uniqueidentifier":
        return _Rule((str,), "a string", Annotated[str, msgspec.Meta(pattern=_UUID)], _uuid_problem)
    if name == "datetimeoffset":
        return _Rule((str,), "a string", str, _timestamp_problem, fast=True)
    return _Rule((str,), "a string", str)


def _type_text(sql_type: SqlServerType) -> str:
    if sql_type.scale is not None:
        return f"{sql_type.name}({sql_type.precision},{sql_type.scale})"
    if sql_type.precision is not None:
        return f"{sql_type.name}({sql_type.precision})"
    return sql_type.name


@dataclass(frozen=True)
class _TableChecks:
    rules: dict[str, tuple[_Rule, Column]]  # by source column
    decoder: msgspec.json.Decoder  # the fast path's
    fast_checks: tuple[tuple[str, Callable[[object], str | None]], ...]


_CHECKS: dict[str, _TableChecks] = {}


def _table_checks(table: SourceTable) -> _TableChecks:
    """Built once per table from the contract (keyed by name: hashing the whole contract on every record
    would cost more than the checks)."""
    checks = _CHECKS.get(table.staging_model)
    if checks is None:
        rules = {c.source_column: (_rule(c.sqlserver_type), c) for c in table.columns}
        keys = {c.source_column for c in table.key_columns}
        row = msgspec.defstruct(
            f"{table.table}Row",
            [  # the primary key is required and never null; a Raw value holds its own null
                (name, rule.annotation)
                if name in keys
                else (
                    name,
                    rule.annotation if rule.annotation is msgspec.Raw else rule.annotation | None,
                    None,
                )
                for name, (rule, _) in rules.items()
            ],
            kw_only=True,
        )
        source = msgspec.defstruct(
            f"{table.table}Source",
            [
                ("table", Literal[table.table]),
                ("commit_lsn", str),
                ("schema", Literal[table.schema], table.schema),
                *(
                    (name, Annotated[int, msgspec.Meta(ge=low, le=high)] | None, None)
                    for name, (low, high, _) in _SOURCE_NUMBERS.items()
                ),
            ],
        )
        envelope = msgspec.defstruct(
            f"{table.table}Envelope",
            [
                ("op", Literal["c", "u", "d", "r"]),
                ("source", source),
                ("before", row | None, None),
                ("after", row | None, None),
            ],
        )
        fast = tuple((name, rule.problem) for name, (rule, _) in rules.items() if rule.fast)
        checks = _CHECKS[table.staging_model] = _TableChecks(rules, msgspec.json.Decoder(envelope), fast)
    return checks


def _fast_envelope(value: str, table: SourceTable) -> str:
    checks = _table_checks(table)
    try:
        envelope = checks.decoder.decode(value)
    except msgspec.ValidationError:
        payload = bytes(_decode_wrapped(value).payload)  # JsonConverter's schemas.enable=true form
        envelope = checks.decoder.decode(payload)
        value = payload.decode()
    image = envelope.before if envelope.op == "d" else envelope.after
    if image is None:
        raise _Recheck
    for name, problem in checks.fast_checks:
        column_value = getattr(image, name)
        if column_value is not None and problem(column_value) is not None:
            raise _Recheck
    return value


def _check_types(image: dict, table: SourceTable) -> None:
    """Refuse a row image whose captured columns do not hold what their SQL Server type gives, in the
    range staging's cast takes.

    Columns the contract does not know (added at the source) pass: bronze keeps them, staging ignores
    them until the contract adds them. A type change at the source is caught here, with the column,
    instead of turning into NULLs or a failed cast in staging.
    """
    rules = _table_checks(table).rules
    for name, value in image.items():
        if value is None or name not in rules:
            continue
        rule, column = rules[name]
        declared = f"{table.schema}.{table.table} declares it {_type_text(column.sqlserver_type)}"
        if not isinstance(value, rule.types) or (isinstance(value, bool) and bool not in rule.types):
            held = f"{_type_name(value)} {_shown(value)}, but {declared} ({rule.description})"
        elif rule.problem is not None and (problem := rule.problem(value)) is not None:
            held = f"{_shown(value)}: {problem}, as {declared}"
        else:
            continue
        raise NotAnEnvelope(
            f"column {name} holds {held}; if the source column's type changed, change it in the contract "
            f"({table.staging_model}.yml), then run with full_refresh"
        )
