"""Bronze load: every landed object not yet loaded goes into its ``bronze.<table>_cdc`` table.

Exactly once, whatever crashes: an object's rows and its row in ``bronze.load_ledger`` commit in one
transaction, rows bronze holds already are skipped, and a session advisory lock keeps a second load from
interleaving. Rows go in bulk, never one statement per row: an object's rows are COPYed straight into its
bronze table, in a savepoint. Only when one of them is there already (a unique violation: objects that
overlap) does the object go through a temporary table and ``INSERT ... SELECT ... ON CONFLICT
(kafka_topic, kafka_partition, kafka_offset) DO NOTHING``, which skips and counts them.

What is pending is the archive's listing minus the ledger, so objects load whatever order they landed in.

Tombstones are counted, not loaded. A record that is not a change event staging can decode, whatever its
bytes, is written unchanged under the quarantine prefix, recorded in ``bronze.quarantine`` with the reason,
and counted; so are rows PostgreSQL refuses for their content. Only the warehouse, the bucket and a damaged
archive can fail the load, with one error naming the connection and the object.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from include.cdc.archive.landing import LandedRecord, ObjectKey, partition_prefix, read_records, topic_prefix
from include.cdc.archive.storage import ObjectStore, StorageError
from include.cdc.bronze.copy_text import copy_field, copy_timestamp
from include.cdc.contract import SourceTable
from include.cdc.debezium.envelope import failure_reason, parse_change_event
from include.cdc.debezium.jsonb_text import NotAnEnvelope
from include.cdc.faults import crash_point
from include.cdc.sqlfiles import statement
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
    rows: list[bytes]  # COPY lines (copy_rows' columns, the offset first), one per change event
    counts: Counts
    quarantined: list[_Quarantined]


def _named(key: str) -> str:
    """A landed object as errors name it: its key and the offsets it holds."""
    parsed = ObjectKey.parse(key)
    return f"object {key} (offsets {parsed.first_offset}..{parsed.last_offset})"


def _copy_row(record: LandedRecord, target: BronzeTarget, tail: str) -> bytes:
    """The record's COPY line, ``tail`` holding the fields every row of its object shares; NotAnEnvelope
    with the reason when it may not enter bronze."""
    if record.key is None and record.key_bytes is not None:
        raise NotAnEnvelope("key is not valid UTF-8")
    if record.value is None:
        raise NotAnEnvelope("value is not valid UTF-8")
    event = parse_change_event(record.key, record.value, target.table)
    timestamp = copy_timestamp(record.timestamp_ms)
    key_field, value_field = copy_field(event.key_json), copy_field(event.envelope_json)
    return f"{record.offset}\t{timestamp}\t{key_field}\t{value_field}{tail}".encode()


def prepare_object(key: str, body: bytes, target: BronzeTarget) -> _PreparedObject:
    """Split one landed object into COPY rows, tombstones and quarantined records.

    No record can stop the load: whatever checking one raises quarantines it with a reason (a damaged
    object, which is no Kafka input, raises DamagedObject). Only records that fail pay for the handlers.
    """
    parsed_key = ObjectKey.parse(key)
    tail = f"\t{copy_field(target.topic)}\t{parsed_key.partition}\t{copy_field(key)}\n"
    counts = Counts(objects=1)
    rows: list[bytes] = []
    quarantined: list[_Quarantined] = []
    for record in read_records(key, body):
        counts.records += 1
        if record.is_tombstone:
            counts.tombstones += 1
            continue
        try:
            rows.append(_copy_row(record, target, tail))
            continue
        except NotAnEnvelope as exc:
            reason = str(exc)
        except MemoryError:  # the worker's, not the record's
            raise
        except Exception as exc:
            reason = failure_reason(exc, record.key, record.value or "")
        quarantined.append(_Quarantined(record.offset, reason, record.raw_value()))
    counts.quarantined = len(quarantined)
    return _PreparedObject(parsed_key, key, rows, counts, quarantined)


def quarantine_key(target: BronzeTarget, partition: int, offset: int) -> str:
    return f"{partition_prefix(target.quarantine_prefix, target.topic, partition)}{offset:020d}.bin"


def prefetched(keys: Iterable[str], prepare: Callable[[str], _PreparedObject]) -> Iterator[_PreparedObject]:
    """Prepare (download and parse) the next PREFETCH objects while the caller copies the current one.

    The preparation runs in a thread: msgspec and gzip work while PostgreSQL parses the JSON of the
    object before, during which psycopg releases the GIL.
    """
    with ThreadPoolExecutor(max_workers=PREFETCH, thread_name_prefix="bronze-prefetch") as pool:
        pending: deque[Future[_PreparedObject]] = deque()
        keys = iter(keys)
        try:
            for key in keys:
                pending.append(pool.submit(prepare, key))
                if len(pending) > PREFETCH:  # the caller gets one while PREFETCH more are prepared
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


def _refused_for_its_content(exc: psycopg.Error) -> bool:
    """Whether PostgreSQL refused the data itself (class 22, data exception, e.g. invalid JSON; class 54,
    program limit exceeded, e.g. stack depth limit exceeded) rather than failed as a service."""
    return (exc.sqlstate or "")[:2] in {"22", "54"}


def _refusal(exc: psycopg.Error) -> str:
    diag = exc.diag
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    return f"PostgreSQL refuses it: {diag.message_primary or str(exc).splitlines()[0]}{detail}"


class _ObjectLoader(_Statements):
    """Loads prepared objects over one connection, each object in one transaction with its ledger row."""

    def __init__(self, conn: psycopg.Connection, store: ObjectStore, where: str) -> None:
        self.conn = conn
        self.store = store
        self.where = where
        with conn.transaction():
            self._run(LOAD, "size_temp_buffers")

    def load(self, target: BronzeTarget, prepared: _PreparedObject) -> Counts:
        """Load one object. Rows PostgreSQL refuses for their content are quarantined and the object loaded
        again without them; any other failure stops the load, naming the object."""
        try:
            try:
                return self._load(target, prepared)
            except psycopg.Error as exc:
                if not _refused_for_its_content(exc):
                    raise
            self._quarantine_refused(target, prepared)
            return self._load(target, prepared)
        except psycopg.Error as exc:
            raise WarehouseError(
                f"Cannot load {_named(prepared.key_text)} into {target.bronze_table}, {self.where}: "
                f"{explain(exc)}. "
                f"Nothing of this object was committed; the objects loaded before it stay loaded, and a "
                f"rerun loads the rest."
            ) from None
        except StorageError as exc:
            raise StorageError(f"{exc} (while loading {_named(prepared.key_text)})") from None

    def _load(self, target: BronzeTarget, prepared: _PreparedObject) -> Counts:
        counts = prepared.counts
        key = prepared.key
        params = {"topic": target.topic, "partition": key.partition, "object_key": prepared.key_text}
        with self.conn.transaction():
            counts.rows_loaded = counts.duplicates_skipped = 0
            if prepared.rows:
                counts.rows_loaded, counts.duplicates_skipped = self._insert(target, prepared.rows)
                crash_point("bronze.rows_inserted")
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

    def _refused_rows(self, target: BronzeTarget, prepared: _PreparedObject) -> dict[int, str]:
        """Rows PostgreSQL refuses for their content although the checks took them, by offset, with its
        reason: each row is copied alone into bronze, in a savepoint undone afterwards. A row bronze holds
        already passed the columns' input functions before its unique violation, so its content is fine."""
        refused = {}
        copy_rows = statement(LOAD, "copy_rows", table=target.bronze_table)
        with self.conn.transaction(force_rollback=True), self.conn.cursor() as cursor:
            for row in prepared.rows:
                try:
                    with self.conn.transaction():
                        with cursor.copy(copy_rows) as copy:
                            copy.write(row)
                        raise _RowAccepted
                except (_RowAccepted, psycopg.errors.UniqueViolation):
                    pass
                except psycopg.Error as exc:
                    if not _refused_for_its_content(exc):
                        raise
                    refused[_row_offset(row)] = _refusal(exc)
        return refused

    def _quarantine_refused(self, target: BronzeTarget, prepared: _PreparedObject) -> None:
        refused = self._refused_rows(target, prepared)
        records = read_records(prepared.key_text, self.store.get(prepared.key_text))
        for record in records:
            if record.offset in refused:
                bad = _Quarantined(record.offset, refused[record.offset], record.raw_value())
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
            "reason": re.sub(r"[^ -~]", "?", bad.reason)[:1024],  # an HTTP header: printable ASCII only
            "batch-file": prepared.key_text,
        },
    )


