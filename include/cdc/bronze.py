"""Bronze load: every landed object not yet loaded goes into its ``bronze.<table>_cdc`` table.

Exactly once, whatever crashes: an object's rows and its row in ``bronze.load_ledger`` commit in one
transaction, rows are inserted with ``ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO
NOTHING``, and a session advisory lock keeps a second load from interleaving. Rows go in bulk (COPY into
a temporary table, then one INSERT ... SELECT per object), never one statement per row.

Tombstones are counted, not loaded. A record that is not a change event is written unchanged under the
quarantine prefix, recorded in ``bronze.quarantine`` with the reason, and counted.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from include.cdc.contract import SourceTable
from include.cdc.debezium import NotAnEnvelope, parse_change_event
from include.cdc.faults import crash_point
from include.cdc.landing import ObjectKey, decode_record, partition_prefix, read_lines, topic_prefix
from include.cdc.sqlfiles import statement
from include.cdc.storage import ObjectStore
from include.cdc.warehouse import WarehouseError, explain

log = logging.getLogger(__name__)

DDL = "bronze/ddl.sql"
LOAD = "bronze/load.sql"
PREFETCH = 1  # objects downloaded and parsed ahead of the one being copied
COPY_CHUNK_ROWS = 100  # rows per COPY write: about psycopg's own largest buffer


class _RowAccepted(Exception):
    """Rolls back the savepoint of a row that PostgreSQL accepted (only its verdict was wanted)."""


class LoadInProgress(RuntimeError):
    """Another bronze load holds the lock."""


class TooManyQuarantined(RuntimeError):
    """More records were quarantined in one run than the configured limit (the rest is loaded)."""


@dataclass(frozen=True)
class BronzeTarget:
    """Where one captured table's objects come from and go to."""

    table: SourceTable
    topic: str
    raw_prefix: str
    quarantine_prefix: str

    @property
    def bronze_table(self) -> str:
        return f"bronze.{self.table.bronze_table}"


@dataclass
class Counts:
    objects: int = 0
    records: int = 0
    rows_loaded: int = 0
    duplicates_skipped: int = 0
    tombstones: int = 0
    quarantined: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class LoadSummary:
    tables: dict[str, Counts] = field(default_factory=dict)

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.tables.values():
            total.add(counts)
        return total

    def to_xcom(self) -> dict:
        return {"total": self.total.__dict__, "tables": {t: c.__dict__ for t, c in self.tables.items()}}


@dataclass
class _Quarantined:
    offset: int
    reason: str
    raw: bytes


@dataclass
class _PreparedObject:
    key: ObjectKey
    key_text: str
    rows: list[bytes]  # COPY lines, one per change event
    counts: Counts
    quarantined: list[_Quarantined]


