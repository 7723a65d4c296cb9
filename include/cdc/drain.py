"""Kafka drain: read a topic from the group's committed offsets up to the end offsets seen at the start,
landing the records in the bucket as gzip JSONL objects as they are read.

Why it is bounded and how it stays exactly-once on the archive:

* The window is fixed when the drain starts (committed offset, or the earliest one, up to the high
  watermark), so a topic that keeps receiving cannot keep the drain alive, and a topic with nothing
  new ends it before the first poll.
* Objects are written as batches fill, so memory holds one compressed batch per partition, never the
  whole drain. Offsets are *not* committed here: ``commit_offsets`` does that after every object is
  written, so a crash can only leave objects ahead of the committed offsets, never a committed
  offset without its object.
* Objects a crashed attempt already wrote start exactly at the committed offset (keys tile the
  offsets). The next attempt finds that chain, hands it over again and reads on after it, so it
  neither reads those records twice nor writes a second, overlapping object.

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

from include.cdc.faults import crash_point
from include.cdc.landing import BatchBuffer, ObjectKey, encode_record, keys_from, partition_prefix
from include.cdc.storage import ObjectStore

log = logging.getLogger(__name__)

POLL_BATCH = 1000
POLL_SECONDS = 0.5
UPLOAD_THREADS = 2  # compress (ISA-L releases the GIL) and upload while the main thread reads on
MAX_IN_FLIGHT = 2  # batches handed to the uploaders and not yet written: bounds the drain's memory
TRAILING_POLLS = 10  # bounds the non-blocking polls after the end offsets are reached


class DrainError(RuntimeError):
    """Kafka could not be drained: unreachable broker, stalled partition, or offsets already deleted."""


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
    topic_missing: bool = False

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
            "topic_missing": self.topic_missing,
        }


@dataclass
class _Window:
    topic: str
    prefix: str  # where the topic's objects land
    partition: int
    start: int  # first offset to read (the committed offset)
    end: int  # high watermark when the drain started: offsets below it are read
    result: DrainResult
    batch: BatchBuffer | None = None
    next_offset: int = 0
    reached_end: bool = False


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
        self._budget: int | None = None  # records this drain may still take (None: no cap)
        self._in_flight: deque[Future] = deque()  # uploads handed over, oldest first
        self._uploads: ThreadPoolExecutor | None = None

    # -- the windows ---------------------------------------------------------------------------

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
        return {tp.partition: tp.offset for tp in answer}

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

    def _recover(self, prefix: str, topic: str, partition: int, start: int, result: DrainResult) -> int:
        """Hand over objects an earlier attempt wrote beyond the committed offset; return where to read on."""
        expected = start
        for key in self.store.list_keys(
            partition_prefix(prefix, topic, partition), keys_from(prefix, topic, partition, start)
        ):
            try:
                parsed = ObjectKey.parse(key)
            except ValueError:
                continue
            if parsed.first_offset != expected:
                log.warning(
                    "%s is not contiguous with the landed offsets (expected an object from offset %d); "
                    "leaving it alone",
                    key,
                    expected,
                )
                break
            events = int(self.store.metadata(key).get("events", "0"))
            result.objects.append(
                LandedObject(key, partition, parsed.first_offset, parsed.last_offset, events)
            )
            result.recovered_objects += 1
            expected = parsed.last_offset + 1
        return expected

    def _windows(self, topic: str, prefix: str, partitions: list[int], result: DrainResult) -> list[_Window]:
        committed = self._committed(topic, partitions)
        windows = []
        for partition in partitions:
            low, high = self._watermarks(topic, partition)
            offset = committed.get(partition, -1)
            if offset < 0:
                start = low
            elif offset < low:
                raise DrainError(
                    f"{topic!r} partition {partition}: the group's committed offset {offset} is below the "
                    f"earliest offset still in Kafka ({low}). Records {offset}..{low - 1} were deleted by "
                    f"retention before they were drained, so the warehouse is missing changes. Re-snapshot "
                    f"the table with Debezium (an incremental snapshot signal), then reset the group's "
                    f"offset to {low}."
                )
            else:
                start = offset
            start = self._recover(prefix, topic, partition, start, result)
            window = _Window(topic, prefix, partition, start, high, result, next_offset=start)
            window.reached_end = start >= high
            result.next_offsets[partition] = start
            windows.append(window)
        return windows

    # -- reading -----------------------------------------------------------------------------

    def _flush(self, window: _Window) -> None:
        """Hand a full batch to the uploaders: compressing and writing it overlaps with reading on."""
        batch = window.batch
        if batch is None or batch.count == 0:
            return
        key = str(
            ObjectKey(window.prefix, window.topic, window.partition, batch.first_offset, batch.last_offset)
        )
        self._in_flight.append(self._uploads.submit(self._write, key, batch))
        if len(self._in_flight) > MAX_IN_FLIGHT:
            self._in_flight.popleft().result()  # bounded memory: wait for the oldest upload
        window.result.objects.append(
            LandedObject(key, window.partition, batch.first_offset, batch.last_offset, batch.count)
        )
        window.result.next_offsets[window.partition] = batch.last_offset + 1
        window.batch = None

    def _write(self, key: str, batch: BatchBuffer) -> None:
        self.store.put(key, batch.finish(), metadata={"events": str(batch.count)})
        crash_point("drain.object_written")

    def _take(self, message, window: _Window) -> None:
        offset = message.offset()
        if offset < window.next_offset or self._budget == 0:
            return  # already landed, or beyond this run's cap: the next run reads it
        if self._budget is not None:
            self._budget -= 1
        if window.batch is None:
            window.batch = BatchBuffer(window.next_offset, self.gzip_level)
        window.batch.add(
            offset,
            encode_record(
                window.topic,
                window.partition,
                offset,
                message.timestamp()[1] if message.timestamp()[0] else None,
                message.key(),
                message.value(),
                message.headers(),
            ),
        )
        window.next_offset = offset + 1
        if offset >= window.end - 1:
            window.reached_end = True
        if window.batch.count >= self.batch_size:
            self._flush(window)

    def _poll(self, timeout: float) -> list:
        messages = self.consumer.consume(num_messages=POLL_BATCH, timeout=timeout)
        for message in messages:
            error = message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                raise DrainError(
                    f"Kafka (connection {self.conn_id!r}) returned an error while draining: {error}"
                )
        return [m for m in messages if m.error() is None]

    def _read(self, windows: dict[tuple[str, int], _Window], active: list[_Window]) -> None:
        last_progress = time.monotonic()
        while any(not w.reached_end for w in active) and self._budget != 0:
            messages = self._poll(POLL_SECONDS)
            for message in messages:
                self._take(message, windows[message.topic(), message.partition()])
            if messages:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self.timeout:
                waiting = {
                    f"{w.topic}[{w.partition}]": (w.next_offset, w.end) for w in active if not w.reached_end
                }
                raise DrainError(
                    f"Kafka (connection {self.conn_id!r}) delivered nothing for {self.timeout:g} s while "
                    f"partitions {waiting} (next offset, end offset) still had records. Check the brokers' "
                    f"health and the connection's settings, then rerun: nothing was committed, so the next "
                    f"attempt starts where this one stopped."
                )
        # Records the broker already sent past the end offset (Tansu may report a high watermark
        # below the last batch's end): take what is queued, without waiting for more.
        for _ in range(TRAILING_POLLS):
            messages = self._poll(0)
            if not messages:
                break
            for message in messages:
                self._take(message, windows[message.topic(), message.partition()])
        for window in windows.values():
            self._flush(window)

    def drain(self, prefixes: dict[str, str], max_events: int = 0) -> dict[str, DrainResult]:
        """Land every record of the topics (topic -> object prefix) from the committed offsets to the end
        offsets seen now, all topics read together, or only the first ``max_events`` records read (0: no
        cap); what is left is read by the next run."""
        self._budget = max_events if max_events > 0 else None
        results = {topic: DrainResult(topic) for topic in prefixes}
        windows: dict[tuple[str, int], _Window] = {}
        for topic, prefix in prefixes.items():
            partitions = self._partitions(topic)
            if partitions is None:
                log.warning("topic %s does not exist (yet): nothing to drain", topic)
                results[topic].topic_missing = True
                continue
            for window in self._windows(topic, prefix, partitions, results[topic]):
                windows[topic, window.partition] = window
        active = [w for w in windows.values() if not w.reached_end]
        if not active:
            log.info("nothing new in %s", ", ".join(prefixes))
            return results

        self.consumer.assign([TopicPartition(w.topic, w.partition, w.start) for w in active])
        self._in_flight = deque()
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="drain-upload") as self._uploads:
            try:
                self._read(windows, active)
                while self._in_flight:  # every object written, or the first failure raised here
                    self._in_flight.popleft().result()
            finally:
                self.consumer.unassign()
        return results


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
