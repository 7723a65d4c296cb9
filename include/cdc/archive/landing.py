"""The landing format: gzip JSONL objects of Kafka records, at keys derived from their offsets.

A key names the topic, the partition and the inclusive offset range the object covers, zero-padded so
that key order is offset order:

    product/raw/topic=cord.ConcordDb.dbo.Product/partition=0/00000000000000005000-00000000000000009999.jsonl.gz

Consecutive objects of a partition tile its offsets (the next object starts at the previous one's last
offset + 1), so a retry that reads the same offsets writes the same key, and the drain can tell which
objects a crashed attempt already wrote. Each line keeps the record exactly as Kafka delivered it:
key, value and header values are kept as text when they are UTF-8 and as base64 (``*_b64``, with the
text field null) when not.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
from isal import igzip, isal_zlib

COMPRESS_CHUNK_LINES = 500  # lines joined per compress call

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


class _Header(msgspec.Struct, omit_defaults=True):
    key: str
    value: str | None
    value_b64: str | None = None


class _Line(msgspec.Struct, omit_defaults=True):
    """One landed record. ``key``/``value`` hold UTF-8 text; bytes that are not UTF-8 go to ``*_b64``."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: str | None
    headers: list[_Header]
    value: str | None
    key_b64: str | None = None
    value_b64: str | None = None


class _LineRead(msgspec.Struct):
    """The reading side: tolerant of fields a writer left out."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None = None
    key: str | None = None
    value: str | None = None
    key_b64: str | None = None
    value_b64: str | None = None


_encode_line = msgspec.json.Encoder().encode
_decode_line = msgspec.json.Decoder(_LineRead).decode


def _text(data: bytes | None) -> tuple[str | None, str | None]:
    """(text, base64): text when the bytes are UTF-8, base64 otherwise."""
    if data is None:
        return None, None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, base64.b64encode(data).decode("ascii")


def _header(key: str, value: bytes | None) -> _Header:
    text, b64 = _text(value)
    return _Header(key, text, b64)


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
    key_text, key_b64 = _text(key)
    value_text, value_b64 = _text(value)
    line = _Line(
        topic,
        partition,
        offset,
        timestamp_ms,
        key_text,
        [_header(k, v) for k, v in headers] if headers else [],
        value_text,
        key_b64,
        value_b64,
    )
    return _encode_line(line) + b"\n"


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
    record = _decode_line(line)
    return LandedRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key,
        value=record.value,
        value_bytes=base64.b64decode(record.value_b64) if record.value_b64 is not None else None,
        key_bytes=base64.b64decode(record.key_b64) if record.key_b64 is not None else None,
    )


FINGERPRINT_METADATA = "last-record"  # object metadata: the fingerprint of the object's last record


def record_fingerprint(timestamp_ms: int | None, key: bytes | None, value: bytes | None) -> str:
    """A short digest of one record, stored with the object that ends with it: a later drain compares it
    with what Kafka holds at that offset, so objects of another log (a recreated topic, a broker whose
    log was reset) are never taken as covering this log's offsets."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (str(timestamp_ms).encode(), key, value):
        digest.update(b"-" if part is None else b"%d:" % len(part) + part)
    return digest.hexdigest()


class BatchBuffer:
    """One object's lines. They are compressed when the batch is full (``finish``), which releases the
    GIL, so the drain can compress and upload batches on other threads while it reads."""

    def __init__(self, first_offset: int, gzip_level: int) -> None:
        self.first_offset = first_offset
        self.last_offset = first_offset - 1
        self.count = 0
        self.gzip_level = gzip_level
        self._lines: list[bytes] = []

    def add(self, offset: int, line: bytes) -> None:
        self._lines.append(line)
        self.last_offset = offset
        self.count += 1

    def finish(self) -> bytes:
        """The gzip object. The lines are compressed a chunk at a time and released, so an upload in
        flight holds only compressed bytes, never a second copy of the batch."""
        # wbits 31: a gzip member with mtime 0, so the same records always compress to the same bytes
        # and a rewrite is identical.
        compressor = isal_zlib.compressobj(self.gzip_level, isal_zlib.DEFLATED, 31)
        lines, self._lines = self._lines, []
        parts = [
            compressor.compress(b"".join(lines[i : i + COMPRESS_CHUNK_LINES]))
            for i in range(0, len(lines), COMPRESS_CHUNK_LINES)
        ]
        parts.append(compressor.flush())
        return b"".join(parts)


def read_lines(body: bytes) -> Iterator[bytes]:
    """The JSONL lines of a landed object, decompressed as they are read: the whole text of an object
    is never in memory at once."""
    with igzip.IGzipFile(fileobj=io.BytesIO(body)) as text:
        yield from text


class DamagedObject(RuntimeError):
    """A landed object that is not gzip JSONL of landed records: the archive is damaged (the drain only
    writes whole records), so the object cannot be loaded, nor any of its records quarantined."""


def read_records(key: str, body: bytes) -> Iterator[LandedRecord]:
    """The records of the landed object ``key``, read as a stream; damage fails with the key and line."""
    number = 0
    try:
        for line in read_lines(body):
            number += 1
            yield decode_record(line)
    except (OSError, EOFError, isal_zlib.error) as exc:
        raise _damaged(key, f"is not a whole gzip stream after line {number}", exc) from None
    except (msgspec.MsgspecError, ValueError) as exc:
        raise _damaged(key, f"line {number} is not a landed record", exc) from None


def _damaged(key: str, damage: str, exc: Exception) -> DamagedObject:
    return DamagedObject(
        f"Landed object {key}: {damage} ({type(exc).__name__}: {exc}). The archive is damaged: restore the "
        f"object from the bucket's versions or a backup, then rerun."
    )
