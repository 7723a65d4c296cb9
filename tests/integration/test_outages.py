"""Outages and wrong settings: one clear message naming the connection, nothing committed or half
loaded, and the next run after the fix completes with nothing lost."""

from __future__ import annotations

import json
import re
import threading

import pytest
from confluent_kafka import Consumer, TopicPartition

from devstack.stack.config import HOST
from include.cdc.airflow import tasks
from include.cdc.archive.storage import StorageError
from include.cdc.bronze import object_load
from include.cdc.bronze.errors import LoadInProgress
from include.cdc.bronze.load import BronzeLoader
from include.cdc.ingest.errors import DrainError
from include.cdc.warehouse import WarehouseError, WarehouseTarget
from tests.integration.warehouse import RUN, ingest

pytestmark = pytest.mark.integration

CLOSED_PORT = 9  # discard: nothing listens there


def committed_offsets(corner) -> list[int]:
    consumer = Consumer({"bootstrap.servers": corner.stack.kafka.bootstrap, "group.id": corner.group})
    try:
        partitions = [TopicPartition(topic, p) for topic in corner.topics for p in range(3)]
        return [tp.offset for tp in consumer.committed(partitions, timeout=10) if tp.offset >= 0]
    finally:
        consumer.close()


def bronze_tables(corner) -> int:
    return corner.scalar("select count(*) from pg_tables where schemaname = 'bronze'")


def set_connection(monkeypatch, conn_id: str, fields: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


@pytest.fixture
def produced(corner):
    generator = corner.generator(products=15, events=1500)
    corner.produce(list(generator.messages()))
    return generator


def recovers(corner, generator) -> None:
    """The run after the fix lands and loads everything, once."""
    ingest()
    assert corner.bronze_rows() == generator.total.envelopes


def test_kafka_unreachable(corner, produced, monkeypatch):
    fields = corner.stack.connections()["cord_kafka"]
    broken = {**fields, "extra": {**fields["extra"], "bootstrap.servers": f"{HOST}:{CLOSED_PORT}"}}
    with monkeypatch.context() as m:
        set_connection(m, "cord_kafka", broken)
        m.setenv("PRODUCT_CDC_KAFKA_TIMEOUT_SECONDS", "3")
        with pytest.raises(DrainError, match=r"Cannot reach Kafka \(connection 'cord_kafka'\)") as raised:
            tasks.drain_kafka.function(params=RUN)
    assert "bootstrap.servers" in str(raised.value)
    assert corner.raw_keys() == []
    assert committed_offsets(corner) == []
    recovers(corner, produced)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"endpoint_url": f"http://{HOST}:{CLOSED_PORT}"}, "does not answer"),
        ({"password": "not-the-secret"}, "access key or secret is wrong"),
        ({"bucket": "no-such-bucket"}, "bucket does not exist"),
    ],
)
def test_object_store_down_wrong_keys_or_missing_bucket(corner, produced, monkeypatch, change, message):
    fields = corner.stack.connections()["cord_minio"]
    with monkeypatch.context() as m:
        if "endpoint_url" in change:
            set_connection(m, "cord_minio", {**fields, "extra": {**fields["extra"], **change}})
        elif "password" in change:
            set_connection(m, "cord_minio", {**fields, **change})
        else:
            m.setenv("PRODUCT_CDC_BUCKET", change["bucket"])
        with pytest.raises(StorageError, match=message) as raised:
            tasks.drain_kafka.function(params=RUN)
    assert "connection 'cord_minio'" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert committed_offsets(corner) == []
    recovers(corner, produced)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"port": CLOSED_PORT}, "does not answer"),
        ({"password": "not-the-password"}, "password was rejected"),
    ],
)
def test_warehouse_down_or_wrong_password(corner, produced, monkeypatch, change, message):
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    with monkeypatch.context() as m:
        fields = corner.stack.connections()["cord_warehouse"]
        set_connection(m, "cord_warehouse", {**fields, "schema": corner.database, **change})
        with pytest.raises(WarehouseError, match=message) as raised:
            tasks.load_bronze.function(params=RUN)
    assert "connection 'cord_warehouse'" in str(raised.value)
    assert "not-the-password" not in str(raised.value)
    assert bronze_tables(corner) == 0
    recovers(corner, produced)