def _copy_field(text: str) -> str:
    """Escape a value for COPY's text format (JSON text rarely needs more than the backslashes)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text or "\r" in text or "\t" in text:
        text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return text


def prepare_object(key: str, body: bytes, target: BronzeTarget) -> _PreparedObject:
    """Split one landed object into COPY rows, tombstones and quarantined records."""
    parsed_key = ObjectKey.parse(key)
    counts = Counts(objects=1)
    rows: list[str] = []
    quarantined: list[_Quarantined] = []
    for line in read_lines(body):
        counts.records += 1
        record = decode_record(line)
        if record.is_tombstone:
            counts.tombstones += 1
            continue
        try:
            if record.value is None:
                raise NotAnEnvelope("value is not valid UTF-8")
            if "\\u0000" in record.value or (record.key and "\\u0000" in record.key):
                raise NotAnEnvelope("contains a NUL character (\\u0000), which PostgreSQL jsonb cannot store")
            event = parse_change_event(record.key, record.value, target.table)
        except NotAnEnvelope as exc:
            quarantined.append(_Quarantined(record.offset, str(exc), record.raw_value()))
            continue
        timestamp = str(record.timestamp_ms) if record.timestamp_ms is not None else "\\N"
        key_field, value_field = _copy_field(event.key_json), _copy_field(event.envelope_json)
        row = f"{record.offset}\t{timestamp}\t{key_field}\t{value_field}\n"
        try:
            rows.append(row.encode("utf-8"))
        except UnicodeEncodeError:  # an unpaired surrogate escape, decoded by Python's JSON parser
            quarantined.append(
                _Quarantined(record.offset, "contains an unpaired UTF-16 surrogate", record.raw_value())
            )
    counts.quarantined = len(quarantined)
    return _PreparedObject(parsed_key, key, rows, counts, quarantined)


def quarantine_key(target: BronzeTarget, partition: int, offset: int) -> str:
    return f"{partition_prefix(target.quarantine_prefix, target.topic, partition)}{offset:020d}.bin"


def _prefetched(keys: Iterable[str], prepare: Callable[[str], _PreparedObject]) -> Iterator[_PreparedObject]:
    """Download and parse the next objects while the current one is being copied."""
    with ThreadPoolExecutor(max_workers=PREFETCH, thread_name_prefix="bronze-prefetch") as pool:
        pending = deque()
        keys = iter(keys)
        try:
            for key in keys:
                pending.append(pool.submit(prepare, key))
                if len(pending) >= PREFETCH:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class _Statements:
    """Runs the named statements of ``include/sql`` on one connection (``self.conn``)."""

    conn: psycopg.Connection

    def _run(self, relative: str, name: str, params: dict | None = None, **identifiers: str):
        return self.conn.execute(statement(relative, name, **identifiers), params)


def _row_offset(row: bytes) -> int:
    """The Kafka offset of a COPY row (its first field)."""
    return int(row.split(b"\t", 1)[0])


class _ObjectLoader(_Statements):
    """Loads prepared objects over one connection, each object in one transaction with its ledger row."""

    def __init__(self, conn: psycopg.Connection, store: ObjectStore) -> None:
        self.conn = conn
        self.store = store
        with conn.transaction():
            self._run(LOAD, "size_temp_buffers")  # before the session's first temporary table
            self._run(LOAD, "create_incoming")

    def load(self, target: BronzeTarget, prepared: _PreparedObject) -> Counts:
        try:
            return self._load(target, prepared)
        except psycopg.errors.DataError:
            self._quarantine_refused(target, prepared)
            return self._load(target, prepared)

    def _load(self, target: BronzeTarget, prepared: _PreparedObject) -> Counts:
        counts = prepared.counts
        key = prepared.key
        params = {"topic": target.topic, "partition": key.partition, "object_key": prepared.key_text}
        with self.conn.transaction():
            copied = 0
            if prepared.rows:
                with self.conn.cursor() as cursor:
                    with cursor.copy(statement(LOAD, "copy_incoming")) as copy:
                        for i in range(0, len(prepared.rows), COPY_CHUNK_ROWS):  # no copy of the whole object
                            copy.write(b"".join(prepared.rows[i : i + COPY_CHUNK_ROWS]))
                    copied = cursor.rowcount
                    cursor.execute(statement(LOAD, "insert_incoming", table=target.bronze_table), params)
                    counts.rows_loaded = cursor.rowcount
                    crash_point("bronze.rows_inserted")
            counts.duplicates_skipped = copied - counts.rows_loaded
            for bad in prepared.quarantined:
                self._run(
                    LOAD,
                    "record_quarantine",
                    {
                        **params,
                        "offset": bad.offset,
                        "reason": bad.reason,
                        "quarantine_key": quarantine_key(target, key.partition, bad.offset),
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

    def _refused_rows(self, prepared: _PreparedObject) -> dict[int, str]:
        """Rows PostgreSQL refuses although Python's JSON parser took them, by offset, with its reason."""
        refused = {}
        with self.conn.transaction(force_rollback=True), self.conn.cursor() as cursor:
            for row in prepared.rows:
                try:
                    with self.conn.transaction():  # a savepoint: the row is gone again afterwards
                        with cursor.copy(statement(LOAD, "copy_incoming")) as copy:
                            copy.write(row)
                        cursor.execute(statement(LOAD, "check_incoming"))
                        raise _RowAccepted
                except psycopg.errors.DataError as exc:
                    refused[_row_offset(row)] = f"PostgreSQL refuses it: {str(exc).splitlines()[0]}"
                except _RowAccepted:
                    pass
        return refused

    def _quarantine_refused(self, target: BronzeTarget, prepared: _PreparedObject) -> None:
        refused = self._refused_rows(prepared)
        records = {r.offset: r for r in map(decode_record, read_lines(self.store.get(prepared.key_text)))}
        for offset, reason in refused.items():
            bad = _Quarantined(offset, reason, records[offset].raw_value())
            put_quarantined(self.store, target, prepared, bad)
            prepared.quarantined.append(bad)
        prepared.rows = [r for r in prepared.rows if _row_offset(r) not in refused]
        prepared.counts.quarantined = len(prepared.quarantined)


def put_quarantined(
    store: ObjectStore, target: BronzeTarget, prepared: _PreparedObject, bad: _Quarantined
) -> None:
    store.put(
        quarantine_key(target, prepared.key.partition, bad.offset),
        bad.raw,
        metadata={
            "reason": bad.reason.encode("ascii", "replace").decode()[:1024],
            "batch-file": prepared.key_text,
        },
    )


