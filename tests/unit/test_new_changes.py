"""When new changes start a run: the offset comparison and the rate limit, on positions and a fake
clock (no broker, no sleeping). What the broker answers is covered by
tests/integration/test_runs_on_new_changes.py."""

from __future__ import annotations

import pytest

from include.cdc.ingest.new_changes import ChangeGate, Position, poll_seconds

T = "cord.ConcordDb.dbo.Product"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def gate(clock):
    return ChangeGate(min_interval_seconds=900, clock=clock)


def test_a_drained_partition_is_quiet(gate):
    # The drain commits where its partition-EOF event stopped: the stable end.
    assert Position(T, 0, low=0, end=120, committed=120).pending == 0
    assert gate.check([Position(T, 0, 0, 120, 120), Position(T, 1, 0, 0, None)]) is None


def test_transaction_markers_past_the_committed_offset_are_not_new_once_drained(gate):
    # 10 records and a commit marker: the read-committed end is 11, and the drain reached it and
    # committed 11 (the marker included), so nothing is pending.
    assert gate.check([Position(T, 0, low=0, end=11, committed=11)]) is None


def test_an_open_transaction_is_not_new_until_it_commits(gate):
    # The stable end stops before an open transaction, as the drain does: still committed == end.
    assert gate.check([Position(T, 0, low=0, end=11, committed=11)]) is None
    # It commits: its records and marker move the stable end.
    assert gate.check([Position(T, 0, low=0, end=17, committed=11)]) == {
        "pending": {f"{T}[0]": 6},
        "records": 6,
    }


def test_new_records_fire(gate):
    event = gate.check([Position(T, 0, 0, 125, 120), Position(T, 1, 0, 40, 40)])
    assert event == {"pending": {f"{T}[0]": 5}, "records": 5}


def test_no_committed_offset(gate):
    # An empty log (also one whose records retention deleted) is quiet; records in it are new.
    assert gate.check([Position(T, 0, low=0, end=0, committed=None)]) is None
    assert gate.check([Position(T, 0, low=300, end=300, committed=None)]) is None
    assert gate.check([Position(T, 0, low=300, end=302, committed=None)])["records"] == 2


def test_a_committed_offset_past_the_end_is_not_new(gate):
    # A recreated topic: the drain stops on it with its own message; the watcher must not loop.
    assert gate.check([Position(T, 0, low=0, end=5, committed=50)]) is None


def test_at_most_once_per_interval_and_quiet_while_nothing_is_new(gate, clock):
    fired = clock.now
    assert gate.check([Position(T, 0, 0, 10, 0)]) is not None
    # More records within the interval: they wait for it.
    clock.now = fired + 60
    assert gate.check([Position(T, 0, 0, 12, 0)]) is None
    clock.now = fired + 899
    assert gate.check([Position(T, 0, 0, 12, 0)]) is None
    clock.now = fired + 900
    assert gate.check([Position(T, 0, 0, 12, 0)])["records"] == 12
    # The same records, still uncommitted (a run is taking them, or it failed): announced once.
    clock.now += 3600
    assert gate.check([Position(T, 0, 0, 12, 0)]) is None
    # Drained and committed: quiet, however long it stays so.
    for _ in range(5):
        clock.now += 900
        assert gate.check([Position(T, 0, 0, 12, 12)]) is None
    # A new change once the interval has passed: at once.
    assert gate.check([Position(T, 0, 0, 13, 12)])["records"] == 1


def test_what_a_capped_run_left_is_announced_again_once_it_committed(gate, clock):
    assert gate.check([Position(T, 0, 0, 100, 0)]) is not None
    clock.now += 900
    # A failed run committed nothing: no loop of runs failing on the same records.
    assert gate.check([Position(T, 0, 0, 100, 0)]) is None
    # A run capped at 40 records committed them: the rest starts the next run.
    assert gate.check([Position(T, 0, 0, 100, 40)])["records"] == 60


def test_another_partition_moving_fires_after_the_interval(gate, clock):
    assert gate.check([Position(T, 0, 0, 10, 0), Position(T, 1, 0, 0, None)]) is not None
    clock.now += 900
    event = gate.check([Position(T, 0, 0, 10, 0), Position(T, 1, 0, 3, None)])
    assert event["pending"] == {f"{T}[0]": 10, f"{T}[1]": 3}


def test_fractions_of_a_minute_and_the_poll_period():
    assert poll_seconds(900) == 30
    assert poll_seconds(12) == 3
    assert poll_seconds(0.5) == 1