def test_role_without_the_rights_it_needs(corner, produced, monkeypatch):
    weak = f"weak_{corner.database}"
    corner.stack.postgres.psql(
        f"create role {weak} login password 'weak-role-pw'; "
        f"grant connect on database {corner.database} to {weak};"
    )
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    try:
        with monkeypatch.context() as m:
            fields = corner.stack.connections()["cord_warehouse"]
            set_connection(
                m,
                "cord_warehouse",
                {**fields, "schema": corner.database, "login": weak, "password": "weak-role-pw"},
            )
            with pytest.raises(WarehouseError, match="lacks a privilege") as raised:
                tasks.load_bronze.function(params=RUN)
        assert "Warehouse role" in str(raised.value)
        assert bronze_tables(corner) == 0
        recovers(corner, produced)
    finally:
        corner.stack.postgres.psql(
            f"drop database if exists {corner.database} with (force); drop role {weak};"
        )


def test_a_second_load_waits_for_nothing_and_loads_nothing(corner, produced):
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    fields = corner.stack.connections()["cord_warehouse"]
    target = WarehouseTarget(
        corner.settings.warehouse_conn_id,
        HOST,
        fields["port"],
        corner.database,
        fields["login"],
        fields["password"],
        {},
    )
    with target.connect() as holder:
        BronzeLoader(holder, None, target.where).lock()  # a load is running
        with pytest.raises(LoadInProgress, match="Another bronze load holds the lock"):
            tasks.load_bronze.function(params=RUN)
    recovers(corner, produced)


def test_two_loads_started_at_once_load_every_object_once(corner, produced):
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def load() -> None:
        start.wait()
        try:
            outcomes.append(tasks.load_bronze.function(params=RUN)["total"]["rows_loaded"])
        except LoadInProgress as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    loaded = [o for o in outcomes if isinstance(o, int)]
    assert len(outcomes) == 2
    assert sum(loaded) == produced.total.envelopes
    assert corner.bronze_rows() == produced.total.envelopes
    assert corner.scalar("select count(*) = count(distinct object_key) from cdc_meta.load_ledger")


@pytest.mark.parametrize("connections", [1, 2])
def test_warehouse_lost_mid_load_fails_once_naming_the_connection_and_the_object(
    corner, produced, monkeypatch, caplog, connections
):
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)
    inserted = []

    def end_the_sessions(point: str) -> None:
        """Once the second object's rows are inserted (its ledger row not yet), PostgreSQL ends the load's
        sessions, as a restart does."""
        if point == "bronze.rows_inserted":
            inserted.append(point)
            if len(inserted) == 2:
                corner.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s "
                    "and application_name = 'product_cdc_sync' and pid <> pg_backend_pid()",
                    corner.database,
                )

    with monkeypatch.context() as m:
        m.setenv("PRODUCT_CDC_LOAD_CONNECTIONS", str(connections))
        m.setattr(object_load, "crash_point", end_the_sessions)
        with pytest.raises(WarehouseError) as raised:
            tasks.load_bronze.function(params=RUN)

    message = str(raised.value)
    assert re.search(
        r"^Cannot load object \S+/partition=\d+/\d{20}-\d{20}\.jsonl\.gz \(offsets \d+\.\.\d+\) "
        r"into bronze\.\w+, connection 'cord_warehouse' \(.*\): the connection was lost \(terminating "
        r"connection due to administrator command\)",
        message,
    ), message
    assert raised.value.__suppress_context__  # the driver's error is not raised a second time
    assert "could not release the bronze load lock" in caplog.text  # logged, never raised over it
    loaded = corner.scalar("select count(*) from cdc_meta.load_ledger")
    rows_in_ledger = corner.scalar("select coalesce(sum(rows_loaded), 0) from cdc_meta.load_ledger")
    assert rows_in_ledger == corner.bronze_rows()

    recovers(corner, produced)
    objects = len(corner.archive_keys())
    assert corner.scalar("select count(distinct object_key) from cdc_meta.load_ledger") == objects > loaded
