"""A broker whose log was reset (a wiped cluster, or a recreated topic): new, empty logs, and the group's
committed offsets forgotten. Apache Kafka keeps its logs across a restart, so the stack resets them
(``Stack.reset_kafka``, which also restarts Kafka Connect on the new logs). The archive's objects of the
old log must never be taken as covering the new log's offsets."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.cdc.airflow import tasks
from tests.integration.warehouse import RUN, ingest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("new_events", [400, 2500], ids=["shorter new log", "longer new log"])
def test_a_reset_log_stops_the_drain_and_the_documented_recovery_loads_the_new_log(corner, new_events):
    old = corner.generator(products=10, events=1200, seed=1)
    corner.produce(list(old.messages()))
    ingest()

    corner.stack.reset_kafka()
    new = corner.generator(products=12, events=new_events, seed=2)
    corner.produce(list(new.messages()))

    with pytest.raises(AirflowFailException, match=r"recreated or the broker's log was reset.*not retried"):
        tasks.drain_kafka.function(params=RUN)

    # The README's recovery: move the old log's objects out of raw/, replay the archive, run again.
    client = corner.stack.s3.client()
    for key in corner.archive_keys():
        aside = key.replace("/raw/", "/raw-before-reset/", 1)
        client.copy_object(Bucket="cord-raw", Key=aside, CopySource={"Bucket": "cord-raw", "Key": key})
        client.delete_object(Bucket="cord-raw", Key=key)
    tasks.load_bronze.function(params={**RUN, "full_refresh": True})
    ingest()
    for name, counts in new.counts.items():
        bronze = f"bronze.{new.tables[name].bronze_table}"
        assert corner.scalar(f"select count(*) from {bronze}") == counts.envelopes, bronze