class BronzeLoader(_Statements):
    """The load of one run: the lock, the DDL, what is pending, and the objects loaded on ``connections``
    connections at once. Objects of one partition always load in offset order, on one connection."""

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

    def ensure_tables(self, targets: Iterable[BronzeTarget]) -> None:
        with self.conn.transaction():
            for name in ("create_schema", "create_load_ledger", "create_quarantine", "create_run_metrics"):
                self._run(DDL, name)
            for target in targets:
                self._run(
                    DDL,
                    "create_cdc_table",
                    table=target.bronze_table,
                    ingested_index=f"{target.table.bronze_table}_ingested_at",
                )

    def reset(self, target: BronzeTarget) -> None:
        """Forget everything loaded for the target, so the whole archive is loaded again."""
        params = {"topic": target.topic}
        with self.conn.transaction():
            self._run(LOAD, "reset_table", table=target.bronze_table)
            self._run(LOAD, "reset_ledger", params)
            self._run(LOAD, "reset_quarantine", params)

    def pending_keys(self, target: BronzeTarget) -> dict[int, list[str]]:
        """Per partition, the landed objects not loaded yet, in offset order.

        Objects of a partition are loaded in key order and each commits with its ledger row, so the
        loaded objects are always a prefix of the partition's listing: listing starts after the newest.
        """
        loaded = dict(
            self._run(
                LOAD, "last_loaded_keys", {"topic": target.topic, "prefix": target.raw_prefix}
            ).fetchall()
        )
        self.conn.commit()
        pending: dict[int, list[str]] = {}
        for folder in self.store.list_prefixes(topic_prefix(target.raw_prefix, target.topic)):
            partition = int(folder.rstrip("/").rpartition("=")[2])
            for key in self.store.list_keys(folder, start_after=loaded.get(partition)):
                try:
                    ObjectKey.parse(key)
                except ValueError:
                    log.warning("ignoring %s: not a landed batch key", key)
                    continue
                pending.setdefault(partition, []).append(key)
        return pending

    def _prepare(self, target: BronzeTarget, key: str) -> _PreparedObject:
        prepared = prepare_object(key, self.store.get(key), target)
        for bad in prepared.quarantined:
            put_quarantined(self.store, target, prepared, bad)
        return prepared

    def load(self, targets: list[BronzeTarget]) -> dict[str, Counts]:
        """Load every pending object of every target; return the counts per bronze table."""
        work: deque[tuple[BronzeTarget, list[str]]] = deque()
        for target in targets:
            for keys in self.pending_keys(target).values():
                work.append((target, keys))
        totals = {target.bronze_table: Counts() for target in targets}
        guard = threading.Lock()
        failed = threading.Event()

        def drain_work(loader: _ObjectLoader) -> None:
            while not failed.is_set():
                with guard:
                    if not work:
                        return
                    target, keys = work.popleft()
                for prepared in _prefetched(keys, lambda key, target=target: self._prepare(target, key)):
                    counts = loader.load(target, prepared)
                    with guard:
                        totals[target.bronze_table].add(counts)
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
                    if failed.is_set():
                        return

        def on_own_connection() -> None:
            try:
                with self.connect() as conn:
                    drain_work(_ObjectLoader(conn, self.store))
            except BaseException:
                failed.set()
                raise

        try:
            if self.connections == 1:
                drain_work(_ObjectLoader(self.conn, self.store))
            else:
                with ThreadPoolExecutor(self.connections, thread_name_prefix="bronze-load") as pool:
                    for future in [pool.submit(on_own_connection) for _ in range(self.connections)]:
                        future.result()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise WarehouseError(f"Cannot load bronze ({self.where}): {explain(exc)}") from exc
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
    connections of their own at once (PostgreSQL then works on several cores).
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
                loader.reset(target)
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
    finally:
        if not conn.closed and not conn.broken:
            conn.rollback()
            loader.unlock()
    quarantined = summary.total.quarantined
    if max_quarantined is not None and quarantined > max_quarantined:
        raise TooManyQuarantined(
            f"{quarantined} records were quarantined in this run, more than the limit of {max_quarantined} "
            f"(PRODUCT_CDC_MAX_QUARANTINED_PER_RUN). Everything else is loaded. The reasons are in "
            f"bronze.quarantine and the bytes under the quarantine prefix of the bucket: fix the producer or "
            f"the contract, then rerun (a full_refresh run replays the archive)."
        )
    return summary
