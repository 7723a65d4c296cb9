"""JSON text as PostgreSQL's jsonb reads it, where that differs from Python's json: numbers kept as
written, no NaN or Infinity, no lone surrogate, no NUL; and the reason a record is refused.
"""

from __future__ import annotations

import json
import re
import sys
from functools import partial

_COMPACT = {"ensure_ascii": False, "separators": (",", ":")}


class NotAnEnvelope(ValueError):
    """The record cannot be loaded as a change event; ``str(exc)`` is the quarantine reason."""


class JsonbNumber(float):
    """A JSON number with a fraction or exponent, keeping its text: jsonb keeps the number as written,
    so staging's casts see that text, not Python's float (``1e-400`` is no 0.0 to PostgreSQL)."""

    literal: str

    def __new__(cls, text: str) -> JsonbNumber:
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


def loads(text: str, what: str) -> object:
    try:
        return json.loads(
            text, parse_constant=_reject_constant, parse_float=JsonbNumber, parse_int=partial(_integer, what)
        )
    except NotAnEnvelope:
        raise
    except ValueError as exc:
        raise NotAnEnvelope(f"{what} is not JSON: {exc}") from None


def refuse_surrogates(document: object, what: str) -> None:
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


def refuse_nul(text: str, what: str) -> None:
    if "\\u0000" in text and _NUL_ESCAPE.search(text):  # not an escaped backslash followed by 'u0000'
        raise NotAnEnvelope(f"{what} contains a NUL character (\\u0000), which PostgreSQL jsonb cannot store")


# A JSON string (or an unterminated one, to the end), else a bracket: one linear pass over any text.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def nesting(text: str) -> int:
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
