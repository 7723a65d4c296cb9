"""Where a partition's drain starts, what it lands, and when it is done.

The committed offset says what the archive holds for certain. The archive can hold more: objects a
crashed attempt wrote before its offsets were committed, with holes where an earlier upload was still
in flight when a later one landed. After a broker reset or a recreated topic it can also hold objects
of another log altogether. So a window is planned from both, and checked against the log as it is read:

* Records inside archived objects are never landed again; a new object ends before the next archived
  one begins, so objects never overlap, whatever the batch size or the order uploads landed in.
* The last record of the newest archived object, and of every archived object ahead of the committed
  offset, is compared with what the log holds at that offset (a fingerprint stored with the object).
  Another record there, or a log that ends before the archive does, stops the drain: the archive is
  of another log, and taking it as covering this one would skip the new log's records silently.
* Offsets below the log's start that were never archived were deleted by retention before they were
  drained. That stops the drain too, unless the run explicitly accepts the loss.

A partition is done when the consumer reaches the end of its log (librdkafka's partition-EOF event,
which moves past transaction markers and stops at the last stable offset while a transaction is
open), or when it has taken its share of the run's cap. Never by the clock, nor by the high watermark
read at the start: that is exact on Apache Kafka, but it counts markers and an open transaction's
records, which a read-committed consumer never gets, so only the EOF event says where reading ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from include.cdc.archive.landing import BatchBuffer, ObjectKey
from include.cdc.ingest.errors import LogReplaced, LostOffsets

log = logging.getLogger(__name__)

CHECK_SPAN = 1000  # read at most this many offsets again to check the archive's newest record


def lost_ranges(start: int, low: int, archived: list[ObjectKey]) -> list[tuple[int, int]]:
    """The offsets in [start, low) that no archived object covers: deleted before they were drained."""
    lost, cursor = [], start
    for obj in archived:
        if cursor >= low:
            break
        if obj.last_offset < cursor:
            continue
        if obj.first_offset > cursor:
            lost.append((cursor, min(obj.first_offset, low) - 1))
        cursor = max(cursor, obj.last_offset + 1)
    if cursor < low:
        lost.append((cursor, low - 1))
    return lost


@dataclass
class Window:
    """One partition's share of a drain, and its progress."""

    topic: str
    prefix: str
    partition: int
    resume: int  # the first offset this run may land
    end: int  # the log's high watermark at the start
    low: int  # the log's first offset
    read_from: int  # where the consumer starts: below ``resume`` when archived records are checked
    ahead: list[ObjectKey] = field(default_factory=list)  # archived objects at or after ``resume``
    checks: dict[int, str] = field(default_factory=dict)  # offset -> fingerprint of an archived record
    lost: list[tuple[int, int]] = field(default_factory=list)  # accepted as lost at the source
    quota: int | None = None  # records this window may still take (None: no cap)
    land_from: int = 0  # the next object covers offsets from here
    batch: BatchBuffer | None = None
    last_message: object = None  # the batch's last record, fingerprinted when the object is written
    recovered: list[ObjectKey] = field(default_factory=list)  # archived objects passed and handed over
    landed: list[tuple[ObjectKey, int]] = field(default_factory=list)  # objects written, with their counts
    log_end: int | None = None  # where the consumer reached the end of the log
    taken: int = 0

    def __post_init__(self) -> None:
        self.land_from = self.resume

    @property
    def name(self) -> str:
        return f"{self.topic}[{self.partition}]"

    @property
    def has_work(self) -> bool:
        """Anything to read: new offsets, or archived objects to hand over and check. A resume point at
        the end has nothing: the high watermark is exact (every offset below it is written, including an
        open transaction's records, which the read stops before)."""
        return self.resume < self.end or bool(self.ahead)

    @property
    def capped(self) -> bool:
        return self.quota is not None and self.taken >= self.quota

    @property
    def commit_offset(self) -> int:
        """Where the group's offset goes: past the log's end when it was reached (beyond transaction
        markers), else past what was landed."""
        if self.log_end is not None and not self.capped:
            return max(self.log_end, self.land_from)
        return self.land_from

    def archived_at(self, offset: int) -> ObjectKey | None:
        """The archived object holding ``offset``, after handing over the ones the read has passed."""
        while self.ahead and self.ahead[0].last_offset < offset:
            self.pass_archived()
        if self.ahead and self.ahead[0].first_offset <= offset:
            return self.ahead[0]
        return None

    def pass_archived(self) -> None:
        obj = self.ahead.pop(0)
        self.recovered.append(obj)
        self.land_from = max(self.land_from, obj.last_offset + 1)

    def check(self, offset: int, fingerprint: Callable[[], str]) -> None:
        """Compare a delivered record with the archive's, where the archive has one to compare."""
        if not self.checks:
            return
        for pending in [o for o in self.checks if o < offset]:
            log.info(
                "%s: offset %d is no longer in the log (compacted): the archive's record is not checked",
                self.name,
                pending,
            )
            del self.checks[pending]
        expected = self.checks.pop(offset, None)
        if expected is not None and expected != fingerprint():
            raise LogReplaced(
                f"{self.name}: offset {offset} in Kafka holds another record than the archive's object "
                f"holds there. The topic was recreated or the broker's log was reset since that object was "
                f"written, so the archive's objects do not cover this log's offsets. Nothing was landed or "
                f"committed. See docs/operations.md, 'When the topic was recreated or the broker's log "
                f"reset'."
            )

    def reached_end(self, offset: int) -> None:
        """The consumer reached the end of the log at ``offset``; everything archived below it is passed."""
        if offset < self.resume or any(o.last_offset >= offset for o in self.ahead):
            archived_end = max([self.resume, *(o.last_offset + 1 for o in self.ahead)])
            reached = f"the committed offset or the archive already reaches offset {archived_end}"
            raise log_ends_early(self.name, offset, reached)
        while self.ahead:
            self.pass_archived()
        for offset_checked in self.checks:
            log.info("%s: offset %d was not delivered (compacted): not checked", self.name, offset_checked)
        self.checks.clear()
        self.log_end = offset


