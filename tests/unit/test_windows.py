"""Planning a partition's window: lost offsets, archived objects ahead, and the record checked."""

from __future__ import annotations

import pytest

from include.cdc.archive.landing import ObjectKey, record_fingerprint
from include.cdc.ingest.errors import LogReplaced, LostOffsets
from include.cdc.ingest.windows import lost_ranges, plan_window

TOPIC, PREFIX = "cord.ConcordDb.dbo.Product", "product/raw/"


def objects(*ranges: tuple[int, int]) -> list[ObjectKey]:
    return [ObjectKey(PREFIX, TOPIC, 0, first, last) for first, last in ranges]


@pytest.mark.parametrize(
    ("start", "low", "archived", "lost"),
    [
        (2, 5, [], [(2, 4)]),
        (0, 40, objects((10, 19), (30, 39)), [(0, 9), (20, 29)]),
        (10, 40, objects((10, 19), (20, 45)), []),
        (10, 35, objects((5, 12), (30, 39)), [(13, 29)]),
    ],
)
def test_lost_ranges_are_the_deleted_offsets_the_archive_lacks(start, low, archived, lost):
    assert lost_ranges(start, low, archived) == lost


def plan(committed, low, high, archived, **options):
    return plan_window(
        TOPIC, PREFIX, 0, committed, low, high, archived, lambda o: f"fp{o.last_offset}", **options
    )


def test_a_window_of_a_log_that_holds_nothing_has_no_work_and_reads_no_fingerprint():
    window = plan(10, 10, 10, objects((0, 9)))  # every record deleted by retention, all of them archived
    assert not window.has_work
    assert window.checks == {}


def test_a_window_at_the_end_of_its_log_has_nothing_to_read():
    window = plan(10, 0, 10, objects((0, 9)))
    assert not window.has_work
    assert window.checks == {}


def test_the_newest_archived_record_is_read_again_and_checked():
    window = plan(10, 0, 15, objects((0, 4), (5, 9)))
    assert window.read_from == 9
    assert window.checks == {9: "fp9"}
    assert window.resume == 10


def test_archived_objects_ahead_of_the_committed_offset_are_checked_as_they_are_passed():
    window = plan(10, 0, 40, objects((0, 9), (14, 19), (20, 29)))
    assert [(o.first_offset, o.last_offset) for o in window.ahead] == [(14, 19), (20, 29)]
    assert window.checks == {9: "fp9", 19: "fp19", 29: "fp29"}


def test_a_committed_offset_beyond_the_end_of_the_log_is_of_another_log():
    with pytest.raises(LogReplaced, match=r"committed offset is 30.*recreated"):
        plan(30, 0, 12, [])


def test_lost_offsets_are_refused_unless_accepted():
    with pytest.raises(LostOffsets, match=r"offsets 3\.\.6"):
        plan(3, 7, 20, [])
    accepted = plan(3, 7, 20, [], accept_lost=True)
    assert accepted.lost == [(3, 6)]
    assert accepted.resume == 7


def test_fingerprints_tell_key_and_value_apart():
    assert record_fingerprint(1, b"ab", b"c") != record_fingerprint(1, b"a", b"bc")
    assert record_fingerprint(1, None, b"") != record_fingerprint(1, b"", b"")
    assert record_fingerprint(None, b"k", None) == record_fingerprint(None, b"k", None)
