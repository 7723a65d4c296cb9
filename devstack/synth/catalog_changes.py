"""The catalog team's work as the connector sees it: products created with what hangs off them, deleted
with it, re-keyed with it, soft-deleted, and the day-to-day changes of prices, stock, OEM numbers and
analogue links. Each returns the messages of one transaction and updates the generator's state."""

from __future__ import annotations

from datetime import datetime

from devstack.synth.debezium_encoding import Message
from devstack.synth.state import CHILD_CHANGES, CHILDREN_PER_PRODUCT, PRODUCT


class CatalogChanges:
    """The changes of ``ChangeEventGenerator`` (which holds the state, the encoders and the clock)."""

    def _insert(self, table: str, row: dict, source: dict, headers=None) -> list[Message]:
        self._track(table, row)
        return [
            self._emit(
                table,
                "c",
                None,
                row,
                {**source, "event_serial_no": source.get("event_serial_no", 1)},
                headers,
            )
        ]

    def _update(self, table: str, key: tuple, new: dict, source: dict) -> list[Message]:
        before = self.state[table].rows[key]
        self._track(table, new)
        return [self._emit(table, "u", before, new, {**source, "event_serial_no": 2})]

    def _delete(self, table: str, key: tuple, source: dict, headers=None) -> list[Message]:
        before = self.state[table].rows[key]
        self._untrack(table, key)
        deleted = self._emit(table, "d", before, None, {**source, "event_serial_no": 1}, headers)
        self.counts[table].tombstones += 1
        return [deleted, self.encoders[table].tombstone(deleted, key, self._salt)]

    def _source(self, commit: str) -> dict:
        return {"commit_lsn": commit, "change_lsn": self._change_lsn()}

    def _child_row(self, table: str, owner: int, now: datetime) -> dict | None:
        references = {column: owner if i == 0 else None for i, column in enumerate(self.references[table])}
        for column in self.references[table][1:]:
            candidates = [
                k for k in (self._active_products.choice(self.rng) for _ in range(3)) if k[0] != owner
            ]
            if not candidates:
                return None  # an analogue link needs another product
            references[column] = candidates[0][0]
        return self.values[table].new_row(self._new_id(table), references, now)

    def _create_product(self) -> list[Message]:
        commit = self._begin()
        product = self.values[PRODUCT].new_row(self._new_id(PRODUCT), self._moment)
        out = self._insert(PRODUCT, product, self._source(commit))
        for table, (low, high) in CHILDREN_PER_PRODUCT.items():
            for _ in range(self.rng.randint(low, high) if table in self.tables else 0):
                row = self._child_row(table, product["ID"], self._moment)
                if row is not None:
                    out += self._insert(table, row, self._source(commit))
        return out

    def _delete_product(self, key: tuple) -> list[Message]:
        """Delete a product and, first, every row that refers to it (as the foreign keys require)."""
        commit = self._begin()
        out = []
        for table, child in sorted(self._pointing_at.get(key[0], set())):
            if child in self._live[table]:
                out += self._delete(table, child, self._source(commit))
        return out + self._delete(PRODUCT, key, self._source(commit))

    def _change_product_key(self, key: tuple) -> list[Message]:
        """A primary-key update: delete of the old key and create of the new one, children moved along."""
        commit = self._begin()
        old = self.state[PRODUCT].rows[key]
        new = {**old, "ID": self._new_id(PRODUCT), "Updated": self._moment}
        new_key = self.encoders[PRODUCT].key_of(new)
        source = self._source(commit)
        out = self._delete(
            PRODUCT, key, source, [("__debezium.newkey", self.encoders[PRODUCT].key_bytes(new_key, False))]
        )
        out += self._insert(
            PRODUCT,
            new,
            {**source, "event_serial_no": 2},
            [("__debezium.oldkey", self.encoders[PRODUCT].key_bytes(key, False))],
        )
        for table, child in sorted(self._pointing_at.get(key[0], set())):
            if child in self._live[table]:
                row = self.state[table].rows[child]
                moved = {
                    c: (new["ID"] if c in self.references[table] and v == old["ID"] else v)
                    for c, v in row.items()
                }
                out += self._update(table, child, moved, self._source(commit))
        return out

    def _single_change(self, commit: str) -> list[Message]:
        """One day-to-day change: mostly a product update, else a stock, OEM or analogue change."""
        roll = self.rng.random()
        for table, (share, ops) in CHILD_CHANGES.items():
            share = self.options.stock_change_share if share is None else share
            if table not in self.tables:
                continue
            if roll < share:
                op = self.rng.choices(list(ops), weights=list(ops.values()))[0]
                live = self._live[table]
                if op == "c" or not len(live):
                    row = self._child_row(table, self._active_products.choice(self.rng)[0], self._moment)
                    if row is not None:
                        return self._insert(table, row, self._source(commit))
                    break
                key = live.choice(self.rng)
                if op == "d":
                    return self._delete(table, key, self._source(commit))
                return self._update(
                    table,
                    key,
                    self.values[table].change(self.state[table].rows[key], self._moment),
                    self._source(commit),
                )
            roll -= share
        key = self._active_products.choice(self.rng)
        new = self.values[PRODUCT].change(self.state[PRODUCT].rows[key], self._moment)
        return self._update(PRODUCT, key, new, self._source(commit))

    def _soft_delete(self, key: tuple) -> list[Message]:
        commit = self._begin()
        new = {**self.values[PRODUCT].change(self.state[PRODUCT].rows[key], self._moment), "IsDeleted": True}
        return self._update(PRODUCT, key, new, self._source(commit))
