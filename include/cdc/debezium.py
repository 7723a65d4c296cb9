"""What a Debezium SQL Server record must look like before it may enter bronze.

Bronze keeps envelopes as received, so staging can always be rebuilt; what is checked here is only
what staging relies on: a JSON key, a JSON envelope (bare, or wrapped by JsonConverter's
``schemas.enable=true`` form) with a known ``op``, the row image that op needs, the source block with
its LSNs, and the table the topic is for. Anything else is quarantined with the reason, never
dropped and never loaded.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from functools import reduce
from typing import Literal

import msgspec

from include.cdc.contract import (
    DECIMAL_TYPES,
    FLOAT_TYPES,
    INTEGER_TYPES,
    STRING_TYPES,
    Column,
    SourceTable,
)

OPS = frozenset({"c", "u", "d", "r"})
_COMPACT = {"ensure_ascii": False, "separators": (",", ":")}


class NotAnEnvelope(ValueError):
    """The record cannot be loaded as a change event; ``str(exc)`` is the quarantine reason."""


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; JSON (and PostgreSQL's jsonb) does not.
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str, what: str) -> object:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise NotAnEnvelope(f"{what} is not JSON: {exc}") from None


@dataclass(frozen=True)
class ChangeEvent:
    key_json: str  # the key (unwrapped), as JSON text
    envelope_json: str  # the envelope (unwrapped), as JSON text


def _unwrap(document: object) -> tuple[object, bool]:
    """Strip JsonConverter's schema wrapper; report whether there was one."""
    if isinstance(document, dict) and document.keys() == {"schema", "payload"}:
        return document["payload"], True
    return document, False


def parse_key(key: str | None) -> str:
    if key is None:
        raise NotAnEnvelope("missing key: a captured table with a primary key always has one")
    try:
        document, wrapped = _unwrap(_decode_json(key))
    except (msgspec.DecodeError, ValueError):
        document, wrapped = _unwrap(_loads(key, "key"))  # says why it is not JSON
    if not isinstance(document, dict) or not document:
        raise NotAnEnvelope("key is not a JSON object of primary-key columns")
    return json.dumps(document, **_COMPACT) if wrapped else key


def parse_envelope(value: str, table: SourceTable) -> str:
    """Return the envelope as JSON text; raise NotAnEnvelope with the reason when it is not one.

    Valid envelopes take the fast path: one C-level decode that checks the structure and every
    captured column's type at once (msgspec). Anything it refuses goes through the slow, readable
    checks below, which say why.
    """
    try:
        return _fast_envelope(value, table)
    except (msgspec.DecodeError, msgspec.ValidationError, NotAnEnvelope):
        return _checked_envelope(value, table)


def _checked_envelope(value: str, table: SourceTable) -> str:
    schema, table_name = table.schema, table.table
    document, wrapped = _unwrap(_loads(value, "value"))
    if not isinstance(document, dict):
        raise NotAnEnvelope(f"value is JSON but not a Debezium envelope (a {type(document).__name__})")
    op = document.get("op")
    if op not in OPS:
        if "op" not in document:
            raise NotAnEnvelope("value is JSON but not a Debezium envelope (no 'op')")
        raise NotAnEnvelope(f"unknown op {op!r} (expected one of c, u, d, r)")
    source = document.get("source")
    if not isinstance(source, dict):
        raise NotAnEnvelope("envelope has no 'source' block")
    if source.get("table") != table_name or source.get("schema", schema) != schema:
        raise NotAnEnvelope(
            f"envelope for {source.get('schema')}.{source.get('table')} on the topic of {schema}.{table_name}"
        )
    if not isinstance(source.get("commit_lsn"), str):
        raise NotAnEnvelope("envelope has no source.commit_lsn, so it cannot be ordered")
    image = "before" if op == "d" else "after"
    if not isinstance(document.get(image), dict):
        raise NotAnEnvelope(f"op {op!r} envelope without its '{image}' row image")
    _check_types(document[image], table)
    return json.dumps(document, **_COMPACT) if wrapped else value


