"""What a Debezium SQL Server record must look like before it may enter bronze.

Bronze keeps envelopes as received, so staging can always be rebuilt; what is checked here is only
what staging relies on: a JSON key, a JSON envelope (bare, or wrapped by JsonConverter's
``schemas.enable=true`` form) with a known ``op``, the row image that op needs with its primary key,
the source block with its LSNs, the table the topic is for, a key that holds the row image's primary
key, and every value staging casts (the captured columns, ``source.ts_ms``, ``source.event_serial_no``)
of the JSON type and within the range its cast takes (``include/dbt/macros/debezium_decode.sql``), so
that no record in bronze can stop staging. Anything else is quarantined with the reason, never dropped
and never loaded.
Ops ``t`` and ``m`` are no row change: ``ops.py`` says what becomes of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, NamedTuple

import msgspec
from msgspec import UNSET, UnsetType

from include.cdc.contract import (
    Column,
    SourceTable,
)
from include.cdc.debezium.jsonb_text import NotAnEnvelope, loads, nesting, refuse_nul, refuse_surrogates
from include.cdc.debezium.keys import check_key, key_and_columns, payload, unwrap
from include.cdc.debezium.ops import MESSAGE_REASON, TruncateEvent
from include.cdc.debezium.value_rules import (
    SOURCE_NUMBERS,
    Recheck,
    Rule,
    plain,
    rule_for,
    shown,
    type_name,
    type_text,
)

OPS = frozenset({"c", "u", "d", "r"})


class WrongType(NotAnEnvelope):
    """A captured column holds what its contract type cannot: the source column's type may have changed."""

    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column


@dataclass(slots=True)
class ChangeEvent:
    key_json: str  # the key (unwrapped), as JSON text
    envelope_json: str  # the envelope (unwrapped), as JSON text
    # The row images, for the columns they carry (``columns.py``): None, a struct of the contract's
    # columns (UNSET where absent; the fast path), or a dict of every column the image carries.
    after: object = None
    before: object = None


_decode_json = msgspec.json.Decoder().decode


def parse_envelope(value: str, table: SourceTable) -> str:
    """Return the envelope as JSON text; raise NotAnEnvelope with the reason when it is not one."""
    return _envelope(value, table)[0]


def _envelope(value: str, table: SourceTable) -> _Envelope:
    """The envelope as JSON text, its after and before images, and the primary key of the image its op
    needs.

    Valid envelopes take the fast path: one C-level decode that checks the structure, every captured
    column's type and most ranges at once (msgspec), then the few checks msgspec cannot say. Anything
    it refuses goes through the slow, readable checks below, which say why.
    """
    try:
        return _fast_envelope(value, table)
    except (msgspec.DecodeError, msgspec.ValidationError, Recheck):
        return _checked_envelope(value, table)


def parse_change_event(key: str | None, value: str, table: SourceTable) -> ChangeEvent:
    # The envelope first: it says what the event is, so a truncate without a key is a truncate, not a
    # row change without its key.
    envelope_json, after, before, image, primary_key = _envelope(value, table)
    key_json, key_columns = key_and_columns(key)
    refuse_nul(key_json, "key")
    refuse_nul(envelope_json, "value")
    check_key(key_columns, _table_checks(table).key_names, image, primary_key)
    return ChangeEvent(key_json, envelope_json, after, before)


def failure_reason(exc: Exception, key: str | None, value: str) -> str:
    """The quarantine reason for an exception the checks do not raise on purpose: its class and meaning."""
    if isinstance(exc, RecursionError):
        depth, part = max((nesting(value), "value"), (nesting(key or ""), "key"))
        return (
            f"{part} nests JSON arrays and objects {depth} levels deep, deeper than the decoder follows "
            f"(RecursionError)"
        )
    return f"checking it raised {type(exc).__name__} ({str(exc)[:200]}), which no check expects"


def _checked_envelope(value: str, table: SourceTable) -> _Envelope:
    schema, table_name = table.schema, table.table
    parsed = loads(value, "value")
    document, wrapped = unwrap(parsed)
    if not isinstance(document, dict):
        raise NotAnEnvelope(f"value is JSON but not a Debezium envelope (a {type_name(document)})")
    op = document.get("op")
    if op == "t":  # the fast path's Literal op refuses both: they always come here
        raise TruncateEvent(table)
    if op == "m":
        raise NotAnEnvelope(MESSAGE_REASON)
    if not isinstance(op, str) or op not in OPS:
        if "op" not in document:
            raise NotAnEnvelope("value is JSON but not a Debezium envelope (no 'op')")
        raise NotAnEnvelope(f"unknown op {shown(op)} (expected one of c, u, d, r)")
    source = document.get("source")
    if not isinstance(source, dict):
        raise NotAnEnvelope("envelope has no 'source' block")
    if source.get("table") != table_name or source.get("schema", schema) != schema:
        raise NotAnEnvelope(
            f"envelope for {plain(source.get('schema'))}.{plain(source.get('table'))} on the topic of "
            f"{schema}.{table_name}"
        )
    if not isinstance(source.get("commit_lsn"), str):
        raise NotAnEnvelope("envelope has no source.commit_lsn, so it cannot be ordered")
    for name, (low, high, cast) in SOURCE_NUMBERS.items():
        number = source.get(name)
        if number is not None and (type(number) is not int or not low <= number <= high):
            raise NotAnEnvelope(f"source.{name} holds {shown(number)}, but staging reads it as {cast}")
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
    refuse_surrogates(parsed, "value")
    before, after = (document.get(name) for name in ("before", "after"))
    images = (after if isinstance(after, dict) else None, before if isinstance(before, dict) else None)
    primary_key = tuple(document[image][c.source_column] for c in table.key_columns)
    return _Envelope(payload(value) if wrapped else value, *images, image, primary_key)