LOST_DO = (
    "Re-snapshot the table with Debezium (an incremental snapshot signal), then take the steps of "
    "docs/operations.md, 'When the topic was recreated or the broker's log reset', for this topic; or, to "
    "accept the loss, rerun with the 'accept_lost_offsets' param (rows deleted in the lost range then stay "
    "live)."
)


def log_ends_early(name: str, log_end: int, reached: str) -> LogReplaced:
    """The log ends below what the group or the archive already reached: it is another log."""
    return LogReplaced(
        f"{name}: the log ends at offset {log_end}, but {reached}. The topic was recreated or the broker's "
        f"log was reset. Nothing was landed or committed. See docs/operations.md, 'When the topic was "
        f"recreated or the broker's log reset'."
    )


def plan_window(
    topic: str,
    prefix: str,
    partition: int,
    committed: int | None,
    low: int,
    high: int,
    archived: list[ObjectKey],
    fingerprint: Callable[[ObjectKey], str],
    accept_lost: bool = False,
) -> Window:
    """The window of one partition. ``archived`` is the partition's objects in the bucket, in key order;
    ``fingerprint`` gives an object's last-record fingerprint (read only for windows with work)."""
    name = f"{topic}[{partition}]"
    resume = low if committed is None else committed
    if committed is None and archived:
        log.warning(
            "%s: the consumer group has no committed offset (expired or deleted), but the archive holds %d "
            "objects: reading from the start of the log, landing only what the archive lacks and checking "
            "the archive against the log",
            name,
            len(archived),
        )
    if resume > high:
        raise log_ends_early(name, high, f"the group's committed offset is {resume}")
    lost = lost_ranges(resume, low, archived) if resume < low else []
    if lost:
        described = ", ".join(f"{first}..{last}" for first, last in lost)
        if not accept_lost:
            raise LostOffsets(
                f"{name}: offsets {described} were deleted from Kafka (retention) before they were drained, "
                f"so the warehouse is missing those changes; the log now starts at offset {low}. {LOST_DO}"
            )
        log.warning(
            "%s: ACCEPTED AS LOST at the source: offsets %s (the log starts at %d)", name, described, low
        )
        resume = low
    window = Window(
        topic,
        prefix,
        partition,
        resume=resume,
        end=high,
        low=low,
        read_from=resume,
        ahead=[o for o in archived if o.last_offset >= resume],
        lost=lost,
    )
    if not window.has_work:
        return window
    for obj in window.ahead:
        window.checks[obj.last_offset] = fingerprint(obj)
    newest = max((o for o in archived if o.last_offset < resume), key=lambda o: o.last_offset, default=None)
    if newest is not None and low <= newest.last_offset and resume - newest.last_offset <= CHECK_SPAN:
        window.checks[newest.last_offset] = fingerprint(newest)
        window.read_from = newest.last_offset
    return window
