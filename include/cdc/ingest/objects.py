"""The drain's objects in the bucket: what the archive holds of a partition already, and the new objects,
uploaded while the drain reads on.

Uploads run on two threads (compressing with ISA-L releases the GIL); at most two batches wait for
them, which bounds the drain's memory. An object's metadata (its event count, the fingerprint of its
last record) is read once and kept, and so is the metadata of each object written.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from include.cdc.archive.landing import (
    FINGERPRINT_METADATA,
    BatchBuffer,
    ObjectKey,
    decode_record,
    partition_prefix,
    read_lines,
    record_fingerprint,
)
from include.cdc.archive.storage import ObjectStore
from include.cdc.faults import crash_point

log = logging.getLogger(__name__)

UPLOAD_THREADS = 2  # compress (ISA-L releases the GIL) and upload while the main thread reads on
MAX_IN_FLIGHT = 2  # batches handed to the uploaders and not yet written: bounds the drain's memory


class BucketObjects:
    """One drain's view of the bucket: the objects each partition holds, and the ones it writes."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._metadata: dict[str, dict[str, str]] = {}
        self._in_flight: deque[Future] = deque()  # uploads handed over, oldest first
        self._uploads: ThreadPoolExecutor | None = None

    # -- what the archive holds ----------------------------------------------------------------

    def archived(self, prefix: str, topic: str, partition: int) -> list[ObjectKey]:
        """The partition's landed objects, in offset order."""
        keys = []
        for key in self.store.list_keys(partition_prefix(prefix, topic, partition)):
            try:
                keys.append(ObjectKey.parse(key))
            except ValueError:
                log.warning("ignoring %s: not a landed batch key", key)
        return sorted(keys, key=lambda k: (k.first_offset, k.last_offset))

    def metadata(self, obj: ObjectKey) -> dict[str, str]:
        key = str(obj)
        if key not in self._metadata:
            self._metadata[key] = self.store.metadata(key)
        return self._metadata[key]

    def events(self, obj: ObjectKey) -> int:
        return int(self.metadata(obj).get("events", "0"))

    def fingerprint(self, obj: ObjectKey) -> str:
        """The fingerprint of an object's last record: from its metadata, or (objects written before
        fingerprints were stored) from its last line."""
        stored = self.metadata(obj).get(FINGERPRINT_METADATA)
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

    # -- new objects -----------------------------------------------------------------------------

    @contextmanager
    def uploading(self) -> Iterator[None]:
        """Upload threads for the block; it ends once every object is written, or the first failure of
        an upload is raised."""
        self._in_flight = deque()
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="drain-upload") as self._uploads:
            yield
            while self._in_flight:  # every object written, or the first failure raised here
                self._in_flight.popleft().result()

    def upload(self, key: ObjectKey, batch: BatchBuffer, metadata: dict[str, str]) -> None:
        """Hand a batch to the uploaders; wait for the oldest upload when too many are in flight."""
        self._in_flight.append(self._uploads.submit(self._write, str(key), batch, metadata))
        if len(self._in_flight) > MAX_IN_FLIGHT:
            self._in_flight.popleft().result()  # bounded memory: wait for the oldest upload
        self._metadata[str(key)] = metadata

    def _write(self, key: str, batch: BatchBuffer, metadata: dict[str, str]) -> None:
        self.store.put(key, batch.finish(), metadata=metadata)
        crash_point("drain.object_written")
