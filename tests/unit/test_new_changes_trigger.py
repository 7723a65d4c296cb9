"""The watcher's trigger shell, on a fake broker: Kafka's calls run off the event loop, a broker that
fails is logged once per problem without secrets and watched again, and new changes yield one event.
The real triggerer and Kafka: tests/integration/test_runs_on_new_changes.py."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from include.cdc.airflow import watcher
from include.cdc.ingest import new_changes
from include.cdc.ingest.kafka import Refusals
from include.cdc.ingest.new_changes import Position

SECRET = "s3cr3t-pw"
T = "t.Db.dbo.Product"


class Stop(BaseException):
    """Ends the endless watch after the scripted polls."""


def run_trigger(monkeypatch, answers: list) -> tuple[list, list[int]]:
    """Run the trigger over ``answers`` (positions, or an exception to raise), one per poll."""
    threads: list[int] = []
    answers = list(answers)
    hook = SimpleNamespace(group="g", refusals=Refusals("cord_kafka", [SECRET]))
    admin = SimpleNamespace(poll=lambda timeout: None)

    async def fake_admin(self):
        return admin, hook

    def fake_read(admin_, group, topics, timeout):
        threads.append(threading.get_ident())
        assert (admin_, group, topics) == (admin, "g", [T])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def fake_sleep(seconds):
        if not answers:
            raise Stop

    monkeypatch.setattr(watcher.NewChangesTrigger, "_admin", fake_admin)
    monkeypatch.setattr(new_changes, "read_positions", fake_read)
    monkeypatch.setattr(watcher.asyncio, "sleep", fake_sleep)
    trigger = watcher.NewChangesTrigger("cord_kafka", [T], min_interval_seconds=900)

    async def collect():
        events = []
        try:
            async for event in trigger.run():
                events.append(event.payload)
        except Stop:
            pass
        return events

    return asyncio.run(collect()), threads


def test_new_changes_yield_one_event_and_kafka_is_asked_off_the_loop(monkeypatch):
    loop_thread = threading.get_ident()
    events, threads = run_trigger(
        monkeypatch,
        [[Position(T, 0, 0, 0, None)], [Position(T, 0, 0, 5, None)], [Position(T, 0, 0, 5, None)]],
    )
    assert events == [{"pending": {f"{T}[0]": 5}, "records": 5}]
    assert len(threads) == 3
    assert loop_thread not in threads


def test_a_failing_broker_is_logged_once_without_secrets_and_watched_again(monkeypatch, capfd):
    down = ConnectionError(f"all brokers down (sasl.password={SECRET})")
    events, _ = run_trigger(monkeypatch, [down, down, down, [Position(T, 0, 0, 2, 0)]])
    assert events == [{"pending": {f"{T}[0]": 2}, "records": 2}]
    logged = "".join(capfd.readouterr())  # the trigger logs through structlog, as in the triggerer
    assert logged.count("still watching") == 1
    assert "all brokers down" in logged
    assert SECRET not in logged
    assert "Kafka answers again" in logged


@pytest.mark.parametrize("kwargs", [{"conn_id": "cord_kafka", "topics": [T], "min_interval_seconds": 30.0}])
def test_kwargs_round_trip(kwargs):
    classpath, serialized = watcher.NewChangesTrigger(**kwargs).serialize()
    assert classpath == watcher.CLASSPATH
    assert watcher.NewChangesTrigger(**serialized).serialize() == (classpath, serialized)
