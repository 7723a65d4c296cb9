"""Crash points for the fault-injection tests. Off unless PRODUCT_CDC_CRASH_AT names one.

``PRODUCT_CDC_CRASH_AT=<point>`` or ``<point>:<n>`` makes the process kill itself with SIGKILL, as an
out-of-memory kill or a lost worker would, the n-th time (default 1st) execution reaches the point.
SIGKILL runs no ``finally`` block and no exception handler: what the pipeline leaves behind is exactly
what a real crash leaves.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "PRODUCT_CDC_CRASH_AT"
POINTS = frozenset(
    {
        "drain.object_written",  # the drain wrote an object and goes on reading
        "commit.before_commit",  # every object is written, no offset is committed yet
        "bronze.object_loaded",  # an object and its ledger row committed, the next one not started
        "bronze.rows_inserted",  # an object's rows are inserted, its ledger row is not
    }
)
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
