"""What is loaded is the archive minus the ledger, whatever order objects land in and however they overlap.

The drain uploads two objects at once, so after a SIGKILL a later object can be in the bucket while an
earlier one is not; and archives written before the drain tiled offsets exactly can hold objects that
overlap. Objects are written to the bucket here as the drain writes them, then loaded by the task.
"""

from __future__ import annotations

import pytest

from include.cdc.airflow import tasks
from include.cdc.contract import table
from tests.integration.warehouse import RUN
from tests.records import Record, landed_object

pytestmark = pytest.mark.integration

PRODUCT = table("Product")


def product_events(corner, count: int) -> list[Record]:
    """The first ``count`` records of dbo.Product's topic, as the connector writes them."""
    messages = corner.generator(products=40, events=1200, partitions=1).messages()
    records = [Record(PRODUCT, m.key, m.value) for m in messages if m.topic == corner.topic]
    assert len(records) >= count
    return records[:count]


def land(corner, records: list[Record], first: int, last: int) -> str:
    """Write the object holding offsets first..last of partition 0, as the drain does; return its key."""
    settings = corner.settings
    key, body = landed_object(
        settings.raw_prefix_for(PRODUCT), corner.topic, 0, first, records[first : last + 1]
    )
    corner.stack.s3.client().put_object(Bucket="cord-raw", Key=key, Body=body)
    return key


def bronze_offsets(corner) -> list[int]:
    return [r["kafka_offset"] for r in corner.query("select kafka_offset from bronze.product_cdc order by 1")]


def test_an_object_landing_after_a_later_one_was_loaded_is_loaded_too(corner):
    records = product_events(corner, 300)
    expected = [offset for offset, r in enumerate(records) if r.value is not None]
    land(corner, records, 0, 99)
    land(corner, records, 200, 299)  # 100..199 still in flight when the drain was killed

    first = tasks.load_bronze.function(params=RUN)["total"]
    late = land(corner, records, 100, 199)  # the drain's rerun writes it
    second = tasks.load_bronze.function(params=RUN)["total"]

    assert first["objects"] == 2
    assert second["objects"] == 1
    newest = "select object_key from cdc_meta.load_ledger order by loaded_at desc limit 1"
    assert corner.scalar(newest) == late
    assert bronze_offsets(corner) == expected
    assert first["rows_loaded"] + second["rows_loaded"] == len(expected)
    assert tasks.load_bronze.function(params=RUN)["total"]["objects"] == 0


def test_objects_that_overlap_load_every_record_once(corner):
    records = product_events(corner, 100)
    records[55] = Record(PRODUCT, b'{"ID":9}', b"not json")  # in two of the objects
    expected = [
        offset for offset, r in enumerate(records[30:], start=30) if r.value is not None and offset != 55
    ]
    for first, last in [(30, 59), (50, 99), (60, 89)]:  # as archives written by older drains hold them
        land(corner, records, first, last)

    loaded = tasks.load_bronze.function(params=RUN)["total"]

    assert loaded["objects"] == 3
    assert bronze_offsets(corner) == expected
    assert loaded["rows_loaded"] == len(expected)
    assert (
        loaded["duplicates_skipped"] == sum(r.value is not None for r in records[50:60] + records[60:90]) - 1
    )
    assert corner.query("select kafka_offset, reason from cdc_meta.quarantine") == [
        {"kafka_offset": 55, "reason": "value is not JSON: Expecting value: line 1 column 1 (char 0)"}
    ]
