"""One landed object, split into COPY rows, tombstones and quarantined records, before it is loaded.

Every record is checked as a Debezium change event of its table (``include/cdc/debezium/``); one that
fails is quarantined with the reason, whatever its bytes. The next objects are prepared in a thread
while the current one is copied.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from include.cdc.archive.landing import LandedRecord, ObjectKey, read_records
from include.cdc.bronze.copy_text import copy_field, copy_timestamp
from include.cdc.bronze.target import BronzeTarget, Counts
from include.cdc.debezium.columns import ColumnsSeen
from include.cdc.debezium.envelope import WrongType, failure_reason, parse_change_event
from include.cdc.debezium.jsonb_text import NotAnEnvelope
from include.cdc.debezium.ops import TruncateEvent

PREFETCH = 1  # objects downloaded and parsed ahead of the one being copied


@dataclass
class Quarantined:
    offset: int
    reason: str
    raw: bytes
    truncate: bool = False  # a truncate event: the run fails once the rest is loaded (load.py)


@dataclass
class PreparedObject:
    key: ObjectKey
    key_text: str
    rows: list[bytes]  # COPY lines (copy_rows' columns, the offset first), one per change event
    counts: Counts
    quarantined: list[Quarantined]
    columns: ColumnsSeen  # what its events carried, for the schema drift


def named(key: str) -> str:
    """A landed object as errors name it: its key and the offsets it holds."""
    parsed = ObjectKey.parse(key)
    return f"object {key} (offsets {parsed.first_offset}..{parsed.last_offset})"


def _copy_row(record: LandedRecord, target: BronzeTarget, tail: str, columns: ColumnsSeen) -> bytes:
    """The record's COPY line, ``tail`` holding the fields every row of its object shares; NotAnEnvelope
    with the reason when it may not enter bronze. Its columns go to ``columns``."""
    if record.key is None and record.key_bytes is not None:
        raise NotAnEnvelope("key is not valid UTF-8")
    if record.value is None:
        raise NotAnEnvelope("value is not valid UTF-8")
    event = parse_change_event(record.key, record.value, target.table)
    columns.add(record.offset, event)
    timestamp = copy_timestamp(record.timestamp_ms)
    key_field, value_field = copy_field(event.key_json), copy_field(event.envelope_json)
    return f"{record.offset}\t{timestamp}\t{key_field}\t{value_field}{tail}".encode()


def prepare_object(key: str, body: bytes, target: BronzeTarget) -> PreparedObject:
    """Split one landed object into COPY rows, tombstones and quarantined records.

    No record can stop the load: whatever checking one raises quarantines it with a reason (a damaged
    object, which is no Kafka input, raises DamagedObject). Only records that fail pay for the handlers.
    """
    parsed_key = ObjectKey.parse(key)
    tail = f"\t{copy_field(target.topic)}\t{parsed_key.partition}\t{copy_field(key)}\n"
    counts = Counts(objects=1)
    rows: list[bytes] = []
    quarantined: list[Quarantined] = []
    columns = ColumnsSeen(target.table)
    for record in read_records(key, body):
        counts.records += 1
        if record.is_tombstone:
            counts.tombstones += 1
            continue
        truncate = False
        try:
            rows.append(_copy_row(record, target, tail, columns))
            continue
        except TruncateEvent as exc:
            reason, truncate = str(exc), True
        except WrongType as exc:
            reason = str(exc)
            columns.quarantined(record.offset, exc.column, reason)
        except NotAnEnvelope as exc:
            reason = str(exc)
        except MemoryError:  # the worker's, not the record's
            raise
        except Exception as exc:
            reason = failure_reason(exc, record.key, record.value or "")
        quarantined.append(Quarantined(record.offset, reason, record.raw_value(), truncate))
    counts.quarantined = len(quarantined)
    return PreparedObject(parsed_key, key, rows, counts, quarantined, columns)


def prefetched(keys: Iterable[str], prepare: Callable[[str], PreparedObject]) -> Iterator[PreparedObject]:
    """Prepare (download and parse) the next PREFETCH objects while the caller copies the current one.

    The preparation runs in a thread: msgspec and gzip work while PostgreSQL parses the JSON of the
    object before, during which psycopg releases the GIL.
    """
    with ThreadPoolExecutor(max_workers=PREFETCH, thread_name_prefix="bronze-prefetch") as pool:
        pending: deque[Future[PreparedObject]] = deque()
        keys = iter(keys)
        try:
            for key in keys:
                pending.append(pool.submit(prepare, key))
                if len(pending) > PREFETCH:  # the caller gets one while PREFETCH more are prepared
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
