"""What the generator is asked for (its options) and what it keeps: the tables' keys, their final state
and its counts of what went out."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

PRODUCT = "Product"
FIRST_IDS = {
    "Product": 1001,
    "ProductAvailability": 500_001,
    "ProductAnalogue": 700_001,
    "ProductOEMNumber": 900_001,
}
TRANSACTION_SPAN = 4096  # LSN numbers reserved per transaction: its changes, then its commit
# Day-to-day changes besides product updates, by table: (share of single changes, what kind);
# the stock share is GeneratorOptions.stock_change_share.
CHILD_CHANGES = {
    "ProductAvailability": (None, {"u": 0.9, "c": 0.05, "d": 0.05}),
    "ProductOEMNumber": (0.04, {"u": 0.25, "c": 0.5, "d": 0.25}),
    "ProductAnalogue": (0.04, {"u": 0.25, "c": 0.5, "d": 0.25}),
}
CHILDREN_PER_PRODUCT = {"ProductAvailability": (1, 3), "ProductOEMNumber": (1, 2), "ProductAnalogue": (0, 2)}


@dataclass
class GeneratorOptions:
    products: int = 115  # products active at the end
    events: int = 31_970  # change events (envelopes) over every topic, re-emitted ones included
    seed: int = 7
    partitions: int = 3
    converter: str = "mixed"  # schema | plain | mixed: JsonConverter schemas.enable true/false
    decimals: str = "mixed"  # precise | string | mixed: decimal.handling.mode
    delete_share: float = 0.005  # product deletes, of streaming changes
    pk_change_share: float = 0.001
    soft_delete_share: float = 0.003
    transaction_share: float = 0.1  # single changes that commit together with the next one
    stock_change_share: float = (
        0.33  # single changes that move stock (the rest: products, OEM numbers, links)
    )
    restart_every: int = 5_000  # a connector restart re-emits recent events every so many events (0: never)
    restart_replay: int = 40
    repartition_at: float = 0.0  # share of the stream after which keys hash to other partitions (0: never)
    start: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 6, 0, 0))
    period: timedelta = timedelta(days=30)
    topic_prefix: str = "cord"
    database: str = "ConcordDb"


class KeyPool:
    """Keys with O(1) add, remove and random choice."""

    def __init__(self) -> None:
        self._keys: list[tuple] = []
        self._index: dict[tuple, int] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: tuple) -> bool:
        return key in self._index

    def add(self, key: tuple) -> None:
        if key not in self._index:
            self._index[key] = len(self._keys)
            self._keys.append(key)

    def remove(self, key: tuple) -> None:
        position = self._index.pop(key)
        last = self._keys.pop()
        if position < len(self._keys):
            self._keys[position] = last
            self._index[last] = position

    def choice(self, rng: random.Random) -> tuple:
        return self._keys[rng.randrange(len(self._keys))]


@dataclass
class FinalState:
    """What one source table holds after the stream: every row ever seen, and which were deleted."""

    rows: dict[tuple, dict] = field(default_factory=dict)
    deleted: set[tuple] = field(default_factory=set)

    def live_keys(self) -> set[tuple]:
        return self.rows.keys() - self.deleted

    def active_keys(self) -> set[tuple]:
        """Live rows that are not soft-deleted (only products have the flag)."""
        return {k for k in self.live_keys() if not self.rows[k].get("IsDeleted")}


@dataclass
class StreamCounts:
    envelopes: int = 0
    tombstones: int = 0
    reemitted: int = 0
    by_op: dict[str, int] = field(default_factory=lambda: {"r": 0, "c": 0, "u": 0, "d": 0})

    @property
    def messages(self) -> int:
        return self.envelopes + self.tombstones
