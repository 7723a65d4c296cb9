"""The DAG runs every 6 hours and on new changes: an Asset whose watcher is a BaseEventTrigger the
triggerer imports by classpath, with kwargs that hold no secret; the switch leaves the cron alone."""

from __future__ import annotations

import importlib
import json

import pytest

DAG_FILE = "dags/product_cdc_sync.py"


def parsed(monkeypatch, **env):
    """The DAG as the DAG processor serializes it and the scheduler reads it back, with ``env`` set."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bag = DagBag(DAG_FILE)
    assert not bag.import_errors, bag.import_errors
    data = DagSerialization.to_dict(bag.dags["product_cdc_sync"])
    return data, DagSerialization.from_dict(data)


def test_runs_on_the_cron_or_new_changes(monkeypatch):
    from airflow.timetables.assets import AssetOrTimeSchedule
    from airflow.timetables.trigger import CronTriggerTimetable
    from airflow.triggers.base import BaseEventTrigger

    data, dag = parsed(monkeypatch, PRODUCT_CDC_MIN_RUN_INTERVAL_MINUTES="0.5")
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert isinstance(dag.timetable.timetable, CronTriggerTimetable)
    assert dag.timetable.timetable.summary == "0 */6 * * *"
    assert dag.timetable.summary == "Asset or 0 */6 * * *"  # what the UI shows
    (asset,) = data["dag"]["timetable"]["__var"]["asset_condition"]["objects"]
    (watcher,) = asset["watchers"]
    trigger = watcher["trigger"]
    module, _, name = trigger["classpath"].rpartition(".")
    trigger_class = getattr(importlib.import_module(module), name)  # as the triggerer imports it
    assert issubclass(trigger_class, BaseEventTrigger)
    kwargs = trigger["kwargs"]
    assert kwargs["conn_id"] == "cord_kafka"
    assert kwargs["min_interval_seconds"] == 30
    assert len(kwargs["topics"]) == 4
    assert all(t.startswith("cord.ConcordDb.dbo.") for t in kwargs["topics"])
    # Built again from its kwargs, it serializes to the same (the triggerer's identity of a trigger).
    assert trigger_class(**kwargs).serialize() == (trigger["classpath"], kwargs)


def test_trigger_kwargs_hold_no_secret(monkeypatch):
    secret = "s3cr3t-do-not-leak"
    extra = {"bootstrap.servers": "b:9093", "group.id": "g", "sasl.password": secret}
    data, _ = parsed(monkeypatch, AIRFLOW_CONN_CORD_KAFKA=json.dumps({"conn_type": "kafka", "extra": extra}))
    assert secret not in json.dumps(data)
    assert "bootstrap" not in json.dumps(data["dag"]["timetable"])


@pytest.mark.parametrize("off", ["false", "0", "no"])
def test_the_switch_leaves_the_cron_alone(monkeypatch, off):
    from airflow.timetables.trigger import CronTriggerTimetable

    _, dag = parsed(monkeypatch, PRODUCT_CDC_RUN_ON_NEW_CHANGES=off)
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.summary == "0 */6 * * *"
