"""An in-memory stand-in for confluent_kafka's Consumer, for unit tests of the drain."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import TopicPartition


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes | None

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
        return None


class _Topic:
    def __init__(self, partitions):
        self.partitions = dict.fromkeys(partitions)
        self.error = None


class _Metadata:
    def __init__(self, topics):
        self.topics = topics


class FakeConsumer:
    """Partitions hold values; ``high_watermark_lag`` mimics Tansu reporting a high watermark too low."""

    def __init__(self, topic: str, partitions: dict[int, list[bytes | None]], high_watermark_lag: int = 0):
        self.topic = topic
        self.log = {p: list(values) for p, values in partitions.items()}
        self.committed_offsets: dict[int, int] = {}
        self.high_watermark_lag = high_watermark_lag
        self.positions: dict[int, int] = {}
        self.consume_calls = 0

    def append(self, partition: int, values: list[bytes | None]) -> None:
        self.log[partition].extend(values)

    def list_topics(self, topic, timeout):
        topics = {self.topic: _Topic(self.log)} if topic == self.topic else {}
        return _Metadata(topics)

    def committed(self, partitions, timeout):
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_offsets.get(tp.partition, -1001))
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp, timeout, cached):
        high = len(self.log[tp.partition])
        return 0, max(0, high - self.high_watermark_lag) if high else 0

    def assign(self, partitions):
        self.positions = {tp.partition: tp.offset for tp in partitions}

    def unassign(self):
        self.positions = {}

    def consume(self, num_messages, timeout):
        self.consume_calls += 1
        out = []
        for partition, position in list(self.positions.items()):
            values = self.log[partition]
            while position < len(values) and len(out) < num_messages:
                out.append(FakeMessage(self.topic, partition, position, b'{"ID":1}', values[position]))
                position += 1
            self.positions[partition] = position
        return out

    def commit(self, offsets, asynchronous):
        for tp in offsets:
            self.committed_offsets[tp.partition] = tp.offset
        return offsets

    def close(self):
        pass
