"""The load's bookkeeping in cdc_meta: a warehouse of the old layout (ledger, quarantine, drift and run
metrics in bronze) is moved by its first load, once; and the health check reports the last load's
quarantined records."""

from __future__ import annotations

import threading
import time

import pytest
from airflow.sdk.exceptions import AirflowFailException

from devstack.synth.debezium_encoding import Message
from include.cdc.airflow import tasks
from include.cdc.bronze.meta import MOVED_FROM_BRONZE, move_to_meta
from include.cdc.checks import health
from tests.integration.warehouse import RUN, ingest

pytestmark = pytest.mark.integration

# The bookkeeping as loads before cdc_meta created it, with a row in each table.
OLD_LAYOUT = """
create schema bronze;
create table bronze.load_ledger (
    object_key text primary key,
    bronze_table text not null,
    kafka_topic text not null,
    kafka_partition integer not null,
    first_offset bigint not null,
    last_offset bigint not null,
    records integer not null,
    rows_loaded integer not null,
    duplicates_skipped integer not null,
    tombstones integer not null,
    quarantined integer not null,
    loaded_at timestamptz not null default now()
);
create index load_ledger_by_partition on bronze.load_ledger (kafka_topic, kafka_partition, object_key);
create table bronze.quarantine (
    kafka_topic text not null,
    kafka_partition integer not null,
    kafka_offset bigint not null,
    reason text not null,
    quarantine_key text not null,
    batch_file text not null,
    quarantined_at timestamptz not null default now(),
    primary key (kafka_topic, kafka_partition, kafka_offset)
);
create table bronze.schema_drift (
    source_table text not null,
    column_name text not null,
    kind text not null check (kind in ('new_column', 'missing_column', 'type_change')),
    events bigint not null,
    first_seen timestamptz not null default now(),
    last_seen timestamptz not null default now(),
    first_object text not null,
    first_offset bigint not null,
    last_object text not null,
    last_offset bigint not null,
    detail text,
    primary key (source_table, column_name, kind)
);
create table bronze.run_metrics (
    measured_at timestamptz not null default now(),
    dag_run_id text not null,
    metric text not null,
    value numeric not null,
    primary key (dag_run_id, metric)
);
insert into bronze.load_ledger values
    ('old/raw/topic=old.dbo.Product/partition=0/old.jsonl.gz', 'bronze.product_cdc', 'old.dbo.Product',
     0, 0, 9, 10, 9, 0, 0, 1, now());
insert into bronze.quarantine values
    ('old.dbo.Product', 0, 7, 'value is not JSON', 'old/quarantine/7', 'old.jsonl.gz', now());
insert into bronze.schema_drift values
    ('dbo.Product', 'Colour', 'new_column', 3, now(), now(), 'old.jsonl.gz', 1, 'old.jsonl.gz', 5, null);
insert into bronze.run_metrics values (now(), 'old-run', 'for_sale_share', 0.5);
"""


def bookkeeping(corner) -> dict[str, list[dict]]:
    """Every row of the four tables that moved, as cdc_meta holds them."""
    return {
        name: corner.query(f"select * from cdc_meta.{name} order by 1, 2, 3") for name in MOVED_FROM_BRONZE
    }


def bronze_tables(corner) -> list[str]:
    return [
        r["tablename"] for r in corner.query("select tablename from pg_tables where schemaname = 'bronze'")
    ]


def produce_small(corner, *extra: Message) -> None:
    corner.produce([*corner.generator(products=5, events=120, partitions=1).messages(), *extra], partitions=1)


def test_the_first_load_moves_an_old_warehouse_s_bookkeeping_and_later_loads_change_nothing(corner):
    corner.execute(OLD_LAYOUT)
    old = {name: corner.query(f"select * from bronze.{name}") for name in MOVED_FROM_BRONZE}
    produce_small(corner)

    loaded = ingest()

    assert loaded["total"]["objects"] > 0
    assert all(table.endswith("_cdc") for table in bronze_tables(corner)), bronze_tables(corner)
    moved = bookkeeping(corner)
    assert moved["quarantine"] == [{**old["quarantine"][0], "load_id": None}]  # loads before cdc_meta
    assert moved["schema_drift"] == old["schema_drift"]
    assert moved["run_metrics"] == old["run_metrics"]
    assert old["load_ledger"][0] in moved["load_ledger"]
    assert len(moved["load_ledger"]) == 1 + loaded["total"]["objects"]  # the load wrote to the moved ledger
    assert (
        corner.scalar("select schemaname from pg_indexes where indexname = 'load_ledger_by_partition'")
        == "cdc_meta"
    )

    again = ingest()  # the move again, on the new layout: nothing to do

    assert again["total"]["objects"] == 0
    assert bookkeeping(corner) == moved
    assert all(table.endswith("_cdc") for table in bronze_tables(corner))


