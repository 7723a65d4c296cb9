"""Bronze load: every landed object not yet loaded goes into its ``bronze.<table>_cdc`` table.

Exactly once, whatever crashes: an object's rows and its row in ``cdc_meta.load_ledger`` commit in one
transaction (``object_load.py``), rows bronze holds already are skipped, and a session advisory lock
keeps a second load from interleaving. Rows go in bulk, never one statement per row.

What is pending is the archive's listing minus the ledger, so objects load whatever order they landed in.

Tombstones are counted, not loaded. A record that is not a change event staging can decode, whatever its
bytes, is written unchanged under the quarantine prefix, recorded in ``cdc_meta.quarantine`` with the reason,
and counted (``prepare.py``, ``quarantine.py``); so are rows PostgreSQL refuses for their content. Only the
warehouse, the bucket and a damaged archive can fail the load, with one error naming the connection and
the object. Two outcomes fail the run once everything else is loaded: more quarantined records than the
limit, and a truncate event (``TruncatedAtSource``).

What the events' columns showed against the contract (a new column, a missing one, a type change) is
recorded as schema drift and logged (``drift.py``); it never fails the load.

The bookkeeping (ledger, quarantine, drift, run metrics, one row per load) is in ``cdc_meta``, not beside
the raw tables; a warehouse that still has it in bronze is moved by the first load (``meta.py``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import psycopg

from include.cdc.archive.landing import ObjectKey, topic_prefix
from include.cdc.archive.storage import ObjectStore, StorageError
from include.cdc.bronze.drift import TableDrift, record_run, source_table
from include.cdc.bronze.errors import LoadInProgress, TooManyQuarantined, TruncatedAtSource
from include.cdc.bronze.meta import move_to_meta
from include.cdc.bronze.object_load import ObjectLoader
from include.cdc.bronze.prepare import PreparedObject, named, prefetched, prepare_object
from include.cdc.bronze.quarantine import put_quarantined
from include.cdc.bronze.statements import DDL, LOAD, Statements
from include.cdc.bronze.target import BronzeTarget, Counts, LoadSummary
from include.cdc.faults import crash_point
from include.cdc.warehouse import WarehouseError, explain

log = logging.getLogger(__name__)


class BronzeLoader(Statements):
    """The load of one run: the lock, the DDL, what is pending, and the objects loaded on ``connections``
    connections at once. Objects of one partition always load in key order, on one connection."""

    def __init__(
        self,
        conn: psycopg.Connection,
        store: ObjectStore,
        where: str,
        connect: Callable[[], psycopg.Connection] | None = None,
        connections: int = 1,
    ) -> None:
        self.conn = conn
        self.store = store
        self.where = where
        self.connect = connect
        self.connections = connections if connect is not None else 1
        self.drift: dict[str, TableDrift] = {}  # by bronze table: what this run's events showed
        self.truncates: list[tuple[BronzeTarget, str, int]] = []  # (target, object key, offset) this run
        self.load_id: int | None = None  # this load's row in cdc_meta.loads, once the tables are ensured

    def lock(self) -> None:
        if not self._run(LOAD, "try_lock").fetchone()[0]:
            self.conn.rollback()
            raise LoadInProgress(
                f"Another bronze load holds the lock in the warehouse ({self.where}). Two runs must not "
                f"load at once; this run stops without loading. Rerun when the other load has finished."
            )
        self.conn.commit()

    def unlock(self) -> None:
        self._run(LOAD, "unlock")
        self.conn.commit()

    def release(self) -> None:
        """Roll back and unlock. A connection that broke took its lock with its session, so a failure here
        is logged, never raised over the load's own outcome."""
        try:
            self.conn.rollback()
            self.unlock()
        except psycopg.Error as exc:
            log.warning(
                "could not release the bronze load lock (%s): %s; it ends with the session", self.where, exc
            )

    def ensure_tables(self, targets: Iterable[BronzeTarget]) -> None:
        """Create what is missing (moving the bookkeeping of an older warehouse to cdc_meta first) and
        record this load in cdc_meta.loads, all in one transaction."""
        with self.conn.transaction():
            self._run(DDL, "create_schema")
            move_to_meta(self.conn)
            names = ("create_load_ledger", "create_quarantine", "create_loads", "create_schema_drift")
            for name in (*names, "create_run_metrics"):
                self._run(DDL, name)
            for target in targets:
                self._run(
                    DDL,
                    "create_cdc_table",
                    table=target.bronze_table,
                    ingested_index=f"{target.table.bronze_table}_ingested_at",
                )
            self.load_id = self._run(DDL, "start_load").fetchone()[0]

    def reset(self, target: BronzeTarget) -> None:
        """Forget everything loaded for the target, so the whole archive is loaded again."""
        params = {"topic": target.topic}
        with self.conn.transaction():
            self._run(LOAD, "reset_table", table=target.bronze_table)
            self._run(LOAD, "reset_ledger", params)
            self._run(LOAD, "reset_quarantine", params)
            self._run(LOAD, "reset_drift", {"source_table": source_table(target)})

    def pending_keys(self, target: BronzeTarget) -> dict[int, list[str]]:
        """Per partition, the landed objects not loaded yet, in key order: the archive's listing minus the
        keys in the ledger.

        Not "what follows the newest loaded key": the drain uploads two objects at once, so after a crash
        a later object can be in the bucket (and loaded) while an earlier one lands only with the rerun.
        """
        loaded = {
            key
            for (key,) in self._run(LOAD, "loaded_keys", {"topic": target.topic, "prefix": target.raw_prefix})
        }
        self.conn.commit()
        pending: dict[int, list[str]] = {}
        for key in self.store.list_keys(topic_prefix(target.raw_prefix, target.topic)):
            if key in loaded:
                continue
            try:
                partition = ObjectKey.parse(key).partition
            except ValueError:
                log.warning("ignoring %s: not a landed batch key", key)
                continue
            pending.setdefault(partition, []).append(key)
        return pending

    def _prepare(self, target: BronzeTarget, key: str) -> PreparedObject:
        try:
            prepared = prepare_object(key, self.store.get(key), target)
            for bad in prepared.quarantined:
                put_quarantined(self.store, target, prepared, bad)
        except StorageError as exc:
            raise StorageError(f"{exc} (while loading {named(key)})") from None
        return prepared

    def load(self, targets: list[BronzeTarget]) -> dict[str, Counts]:
        """Load every pending object of every target; return the counts per bronze table. When loads on
        several connections fail, the first failure is raised and the others are logged."""
        try:
            return self._load(targets)
        except psycopg.Error as exc:
            raise WarehouseError(f"Cannot load bronze, {self.where}: {explain(exc)}") from None

    def _load(self, targets: list[BronzeTarget]) -> dict[str, Counts]:
        work: deque[tuple[BronzeTarget, list[str]]] = deque()
        for target in targets:
            for keys in self.pending_keys(target).values():
                work.append((target, keys))
        totals = {target.bronze_table: Counts() for target in targets}
        self.drift = {target.bronze_table: TableDrift(target) for target in targets}
        guard = threading.Lock()
        failures: list[BaseException] = []

        def drain_work(loader: ObjectLoader) -> None:
            while not failures:
                with guard:
                    if not work:
                        return
                    target, keys = work.popleft()
                for prepared in prefetched(keys, lambda key, target=target: self._prepare(target, key)):
                    counts = loader.load(target, prepared)
                    with guard:
                        totals[target.bronze_table].add(counts)
                        self.drift[target.bronze_table].add(prepared)
                        self.truncates += [
                            (target, prepared.key_text, q.offset) for q in prepared.quarantined if q.truncate
                        ]
                    crash_point("bronze.object_loaded")
                    log.info(
                        "%s: %d records, %d loaded, %d duplicates skipped, %d tombstones, %d quarantined",
                        prepared.key_text,
                        counts.records,
                        counts.rows_loaded,
                        counts.duplicates_skipped,
                        counts.tombstones,
                        counts.quarantined,
                    )
                    if failures:
                        return

        def on_own_connection() -> None:
            try:
                with self.connect() as conn:
                    drain_work(ObjectLoader(conn, self.store, self.where, self.load_id))
            except BaseException as exc:
                with guard:
                    failures.append(exc)

        if self.connections == 1:
            drain_work(ObjectLoader(self.conn, self.store, self.where, self.load_id))
        else:
            with ThreadPoolExecutor(self.connections, thread_name_prefix="bronze-load") as pool:
                for _ in range(self.connections):
                    pool.submit(on_own_connection)
            for later in failures[1:]:
                log.warning("the bronze load also failed on another connection: %s", later)
            if failures:
                raise failures[0]
        return totals


