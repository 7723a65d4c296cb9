"""Records that may not enter bronze: written unchanged under the quarantine prefix, with the reason.

The checks of ``prepare`` find most of them. A row they took can still be refused by PostgreSQL for its
content (a data exception, a program limit): each row of that object is then copied alone, in a
savepoint undone afterwards, to find the ones refused, which are quarantined with PostgreSQL's reason.
"""

from __future__ import annotations

import re

import psycopg

from include.cdc.archive.landing import partition_prefix, read_records
from include.cdc.archive.storage import ObjectStore
from include.cdc.bronze.prepare import PreparedObject, Quarantined
from include.cdc.bronze.statements import LOAD
from include.cdc.bronze.target import BronzeTarget
from include.cdc.sqlfiles import statement


class _RowAccepted(Exception):
    """Rolls back the savepoint of a row that PostgreSQL accepted (only its verdict was wanted)."""


def quarantine_key(target: BronzeTarget, partition: int, offset: int) -> str:
    return f"{partition_prefix(target.quarantine_prefix, target.topic, partition)}{offset:020d}.bin"


def put_quarantined(
    store: ObjectStore, target: BronzeTarget, prepared: PreparedObject, bad: Quarantined
) -> None:
    store.put(
        quarantine_key(target, prepared.key.partition, bad.offset),
        bad.raw,
        metadata={
            "reason": re.sub(r"[^ -~]", "?", bad.reason)[:1024],  # an HTTP header: printable ASCII only
            "batch-file": prepared.key_text,
        },
    )


def _row_offset(row: bytes) -> int:
    """The Kafka offset of a COPY row (its first field)."""
    return int(row.split(b"\t", 1)[0])


def refused_for_its_content(exc: psycopg.Error) -> bool:
    """Whether PostgreSQL refused the data itself (class 22, data exception, e.g. invalid JSON; class 54,
    program limit exceeded, e.g. stack depth limit exceeded) rather than failed as a service."""
    return (exc.sqlstate or "")[:2] in {"22", "54"}


def _refusal(exc: psycopg.Error) -> str:
    diag = exc.diag
    detail = f" ({diag.message_detail})" if diag.message_detail else ""
    return f"PostgreSQL refuses it: {diag.message_primary or str(exc).splitlines()[0]}{detail}"


def _refused_rows(conn: psycopg.Connection, target: BronzeTarget, prepared: PreparedObject) -> dict[int, str]:
    """Rows PostgreSQL refuses for their content although the checks took them, by offset, with its
    reason: each row is copied alone into bronze, in a savepoint undone afterwards. A row bronze holds
    already passed the columns' input functions before its unique violation, so its content is fine."""
    refused = {}
    copy_rows = statement(LOAD, "copy_rows", table=target.bronze_table)
    with conn.transaction(force_rollback=True), conn.cursor() as cursor:
        for row in prepared.rows:
            try:
                with conn.transaction():
                    with cursor.copy(copy_rows) as copy:
                        copy.write(row)
                    raise _RowAccepted
            except (_RowAccepted, psycopg.errors.UniqueViolation):
                pass
            except psycopg.Error as exc:
                if not refused_for_its_content(exc):
                    raise
                refused[_row_offset(row)] = _refusal(exc)
    return refused


def quarantine_refused(
    conn: psycopg.Connection, store: ObjectStore, target: BronzeTarget, prepared: PreparedObject
) -> None:
    """Quarantine the rows of ``prepared`` that PostgreSQL refuses, and take them out of its rows."""
    refused = _refused_rows(conn, target, prepared)
    records = read_records(prepared.key_text, store.get(prepared.key_text))
    for record in records:
        if record.offset in refused:
            bad = Quarantined(record.offset, refused[record.offset], record.raw_value())
            put_quarantined(store, target, prepared, bad)
            prepared.quarantined.append(bad)
    prepared.rows = [r for r in prepared.rows if _row_offset(r) not in refused]
    prepared.counts.quarantined = len(prepared.quarantined)
