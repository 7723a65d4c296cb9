"""The landing format: gzip JSONL objects of Kafka records, at keys derived from their offsets.

A key names the topic, the partition and the inclusive offset range the object covers, zero-padded so
that key order is offset order:

    product/raw/topic=cord.ConcordDb.dbo.Product/partition=0/00000000000000005000-00000000000000009999.jsonl.gz

Consecutive objects of a partition tile its offsets (the next object starts at the previous one's last
offset + 1), so a retry that reads the same offsets writes the same key, and the drain can tell which
objects a crashed attempt already wrote. Each line keeps the record exactly as Kafka delivered it:
key, value and header values are kept as text when they are UTF-8 and as base64 (``*_b64``) when not.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
from dataclasses import dataclass

OBJECT_SUFFIX = ".jsonl.gz"
_OFFSET_DIGITS = 20
_KEY_PATTERN = re.compile(
    r"^(?P<prefix>.*)topic=(?P<topic>[^/]+)/partition=(?P<partition>\d+)/"
    r"(?P<first>\d{20})-(?P<last>\d{20})" + re.escape(OBJECT_SUFFIX) + "$"
)


@dataclass(frozen=True, order=True)
class ObjectKey:
    prefix: str
    topic: str
    partition: int
    first_offset: int
    last_offset: int

    def __str__(self) -> str:
        return (
            f"{partition_prefix(self.prefix, self.topic, self.partition)}"
            f"{self.first_offset:0{_OFFSET_DIGITS}d}-{self.last_offset:0{_OFFSET_DIGITS}d}{OBJECT_SUFFIX}"
        )

    @classmethod
    def parse(cls, key: str) -> ObjectKey:
        match = _KEY_PATTERN.match(key)
        if not match:
            raise ValueError(f"{key!r} is not a landed batch key")
        return cls(
            prefix=match["prefix"],
            topic=match["topic"],
            partition=int(match["partition"]),
            first_offset=int(match["first"]),
            last_offset=int(match["last"]),
        )


def topic_prefix(prefix: str, topic: str) -> str:
    return f"{prefix}topic={topic}/"


def partition_prefix(prefix: str, topic: str, partition: int) -> str:
    return f"{topic_prefix(prefix, topic)}partition={partition}/"


def keys_from(prefix: str, topic: str, partition: int, offset: int) -> str | None:
    """A StartAfter bound that lists exactly the objects whose first offset is ``offset`` or later."""
    if offset <= 0:
        return None
    # '~' sorts after '-' and after every digit, so every key starting at offset - 1 sorts before it.
    return f"{partition_prefix(prefix, topic, partition)}{offset - 1:0{_OFFSET_DIGITS}d}~"


def _text_field(name: str, data: bytes | None) -> tuple[str, str | None]:
    if data is None:
        return name, None
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{name}_b64", base64.b64encode(data).decode("ascii")


def encode_record(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]] | None,
) -> bytes:
    """One JSONL line (with its newline) for a Kafka record."""
    record: dict[str, object] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp_ms,
    }
    name, text = _text_field("key", key)
    record[name] = text
    record["headers"] = [dict([("key", k), _text_field("value", v)]) for k, v in headers or ()]
    name, text = _text_field("value", value)
    record[name] = text
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class LandedRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None
    value: str | None
    value_bytes: bytes | None  # set instead of ``value`` when the value was not UTF-8
    key_bytes: bytes | None

    @property
    def is_tombstone(self) -> bool:
        return self.value is None and self.value_bytes is None

    def raw_value(self) -> bytes:
        """The value's bytes exactly as Kafka delivered them."""
        if self.value_bytes is not None:
            return self.value_bytes
        return (self.value or "").encode("utf-8")


def decode_record(line: bytes) -> LandedRecord:
    record = json.loads(line)
    value_b64 = record.get("value_b64")
    key_b64 = record.get("key_b64")
    return LandedRecord(
        topic=record["topic"],
        partition=record["partition"],
        offset=record["offset"],
        timestamp_ms=record.get("timestamp"),
        key=record.get("key"),
        value=record.get("value"),
        value_bytes=base64.b64decode(value_b64) if value_b64 is not None else None,
        key_bytes=base64.b64decode(key_b64) if key_b64 is not None else None,
    )


class BatchBuffer:
    """Accumulates one object's lines, compressed as they come, so memory holds compressed bytes only."""

    def __init__(self, first_offset: int, gzip_level: int) -> None:
        self.first_offset = first_offset
        self.last_offset = first_offset - 1
        self.count = 0
        self._buffer = io.BytesIO()
        # mtime=0: the same records always compress to the same bytes, so a rewrite is identical.
        self._gzip = gzip.GzipFile(fileobj=self._buffer, mode="wb", compresslevel=gzip_level, mtime=0)

    def add(self, offset: int, line: bytes) -> None:
        self._gzip.write(line)
        self.last_offset = offset
        self.count += 1

    def finish(self) -> bytes:
        self._gzip.close()
        return self._buffer.getvalue()


def read_lines(body: bytes) -> list[bytes]:
    """The JSONL lines of a landed object."""
    return gzip.decompress(body).splitlines()
