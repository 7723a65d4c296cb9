"""What each captured column may hold, by its SQL Server type: the JSON types Debezium gives it and the
range or format staging's cast needs (``include/dbt/macros/debezium_decode.sql``).

``envelope`` builds each table's fast decoder and its readable checks from these rules.
"""

from __future__ import annotations

import base64
import decimal
import math
import re
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache, partial
from typing import Annotated

import msgspec

from include.cdc.contract import DECIMAL_TYPES, FLOAT_TYPES, INTEGER_TYPES, SqlServerType


class Recheck(Exception):
    """The fast path cannot accept the record; the checked path accepts it or says why not."""


def type_name(value: object) -> str:
    return "float" if isinstance(value, float) else type(value).__name__


def plain(name: object) -> str:
    """A name from the record as a reason shows it: as is when it is short printable text."""
    return name if isinstance(name, str) and name.isprintable() and len(name) <= 40 else shown(name)


def shown(value: object) -> str:
    """A value as a reason shows it: numbers as written, the rest as Python's repr, at most 40 characters."""
    text = getattr(value, "literal", None) or (str(value) if type(value) is int else repr(value))
    return text if len(text) <= 40 else f"{text[:37]}..."


# -- What staging's casts take (include/dbt/macros/debezium_decode.sql, models/staging/) ----

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


SOURCE_NUMBERS = {  # staging casts these source fields: (lowest, highest, what it reads them as)
    "ts_ms": (*_epoch_range("ms"), f"epoch milliseconds within {_epoch_dates('ms')}"),
    "event_serial_no": (*_INTEGER_RANGES["int"], "an integer"),
}


def in_range(low: int, high: int, described: str, value: int) -> str | None:
    return None if low <= value <= high else f"outside {described}"


def _number_text(value: object) -> str | None:
    """A JSON number's text as written (None for null); a msgspec Raw that is no number goes to the
    checked path, which says what it is."""
    if isinstance(value, msgspec.Raw):
        text = bytes(value).decode()
        if text == "null":
            return None
        if text[0] not in "-0123456789":
            raise Recheck
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
class Rule:
    """What one captured column may hold: the JSON types its SQL Server type gives, and what staging's
    cast needs of the value."""

    types: tuple[type, ...]
    description: str
    annotation: object  # the msgspec type the fast path decodes it as (with the ranges msgspec can say)
    problem: Callable[[object], str | None] | None = None  # range or format, None when fine
    fast: bool = False  # the fast path runs ``problem`` too: its annotation cannot say it


def rule_for(sql_type: SqlServerType) -> Rule:
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
        return Rule(
            (int,),
            description,
            Annotated[int, msgspec.Meta(ge=low, le=high)],
            partial(in_range, low, high, described),
        )
    if name == "bit":
        return Rule((bool,), "true or false", bool)
    if name in DECIMAL_TYPES:  # numbers (decimal.handling.mode=double) and rarer strings: checked path
        fitting = Annotated[str, msgspec.Meta(pattern=_fitting_decimal(sql_type.precision, sql_type.scale))]
        check = partial(_decimal_problem, sql_type.precision, sql_type.scale)
        return Rule((str, int, float), "a base64 or decimal string", fitting, check)
    if name in FLOAT_TYPES:  # decoded raw: the check needs the number's text
        return Rule((int, float), "a number", msgspec.Raw, partial(_float_problem, name), fast=True)
    if name == "uniqueidentifier":
        return Rule((str,), "a string", Annotated[str, msgspec.Meta(pattern=_UUID)], _uuid_problem)
    if name == "datetimeoffset":
        return Rule((str,), "a string", str, _timestamp_problem, fast=True)
    return Rule((str,), "a string", str)


def type_text(sql_type: SqlServerType) -> str:
    if sql_type.scale is not None:
        return f"{sql_type.name}({sql_type.precision},{sql_type.scale})"
    if sql_type.precision is not None:
        return f"{sql_type.name}({sql_type.precision})"
    return sql_type.name
