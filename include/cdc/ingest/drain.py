"""Kafka drain: read every partition from where the archive ends to the end of its log, landing the
records in the bucket as gzip JSONL objects as they are read.

* Each partition's window is planned from the group's committed offset and the archive, and checked
  against the log as it is read (``windows.py`` beside this module): archived records are never landed twice,
  new objects never overlap archived ones, and an archive or committed offset of another log stops the
  drain instead of hiding the new log's records.
* A partition is done when the consumer reaches the end of its log: librdkafka's partition-EOF event
  moves past transaction markers (exactly-once Connect writes them) and stops at the last stable offset
  while a transaction is open. Never by the clock: a slow machine only makes the drain slower.
* Objects are written as batches fill, on two upload threads, so memory holds one batch per partition
  and two in flight. Offsets are *not* committed here: ``commit_offsets`` does that once every object
  is written, so a crash can leave objects ahead of the committed offsets, never the reverse.
* A run's cap (``max_events``) is shared fairly across topics and partitions (``shares.py``).

The consumer never joins a consumer group (``assign``, not ``subscribe``): only the group's committed
offsets are used, which avoids a rebalance on every run.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from include.cdc.archive.landing import (
    FINGERPRINT_METADATA,
    BatchBuffer,
    ObjectKey,
    decode_record,
    encode_record,
    partition_prefix,
    read_lines,
    record_fingerprint,
)
from include.cdc.archive.storage import ObjectStore
from include.cdc.faults import crash_point
from include.cdc.ingest.shares import cap_shares
from include.cdc.ingest.windows import DrainError, LogReplaced, LostOffsets, Window, plan_window

log = logging.getLogger(__name__)

POLL_BATCH = 1000
POLL_SECONDS = 0.5
UPLOAD_THREADS = 2  # compress (ISA-L releases the GIL) and upload while the main thread reads on
MAX_IN_FLIGHT = 2  # batches handed to the uploaders and not yet written: bounds the drain's memory
_OUT_OF_RANGE = {KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE}

__all__ = ["DrainError", "KafkaDrain", "LandedObject", "LogReplaced", "LostOffsets", "commit_offsets"]


@dataclass(frozen=True)
class LandedObject:
    key: str
    partition: int
    first_offset: int
    last_offset: int
    events: int


@dataclass
class DrainResult:
    topic: str
    objects: list[LandedObject] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    recovered_objects: int = 0
    lost: list[tuple[int, int, int]] = field(default_factory=list)  # (partition, first, last) accepted

    @property
    def events(self) -> int:
        return sum(o.events for o in self.objects)

    def to_xcom(self) -> dict:
        """Keys, counts and offsets only: never payloads."""
        return {
            "topic": self.topic,
            "objects": [o.__dict__ for o in self.objects],
            "events": self.events,
            # XCom is JSON: partition numbers become strings there anyway.
            "next_offsets": {str(p): o for p, o in self.next_offsets.items()},
            "recovered_objects": self.recovered_objects,
            "lost_offsets": [list(r) for r in self.lost],
        }


def _timestamp(message) -> int | None:
    kind, value = message.timestamp()
    return value if kind else None


def _fingerprint(message) -> str:
    return record_fingerprint(_timestamp(message), message.key(), message.value())


class KafkaDrain:
    """Drains topics into the bucket, all of them in one pass; ``conn_id`` only serves error messages."""

    def __init__(
        self,
        consumer: Consumer,
        store: ObjectStore,
        conn_id: str,
        batch_size: int,
        gzip_level: int = 1,
        timeout: float = 30.0,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.conn_id = conn_id
        self.batch_size = batch_size
        self.gzip_level = gzip_level
        self.timeout = timeout
        self._metadata: dict[str, dict[str, str]] = {}
        self._in_flight: deque[Future] = deque()  # uploads handed over, oldest first
        self._uploads: ThreadPoolExecutor | None = None

    # -- what Kafka and the archive hold ---------------------------------------------------------

    def _partitions(self, topic: str) -> list[int] | None:
        try:
            metadata = self.consumer.list_topics(topic, timeout=self.timeout)
        except KafkaException as exc:
            raise DrainError(
                f"Cannot reach Kafka (connection {self.conn_id!r}) to read the metadata of {topic!r} within "
                f"{self.timeout:g} s: {exc.args[0]}. Check that the brokers are up and that the "
                f"connection's bootstrap.servers and security settings are right."
            ) from exc
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            if info is not None and info.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise DrainError(f"Kafka (connection {self.conn_id!r}) reports {topic!r}: {info.error}")
            return None
        return sorted(info.partitions)

    def _committed(self, topic: str, partitions: list[int]) -> dict[int, int]:
        try:
            answer = self.consumer.committed(
                [TopicPartition(topic, p) for p in partitions], timeout=self.timeout
            )
        except KafkaException as exc:
            raise DrainError(
                f"Cannot read the committed offsets of {topic!r} from Kafka (connection {self.conn_id!r}): "
                f"{exc.args[0]}. Check the connection's group.id and the group coordinator."
            ) from exc
        return {tp.partition: tp.offset for tp in answer if tp.offset >= 0}

    def _watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        try:
            return self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=self.timeout, cached=False
            )
        except KafkaException as exc:
            raise DrainError(
                f"Cannot read the end offsets of {topic!r} partition {partition} from Kafka "
                f"(connection {self.conn_id!r}): {exc.args[0]}."
            ) from exc

    def _archived(self, prefix: str, topic: str, partition: int) -> list[ObjectKey]:
        keys = []
        for key in self.store.list_keys(partition_prefix(prefix, topic, partition)):
            try:
                keys.append(ObjectKey.parse(key))
            except ValueError:
                log.warning("ignoring %s: not a landed batch key", key)
        return sorted(keys, key=lambda k: (k.first_offset, k.last_offset))

    def _object_metadata(self, obj: ObjectKey) -> dict[str, str]:
        key = str(obj)
        if key not in self._metadata:
            self._metadata[key] = self.store.metadata(key)
        return self._metadata[key]

    def _archived_fingerprint(self, obj: ObjectKey) -> str:
        """The fingerprint of an object's last record: from its metadata, or (objects written before
        fingerprints were stored) from its last line."""
        stored = self._object_metadata(obj).get(FINGERPRINT_METADATA)
        if stored:
            return stored
        record = None
        for line in read_lines(self.store.get(str(obj))):
            record = decode_record(line)
        if record is None:
            return ""
        key = record.key.encode() if record.key is not None else record.key_bytes
        value = None if record.is_tombstone else record.raw_value()
        return record_fingerprint(record.timestamp_ms, key, value)

    # -- landing -----------------------------------------------------------------------------------

    def _flush(self, window: Window) -> None:
        """Hand the window's batch to the uploaders: compressing and writing it overlaps with reading on."""
        batch = window.batch
        if batch is None:
            return
        key = ObjectKey(window.prefix, window.topic, window.partition, batch.first_offset, batch.last_offset)
        metadata = {"events": str(batch.count), FINGERPRINT_METADATA: _fingerprint(window.last_message)}
        self._in_flight.append(self._uploads.submit(self._write, str(key), batch, metadata))
        if len(self._in_flight) > MAX_IN_FLIGHT:
            self._in_flight.popleft().result()  # bounded memory: wait for the oldest upload
        self._metadata[str(key)] = metadata
        window.landed.append((key, batch.count))
        window.batch = None

    def _write(self, key: str, batch: BatchBuffer, metadata: dict[str, str]) -> None:
        self.store.put(key, batch.finish(), metadata=metadata)
        crash_point("drain.object_written")

    def _take(self, window: Window, message) -> None:
        offset = message.offset()
        if window.ahead and window.ahead[0].first_offset <= offset:
            self._flush(window)  # a new object ends before an archived one begins
            if window.archived_at(offset) is not None:
                window.check(offset, lambda: _fingerprint(message))
                return
        if offset < window.land_from:
            window.check(offset, lambda: _fingerprint(message))
            return
        if window.batch is None:
            window.batch = BatchBuffer(window.land_from, self.gzip_level)
        window.batch.add(
            offset,
            encode_record(
                window.topic,
                window.partition,
                offset,
                _timestamp(message),
                message.key(),
                message.value(),
                message.headers(),
            ),
        )
        window.last_message = message
        window.land_from = offset + 1
        window.taken += 1
        if window.batch.count >= self.batch_size:
            self._flush(window)

    # -- reading -------------------------------------------------------------------------------

    def _kafka_error(self, error: KafkaError, window: Window | None) -> DrainError:
        if window is not None and error.code() in _OUT_OF_RANGE:
            low, high = self._watermarks(window.topic, window.partition)
            kind = LostOffsets if window.read_from < low else LogReplaced
            return kind(
                f"{window.name}: Kafka (connection {self.conn_id!r}) cannot serve offset {window.read_from}: "
                f"the log now holds offsets {low}..{high - 1}. "
                + (
                    "Records were deleted by retention before they were drained: re-snapshot the table, "
                    "then rerun with the 'accept_lost_offsets' param."
                    if kind is LostOffsets
                    else "The topic was recreated or the broker's log was reset. See the README, 'When the "
                    "topic was recreated or the broker's log reset'."
                )
            )
        return DrainError(f"Kafka (connection {self.conn_id!r}) returned an error while draining: {error}")

    def _stalled(self, windows) -> DrainError:
        waiting = {w.name: (w.land_from, w.end) for w in windows}
        beyond = [w.name for w in windows if w.resume > w.end]
        hint = (
            f" For {beyond}, the committed offset or the archive is beyond the end the broker reports: if "
            f"the topic was recreated or the broker's log was reset, see the README, 'When the topic was "
            f"recreated or the broker's log reset'."
            if beyond
            else ""
        )
        return DrainError(
            f"Kafka (connection {self.conn_id!r}) delivered nothing for {self.timeout:g} s while partitions "
            f"{waiting} (next offset, end offset reported at the start) had not reached their end. Check the "
            f"brokers' health and the connection's settings, then rerun: nothing was committed, so the next "
            f"attempt starts where this one stopped.{hint}"
        )

    def _read(self, windows: list[Window]) -> None:
        """Read the windows until each reaches the end of its log or takes its share of the cap."""
        self.consumer.assign([TopicPartition(w.topic, w.partition, w.read_from) for w in windows])
        reading = {(w.topic, w.partition): w for w in windows}
        last_progress = time.monotonic()
        while reading:
            messages = self.consumer.consume(num_messages=POLL_BATCH, timeout=POLL_SECONDS)
            if messages:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self.timeout:
                raise self._stalled(reading.values())
            for message in messages:
                error = message.error()
                window = reading.get((message.topic(), message.partition()))
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise self._kafka_error(error, window)
                    if window is not None:
                        window.reached_end(message.offset())
                        self._flush(window)
                        del reading[window.topic, window.partition]
                    continue
                if window is None:
                    continue  # its share of the cap is taken: the next run reads on from there
                self._take(window, message)
                if window.capped:
                    del reading[window.topic, window.partition]

    def _reshare(self, windows: list[Window], left: int) -> list[Window]:
        """After a pass, give what the cap has left to the windows that stopped at their share."""
        hungry = [w for w in windows if w.capped and w.log_end is None]
        if left <= 0 or not hungry:
            return []
        shares = cap_shares(left, {(w.topic, w.partition): None for w in hungry})
        again = []
        for window in hungry:
            share = shares[window.topic, window.partition]
            if share:
                window.quota += share
                window.read_from = window.land_from
                again.append(window)
        return again

    def drain(
        self, prefixes: dict[str, str], max_events: int = 0, accept_lost_offsets: bool = False
    ) -> dict[str, DrainResult]:
        """Land every new record of the topics (topic -> object prefix), all topics read together, or at
        most ``max_events`` records (0: no cap) shared fairly; what is left is read by the next run."""
        results = {topic: DrainResult(topic) for topic in prefixes}
        windows: list[Window] = []
        for topic, prefix in prefixes.items():
            partitions = self._partitions(topic)
            if partitions is None:
                log.warning("topic %s does not exist (yet): nothing to drain", topic)
                continue
            committed = self._committed(topic, partitions)
            for partition in partitions:
                low, high = self._watermarks(topic, partition)
                archived = self._archived(prefix, topic, partition)
                windows.append(
                    plan_window(
                        topic,
                        prefix,
                        partition,
                        committed.get(partition),
                        low,
                        high,
                        archived,
                        self._archived_fingerprint,
                        accept_lost_offsets,
                    )
                )
        active = [w for w in windows if w.has_work]
        if active:
            self._drain(active, max_events)
        else:
            log.info("nothing new in %s", ", ".join(prefixes))
        for window in windows:
            self._report(window, results[window.topic])
        return results

    def _drain(self, active: list[Window], max_events: int) -> None:
        if max_events > 0:
            demands = {(w.topic, w.partition): max(w.end - w.resume, 1) for w in active}
            for (topic, partition), share in cap_shares(max_events, demands).items():
                next(w for w in active if (w.topic, w.partition) == (topic, partition)).quota = share
        self._in_flight = deque()
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="drain-upload") as self._uploads:
            try:
                reading = [w for w in active if w.quota != 0]
                while reading:
                    self._read(reading)
                    left = max_events - sum(w.taken for w in active)
                    reading = self._reshare(active, left) if max_events > 0 else []
                for window in active:
                    self._flush(window)
                while self._in_flight:  # every object written, or the first failure raised here
                    self._in_flight.popleft().result()
            finally:
                self.consumer.unassign()

    def _report(self, window: Window, result: DrainResult) -> None:
        for obj in window.recovered:
            events = int(self._object_metadata(obj).get("events", "0"))
            result.objects.append(
                LandedObject(str(obj), obj.partition, obj.first_offset, obj.last_offset, events)
            )
        result.recovered_objects += len(window.recovered)
        for key, count in window.landed:
            result.objects.append(
                LandedObject(str(key), key.partition, key.first_offset, key.last_offset, count)
            )
        result.objects.sort(key=lambda o: (o.partition, o.first_offset))
        result.next_offsets[window.partition] = window.commit_offset
        result.lost.extend((window.partition, first, last) for first, last in window.lost)


def commit_offsets(
    consumer: Consumer, conn_id: str, topic: str, next_offsets: dict[int, int], timeout: float
):
    """Commit the group's offsets for ``topic``: call only once the objects holding them are written."""
    if not next_offsets:
        return []
    crash_point("commit.before_commit")
    offsets = [TopicPartition(topic, int(p), int(o)) for p, o in sorted(next_offsets.items())]
    try:
        answer = consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as exc:
        raise DrainError(
            f"Cannot commit offsets of {topic!r} to Kafka (connection {conn_id!r}): {exc.args[0]}. The "
            f"objects are written; the next run finds them and commits past them."
        ) from exc
    failed = [tp for tp in answer or () if tp.error is not None]
    if failed:
        raise DrainError(f"Kafka (connection {conn_id!r}) refused the offset commit for {failed}")
    return [(tp.partition, tp.offset) for tp in offsets]
