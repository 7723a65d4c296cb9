"""Every column at its edges, and a Hypothesis sample of damaged and arbitrary records, through the real
load, then staging.

Nothing raises, every record is counted once (loaded, a duplicate, a tombstone or quarantined), and dbt
builds staging afterwards, its tests included: no record the load let into bronze stops a cast, on this
run or any later one. Records are landed as the drain writes them, one object per table and example, on
top of a valid stream (so every child row's product exists and the relationships tests have something
to hold). Damage spares the columns dbt tests guard (not null, relationships, accepted values): breaking
those fails a dbt test, rightly, and is no wedge.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.cdc.airflow import tasks
from include.cdc.contract import load_contract
from tests.integration.warehouse import RUN, dbt
from tests.records import (
    Record,
    arbitrary_record,
    damaged_record,
    edge_records,
    guarded_columns,
    landed_object,
    table_of,
    valid_messages,
)

pytestmark = pytest.mark.integration

SAMPLE = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,  # the same sample on every run
    database=None,
    suppress_health_check=list(HealthCheck),
)
records = st.lists(  # no truncates: one fails the task by design (test_bad_input loads one)
    damaged_record(untouchable=guarded_columns(), truncates=False)
    | st.sampled_from(load_contract()).flatmap(arbitrary_record),
    min_size=1,
    max_size=12,
)


def test_edge_values_and_damaged_records_load_and_staging_still_builds(corner, monkeypatch, tmp_path):
    monkeypatch.setenv("PRODUCT_CDC_MAX_QUARANTINED_PER_RUN", "100000")
    settings_ = corner.settings
    next_offset = {t.table: 0 for t in load_contract()}

    def land_and_load(batch: list[Record]) -> dict:
        """One object per table at the next offsets of partition 0, then the load_bronze task."""
        client = corner.stack.s3.client()
        for table in load_contract():
            mine = [r for r in batch if r.table.table == table.table]
            if mine:
                first = next_offset[table.table]
                next_offset[table.table] += len(mine)
                topic = settings_.topic(table)
                key, body = landed_object(settings_.raw_prefix_for(table), topic, 0, first, mine)
                client.put_object(Bucket="cord-raw", Key=key, Body=body)
        return tasks.load_bronze.function(params=RUN)["total"]

    valid = [Record(table_of(m.topic), m.key, m.value) for m in valid_messages()]
    base = land_and_load(valid)
    assert base["quarantined"] == 0
    assert base["rows_loaded"] == sum(r.value is not None for r in valid)
    edges = edge_records(untouchable=guarded_columns())
    at_the_edge = land_and_load(edges)
    assert at_the_edge["rows_loaded"] + at_the_edge["quarantined"] == len(edges)
    assert 0 < at_the_edge["rows_loaded"] < len(edges)
    loaded = [base["rows_loaded"], at_the_edge["rows_loaded"]]

    @SAMPLE
    @given(records)
    def loads_whatever_it_holds(batch):
        counts = land_and_load(batch)
        assert counts["records"] == len(batch)
        assert counts["rows_loaded"] + counts["duplicates_skipped"] + counts["tombstones"] + counts[
            "quarantined"
        ] == len(batch)
        assert counts["tombstones"] == sum(r.value is None for r in batch)
        loaded.append(counts["rows_loaded"])

    loads_whatever_it_holds()

    assert corner.bronze_rows() == sum(loaded)
    assert sum(loaded) > sum(loaded[:2])  # some damaged records were loaded, not only refused
    dbt(corner, monkeypatch, tmp_path, "build", "--select", "staging", "--exclude", "test_type:unit")
    assert corner.scalar("select count(*) from staging.stg_product") > 0
