"""Kafka drain: read every partition from where the archive ends to the end of its log, landing the
records in the bucket as gzip JSONL objects as they are read.

* Each partition's window is planned from the group's committed offset and the archive, and checked
  against the log as it is read (``windows.py``): archived records are never landed twice, new objects
  never overlap archived ones, and an archive or committed offset of another log stops the drain
  instead of hiding the new log's records.
* A partition is done when the consumer reaches the end of its log: librdkafka's partition-EOF event
  moves past transaction markers (exactly-once Connect writes them) and stops at the last stable offset
  while a transaction is open. Never by the clock: a slow machine only makes the drain slower.
* Objects are written as batches fill, on two upload threads (``objects.py``), so memory holds one
  batch per partition and two in flight. Offsets are *not* committed here: ``commit_offsets``
  (``kafka.py``) does that once every object is written, so a crash can leave objects ahead of the
  committed offsets, never the reverse.
* A run's cap (``max_events``) is shared fairly across topics and partitions (``shares.py``).

The consumer never joins a consumer group (``assign``, not ``subscribe``): only the group's committed
offsets are used, which avoids a rebalance on every run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, TopicPartition

from include.cdc.archive.landing import (
    FINGERPRINT_METADATA,
    BatchBuffer,
    ObjectKey,
    encode_record,
    record_fingerprint,
)
from include.cdc.archive.storage import ObjectStore
from include.cdc.ingest.kafka import Broker, DrainConsumer
from include.cdc.ingest.objects import BucketObjects
from include.cdc.ingest.shares import cap_shares
from include.cdc.ingest.windows import Window, plan_window

log = logging.getLogger(__name__)

POLL_BATCH = 1000
POLL_SECONDS = 0.5


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
        consumer: DrainConsumer,
        store: ObjectStore,
        conn_id: str,
        batch_size: int,
        gzip_level: int = 1,
        timeout: float = 30.0,
    ) -> None:
        self.consumer = consumer
        self.broker = Broker(consumer, conn_id, timeout)
        self.objects = BucketObjects(store)
        self.batch_size = batch_size
        self.gzip_level = gzip_level
        self.timeout = timeout

    # -- landing -----------------------------------------------------------------------------------

    def _flush(self, window: Window) -> None:
        """Hand the window's batch to the uploaders: compressing and writing it overlaps with reading on."""
        batch = window.batch
        if batch is None:
            return
        key = ObjectKey(window.prefix, window.topic, window.partition, batch.first_offset, batch.last_offset)
        metadata = {"events": str(batch.count), FINGERPRINT_METADATA: _fingerprint(window.last_message)}
        self.objects.upload(key, batch, metadata)
        window.landed.append((key, batch.count))
        window.batch = None

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
                raise self.broker.stalled(reading.values())
            for message in messages:
                error = message.error()
                window = reading.get((message.topic(), message.partition()))
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise self.broker.error(error, window)
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
            partitions = self.broker.partitions(topic)
            if partitions is None:
                log.warning("topic %s does not exist (yet): nothing to drain", topic)
                continue
            committed = self.broker.committed(topic, partitions)
            for partition in partitions:
                low, high = self.broker.watermarks(topic, partition)
                archived = self.objects.archived(prefix, topic, partition)
                windows.append(
                    plan_window(
                        topic,
                        prefix,
                        partition,
                        committed.get(partition),
                        low,
                        high,
                        archived,
                        self.objects.fingerprint,
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
        with self.objects.uploading():
            try:
                reading = [w for w in active if w.quota != 0]
                while reading:
                    self._read(reading)
                    left = max_events - sum(w.taken for w in active)
                    reading = self._reshare(active, left) if max_events > 0 else []
                for window in active:
                    self._flush(window)
            finally:
                self.consumer.unassign()

    def _report(self, window: Window, result: DrainResult) -> None:
        for obj in window.recovered:
            events = self.objects.events(obj)
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
