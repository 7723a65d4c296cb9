"""Schema drift: where the columns the source sends differ from the contract, kept in
``cdc_meta.schema_drift`` (one row per table, column and kind, with where and when it was first and
last seen) and logged.

A new column and a type change are upserted with the object whose events showed them, in that object's
transaction. A contract column is missing only when no event of the run carried it, which only the
whole run can tell: that is recorded once every object of the run is loaded, in one transaction of its
own (a run that fails records none), and a later run whose events carry the column again takes it off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg

from include.cdc.bronze.prepare import PreparedObject
from include.cdc.bronze.statements import LOAD
from include.cdc.bronze.target import BronzeTarget
from include.cdc.debezium.columns import MISSING_COLUMN, NEW_COLUMN, TYPE_CHANGE, Sighting
from include.cdc.sqlfiles import statement

log = logging.getLogger(__name__)


@dataclass
class Seen:
    """Where one drift showed over several objects: the first and last (partition, offset, object key)."""

    first: tuple[int, int, str]
    last: tuple[int, int, str]
    events: int
    detail: str | None = None

    @classmethod
    def of(cls, prepared: PreparedObject, sighting: Sighting) -> Seen:
        partition, key = prepared.key.partition, prepared.key_text
        first, last = (partition, sighting.first, key), (partition, sighting.last, key)
        return cls(first, last, sighting.events, sighting.reason)

    def merge(self, other: Seen) -> None:
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)
        self.events += other.events
        self.detail = other.detail if other.last == self.last else self.detail

    def params(self, source_table: str, column: str, kind: str) -> dict:
        return {
            "source_table": source_table,
            "column_name": column,
            "kind": kind,
            "events": self.events,
            "first_object": self.first[2],
            "first_offset": self.first[1],
            "last_object": self.last[2],
            "last_offset": self.last[1],
            "detail": self.detail,
        }


def source_table(target: BronzeTarget) -> str:
    return f"{target.table.schema}.{target.table.table}"


def _rows(prepared: PreparedObject) -> list[tuple[str, str, Seen]]:
    """(column, kind, where) of the new columns and type changes ``prepared`` showed, in the order every
    connection upserts them (so two objects' transactions never wait on each other's rows crosswise)."""
    seen = prepared.columns
    found = [(name, NEW_COLUMN, Seen.of(prepared, s)) for name, s in seen.new.items()]
    found += [(name, TYPE_CHANGE, Seen.of(prepared, s)) for name, s in seen.wrong_type.items()]
    return sorted(found, key=lambda row: row[:2])


def record_object(conn: psycopg.Connection, target: BronzeTarget, prepared: PreparedObject) -> None:
    """Upsert the drift one object showed; called inside the object's transaction."""
    for column, kind, seen in _rows(prepared):
        conn.execute(statement(LOAD, "record_drift"), seen.params(source_table(target), column, kind))


@dataclass
class TableDrift:
    """One table's drift over one run: its objects' findings merged."""

    target: BronzeTarget
    present: set[str] = field(default_factory=set)  # contract columns some image of the run carried
    full_images: Seen | None = None  # the run's events with an after image
    found: dict[tuple[str, str], Seen] = field(default_factory=dict)  # by (column, kind)

    def add(self, prepared: PreparedObject) -> None:
        seen = prepared.columns
        self.present |= seen.present
        if seen.full_images is not None:
            self._merge(None, Seen.of(prepared, seen.full_images))
        for column, kind, where in _rows(prepared):
            self._merge((column, kind), where)

    def _merge(self, key: tuple[str, str] | None, where: Seen) -> None:
        held = self.full_images if key is None else self.found.get(key)
        if held is not None:
            held.merge(where)
        elif key is None:
            self.full_images = where
        else:
            self.found[key] = where

    @property
    def missing(self) -> list[str]:
        """Contract columns no event of the run carried, when the run had events with an after image."""
        if self.full_images is None:
            return []
        contract = (c.source_column for c in self.target.table.columns)
        return sorted(column for column in contract if column not in self.present)

    def columns(self, kind: str) -> list[str]:
        return sorted(column for column, found_kind in self.found if found_kind == kind)


def record_run(conn: psycopg.Connection, tables: list[TableDrift]) -> None:
    """Record the run's missing columns, take off those its events carried again, and log every drift."""
    with conn.transaction():
        for drift in tables:
            table = source_table(drift.target)
            if drift.full_images is None:
                continue
            for column in drift.missing:
                conn.execute(
                    statement(LOAD, "record_drift"), drift.full_images.params(table, column, MISSING_COLUMN)
                )
            conn.execute(
                statement(LOAD, "forget_missing"), {"source_table": table, "columns": sorted(drift.present)}
            )
    for drift in tables:
        _warn(drift)


def _warn(drift: TableDrift) -> None:
    table = f"{source_table(drift.target)} ({drift.target.bronze_table})"
    if new := drift.columns(NEW_COLUMN):
        log.warning(
            "schema drift in %s: the source sends columns the contract does not know: %s. Bronze keeps "
            "them; staging ignores them until the contract adds them (see the Docs tab, Schema drift)",
            table,
            ", ".join(new),
        )
    if missing := drift.missing:
        log.warning(
            "schema drift in %s: contract columns missing from every event of this run: %s. Staging fills "
            "them with nulls; confirm the drop at the source (see the Docs tab, Schema drift)",
            table,
            ", ".join(missing),
        )
    if changed := drift.columns(TYPE_CHANGE):
        log.warning(
            "schema drift in %s: values their contract type cannot hold in columns %s, quarantined (see "
            "cdc_meta.quarantine and the Docs tab, Schema drift)",
            table,
            ", ".join(changed),
        )
