"""Errors no retry can heal fail their task at once (``AirflowFailException``): the alert goes out now,
not after two retries minutes apart that meet the same log, settings or records. Everything else is
left to Airflow's retries.

Each error comes from the code that really raises it, through the task that operators see fail: the
drain on a fake consumer and a bucket in memory, the settings from the environment.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.cdc.airflow import clients, tasks
from include.cdc.contract import load_contract
from include.cdc.settings import Settings
from tests.unit.fake_kafka import FakeConsumer
from tests.unit.memory_store import MemoryStore

RUN = {"full_refresh": False, "max_events": 0, "accept_lost_offsets": False}


def records(count: int) -> list[bytes]:
    return [json.dumps({"n": i}).encode() for i in range(count)]


@pytest.fixture
def kafka(monkeypatch) -> FakeConsumer:
    """Every captured table's topic, one partition of 10 records each; the task's clients are these."""
    settings = Settings.from_env()
    consumer = FakeConsumer({settings.topic(table): {0: records(10)} for table in load_contract()})
    consumer.close = lambda: None
    monkeypatch.setattr(clients, "kafka_consumer", lambda settings: consumer)
    monkeypatch.setattr(clients, "object_store", lambda settings: MemoryStore())
    return consumer


def product_topic() -> str:
    return Settings.from_env().topic(next(iter(load_contract())))


def test_records_deleted_before_they_were_drained_fail_at_once(kafka):
    kafka.commit_offset(0, 2, product_topic())
    kafka.log(0, product_topic()).delete_before(5)
    with pytest.raises(AirflowFailException, match=r"offsets 2\.\.4 were deleted .*not retried"):
        tasks.drain_kafka.function(params=RUN)


def test_accepted_lost_offsets_are_no_error(kafka):
    kafka.commit_offset(0, 2, product_topic())
    kafka.log(0, product_topic()).delete_before(5)
    drained = tasks.drain_kafka.function(params={**RUN, "accept_lost_offsets": True})
    assert drained["events"] == 5 + 3 * 10


def test_a_recreated_topic_fails_at_once(kafka):
    kafka.commit_offset(0, 40, product_topic())  # the group's offset belongs to the old, longer log
    with pytest.raises(AirflowFailException, match=r"recreated or the broker's log was reset.*not retried"):
        tasks.drain_kafka.function(params=RUN)


def test_a_kafka_connection_without_a_group_fails_at_once(monkeypatch):
    monkeypatch.setattr(clients, "object_store", lambda settings: MemoryStore())
    no_group = {"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:9"}}
    monkeypatch.setenv("AIRFLOW_CONN_CORD_KAFKA", json.dumps(no_group))
    with pytest.raises(AirflowFailException, match=r"'cord_kafka' needs a group\.id.*not retried"):
        tasks.drain_kafka.function(params=RUN)


@pytest.mark.parametrize(
    "task",
    [
        lambda: tasks.check_connector.function(),
        lambda: tasks.drain_kafka.function(params=RUN),
        lambda: tasks.load_bronze.function(params=RUN),
        lambda: tasks.publish_marts.function(),
    ],
    ids=["check_connector", "drain_kafka", "load_bronze", "publish_marts"],
)
def test_a_setting_the_pipeline_cannot_use_fails_every_task_at_once(monkeypatch, task):
    monkeypatch.setenv("PRODUCT_CDC_BATCH_SIZE", "0")
    with pytest.raises(AirflowFailException, match=r"BATCH_SIZE must be between 1 and 1,000,000.*not retr"):
        task()


def test_other_errors_are_left_to_retries(kafka, monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("the broker does not answer")

    monkeypatch.setattr(kafka, "list_topics", unreachable)
    with pytest.raises(ConnectionError, match="does not answer"):
        tasks.drain_kafka.function(params=RUN)
