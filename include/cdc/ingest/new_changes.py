"""Are there changes the drain has not taken yet? Asked of the broker without joining the consumer group.

The watcher that starts runs on new changes (``include/cdc/airflow/watcher.py``) compares, per partition,
where a read-committed drain would stop with where the group's committed offset says the last drain
stopped. Both are exact, so a drained topic is quiet:

* The end is the last stable offset (``list_offsets`` latest, read committed): past the markers of
  finished transactions, before a transaction still open, which is exactly where the drain's
  partition-EOF event stops and what it commits (``Window.commit_offset``).
* No committed offset: the drain would read from the start of the log, so the partition is new when
  the log holds anything (its start below its end), quiet when it is empty.

Only the AdminClient is used (``list_consumer_group_offsets``, ``list_offsets``): it cannot join the
group, consume or commit. A transaction aborted after a drain stopped before it leaves an abort marker
past the committed offset: that starts one run, which lands nothing and commits past the marker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

MIN_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 30.0


@dataclass(frozen=True)
class Position:
    """One partition: the start and the (stable) end of its log, and the group's committed offset."""

    topic: str
    partition: int
    low: int
    end: int
    committed: int | None

    @property
    def name(self) -> str:
        return f"{self.topic}[{self.partition}]"

    @property
    def state(self) -> tuple[int, int | None]:
        return self.end, self.committed

    @property
    def pending(self) -> int:
        """Offsets the next drain would read (markers included): 0 when it would read nothing."""
        start = self.low if self.committed is None else self.committed
        return max(self.end - start, 0)


def poll_seconds(min_interval_seconds: float) -> float:
    """How often the watcher asks: a few times per interval, so a change waits little beyond it."""
    return min(max(min_interval_seconds / 4, MIN_POLL_SECONDS), MAX_POLL_SECONDS)


@dataclass
class ChangeGate:
    """Decides when new changes start a run: when some partition holds records the group has not
    committed and its end or committed offset moved since the last event, at most once per
    ``min_interval_seconds`` of ``clock``. Records a run is still taking, or that a failed run left, are
    announced once; what a capped run (``max_events``) left is announced again once it has committed."""

    min_interval_seconds: float
    clock: Callable[[], float]
    last_fired: float | None = None
    # partition -> (end, committed offset) when last announced
    announced: dict[tuple[str, int], tuple[int, int | None]] = field(default_factory=dict)

    def check(self, positions: Iterable[Position]) -> dict | None:
        """The event's payload when a run should start now, else None."""
        waiting = [p for p in positions if p.pending > 0]
        unannounced = [p for p in waiting if self.announced.get((p.topic, p.partition)) != p.state]
        if not unannounced:
            return None
        now = self.clock()
        if self.last_fired is not None and now - self.last_fired < self.min_interval_seconds:
            return None
        self.last_fired = now
        self.announced = {(p.topic, p.partition): p.state for p in waiting}
        return {
            "pending": {p.name: p.pending for p in waiting},
            "records": sum(p.pending for p in waiting),
        }


def read_positions(admin, group: str, topics: Iterable[str], timeout: float) -> list[Position]:
    """Every partition of ``topics`` (those that exist) with its log's start and stable end and the
    group's committed offset, from an AdminClient: blocking, so callers in an event loop use a thread."""
    from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    metadata = admin.list_topics(timeout=timeout)
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        if (info := metadata.topics.get(topic)) is not None and info.error is None
        for p in sorted(info.partitions)
    ]
    if not partitions:
        return []
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    answer = admin.list_consumer_group_offsets(request, request_timeout=timeout)[group].result(timeout)
    committed = {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions if tp.offset >= 0}

    def offsets(spec) -> dict[tuple[str, int], int]:
        futures = admin.list_offsets(
            dict.fromkeys(partitions, spec),
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=timeout,
        )
        return {(tp.topic, tp.partition): f.result(timeout).offset for tp, f in futures.items()}

    low, end = offsets(OffsetSpec.earliest()), offsets(OffsetSpec.latest())
    return [
        Position(tp.topic, tp.partition, low[key], end[key], committed.get(key))
        for tp in partitions
        if (key := (tp.topic, tp.partition))
    ]
