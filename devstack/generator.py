"""Debezium SQL Server change events for a captured table, deterministic from a seed.

What a real connector would write to ``<prefix>.<db>.<schema>.<table>``: an initial snapshot (op ``r``,
``source.snapshot`` from ``first`` through ``last``), then creates, updates and deletes each followed by
a tombstone, primary-key changes (a delete and a create with the same LSNs), transactions touching
several rows, and connector restarts that emit recent events again at new offsets. Values are encoded
as Debezium does by default (base64 decimals, epoch ms/µs/ns timestamps), some with
``decimal.handling.mode=string``; messages come in both JsonConverter forms (with and without the
schema wrapper).

The generator keeps the true final state of every row, so tests compare the warehouse with it.
"""

from __future__ import annotations

import base64
import json
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from devstack.values import CatalogValues
from include.cdc.contract import Column, SourceTable, SqlServerType

EPOCH = datetime(1970, 1, 1)
EPOCH_DATE = date(1970, 1, 1)
CONNECTOR_VERSION = "3.6.3.Final"
_COMPACT = {"ensure_ascii": False, "separators": (",", ":")}


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int


@dataclass
class GeneratorOptions:
    products: int = 115  # rows active at the end
    events: int = 31_970  # change events (envelopes) in all, including re-emitted ones
    seed: int = 7
    partitions: int = 3
    converter: str = "mixed"  # schema | plain | mixed: JsonConverter schemas.enable true/false
    decimals: str = "mixed"  # precise | string | mixed: decimal.handling.mode
    delete_share: float = 0.02  # of streaming events
    pk_change_share: float = 0.002
    soft_delete_share: float = 0.005
    transaction_share: float = 0.1  # updates that commit together with the next one
    restart_every: int = 5_000  # a connector restart re-emits recent events every so many events (0: never)
    restart_replay: int = 40
    repartition_at: float = 0.0  # share of the stream after which keys hash to other partitions (0: never)
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 6, 0, 0))
    period: timedelta = timedelta(days=30)
    topic_prefix: str = "cord"
    database: str = "ConcordDb"


# -- encoding ------------------------------------------------------------------------------------


def _decimal_bytes(value: Decimal, scale: int) -> str:
    unscaled = int(value.scaleb(scale).to_integral_value())
    # Java's BigInteger.toByteArray(): the shortest two's complement, sign bit included.
    length = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
    return base64.b64encode(unscaled.to_bytes(length, "big", signed=True)).decode("ascii")


def encode_value(sql_type: SqlServerType, value, decimal_mode: str, sub_micro: int = 0):
    """A Python value as Debezium's JSON encodes a column of ``sql_type``."""
    if value is None:
        return None
    if sql_type.name in {"decimal", "numeric", "money", "smallmoney"}:
        scaled = Decimal(value).quantize(Decimal(1).scaleb(-sql_type.scale))
        return f"{scaled:f}" if decimal_mode == "string" else _decimal_bytes(scaled, sql_type.scale)
    if sql_type.name == "date":
        return (value - EPOCH_DATE).days
    if sql_type.name == "datetimeoffset":
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    unit = sql_type.epoch_unit
    if unit:
        micros = (value - EPOCH) // timedelta(microseconds=1)
        if unit == "ms":
            return micros // 1000
        if unit == "us":
            return micros
        return micros * 1000 + sub_micro  # datetime2(7): 100 ns resolution
    return value


