"""Runs started by new changes: an Asset whose watcher, in the triggerer, fires when the connector's
topics hold records the consumer group has not committed, and the DAG's schedule (that Asset or the
6-hourly cron).

The trigger is a shell: whether a partition holds new changes, and when that starts a run, is decided
in ``include/cdc/ingest/new_changes.py``. Its kwargs name the connection, never what it holds: the
connection is read in the triggerer when the trigger starts (``aget_connection``). Every Kafka call
blocks, so it runs in a thread. A broker that is down or refuses the connection is logged (once per
distinct problem, without secrets) and watched again at the next poll: the watcher never ends, so it
starts runs again as soon as Kafka answers; the 6-hourly run, whose drain fails with the full story,
is what alerts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from include.cdc.settings import Settings

CLASSPATH = "include.cdc.airflow.watcher.NewChangesTrigger"
SCHEDULE = "0 */6 * * *"


class NewChangesTrigger(BaseEventTrigger):
    """Fires when the topics hold records the group has not committed: at most once per
    ``min_interval_seconds``, and once per new end of the logs."""

    def __init__(
        self, conn_id: str, topics: list[str], min_interval_seconds: float, timeout_seconds: float = 30.0
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.topics = list(topics)
        self.min_interval_seconds = float(min_interval_seconds)
        self.timeout_seconds = float(timeout_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {
            "conn_id": self.conn_id,
            "topics": self.topics,
            "min_interval_seconds": self.min_interval_seconds,
            "timeout_seconds": self.timeout_seconds,
        }

    async def _admin(self):
        """The AdminClient and group of the connection, read now (it may have changed since the last)."""
        from airflow.sdk import BaseHook

        from include.cdc.airflow.clients import OffsetsAdminHook

        connection = await BaseHook.aget_connection(self.conn_id)
        hook = OffsetsAdminHook(connection, self.conn_id)
        admin = await asyncio.to_thread(lambda: hook.get_conn)
        return admin, hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from include.cdc.ingest.new_changes import ChangeGate, poll_seconds, read_positions

        gate = ChangeGate(self.min_interval_seconds, time.monotonic)
        admin = hook = None
        problem = None
        self.log.info(
            "watching %s for records the group of connection %r has not committed (at most one run per %g s)",
            ", ".join(self.topics),
            self.conn_id,
            self.min_interval_seconds,
        )
        while True:
            try:
                if admin is None:
                    admin, hook = await self._admin()
                positions = await asyncio.to_thread(
                    read_positions, admin, hook.group, self.topics, self.timeout_seconds
                )
            except Exception as exc:  # a broker down or refusing: logged, and watched again
                if admin is not None:
                    admin.poll(0)  # serves the error callback, which keeps a refusal
                seen = self._describe(exc, hook if admin is not None else None)
                admin = hook = None  # built again, from the connection as it is then
                if seen != problem:
                    self.log.warning("cannot read the offsets, still watching: %s", seen)
                problem = seen
            else:
                if problem is not None:
                    self.log.info("Kafka answers again (connection %r)", self.conn_id)
                    problem = None
                payload = gate.check(positions)
                if payload is not None:
                    self.log.info("new changes: %s", payload["pending"])
                    yield TriggerEvent(payload)
            await asyncio.sleep(poll_seconds(self.min_interval_seconds))

    def _describe(self, exc: Exception, hook) -> str:
        """What went wrong, without a secret: the brokers' refusal when they refused."""
        refusals = getattr(hook, "refusals", None)
        if refusals is not None and refusals.refusal is not None:
            return str(refusals.refusal)
        text = f"Kafka (connection {self.conn_id!r}): {type(exc).__name__}: {exc}"
        return refusals.scrub(text) if refusals is not None else text


def new_changes(settings: Settings) -> Asset:
    """The Asset that stands for changes waiting in the connector's topics."""
    trigger = NewChangesTrigger(
        conn_id=settings.kafka_conn_id,
        topics=[settings.topic(table) for table in settings.contract],
        min_interval_seconds=settings.min_run_interval.total_seconds(),
        timeout_seconds=settings.kafka_timeout_seconds,
    )
    return Asset(
        name=f"kafka.{settings.topic_prefix}.{settings.source_database}.new_changes",
        watchers=[AssetWatcher(name="product_cdc_new_changes", trigger=trigger)],
    )


def schedule(settings: Settings):
    """Every 6 hours (UTC), and, unless ``PRODUCT_CDC_RUN_ON_NEW_CHANGES`` is off, on new changes."""
    cron = CronTriggerTimetable(SCHEDULE, timezone="UTC")
    if not settings.run_on_new_changes:
        return cron
    return AssetOrTimeSchedule(timetable=cron, assets=[new_changes(settings)])
