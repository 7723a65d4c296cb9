"""Runs capped by "Events per run" take each topic only in part, so a child table's changes can land
before the parent changes they refer to. Such runs must stay green (the rows wait for their parent,
out of the marts), whatever the cap, and the warehouse must end exactly as the source is.

Each run is the DAG's drain, commit and load, then its `dbt build` (models and data tests, as the
producer task runs it); the topics have three partitions, so the cap also cuts partitions apart.
"""

from __future__ import annotations

import pytest

from devstack.verify import mart_mismatches, staging_mismatches
from include.cdc.airflow import tasks
from tests.integration.warehouse import RUN, dbt

pytestmark = pytest.mark.integration

CAPS = (240, 240, 97, 600, 1500)


def capped_run(corner, monkeypatch, tmp_path, cap: int) -> int:
    drained = tasks.drain_kafka.function(params={**RUN, "max_events": cap})
    tasks.commit_offsets.function(drained)
    tasks.load_bronze.function(params=RUN)
    result = dbt(corner, monkeypatch, tmp_path, "build", "--exclude", "resource_type:unit_test", check=False)
    failed = [r.node.name for r in result.result or () if r.status in {"error", "fail"}]
    assert result.success, f"run capped at {cap} events failed: {failed or result.exception}"
    return drained["events"]


def test_capped_runs_are_green_and_end_exactly_as_the_source(corner, monkeypatch, tmp_path):
    generator = corner.generator(products=40, events=2600, restart_every=900)
    batches = generator.batches()
    corner.produce_until(batches, 1400)

    orphans_seen = 0
    for cap in CAPS:
        assert 0 < capped_run(corner, monkeypatch, tmp_path, cap) <= cap
        orphans_seen += corner.scalar(
            "select count(*) from staging.stg_product_availability as child "
            "where not exists (select 1 from staging.stg_product as p where p.product_id = child.product_id)"
        )
        corner.produce(next(batches, []))  # the source goes on changing between runs
    assert orphans_seen, "no capped run drained a child before its parent: the test shows nothing"
    corner.produce([message for batch in batches for message in batch])  # the source's final state

    while capped_run(corner, monkeypatch, tmp_path, 0):  # uncapped until nothing is new
        pass
    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []


def test_a_parent_missing_although_drained_past_fails_and_one_not_drained_yet_waits(
    corner, monkeypatch, tmp_path
):
    corner.produce(list(corner.generator(products=8, events=400).messages()))
    capped_run(corner, monkeypatch, tmp_path, 0)
    drained_past = corner.scalar(
        "select min(newest) from (select max(commit_lsn) as newest from staging.stg_product "
        "group by kafka_partition) as partitions"
    )
    # Two availability rows of products the warehouse does not hold: one committed before every
    # partition of Product's topic drained past it (a lost change), one after it (its product may come).
    columns = [
        row["column_name"]
        for row in corner.query(
            "select column_name from information_schema.columns where table_schema = 'staging' "
            "and table_name = 'stg_product_availability' order by ordinal_position"
        )
    ]
    for product_id, commit_lsn in [(990001, "00000000:00000000:0001"), (990002, f"{drained_past}f")]:
        values = {"availability_id": product_id, "product_id": product_id, "commit_lsn": commit_lsn}
        select = ", ".join("%s" if c in values else c for c in columns)
        corner.execute(
            f"insert into staging.stg_product_availability select {select} "
            "from staging.stg_product_availability limit 1",
            *[values[c] for c in columns if c in values],
        )

    result = dbt(
        corner,
        monkeypatch,
        tmp_path,
        "test",
        "--select",
        "stg_product_availability,test_name:relationships_as_drained",
        check=False,
    )
    (outcome,) = result.result
    assert outcome.status == "fail"
    assert outcome.failures == 1, "only the row committed before Product drained past it"