def parse_change_event(key: str | None, value: str, table: SourceTable) -> ChangeEvent:
    return ChangeEvent(parse_key(key), parse_envelope(value, table))


_decode_json = msgspec.json.Decoder().decode


class _Wrapped(msgspec.Struct, forbid_unknown_fields=True):
    schema: msgspec.Raw
    payload: msgspec.Raw


_decode_wrapped = msgspec.json.Decoder(_Wrapped).decode
_DECODERS: dict[str, msgspec.json.Decoder] = {}


def _envelope_decoder(table: SourceTable) -> msgspec.json.Decoder:
    """A decoder that accepts exactly the envelopes the checks below accept, built from the contract."""
    decoder = _DECODERS.get(table.staging_model)
    if decoder is None:
        row = msgspec.defstruct(
            f"{table.table}Row",
            [
                (c.source_column, reduce(operator.or_, _JSON_TYPES[c.sqlserver_type.name][0]) | None, None)
                for c in table.columns
            ],
        )
        source = msgspec.defstruct(
            f"{table.table}Source",
            [
                ("table", Literal[table.table]),
                ("commit_lsn", str),
                ("schema", Literal[table.schema], table.schema),
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
        decoder = _DECODERS[table.staging_model] = msgspec.json.Decoder(envelope)
    return decoder


def _fast_envelope(value: str, table: SourceTable) -> str:
    decode = _envelope_decoder(table).decode
    try:
        envelope = decode(value)
    except msgspec.ValidationError:
        payload = bytes(_decode_wrapped(value).payload)  # JsonConverter's schemas.enable=true form
        envelope = decode(payload)
        value = payload.decode()
    if (envelope.before if envelope.op == "d" else envelope.after) is None:
        raise NotAnEnvelope("the row image its op needs is missing")
    return value


# JSON types Debezium's JsonConverter gives each kind of SQL Server column.
_JSON_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    **dict.fromkeys(INTEGER_TYPES, ((int,), "an integer")),
    "bit": ((bool,), "true or false"),
    **dict.fromkeys(DECIMAL_TYPES, ((str, int, float), "a base64 or decimal string")),
    **dict.fromkeys(FLOAT_TYPES, ((int, float), "a number")),
    **dict.fromkeys((*STRING_TYPES, "uniqueidentifier", "datetimeoffset"), ((str,), "a string")),
    **dict.fromkeys(("date", "datetime", "smalldatetime", "datetime2"), ((int,), "an epoch number")),
}


_EXPECTED: dict[str, dict[str, tuple[tuple[type, ...], str, Column]]] = {}


def _expected_types(table: SourceTable) -> dict[str, tuple[tuple[type, ...], str, Column]]:
    """Per captured column, the JSON types it may hold; built once per table (keyed by name: hashing the
    whole contract on every record would cost more than the check)."""
    expected = _EXPECTED.get(table.staging_model)
    if expected is None:
        expected = _EXPECTED[table.staging_model] = {
            c.source_column: (*_JSON_TYPES[c.sqlserver_type.name], c) for c in table.columns
        }
    return expected


def _check_types(image: dict, table: SourceTable) -> None:
    """Refuse a row image whose captured columns do not have the JSON type their SQL Server type gives.

    Columns the contract does not know (added at the source) pass: bronze keeps them, staging ignores
    them until the contract adds them. A type change at the source is caught here, with the column,
    instead of turning into NULLs or a failed cast in staging.
    """
    expected = _expected_types(table)
    for name, value in image.items():
        if value is None or name not in expected:
            continue
        types, description, column = expected[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise NotAnEnvelope(
                f"column {name} holds {type(value).__name__} {str(value)[:40]!r}, but "
                f"{table.schema}.{table.table} declares it {column.sqlserver_type.name} ({description}): "
                f"if the source column's type changed, change it in the contract "
                f"({table.staging_model}.yml), then run with full_refresh"
            )
