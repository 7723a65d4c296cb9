"""Debezium SQL Server change events for the whole captured catalog, deterministic from a seed.

What the connector would write to ``<prefix>.<db>.dbo.<Table>`` for every table of the contract: an
initial snapshot (op ``r``, ``source.snapshot`` from ``first`` through ``last``), then the catalog team's
work as transactions: products created with their stock rows, OEM numbers and analogue links; products
deleted with everything that hangs off them (each delete followed by a tombstone); primary-key changes
(a delete and a create with the same LSNs, the children moved to the new key in the same transaction);
soft deletes; and a steady stream of price, stock, OEM and analogue updates. Connector restarts emit
recent events again at new offsets, and keys can be made to move to other partitions mid-stream.
Values are encoded as the connector does (``debezium_encoding.py``), messages come in both
JsonConverter forms and both decimal modes.

The generator keeps the true final state of every table, so tests compare the warehouse with it
(devstack.verify).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator

from devstack.synth.catalog_changes import CatalogChanges
from devstack.synth.child_values import ChildValues
from devstack.synth.debezium_encoding import Message, TableEncoder, lsn
from devstack.synth.state import (
    CHILDREN_PER_PRODUCT,
    FIRST_IDS,
    PRODUCT,
    TRANSACTION_SPAN,
    FinalState,
    GeneratorOptions,
    KeyPool,
    StreamCounts,
)
from devstack.synth.values import CatalogValues
from include.cdc.contract import SourceTable, load_contract


class ChangeEventGenerator(CatalogChanges):
    def __init__(
        self, options: GeneratorOptions | None = None, tables: tuple[SourceTable, ...] | None = None
    ):
        self.options = options or GeneratorOptions()
        self.tables = {t.table: t for t in tables or load_contract()}
        self.rng = random.Random(self.options.seed)
        o = self.options
        self.encoders = {
            name: TableEncoder(t, o.topic_prefix, o.database, o.partitions) for name, t in self.tables.items()
        }
        self.values = {
            name: CatalogValues(t.columns, self.rng) if name == PRODUCT else ChildValues(t.columns, self.rng)
            for name, t in self.tables.items()
        }
        self.state = {name: FinalState() for name in self.tables}
        self.counts = {name: StreamCounts() for name in self.tables}
        # Which columns of each child table point at a product; the first one owns the row.
        self.references = {
            name: [c.source_column for c in t.columns if c.references == ("stg_product", "product_id")]
            for name, t in self.tables.items()
            if name != PRODUCT
        }
        self._next_id = {name: FIRST_IDS.get(name, 100_001) for name in self.tables}
        self._live = {name: KeyPool() for name in self.tables}
        self._active_products = KeyPool()
        self._pointing_at: dict[int, set[tuple[str, tuple]]] = {}  # product id -> child rows referring to it
        self._sequence = 0
        self._changes = 0
        self._envelopes = 0
        self._moment = self.options.start
        self._salt = 0

    # -- bookkeeping ----------------------------------------------------------------------------

    @property
    def topics(self) -> dict[str, str]:
        return {name: encoder.topic for name, encoder in self.encoders.items()}

    @property
    def total(self) -> StreamCounts:
        total = StreamCounts()
        for counts in self.counts.values():
            total.envelopes += counts.envelopes
            total.tombstones += counts.tombstones
            total.reemitted += counts.reemitted
            for op, n in counts.by_op.items():
                total.by_op[op] += n
        return total

    def _new_id(self, table: str) -> int:
        self._next_id[table] += 1
        return self._next_id[table] - 1

    def _forms(self) -> tuple[bool, str]:
        """(schemas.enable, decimal.handling.mode) now: the connector's settings change in stretches."""
        stretch = self._envelopes // 997
        wrap = {"schema": True, "plain": False}.get(self.options.converter, stretch % 2 == 0)
        default = "string" if stretch % 3 == 2 else "precise"
        return wrap, {"precise": "precise", "string": "string"}.get(self.options.decimals, default)

    def _begin(self) -> str:
        """Start a transaction; return its commit LSN (after every change LSN it will hold)."""
        self._sequence += TRANSACTION_SPAN
        self._changes = 0
        return lsn(self._sequence + TRANSACTION_SPAN - 1)

    def _change_lsn(self) -> str:
        self._changes = min(self._changes + 1, TRANSACTION_SPAN - 2)
        return lsn(self._sequence + self._changes)

    def _emit(self, table: str, op: str, before, after, source: dict, headers=None) -> Message:
        wrap, decimals = self._forms()
        message = self.encoders[table].message(
            op,
            before,
            after,
            source,
            self._moment,
            self.rng.randint(5, 900),
            wrap,
            decimals,
            self._salt,
            headers,
        )
        self.counts[table].envelopes += 1
        self.counts[table].by_op[op] += 1
        self._envelopes += 1
        self._moment += self._step
        return message

    def _track(self, table: str, row: dict) -> tuple:
        key = self.encoders[table].key_of(row)
        self.state[table].rows[key] = row
        self.state[table].deleted.discard(key)
        self._live[table].add(key)
        for column in self.references.get(table, ()):
            if row.get(column) is not None:
                self._pointing_at.setdefault(row[column], set()).add((table, key))
        if table == PRODUCT:
            if row.get("IsDeleted"):
                if key in self._active_products:
                    self._active_products.remove(key)
            else:
                self._active_products.add(key)
        return key

    def _untrack(self, table: str, key: tuple) -> None:
        row = self.state[table].rows[key]
        self.state[table].deleted.add(key)
        self._live[table].remove(key)
        for column in self.references.get(table, ()):
            self._pointing_at.get(row.get(column), set()).discard((table, key))
        if table == PRODUCT and key in self._active_products:
            self._active_products.remove(key)

    # -- the stream -----------------------------------------------------------------------------

    def _snapshot(self) -> Iterator[Message]:
        """Every table read once, products first, all at the LSN current when the snapshot started."""
        source = {"commit_lsn": self._begin(), "change_lsn": None, "event_serial_no": None}
        products = [
            self.values[PRODUCT].new_row(self._new_id(PRODUCT), self._moment)
            for _ in range(self.options.products)
        ]
        rows = {PRODUCT: products}
        for product in products:
            self._track(PRODUCT, product)
        for table, (low, high) in CHILDREN_PER_PRODUCT.items():
            if table in self.tables:
                rows[table] = []
                for product in products:
                    for _ in range(self.rng.randint(low, high)):
                        row = self._child_row(table, product["ID"], self._moment)
                        if row is not None:
                            self._track(table, row)
                            rows[table].append(row)
        flat = [(table, row) for table in rows for row in rows[table]]
        for i, (table, row) in enumerate(flat):
            first = i == 0 or flat[i - 1][0] != table
            last = i == len(flat) - 1 or flat[i + 1][0] != table
            flag = (
                "first"
                if i == 0
                else "last"
                if i == len(flat) - 1
                else "first_in_data_collection"
                if first
                else "last_in_data_collection"
                if last
                else "true"
            )
            yield self._emit(table, "r", None, row, {**source, "snapshot": flag})

    def resnapshot(self, table: str) -> list[Message]:
        """What the connector writes to a topic recreated under it: a new snapshot of the table's live
        rows, at the LSN current now (the other tables' topics go on as they were)."""
        source = {"commit_lsn": self._begin(), "change_lsn": None, "event_serial_no": None}
        state = self.state[table]
        keys = sorted(state.live_keys())
        flags = ["first", *["true"] * (len(keys) - 2), "last"] if len(keys) > 1 else ["last"]
        return [
            self._emit(table, "r", None, state.rows[key], {**source, "snapshot": flag})
            for key, flag in zip(keys, flags, strict=True)
        ]

    def messages(self) -> Iterator[Message]:
        """Every message of every topic, in the order the connector writes them (tombstones included)."""
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[Message]]:
        """The messages in groups after each of which ``state`` is the source's state: the snapshot,
        then each change (with its cascade) and each connector restart's re-emitted events."""
        o = self.options
        self._step = o.period / max(1, o.events)
        yield list(self._snapshot())
        snapshot = self._envelopes
        budget = o.events - snapshot
        if budget < 0:
            raise ValueError(f"{o.events} events are fewer than the {snapshot} of the snapshot")
        restarts = (
            budget // (o.restart_every + o.restart_replay) if o.restart_every and o.restart_replay else 0
        )
        streaming = budget - restarts * o.restart_replay
        structural = (
            ["create"] * (int(streaming * o.delete_share) + int(streaming * o.soft_delete_share))
            + ["delete"] * int(streaming * o.delete_share)
            + ["soft_delete"] * int(streaming * o.soft_delete_share)
            + ["key_change"] * int(streaming * o.pk_change_share)
        )
        self.rng.shuffle(structural)
        due = deque(sorted(self.rng.sample(range(max(1, int(streaming * 0.8))), len(structural))))
        pending = deque(structural)
        restart_points = deque(
            snapshot + (n + 1) * (o.restart_every + o.restart_replay) for n in range(restarts)
        )
        recent: deque[Message] = deque(maxlen=o.restart_replay or 1)
        commit = None
        end = o.events - restarts * o.restart_replay
        while self._envelopes - self._reemitted_total() < end or pending:
            streamed = self._envelopes - snapshot - self._reemitted_total()
            if o.repartition_at and streamed >= streaming * o.repartition_at:
                self._salt = 1
            if pending and ((due and streamed >= due[0]) or self._envelopes - self._reemitted_total() >= end):
                if due:
                    due.popleft()
                kind = pending.popleft()
                if kind != "create" and len(self._active_products) < 2:
                    pending.append(kind)  # keep at least one product; do it later
                    kind = "create"
                if kind == "create":
                    out = self._create_product()
                else:
                    key = self._active_products.choice(self.rng)
                    out = {
                        "delete": self._delete_product,
                        "soft_delete": self._soft_delete,
                        "key_change": self._change_product_key,
                    }[kind](key)
                commit = None
            else:
                if commit is None:
                    commit = self._begin()
                out = self._single_change(commit)
                if self.rng.random() >= o.transaction_share or self._changes >= TRANSACTION_SPAN - 3:
                    commit = None
            yield out
            recent.extend(m for m in out if m.value is not None)
            while restart_points and self._envelopes >= restart_points[0] - o.restart_replay:
                # A connector restart: the events since its last committed source offset come again.
                restart_points.popleft()
                replayed = list(recent)
                for message in replayed:
                    table = next(n for n, e in self.encoders.items() if e.topic == message.topic)
                    self.counts[table].envelopes += 1
                    self.counts[table].reemitted += 1
                    self._envelopes += 1
                yield replayed

    def _reemitted_total(self) -> int:
        return sum(c.reemitted for c in self.counts.values())
