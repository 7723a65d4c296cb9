"""Failures of the warehouse and the bucket during the load: one error, naming the connection and the
object; cleanup that fails is logged, never raised over it."""

from __future__ import annotations

import contextlib
import json
import logging
import threading

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from include.cdc.archive.landing import BatchBuffer, ObjectKey, encode_record
from include.cdc.archive.storage import StorageError
from include.cdc.bronze import load
from include.cdc.bronze.load import BronzeLoader
from include.cdc.bronze.target import BronzeTarget
from include.cdc.contract import load_contract
from include.cdc.warehouse import WarehouseError, explain
from tests.unit.memory_store import MemoryStore

PRODUCT = load_contract()[0]
TOPIC = "cord.ConcordDb.dbo.Product"
TARGET = BronzeTarget(PRODUCT, TOPIC, "product/raw/", "product/quarantine/")
WHERE = "connection 'cord_warehouse' (cord_etl@warehouse:5432/cord)"


def landed(store: MemoryStore, partition: int, values: list[bytes]) -> str:
    batch = BatchBuffer(0, 1)
    for offset, value in enumerate(values):
        batch.add(offset, encode_record(TOPIC, partition, offset, 1, b'{"ID":1}', value, []))
    key = str(ObjectKey("product/raw/", TOPIC, partition, 0, len(values) - 1))
    store.put(key, batch.finish())
    return key


class UnreachableStore(MemoryStore):
    def put(self, key, body, metadata=None):
        raise StorageError(
            "Cannot write to bucket 'cord-raw' (connection 'cord_minio'): the S3 endpoint does not answer."
        )


def test_a_bucket_failure_while_loading_names_the_object_and_its_offsets():
    landing = MemoryStore()
    key = landed(landing, 2, [b"not json", b"nor this"])  # quarantining them writes to the bucket
    store = UnreachableStore()
    store.objects = landing.objects

    with pytest.raises(StorageError) as raised:
        BronzeLoader(None, store, WHERE)._prepare(TARGET, key)

    assert str(raised.value) == (
        "Cannot write to bucket 'cord-raw' (connection 'cord_minio'): the S3 endpoint does not answer. "
        f"(while loading object {key} (offsets 0..1))"
    )


def test_a_lost_session_is_explained_as_such():
    lost = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    assert explain(lost) == (
        "the connection was lost (terminating connection due to administrator command): PostgreSQL "
        "restarted, stopped or ended the session; check the server, then rerun"
    )


@pytest.mark.parametrize(
    ("error", "message", "cause"),
    [
        (  # a session ended during a COPY (seen in CI): the server's CONTEXT line follows the cause
            psycopg.errors.AdminShutdown,
            "terminating connection due to administrator command\nCONTEXT:  COPY incoming_events, line 80",
            "terminating connection due to administrator command",
        ),
        (  # libpq's own hint follows the failure, indented
            psycopg.OperationalError,
            'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?",
            'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused',
        ),
    ],
)
def test_the_cause_is_named_not_what_follows_it(error, message, cause):
    assert f"({cause})" in explain(error(message))


@given(
    st.sampled_from(
        [psycopg.OperationalError, psycopg.errors.AdminShutdown, psycopg.errors.InsufficientPrivilege]
    ),
    st.text(),
)
def test_any_error_text_is_explained_in_one_line_without_raising(error, message):
    explained = explain(error(message))
    assert explained
    assert "\n" not in explained


def test_releasing_the_lock_on_a_broken_connection_logs_and_raises_nothing(caplog):
    class Broken:
        def rollback(self):
            raise psycopg.OperationalError("the connection is lost")

    BronzeLoader(Broken(), MemoryStore(), WHERE).release()

    assert "could not release the bronze load lock (connection 'cord_warehouse'" in caplog.text
    assert "the connection is lost; it ends with the session" in caplog.text


def test_when_both_connections_fail_one_error_is_raised_and_the_other_logged(monkeypatch, caplog):
    store = MemoryStore()
    keys = [landed(store, partition, [json.dumps({"op": "x"}).encode()]) for partition in (0, 1)]
    both_loading = threading.Barrier(2, timeout=30)

    class FailingLoader:
        def __init__(self, conn, store, where, load_id):
            pass

        def load(self, target, prepared):
            both_loading.wait()
            raise WarehouseError(f"Cannot load {prepared.key_text}, {WHERE}: the connection was lost")

    monkeypatch.setattr(load, "ObjectLoader", FailingLoader)
    loader = BronzeLoader(None, store, WHERE, connect=contextlib.nullcontext, connections=2)
    monkeypatch.setattr(loader, "pending_keys", lambda target: {0: [keys[0]], 1: [keys[1]]})

    with caplog.at_level(logging.WARNING), pytest.raises(WarehouseError) as raised:
        loader.load([TARGET])

    first = keys[0] if keys[0] in str(raised.value) else keys[1]
    other = keys[1] if first == keys[0] else keys[0]
    assert f"the bronze load also failed on another connection: Cannot load {other}" in caplog.text
    assert first not in caplog.text