class BronzeLoader(_Statements):
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

    def _prepare(self, target: BronzeTarget, key: str) -> _PreparedObject:
        try:
            prepared = prepare_object(key, self.store.get(key), target)
            for bad in prepared.quarantined:
                put_quarantined(self.store, target, prepared, bad)
        except StorageError as exc:
            raise StorageError(f"{exc} (while loading {_named(key)})") from None
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
        guard = threading.Lock()
        failures: list[BaseException] = []

        def drain_work(loader: _ObjectLoader) -> None:
            while not failures:
                with guard:
                    if not work:
                        return
                    target, keys = work.popleft()
                for prepared in prefetched(keys, lambda key, target=target: self._prepare(target, key)):
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
                    if failures:
                        return

        def on_own_connection() -> None:
            try:
                with self.connect() as conn:
                    drain_work(_ObjectLoader(conn, self.store, self.where))
            except BaseException as exc:
                with guard:
                    failures.append(exc)

        if self.connections == 1:
            drain_work(_ObjectLoader(self.conn, self.store, self.where))
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
    finally:
        loader.release()
    quarantined = summary.total.quarantined
    if max_quarantined is not None and quarantined > max_quarantined:
        raise TooManyQuarantined(
            f"{quarantined} records were quarantined in this run, more than the limit of {max_quarantined} "
            f"(PRODUCT_CDC_MAX_QUARANTINED_PER_RUN). Everything else is loaded. The reasons are in "
            f"bronze.quarantine and the bytes under the quarantine prefix of the bucket: fix the producer or "
            f"the contract, then rerun (a full_refresh run replays the archive)."
        )
    return summary