def load_bronze(
    conn: psycopg.Connection,
    store: ObjectStore,
    targets: list[BronzeTarget],
    where: str,
    full_refresh: bool = False,
    max_quarantined: int | None = None,
    connect: Callable[[], psycopg.Connection] | None = None,
    connections: int = 1,
) -> LoadSummary:
    """Create bronze when missing, then load every landed object not loaded yet (all on full refresh).

    ``conn`` holds the lock for the whole load; with ``connect``, objects load on ``connections``
    connections of their own at once (PostgreSQL then works on several cores). A failure of the
    warehouse or the bucket raises one error naming the connection (and the object being loaded); the
    lock is given up whatever happens.
    """
    loader = BronzeLoader(conn, store, where, connect, connections)
    summary = LoadSummary()
    try:
        loader.lock()
    except psycopg.Error as exc:
        raise WarehouseError(f"Cannot use the warehouse, {where}: {explain(exc)}") from exc
    try:
        try:
            loader.ensure_tables(targets)
        except psycopg.Error as exc:
            raise WarehouseError(f"Cannot create the bronze tables, {where}: {explain(exc)}") from exc
        if full_refresh:
            for target in targets:
                log.info("full refresh: emptying %s and replaying the archive", target.bronze_table)
                try:
                    loader.reset(target)
                except psycopg.Error as exc:
                    raise WarehouseError(
                        f"Cannot empty {target.bronze_table}, {where}: {explain(exc)}"
                    ) from exc
        summary.tables = loader.load(targets)
        for table, counts in summary.tables.items():
            log.info(
                "%s: %d objects, %d rows loaded, %d duplicates skipped, %d tombstones, %d quarantined",
                table,
                counts.objects,
                counts.rows_loaded,
                counts.duplicates_skipped,
                counts.tombstones,
                counts.quarantined,
            )
        try:
            record_run(conn, list(loader.drift.values()))
        except psycopg.Error as exc:
            raise WarehouseError(f"Cannot record the schema drift, {where}: {explain(exc)}") from None
    finally:
        loader.release()
    if loader.truncates:
        raise TruncatedAtSource(_truncated_message(loader.truncates))
    quarantined = summary.total.quarantined
    if max_quarantined is not None and quarantined > max_quarantined:
        raise TooManyQuarantined(
            f"{quarantined} records were quarantined in this run, more than the limit of {max_quarantined} "
            f"(PRODUCT_CDC_MAX_QUARANTINED_PER_RUN). Everything else is loaded. The reasons are in "
            f"cdc_meta.quarantine (load_id {loader.load_id}) and the bytes under the quarantine prefix of "
            f"the bucket: fix the producer or the contract, then rerun (a full_refresh run replays the "
            f"archive)."
        )
    return summary


def _truncated_message(truncates: list[tuple[BronzeTarget, str, int]]) -> str:
    tables = sorted({f"{target.table.schema}.{target.table.table}" for target, _, _ in truncates})
    where = "; ".join(f"{key} offset {offset}" for _, key, offset in truncates[:5])
    more = f" and {len(truncates) - 5} more" if len(truncates) > 5 else ""
    return (
        f"{', '.join(tables)} was truncated at the source: {len(truncates)} truncate event(s), "
        f"quarantined ({where}{more}). Debezium sends no per-row deletes for a truncate, so bronze, "
        f"staging and the marts still hold every row it removed. Everything else is loaded; dbt does not "
        f"run in this run. To bring the table back in line with the source: move its objects aside as for "
        f"a recreated topic (README, 'When the topic was recreated or the broker's log reset', step 1), "
        f"re-snapshot the table (a Debezium incremental snapshot signal) and let a normal run drain the "
        f"snapshot, then trigger a run with full_refresh (it rebuilds the table from the snapshot on)."
    )
