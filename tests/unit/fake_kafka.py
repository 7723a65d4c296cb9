"""An in-memory stand-in for confluent_kafka's Consumer, for unit tests of the drain.

It behaves like librdkafka with ``isolation.level=read_committed``, ``enable.partition.eof=true`` and
``auto.offset.reset=error``: transaction markers take offsets and are never delivered, aborted records
are never delivered, compaction leaves gaps. The broker shows each of these in
tests/integration/test_drain_on_kafka.py; this stand-in serves the cases a broker cannot produce on
demand: objects of a crashed attempt with any subset of its uploads missing, hundreds of random logs
and crashes in a second (tests/unit/test_drain_properties.py), and each permanent error through its
task without a stack (tests/unit/test_permanent_errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError, TopicPartition

from include.cdc.ingest.kafka import DrainConsumer, Refusals


@dataclass
class FakeError:
    _code: int

    def code(self):
        return self._code

    def __str__(self):
        return f"fake error {self._code}"


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None = None
    _value: bytes | None = None
    _error: FakeError | None = None

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset

    def key(self):
        return self._key

    def value(self):
        return self._value

    def headers(self):
        return [("h", b"1")]

    def timestamp(self):
        return (1, 1_700_000_000_000 + self._offset)

    def error(self):
        return self._error


@dataclass
class PartitionLog:
    """One partition: delivered records by offset, plus offsets taken by markers and aborted records."""

    records: dict[int, bytes | None] = field(default_factory=dict)
    keys: dict[int, bytes] = field(default_factory=dict)
    high: int = 0  # the high watermark: one past the last offset written
    low: int = 0  # the first offset still held (retention)

    def append(self, values: list[bytes | None], key: bytes = b'{"ID":1}') -> None:
        """One batch of records."""
        for value in values:
            self.records[self.high] = value
            self.keys[self.high] = key
            self.high += 1

    def marker(self) -> None:
        self.high += 1

    def committed_transaction(self, values: list[bytes | None]) -> None:
        self.append(values)
        self.marker()

    def aborted_transaction(self, count: int) -> None:
        self.high += count  # the records and the abort marker: none delivered
        self.marker()

    def compact(self, offsets) -> None:
        for offset in offsets:
            self.records.pop(offset, None)

    def delete_before(self, low: int) -> None:
        self.low = low
        for offset in [o for o in self.records if o < low]:
            del self.records[offset]


class _Topic:
    def __init__(self, partitions):
        self.partitions = dict.fromkeys(partitions)
        self.error = None


class _Metadata:
    def __init__(self, topics):
        self.topics = topics


class FakeConsumer:
    """Topics of partitions holding values (``FakeConsumer("t", {0: [...]})`` for one topic, or
    ``FakeConsumer({"t": {0: [...]}, ...})``)."""

    def __init__(self, topics, partitions=None):
        if partitions is not None:
            topics = {topics: partitions}
        self.topic = next(iter(topics))
        self.logs = {(t, p): PartitionLog() for t, parts in topics.items() for p in parts}
        for topic, parts in topics.items():
            for partition, values in parts.items():
                self.logs[topic, partition].append(values)
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.refusals = Refusals("cord_kafka")
        self.positions: dict[tuple[str, int], int] = {}
        self.assigned_at: list[dict[tuple[str, int], int]] = []
        self._eof_sent: dict[tuple[str, int], int] = {}
        self._error_sent: set[tuple[str, int]] = set()
        self.consume_calls = 0

    raise_refusal = DrainConsumer.raise_refusal  # served by this consumer's poll, as librdkafka's

    def log(self, partition: int, topic: str | None = None) -> PartitionLog:
        return self.logs[topic or self.topic, partition]

    def append(self, partition: int, values: list[bytes | None]) -> None:
        self.log(partition).append(values)

    def commit_offset(self, partition: int, offset: int, topic: str | None = None) -> None:
        self.committed_offsets[topic or self.topic, partition] = offset

    def list_topics(self, topic, timeout):
        partitions = [p for t, p in self.logs if t == topic]
        return _Metadata({topic: _Topic(partitions)} if partitions else {})

    def committed(self, partitions, timeout):
        return [
            TopicPartition(
                tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), -1001)
            )
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp, timeout, cached):
        log = self.logs[tp.topic, tp.partition]
        return log.low, log.high

    def assign(self, partitions):
        self.positions = {(tp.topic, tp.partition): tp.offset for tp in partitions}
        self.assigned_at.append(dict(self.positions))
        self._eof_sent = {}
        self._error_sent = set()

    def unassign(self):
        self.positions = {}

    def consume(self, num_messages, timeout):
        self.consume_calls += 1
        out = []
        for (topic, partition), position in list(self.positions.items()):
            log = self.logs[topic, partition]
            if not log.low <= position <= log.high:
                if (topic, partition) not in self._error_sent:
                    self._error_sent.add((topic, partition))
                    error = FakeError(KafkaError._AUTO_OFFSET_RESET)
                    out.append(FakeMessage(topic, partition, position, _error=error))
                continue
            while position < log.high and len(out) < num_messages:
                if position in log.records:
                    out.append(
                        FakeMessage(topic, partition, position, log.keys[position], log.records[position])
                    )
                position += 1
            self.positions[topic, partition] = position
            if position >= log.high and self._eof_sent.get((topic, partition)) != position:
                self._eof_sent[topic, partition] = position
                out.append(
                    FakeMessage(topic, partition, position, _error=FakeError(KafkaError._PARTITION_EOF))
                )
        return out

    def poll(self, timeout):
        return None

    def commit(self, offsets, asynchronous):
        for tp in offsets:
            self.committed_offsets[tp.topic, tp.partition] = tp.offset
        return offsets

    def close(self):
        pass