def connect_field_schema(column: Column, decimal_mode: str) -> dict:
    """The Kafka Connect schema of one column, as the SQL Server connector declares it."""
    t = column.sqlserver_type
    schema: dict = {"optional": column.source_column != "ID", "field": column.source_column}
    if t.name in {"decimal", "numeric", "money", "smallmoney"}:
        if decimal_mode == "string":
            return {"type": "string", **schema}
        return {
            "type": "bytes",
            **schema,
            "name": "org.apache.kafka.connect.data.Decimal",
            "version": 1,
            "parameters": {"scale": str(t.scale), "connect.decimal.precision": str(t.precision)},
        }
    simple = {
        "bigint": "int64",
        "int": "int32",
        "smallint": "int16",
        "tinyint": "int16",
        "bit": "boolean",
        "real": "float",
        "float": "double",
    }
    if t.name in simple:
        return {"type": simple[t.name], **schema}
    logical = {
        "days": ("int32", "io.debezium.time.Date"),
        "ms": ("int64", "io.debezium.time.Timestamp"),
        "us": ("int64", "io.debezium.time.MicroTimestamp"),
        "ns": ("int64", "io.debezium.time.NanoTimestamp"),
    }
    if t.epoch_unit:
        kind, name = logical[t.epoch_unit]
        return {"type": kind, **schema, "name": name, "version": 1}
    if t.name == "datetimeoffset":
        return {"type": "string", **schema, "name": "io.debezium.time.ZonedTimestamp", "version": 1}
    return {"type": "string", **schema}


def _source_schema() -> dict:
    fields = [
        ("version", "string"),
        ("connector", "string"),
        ("name", "string"),
        ("ts_ms", "int64"),
        ("snapshot", "string"),
        ("db", "string"),
        ("sequence", "string"),
        ("ts_us", "int64"),
        ("ts_ns", "int64"),
        ("schema", "string"),
        ("table", "string"),
        ("change_lsn", "string"),
        ("commit_lsn", "string"),
        ("event_serial_no", "int64"),
    ]
    return {
        "type": "struct",
        "fields": [
            {
                "type": kind,
                "optional": name not in {"version", "connector", "name", "ts_ms", "db", "schema", "table"},
                "field": name,
            }
            for name, kind in fields
        ],
        "optional": False,
        "name": "io.debezium.connector.sqlserver.Source",
        "version": 1,
        "field": "source",
    }


def envelope_schema(table: SourceTable, topic: str, decimal_mode: str) -> dict:
    row = {
        "type": "struct",
        "fields": [connect_field_schema(c, decimal_mode) for c in table.columns],
        "optional": True,
        "name": f"{topic}.Value",
    }
    transaction = {
        "type": "struct",
        "fields": [
            {"type": "string", "optional": False, "field": "id"},
            {"type": "int64", "optional": False, "field": "total_order"},
            {"type": "int64", "optional": False, "field": "data_collection_order"},
        ],
        "optional": True,
        "name": "event.block",
        "version": 1,
        "field": "transaction",
    }
    return {
        "type": "struct",
        "fields": [
            {**row, "field": "before"},
            {**row, "field": "after"},
            _source_schema(),
            {"type": "string", "optional": False, "field": "op"},
            {"type": "int64", "optional": True, "field": "ts_ms"},
            {"type": "int64", "optional": True, "field": "ts_us"},
            {"type": "int64", "optional": True, "field": "ts_ns"},
            transaction,
        ],
        "optional": False,
        "name": f"{topic}.Envelope",
        "version": 2,
    }


def key_schema(table: SourceTable, topic: str) -> dict:
    return {
        "type": "struct",
        "fields": [connect_field_schema(c, "precise") | {"optional": False} for c in table.key_columns],
        "optional": False,
        "name": f"{topic}.Key",
    }


TRANSACTION_SPAN = 64  # LSN numbers reserved per transaction: its changes, then its commit


def lsn(sequence: int) -> str:
    """A SQL Server LSN string (VLF:block:slot); string order is LSN order (fixed-width hex)."""
    return f"{0x27 + (sequence >> 28):08x}:{(sequence >> 12) & 0xFFFF:08x}:{sequence & 0xFFF:04x}"


# -- the stream ----------------------------------------------------------------------------------