def test_a_table_in_both_schemas_stops_the_load_and_moves_nothing(corner):
    corner.execute(OLD_LAYOUT)
    corner.execute("create schema cdc_meta; create table cdc_meta.quarantine (like bronze.quarantine)")

    with pytest.raises(AirflowFailException) as raised:
        tasks.load_bronze.function(params=RUN)

    message = str(raised.value)
    assert "bronze.quarantine and cdc_meta.quarantine both exist" in message
    assert "drop bronze.quarantine, then rerun" in message
    # One transaction: the ledger, moved before the quarantine was looked at, is back in bronze.
    assert set(bronze_tables(corner)) == set(MOVED_FROM_BRONZE)


def test_two_moves_at_once_one_moves_the_other_waits_then_finds_nothing_to_do(corner):
    corner.execute(OLD_LAYOUT)
    first = corner.stack.connect_warehouse(corner.database, autocommit=True)
    second = corner.stack.connect_warehouse(corner.database, autocommit=True)
    outcome = {}

    def move_second() -> None:
        try:
            outcome["moved"] = move_to_meta(second)
        except Exception as exc:
            outcome["error"] = exc

    with first, second:
        with first.transaction():
            assert move_to_meta(first) == list(MOVED_FROM_BRONZE)
            waiting = threading.Thread(target=move_second)
            waiting.start()
            time.sleep(1)
            assert waiting.is_alive(), "the second move did not wait for the first"
        waiting.join(30)

    assert outcome == {"moved": []}
    assert bronze_tables(corner) == []


def quarantine_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "quarantine" in line]


def test_health_warns_of_the_last_load_s_quarantine_fails_above_the_limit_and_passes_after(
    corner, monkeypatch, capsys
):
    topic = corner.topic
    bad = [b"definitely not json", b"definitely not json", b'{"id": 9, "note": "written by hand"}']
    produce_small(corner, *(Message(topic, 0, b'{"ID": 9}', value, [], 1) for value in bad))
    assert ingest()["total"]["quarantined"] == 3
    load_id = corner.scalar("select max(load_id) from cdc_meta.loads")

    health.main([])  # FAILs anyway: no dbt has run, so staging and the marts are missing
    lines = quarantine_lines(capsys.readouterr().out)
    subject = f"{'quarantine bronze.product_cdc':36}"
    assert len(lines) == 3, lines
    found = {line.rsplit("): ", 1)[1]: line for line in lines[:2]}
    assert len(found) == 2, lines  # per table and reason
    for line in found.values():
        assert line.startswith(f"WARN  {subject} ")
        assert f"in the last load (load_id {load_id}, " in line
        assert "(3 in all, within the limit of 100 per run)" in line
    assert " 2 quarantined " in next(v for k, v in found.items() if k.startswith("value is not JSON"))
    assert " 1 quarantined " in found["value is JSON but not a Debezium envelope (no 'op')"]
    read = lines[2].strip().removeprefix("read them: ")
    assert f"where load_id = {load_id} " in read
    assert len(corner.query(read)) == 3

    monkeypatch.setenv("PRODUCT_CDC_MAX_QUARANTINED_PER_RUN", "2")
    assert health.main([]) == 1
    lines = quarantine_lines(capsys.readouterr().out)
    assert [line[:6] for line in lines[:2]] == ["FAIL  ", "FAIL  "]
    assert "(3 in all, more than the limit of 2 per run)" in lines[0]

    assert ingest()["total"]["objects"] == 0  # the next load quarantines nothing
    health.main([])
    lines = quarantine_lines(capsys.readouterr().out)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"PASS  {'cdc_meta.quarantine':36} nothing quarantined in the last load (load_id {load_id + 1}, "
    )