class _Envelope(NamedTuple):
    text: str  # unwrapped
    after: object
    before: object
    image: str  # the row image the op needs: "after", or "before" for a delete
    primary_key: tuple  # that image's primary-key values, in the contract's order


class _Images(msgspec.Struct):
    """Every column the row images carry, undecoded: read only for an envelope with columns the
    contract does not know."""

    before: dict[str, msgspec.Raw] | None = None
    after: dict[str, msgspec.Raw] | None = None


_decode_images = msgspec.json.Decoder(_Images).decode


@dataclass(frozen=True)
class _TableChecks:
    rules: dict[str, tuple[Rule, Column]]  # by source column
    known: msgspec.json.Decoder  # the fast path's: row images of the contract's columns only
    lenient: msgspec.json.Decoder  # the same, passing columns the contract does not know
    fast_checks: tuple[tuple[str, Callable[[object], str | None]], ...]
    key_names: tuple[str, ...]  # the primary key's source columns, in the contract's order


_CHECKS: dict[str, _TableChecks] = {}


def _table_checks(table: SourceTable) -> _TableChecks:
    """Built once per table from the contract (keyed by name: hashing the whole contract on every record
    would cost more than the checks)."""
    checks = _CHECKS.get(table.staging_model)
    if checks is None:
        rules = {c.source_column: (rule_for(c.sqlserver_type), c) for c in table.columns}
        keys = {c.source_column for c in table.key_columns}
        fields = [  # the primary key is required and never null; a Raw value holds its own null
            (name, rule.annotation)
            if name in keys
            else (
                name,
                (rule.annotation if rule.annotation is msgspec.Raw else rule.annotation | None) | UnsetType,
                UNSET,  # absent: told apart from null, so a column the source dropped shows
            )
            for name, (rule, _) in rules.items()
        ]
        source = msgspec.defstruct(
            f"{table.table}Source",
            [
                ("table", Literal[table.table]),
                ("commit_lsn", str),
                ("schema", Literal[table.schema], table.schema),
                *(
                    (name, Annotated[int, msgspec.Meta(ge=low, le=high)] | None, None)
                    for name, (low, high, _) in SOURCE_NUMBERS.items()
                ),
            ],
        )

        def decoder(forbid_unknown_fields: bool) -> msgspec.json.Decoder:
            row = msgspec.defstruct(
                f"{table.table}Row", fields, kw_only=True, forbid_unknown_fields=forbid_unknown_fields
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
            return msgspec.json.Decoder(envelope)

        fast = tuple((name, rule.problem) for name, (rule, _) in rules.items() if rule.fast)
        key_names = tuple(c.source_column for c in table.key_columns)
        checks = _TableChecks(rules, decoder(True), decoder(False), fast, key_names)
        _CHECKS[table.staging_model] = checks
    return checks


def _fast_envelope(value: str, table: SourceTable) -> _Envelope:
    checks = _table_checks(table)
    try:
        envelope = checks.known.decode(value)
        before, after = envelope.before, envelope.after
    except msgspec.ValidationError:
        try:
            value = payload(value)  # JsonConverter's schemas.enable=true
            envelope = checks.known.decode(value)
            before, after = envelope.before, envelope.after
        except msgspec.ValidationError:  # not wrapped, or not known: a column the contract does not know?
            envelope = checks.lenient.decode(value)
            images = _decode_images(value)
            before, after = images.before, images.after
    name = "before" if envelope.op == "d" else "after"
    image = envelope.before if envelope.op == "d" else envelope.after
    if image is None:
        raise Recheck
    for column, problem in checks.fast_checks:
        column_value = getattr(image, column)
        if column_value is not None and column_value is not UNSET and problem(column_value) is not None:
            raise Recheck
    return _Envelope(value, after, before, name, tuple(getattr(image, key) for key in checks.key_names))


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
        declared = f"{table.schema}.{table.table} declares it {type_text(column.sqlserver_type)}"
        if not isinstance(value, rule.types) or (isinstance(value, bool) and bool not in rule.types):
            held = f"{type_name(value)} {shown(value)}, but {declared} ({rule.description})"
        elif rule.problem is not None and (problem := rule.problem(value)) is not None:
            held = f"{shown(value)}: {problem}, as {declared}"
        else:
            continue
        raise WrongType(
            name,
            f"column {name} holds {held}; if the source column's type changed, change it in the contract "
            f"({table.staging_model}.yml), then run with full_refresh",
        )