@dataclass
class FinalState:
    """What the source table holds after the stream: every row ever seen, and which ones are deleted."""

    rows: dict[tuple, dict] = field(default_factory=dict)
    deleted: set[tuple] = field(default_factory=set)

    def active_keys(self) -> set[tuple]:
        return {k for k, row in self.rows.items() if k not in self.deleted and not row.get("IsDeleted")}


@dataclass
class StreamCounts:
    envelopes: int = 0
    tombstones: int = 0
    reemitted: int = 0
    by_op: dict[str, int] = field(default_factory=lambda: {"r": 0, "c": 0, "u": 0, "d": 0})

    @property
    def messages(self) -> int:
        return self.envelopes + self.tombstones


class ChangeEventGenerator:
    def __init__(self, table: SourceTable, options: GeneratorOptions | None = None) -> None:
        self.table = table
        self.options = options or GeneratorOptions()
        self.rng = random.Random(self.options.seed)
        self.values = CatalogValues(table.columns, self.rng)
        self.topic = table.topic(self.options.topic_prefix, self.options.database)
        self.state = FinalState()
        self.counts = StreamCounts()
        self._sequence = 0
        self._changes_in_transaction = 0
        self._schemas: dict[str, str] = {}
        self._encoded: dict[tuple[int, str], tuple[dict, dict]] = {}
        self._key_schema = key_schema(table, self.topic)
        self._pk_sources = [c.source_column for c in table.key_columns]

    # -- forms -----------------------------------------------------------------------------------

    def _forms(self, index: int) -> tuple[bool, str]:
        """(schemas.enable, decimal.handling.mode) for the ``index``-th event: modes change in stretches."""
        stretch = index // 997
        wrap = {"schema": True, "plain": False}.get(self.options.converter, stretch % 2 == 0)
        decimals = {"precise": "precise", "string": "string"}.get(
            self.options.decimals, "string" if stretch % 3 == 2 else "precise"
        )
        return wrap, decimals

    def _encode_row(self, row: dict | None, decimal_mode: str) -> dict | None:
        if row is None:
            return None
        # A row's after-image is the next change's before-image: encode each row version once.
        cached = self._encoded.get((id(row), decimal_mode))
        if cached is not None and cached[0] is row:
            return cached[1]
        # datetime2(7) carries 100 ns steps that PostgreSQL cannot keep: give each a stable, non-zero one.
        spread = zlib.crc32(repr(self._key_of(row)).encode())
        encoded = {
            c.source_column: encode_value(
                c.sqlserver_type,
                row.get(c.source_column),
                decimal_mode,
                sub_micro=(spread + i) % 9 * 100 + 100,
            )
            for i, c in enumerate(self.table.columns)
        }
        if len(self._encoded) > 4 * len(self.state.rows) + 1000:
            self._encoded.clear()
        self._encoded[(id(row), decimal_mode)] = (row, encoded)
        return encoded

    def _key_of(self, row: dict) -> tuple:
        return tuple(row[name] for name in self._pk_sources)

    def _key_bytes(self, key: tuple, wrap: bool) -> bytes:
        payload = dict(zip(self._pk_sources, key, strict=True))
        document = {"schema": self._key_schema, "payload": payload} if wrap else payload
        return json.dumps(document, **_COMPACT).encode()

    def _partition(self, key: tuple, position: float) -> int:
        salt = 1 if self.options.repartition_at and position >= self.options.repartition_at else 0
        return (zlib.crc32(repr(key).encode()) + salt) % self.options.partitions

    def _message(self, op, before, after, source_extra, moment, position, index, headers=()) -> Message:
        wrap, decimal_mode = self._forms(index)
        row = after if after is not None else before
        key = self._key_of(row)
        ts_ms = int((moment - EPOCH) / timedelta(milliseconds=1))
        lag = self.rng.randint(5, 900)
        envelope = {
            "before": self._encode_row(before, decimal_mode),
            "after": self._encode_row(after, decimal_mode),
            "source": {
                "version": CONNECTOR_VERSION,
                "connector": "sqlserver",
                "name": self.options.topic_prefix,
                "ts_ms": ts_ms,
                "snapshot": "false",
                "db": self.options.database,
                "sequence": None,
                "ts_us": ts_ms * 1000,
                "ts_ns": ts_ms * 1_000_000,
                "schema": self.table.schema,
                "table": self.table.table,
                **source_extra,
            },
            "op": op,
            "ts_ms": ts_ms + lag,
            "ts_us": (ts_ms + lag) * 1000,
            "ts_ns": (ts_ms + lag) * 1_000_000,
            "transaction": None,
        }
        if not wrap and index % 5 == 0 and envelope["source"]["snapshot"] == "false":
            envelope["source"]["snapshot"] = False  # older connectors wrote a boolean
        payload = json.dumps(envelope, **_COMPACT)
        if wrap:
            # The schema is the same for every event of a form: serialize it once.
            if decimal_mode not in self._schemas:
                schema = envelope_schema(self.table, self.topic, decimal_mode)
                self._schemas[decimal_mode] = json.dumps(schema, **_COMPACT)
            payload = f'{{"schema":{self._schemas[decimal_mode]},"payload":{payload}}}'
        self.counts.envelopes += 1
        self.counts.by_op[op] += 1
        return Message(
            self.topic,
            self._partition(key, position),
            self._key_bytes(key, wrap),
            payload.encode(),
            list(headers),
            ts_ms + lag,
        )

    def _tombstone(self, deleted: Message, key: tuple, position: float) -> Message:
        self.counts.tombstones += 1
        wrap = deleted.key.startswith(b'{"schema"')
        return Message(
            self.topic,
            self._partition(key, position),
            self._key_bytes(key, wrap),
            None,
            [],
            deleted.timestamp_ms,
        )

    # -- the plan --------------------------------------------------------------------------------

    def _plan(self, streaming: int) -> list[str]:
        """The kinds of streaming changes, in order, balanced so ``products`` rows end active."""
        o = self.options
        deletes = int(streaming * o.delete_share)
        pk_changes = int(streaming * o.pk_change_share)
        soft = int(streaming * o.soft_delete_share)
        creates = deletes + soft
        updates = streaming - creates - deletes - soft - 2 * pk_changes
        if updates < 0:
            raise ValueError("too few events for the requested mix of creates, deletes and key changes")
        plan = ["c"] * creates + ["d"] * deletes + ["s"] * soft + ["k"] * pk_changes + ["u"] * updates
        self.rng.shuffle(plan)
        return plan

    def _restarts(self) -> tuple[int, int]:
        """(connector restarts, envelopes each re-emits) within the requested number of events."""
        o = self.options
        if not o.restart_every or not o.restart_replay:
            return 0, 0
        return (o.events - o.products) // (o.restart_every + o.restart_replay), o.restart_replay

    def _next_transaction(self) -> str:
        """Start a transaction; return its commit LSN (after every change LSN it will hold)."""
        self._sequence += TRANSACTION_SPAN
        self._changes_in_transaction = 0
        return lsn(self._sequence + TRANSACTION_SPAN - 1)

    def _next_change(self) -> str:
        self._changes_in_transaction += 1
        return lsn(self._sequence + self._changes_in_transaction)

    def messages(self) -> Iterator[Message]:
        """Every message, in the order the connector writes them (tombstones included)."""
        o = self.options
        restarts, replay = self._restarts()
        streaming = o.events - o.products - restarts * replay
        if streaming < 0:
            raise ValueError("events must be at least the number of products")
        plan = self._plan(streaming)
        step = o.period / max(1, o.events)
        moment = o.start
        next_id = 1001

        # Snapshot: every row read once, all at the LSN current when the snapshot started.
        snapshot_lsn = self._next_transaction()
        for i in range(o.products):
            row = self.values.new_row(next_id, moment)
            next_id += 1
            flag = "first" if i == 0 else "last" if i == o.products - 1 else "true"
            source = {
                "snapshot": flag,
                "commit_lsn": snapshot_lsn,
                "change_lsn": None,
                "event_serial_no": None,
            }
            self.state.rows[self._key_of(row)] = row
            yield self._message("r", None, row, source, moment, 0.0, i)
            moment += step

        active = list(self.state.rows)
        index = o.products
        recent: list[Message] = []
        restart_points = {len(plan) * (n + 1) // (restarts + 1) for n in range(restarts)}
        commit = None
        for position_index, kind in enumerate(plan):
            position = position_index / len(plan)
            if commit is None:
                commit = self._next_transaction()
            source = {"commit_lsn": commit, "change_lsn": self._next_change()}
            if kind == "c" or not active:
                row = self.values.new_row(next_id, moment)
                next_id += 1
                key = self._key_of(row)
                self.state.rows[key] = row
                active.append(key)
                out = [
                    self._message("c", None, row, {**source, "event_serial_no": 1}, moment, position, index)
                ]
            elif kind == "d":
                key = active.pop(self.rng.randrange(len(active)))
                self.state.deleted.add(key)
                deleted = self._message(
                    "d", self.state.rows[key], None, {**source, "event_serial_no": 1}, moment, position, index
                )
                out = [deleted, self._tombstone(deleted, key, position)]
            elif kind == "k":
                # A primary-key update: Debezium emits a delete of the old key and a create of the new one.
                key = active.pop(self.rng.randrange(len(active)))
                old = self.state.rows[key]
                new = {**old, "ID": next_id, "Updated": moment}
                next_id += 1
                new_key = self._key_of(new)
                self.state.deleted.add(key)
                self.state.rows[new_key] = new
                active.append(new_key)
                deleted = self._message(
                    "d",
                    old,
                    None,
                    {**source, "event_serial_no": 1},
                    moment,
                    position,
                    index,
                    headers=[("__debezium.newkey", self._key_bytes(new_key, False))],
                )
                created = self._message(
                    "c",
                    None,
                    new,
                    {**source, "event_serial_no": 2},
                    moment,
                    position,
                    index + 1,
                    headers=[("__debezium.oldkey", self._key_bytes(key, False))],
                )
                out = [deleted, self._tombstone(deleted, key, position), created]
            else:
                key = self.rng.choice(active)
                before = self.state.rows[key]
                after = self.values.change(before, moment)
                if kind == "s":
                    after["IsDeleted"] = True
                    active.remove(key)
                self.state.rows[key] = after
                out = [
                    self._message(
                        "u", before, after, {**source, "event_serial_no": 2}, moment, position, index
                    )
                ]
            for message in out:
                yield message
                if message.value is not None:
                    index += 1
                    recent.append(message)
            del recent[: -replay or len(recent)]
            moment += step
            # Several updates may commit together; anything else closes the transaction.
            keep_open = kind == "u" and self.rng.random() < o.transaction_share
            if not keep_open or self._changes_in_transaction >= TRANSACTION_SPAN - 2:
                commit = None
            if position_index + 1 in restart_points:
                # A connector restart: the events since its last committed source offset come again.
                for message in recent[-replay:]:
                    self.counts.envelopes += 1
                    self.counts.reemitted += 1
                    yield message


def expected_staging_rows(generator: ChangeEventGenerator) -> dict[tuple, dict]:
    """The staging rows the warehouse must end with: staging column name -> value as psycopg returns it."""
    rows = {}
    for key, row in generator.state.rows.items():
        out = {}
        for column in generator.table.columns:
            value = row.get(column.source_column)
            t = column.sqlserver_type
            if value is not None and t.name == "uniqueidentifier":
                value = value.lower()
            elif value is not None and t.name in {"decimal", "numeric", "money", "smallmoney"}:
                value = Decimal(value).quantize(Decimal(1).scaleb(-t.scale))
            out[column.name] = value
        out["deleted"] = key in generator.state.deleted
        rows[key] = out
    return rows
