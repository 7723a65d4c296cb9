"""How the Debezium SQL Server connector encodes rows, keys and envelopes as JSON (JsonConverter).

Defaults of the connector: decimals as base64 of the unscaled two's-complement integer (or plain
strings with ``decimal.handling.mode=string``), datetime/datetime2 as epoch ms, µs or ns by precision,
dates as epoch days, datetimeoffset as ISO strings. ``TableEncoder`` builds whole Kafka messages for
one captured table, in either JsonConverter form (with or without the schema wrapper).
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from include.cdc.contract import Column, SourceTable, SqlServerType

EPOCH = datetime(1970, 1, 1)
EPOCH_DATE = date(1970, 1, 1)
CONNECTOR_VERSION = "3.6.3.Final"
COMPACT = {"ensure_ascii": False, "separators": (",", ":")}


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int


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


class TableEncoder:
    """Kafka messages of one captured table, as the connector writes them to its topic."""

    def __init__(self, table: SourceTable, topic_prefix: str, database: str, partitions: int) -> None:
        self.table = table
        self.topic = table.topic(topic_prefix, database)
        self.topic_prefix = topic_prefix
        self.database = database
        self.partitions = partitions
        self.key_sources = [c.source_column for c in table.key_columns]
        self._key_schema = key_schema(table, self.topic)
        self._schemas: dict[str, str] = {}
        self._encoded: dict[tuple[int, str], tuple[dict, dict]] = {}

    def key_of(self, row: dict) -> tuple:
        return tuple(row[name] for name in self.key_sources)

    def key_bytes(self, key: tuple, wrap: bool) -> bytes:
        payload = dict(zip(self.key_sources, key, strict=True))
        document = {"schema": self._key_schema, "payload": payload} if wrap else payload
        return json.dumps(document, **COMPACT).encode()

    def partition(self, key: tuple, salt: int = 0) -> int:
        return (zlib.crc32(repr(key).encode()) + salt) % self.partitions

    def encode_row(self, row: dict | None, decimal_mode: str) -> dict | None:
        if row is None:
            return None
        # A row's after-image is the next change's before-image: encode each row version once.
        cached = self._encoded.get((id(row), decimal_mode))
        if cached is not None and cached[0] is row:
            return cached[1]
        # datetime2(7) carries 100 ns steps that PostgreSQL cannot keep: give each a stable, non-zero one.
        spread = zlib.crc32(repr(self.key_of(row)).encode())
        encoded = {
            c.source_column: encode_value(
                c.sqlserver_type,
                row.get(c.source_column),
                decimal_mode,
                sub_micro=(spread + i) % 9 * 100 + 100,
            )
            for i, c in enumerate(self.table.columns)
        }
        if len(self._encoded) > 100_000:
            self._encoded.clear()
        self._encoded[(id(row), decimal_mode)] = (row, encoded)
        return encoded

    def message(
        self,
        op: str,
        before: dict | None,
        after: dict | None,
        source: dict,
        moment: datetime,
        lag_ms: int,
        wrap: bool,
        decimal_mode: str,
        salt: int = 0,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Message:
        key = self.key_of(after if after is not None else before)
        ts_ms = int((moment - EPOCH) / timedelta(milliseconds=1))
        envelope = {
            "before": self.encode_row(before, decimal_mode),
            "after": self.encode_row(after, decimal_mode),
            "source": {
                "version": CONNECTOR_VERSION,
                "connector": "sqlserver",
                "name": self.topic_prefix,
                "ts_ms": ts_ms,
                "snapshot": "false",
                "db": self.database,
                "sequence": None,
                "ts_us": ts_ms * 1000,
                "ts_ns": ts_ms * 1_000_000,
                "schema": self.table.schema,
                "table": self.table.table,
                **source,
            },
            "op": op,
            "ts_ms": ts_ms + lag_ms,
            "ts_us": (ts_ms + lag_ms) * 1000,
            "ts_ns": (ts_ms + lag_ms) * 1_000_000,
            "transaction": None,
        }
        if not wrap and envelope["source"]["snapshot"] == "false" and ts_ms % 5 == 0:
            envelope["source"]["snapshot"] = False  # older connectors wrote a boolean
        payload = json.dumps(envelope, **COMPACT)
        if wrap:
            # The schema is the same for every event of a form: serialize it once.
            if decimal_mode not in self._schemas:
                self._schemas[decimal_mode] = json.dumps(
                    envelope_schema(self.table, self.topic, decimal_mode), **COMPACT
                )
            payload = f'{{"schema":{self._schemas[decimal_mode]},"payload":{payload}}}'
        return Message(
            self.topic,
            self.partition(key, salt),
            self.key_bytes(key, wrap),
            payload.encode(),
            headers or [],
            ts_ms + lag_ms,
        )

    def tombstone(self, deleted: Message, key: tuple, salt: int = 0) -> Message:
        wrap = deleted.key.startswith(b'{"schema"')
        return Message(
            self.topic, self.partition(key, salt), self.key_bytes(key, wrap), None, [], deleted.timestamp_ms
        )
