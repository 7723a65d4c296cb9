"""Property: whatever the log holds and however drains crash, the archive ends up holding every
readable record exactly once, in objects that never overlap.

Logs mix plain records, committed and aborted transactions and compaction gaps and grow between runs
(each of these also runs on Apache Kafka: tests/integration/test_drain_on_kafka.py). A crashed drain
is modelled by its commit never happening and any subset of the objects it wrote never landing: uploads
run two at a time, so a later object can land while an earlier one does not. Runs use random batch
sizes and caps."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from include.cdc.archive.landing import ObjectKey, decode_record, read_lines
from include.cdc.ingest.drain import KafkaDrain
from include.cdc.ingest.kafka import commit_offsets
from tests.unit.fake_kafka import FakeConsumer
from tests.unit.memory_store import MemoryStore

TOPICS = {"t.product": "product/raw/", "t.oem": "oem/raw/"}

segment = st.one_of(
    st.tuples(st.just("records"), st.integers(1, 12)),
    st.tuples(st.just("committed"), st.integers(1, 8)),
    st.tuples(st.just("aborted"), st.integers(1, 4)),
    st.tuples(st.just("compact"), st.integers(0, 1000)),
)
run = st.fixed_dictionaries(
    {
        "growth": st.lists(st.tuples(st.sampled_from(list(TOPICS)), st.integers(0, 1), segment), max_size=4),
        "batch_size": st.integers(1, 9),
        "cap": st.one_of(st.just(0), st.integers(1, 40)),
        "crash": st.one_of(st.none(), st.lists(st.booleans(), min_size=1, max_size=12)),
    }
)


def grow(consumer: FakeConsumer, topic: str, partition: int, kind: str, size: int, serial: list[int]) -> None:
    """Add a segment to the log; compaction may also remove a record that was already drained."""
    log = consumer.log(partition, topic)

    def fresh(count: int) -> list[bytes]:
        serial[0] += count
        return [f'{{"serial":{serial[0] - i}}}'.encode() for i in range(count)]

    if kind == "records":
        log.append(fresh(size))
    elif kind == "committed":
        log.committed_transaction(fresh(size))
    elif kind == "aborted":
        log.aborted_transaction(size)
    elif log.records:  # compact one record that is not the newest (the active segment never is)
        offsets = sorted(log.records)[:-1]
        if offsets:
            log.compact([offsets[size % len(offsets)]])


def archive(store: MemoryStore, topic: str, prefix: str, partition: int) -> list[tuple[ObjectKey, list[int]]]:
    keys = [ObjectKey.parse(k) for k in store.list_keys(f"{prefix}topic={topic}/partition={partition}/")]
    return [(k, [decode_record(line).offset for line in read_lines(store.get(str(k)))]) for k in keys]


@settings(max_examples=150, deadline=None)
@given(runs=st.lists(run, min_size=1, max_size=6))
def test_the_archive_holds_every_readable_record_once_in_objects_that_never_overlap(runs):
    consumer = FakeConsumer({t: {0: [], 1: []} for t in TOPICS})
    store = MemoryStore()
    serial = [0]
    for step in runs:
        for topic, partition, (kind, size) in step["growth"]:
            grow(consumer, topic, partition, kind, size, serial)
        before = set(store.objects)
        drain = KafkaDrain(consumer, store, "cord_kafka", batch_size=step["batch_size"], timeout=1)
        results = drain.drain(TOPICS, max_events=step["cap"])
        if step["crash"] is None:
            for result in results.values():
                commit_offsets(consumer, "cord_kafka", result.topic, result.next_offsets, timeout=1)
        else:  # killed: no commit, and only some of its uploads landed
            written = sorted(set(store.objects) - before)
            for key, landed in zip(written, step["crash"] * len(written), strict=False):
                if not landed:
                    store.delete(key)
    # A run without a crash or a cap finishes the work.
    for result in KafkaDrain(consumer, store, "cord_kafka", batch_size=5, timeout=1).drain(TOPICS).values():
        commit_offsets(consumer, "cord_kafka", result.topic, result.next_offsets, timeout=1)

    written = {key: set(log.keys) for key, log in consumer.logs.items()}  # every record ever written
    for topic, prefix in TOPICS.items():
        for partition in (0, 1):
            log = consumer.log(partition, topic)
            objects = archive(store, topic, prefix, partition)
            offsets = [o for _, held in objects for o in held]
            assert offsets == sorted(set(offsets)), (topic, partition)  # each record once, in order
            assert set(log.records) <= set(offsets) <= written[topic, partition]  # every readable one
            for (previous, _), (current, _) in itertools.pairwise(objects):
                assert previous.last_offset < current.first_offset, (previous, current)
            for key, held in objects:
                assert all(key.first_offset <= o <= key.last_offset for o in held)
            committed = consumer.committed_offsets[topic, partition]
            assert not [o for o in log.records if o >= committed]  # nothing readable left behind
