"""One prepared object into its bronze table, in one transaction with its row in ``cdc_meta.load_ledger``.

Its rows are COPYed straight into the bronze table, in a savepoint. Only when one of them is there
already (a unique violation: objects that overlap) does the object go through a temporary table and
``INSERT ... SELECT ... ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING``, which
skips and counts them. Rows PostgreSQL refuses for their content are quarantined and the object is
loaded again without them.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from include.cdc.archive.storage import ObjectStore, StorageError
from include.cdc.bronze.drift import record_object
from include.cdc.bronze.prepare import PreparedObject, named
from include.cdc.bronze.quarantine import quarantine_key, quarantine_refused, refused_for_its_content
from include.cdc.bronze.statements import LOAD, Statements
from include.cdc.bronze.target import BronzeTarget, Counts
from include.cdc.faults import crash_point
from include.cdc.sqlfiles import statement
from include.cdc.warehouse import WarehouseError, explain

COPY_CHUNK_ROWS = 100  # rows per COPY write: about psycopg's own largest buffer


class ObjectLoader(Statements):
    """Loads prepared objects over one connection, each object in one transaction with its ledger row."""

    def __init__(
        self, conn: psycopg.Connection, store: ObjectStore, where: str, load_id: int | None = None
    ) -> None:
        self.conn = conn
        self.store = store
        self.where = where
        self.load_id = load_id  # the load's row in cdc_meta.loads, on each record it quarantines
        with conn.transaction():
            self._run(LOAD, "size_temp_buffers")

    def load(self, target: BronzeTarget, prepared: PreparedObject) -> Counts:
        """Load one object. Rows PostgreSQL refuses for their content are quarantined and the object loaded
        again without them; any other failure stops the load, naming the object."""
        try:
            try:
                return self._load(target, prepared)
            except psycopg.Error as exc:
                if not refused_for_its_content(exc):
                    raise
            quarantine_refused(self.conn, self.store, target, prepared)
            return self._load(target, prepared)
        except psycopg.Error as exc:
            raise WarehouseError(
                f"Cannot load {named(prepared.key_text)} into {target.bronze_table}, {self.where}: "
                f"{explain(exc)}. "
                f"Nothing of this object was committed; the objects loaded before it stay loaded, and a "
                f"rerun loads the rest."
            ) from None
        except StorageError as exc:
            raise StorageError(f"{exc} (while loading {named(prepared.key_text)})") from None

    def _load(self, target: BronzeTarget, prepared: PreparedObject) -> Counts:
        counts = prepared.counts
        key = prepared.key
        params = {"topic": target.topic, "partition": key.partition, "object_key": prepared.key_text}
        with self.conn.transaction():
            counts.rows_loaded = counts.duplicates_skipped = 0
            if prepared.rows:
                counts.rows_loaded, counts.duplicates_skipped = self._insert(target, prepared.rows)
                crash_point("bronze.rows_inserted")
            record_object(self.conn, target, prepared)
            for bad in prepared.quarantined:
                self._run(
                    LOAD,
                    "record_quarantine",
                    {
                        **params,
                        "offset": bad.offset,
                        "reason": bad.reason,
                        "quarantine_key": quarantine_key(target, key.partition, bad.offset),
                        "load_id": self.load_id,
                    },
                )
            ledger = ("records", "rows_loaded", "duplicates_skipped", "tombstones", "quarantined")
            self._run(
                LOAD,
                "record_load",
                {
                    **params,
                    "bronze_table": target.bronze_table,
                    "first_offset": key.first_offset,
                    "last_offset": key.last_offset,
                    **{name: getattr(counts, name) for name in ledger},
                },
            )
        return counts

    def _copy(self, copy_statement: sql.Composable, rows: list[bytes]) -> int:
        """COPY the rows, a chunk at a time (no copy of the whole object); how many went in."""
        with self.conn.cursor() as cursor:
            with cursor.copy(copy_statement) as copy:
                for i in range(0, len(rows), COPY_CHUNK_ROWS):
                    copy.write(b"".join(rows[i : i + COPY_CHUNK_ROWS]))
            return cursor.rowcount

    def _insert(self, target: BronzeTarget, rows: list[bytes]) -> tuple[int, int]:
        """(rows loaded, duplicates skipped). One COPY into bronze, in a savepoint; if a row is there
        already, the savepoint is undone and the rows go through the temporary table, which costs
        PostgreSQL a second write of every row but skips the ones bronze holds."""
        try:
            with self.conn.transaction():
                return self._copy(statement(LOAD, "copy_rows", table=target.bronze_table), rows), 0
        except psycopg.errors.UniqueViolation:
            pass
        self._run(LOAD, "create_incoming")
        copied = self._copy(statement(LOAD, "copy_incoming"), rows)
        loaded = self._run(LOAD, "insert_incoming", table=target.bronze_table).rowcount
        return loaded, copied - loaded
