"""The load's two paths: an object's rows are COPYed straight into bronze; only an object some of whose
rows bronze holds already goes through the temporary table, which skips and counts them.

Which path ran is read from what the load's connection sent the server (libpq's trace), not from the
loader's own account.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from psycopg import pq

from include.cdc.archive.storage import ObjectStore
from include.cdc.bronze.copy_text import copy_timestamp
from include.cdc.bronze.load import load_bronze
from include.cdc.bronze.target import BronzeTarget
from include.cdc.contract import table
from tests.integration.test_load_order import bronze_offsets, land, product_events
from tests.records import Record

pytestmark = pytest.mark.integration

PRODUCT = table("Product")


def load(corner, trace: Path) -> tuple[dict, list[str]]:
    """One run's load on one connection: its total counts, and the statements that connection sent."""
    settings = corner.settings
    store = ObjectStore(corner.stack.s3.client(), settings.bucket, settings.s3_conn_id)
    targets = [
        BronzeTarget(t, settings.topic(t), settings.raw_prefix_for(t), settings.quarantine_prefix_for(t))
        for t in settings.contract
    ]
    fd = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with corner.stack.connect_warehouse(corner.database) as conn:
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            summary = load_bronze(conn, store, targets, "the test's warehouse")
        finally:
            conn.pgconn.untrace()  # flushes the trace; libpq never closes its file
            os.close(fd)
    sent = []
    for message in re.split(r"\n(?=[FB]\t\d+\t)", trace.read_text()):  # a statement may span lines
        direction, _, kind, *text = message.split("\t", 3)
        if direction == "F" and kind in {"Query", "Parse"}:
            sent.append(re.sub(r'^ (?:"" )?"', "", text[0]))
    return summary.total.__dict__, sent


def through_temp_table(statements: list[str]) -> list[str]:
    return [s for s in statements if "incoming_events" in s]


def copies_into_bronze(statements: list[str]) -> list[str]:
    return [s for s in statements if re.search(r'^copy "bronze"\."product_cdc" ', s, re.MULTILINE)]


def test_a_fresh_object_is_copied_straight_into_bronze(corner, tmp_path):
    records = product_events(corner, 120)
    land(corner, records, 0, 59)
    land(corner, records, 60, 119)

    counts, sent = load(corner, tmp_path / "trace")

    expected = [offset for offset, r in enumerate(records) if r.value is not None]
    assert counts["rows_loaded"] == len(expected)
    assert counts["duplicates_skipped"] == 0
    assert through_temp_table(sent) == []
    assert len(copies_into_bronze(sent)) == 2  # one per object
    assert bronze_offsets(corner) == expected


def refused_by_postgresql(record: Record) -> Record:
    """JSON for Python, but a number beyond what PostgreSQL's numeric holds: jsonb refuses it (class 22)."""
    assert b'"op":' in record.value
    return Record(PRODUCT, record.key, record.value.replace(b'"op":', b'"Note":1e-20000,"op":', 1))


def test_an_object_partly_in_bronze_goes_through_the_temporary_table_and_counts_the_duplicates(
    corner, tmp_path
):
    records = product_events(corner, 100)
    land(corner, records, 0, 59)
    first, _ = load(corner, tmp_path / "first")
    # the archive also holds an object overlapping the rows of 40..59, and one of its rows PostgreSQL refuses
    records[70] = refused_by_postgresql(records[70])
    land(corner, records, 40, 99)

    counts, sent = load(corner, tmp_path / "second")

    in_both = sum(r.value is not None for r in records[40:60])
    assert counts["objects"] == 1
    assert counts["quarantined"] == 1
    assert counts["duplicates_skipped"] == in_both > 0
    assert counts["rows_loaded"] == sum(r.value is not None for r in records[40:]) - in_both - 1
    assert any("insert into" in s and "from pg_temp.incoming_events" in s for s in sent)
    expected = [offset for offset, r in enumerate(records) if r.value is not None and offset != 70]
    assert bronze_offsets(corner) == expected
    assert first["rows_loaded"] + counts["rows_loaded"] == len(expected)
    ledger = corner.query(
        "select rows_loaded, duplicates_skipped from cdc_meta.load_ledger order by first_offset desc limit 1"
    )
    assert ledger == [{"rows_loaded": counts["rows_loaded"], "duplicates_skipped": in_both}]


def test_a_row_postgresql_refuses_is_quarantined_on_the_direct_path_too(corner, tmp_path):
    records = product_events(corner, 30)
    records[3] = refused_by_postgresql(records[3])
    land(corner, records, 0, 29)

    counts, sent = load(corner, tmp_path / "trace")

    assert counts["quarantined"] == 1
    assert counts["duplicates_skipped"] == 0
    assert counts["rows_loaded"] == sum(r.value is not None for r in records) - 1
    assert through_temp_table(sent) == []
    assert corner.query("select kafka_offset, reason from cdc_meta.quarantine") == [
        {"kafka_offset": 3, "reason": "PostgreSQL refuses it: value overflows numeric format"}
    ]
    assert 3 not in bronze_offsets(corner)


def test_kafka_timestamps_are_the_instants_to_timestamp_gave(corner):
    """Every millisecond near our time, and whole seconds far off (where ms / 1000.0 is exact)."""
    near = [0, -1, 1, 999, 1_700_000_000_123, 1_767_600_000_999, 4_102_444_799_999, -2_208_988_800_001]
    far = [253_402_300_800_000, -62_135_596_801_000, -62_198_755_200_000, -210_866_803_200_000]
    with corner.stack.connect_warehouse(corner.database) as conn:
        conn.execute("set timezone = 'Asia/Kathmandu'")
        for ms in near + far:
            same = conn.execute(
                "select to_timestamp(%s / 1000.0) = %s::timestamptz", (ms, copy_timestamp(ms))
            ).fetchone()[0]
            assert same, (ms, copy_timestamp(ms))
