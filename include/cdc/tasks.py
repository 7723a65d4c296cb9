"""The DAG's Python tasks: thin shells that build clients from Airflow connections and call the logic.

Everything they decide is in the plain modules beside this one (connector, drain, bronze); here are only
hooks, run parameters and logging. Tasks hand each other object keys, counts and offsets, never payloads.
"""

from __future__ import annotations

import logging

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk import BaseHook, task
from airflow.sdk.exceptions import AirflowSkipException

from include.cdc import bronze, connector, drain
from include.cdc.assets import DIM_PRODUCT, DIM_PRODUCT_SEARCH
from include.cdc.settings import Settings
from include.cdc.sqlfiles import statement
from include.cdc.storage import CLIENT_CONFIG, ObjectStore
from include.cdc.warehouse import WarehouseTarget

log = logging.getLogger(__name__)

FULL_REFRESH_SKIP = (
    "full refresh: Kafka is not read and its offsets are not touched; bronze is rebuilt from the archive"
)


class DrainConsumerHook(KafkaConsumerHook):
    """The provider's consumer hook, with the settings a commit-after-write drain relies on."""

    def _get_client(self, config):
        if not config.get("group.id"):
            raise ValueError(
                f"Kafka connection {self.kafka_config_id!r} needs a group.id in its extra: the drain reads "
                f"from, and commits to, that consumer group's offsets."
            )
        return super()._get_client(
            {
                # A small prefetch queue, refilled at once rather than after librdkafka's default 1 s
                # back-off: the drain stays fast and its memory bounded (the connection may override both).
                "queued.max.messages.kbytes": 8192,
                "fetch.queue.backoff.ms": 5,
                **config,
                "enable.auto.commit": False,  # offsets are committed only after their objects are written
                "enable.auto.offset.store": False,
                # An offset the log no longer (or not yet) holds is an error to explain, never a silent
                # jump to another offset.
                "auto.offset.reset": "error",
                "enable.partition.eof": True,  # a partition is done when its end is reached
                "isolation.level": "read_committed",  # aborted records are never landed
            }
        )


def _object_store(settings: Settings) -> ObjectStore:
    hook = S3Hook(aws_conn_id=settings.s3_conn_id, config=CLIENT_CONFIG)
    return ObjectStore(hook.get_conn(), settings.bucket, settings.s3_conn_id)


def _consumer(settings: Settings):
    return DrainConsumerHook(topics=[], kafka_config_id=settings.kafka_conn_id).get_conn


@task
def check_connector() -> str:
    """Fail unless the Debezium connector and all its tasks are RUNNING."""
    settings = Settings.from_env()
    hook = HttpHook(method="GET", http_conn_id=settings.kafka_connect_conn_id)
    status = connector.check_connector(
        hook, settings.kafka_connect_conn_id, settings.connector_name, settings.http_timeout_seconds
    )
    log.info("Debezium %s", status.summary)
    return status.summary


@task
def drain_kafka(params: dict) -> dict:
    """Land every topic's new records in the bucket; hand over object keys, counts and next offsets."""
    if params["full_refresh"]:
        raise AirflowSkipException(FULL_REFRESH_SKIP)
    settings = Settings.from_env()
    store = _object_store(settings)
    store.check_bucket()
    consumer = _consumer(settings)
    prefixes = {settings.topic(table): settings.raw_prefix_for(table) for table in settings.contract}
    drainer = drain.KafkaDrain(
        consumer,
        store,
        settings.kafka_conn_id,
        settings.batch_size,
        settings.gzip_level,
        settings.kafka_timeout_seconds,
    )
    try:
        results = drainer.drain(
            prefixes,
            max_events=params["max_events"] or 0,
            accept_lost_offsets=params.get("accept_lost_offsets", False),
        )
    finally:
        consumer.close()
    topics = []
    for result in results.values():
        log.info(
            "%s: %d records landed in %d objects (%d recovered from an earlier attempt); next offsets %s",
            result.topic,
            result.events,
            len(result.objects),
            result.recovered_objects,
            result.next_offsets,
        )
        for partition, first, last in result.lost:
            log.warning(
                "%s[%d]: offsets %d..%d accepted as lost at the source", result.topic, partition, first, last
            )
        topics.append(result.to_xcom())
    return {"topics": topics, "events": sum(t["events"] for t in topics)}


@task
def commit_offsets(drained: dict) -> dict:
    """Commit the consumer group's offsets, once every object that holds the records is in the bucket."""
    settings = Settings.from_env()
    store = _object_store(settings)
    for topic in drained["topics"]:
        for landed in topic["objects"]:
            store.metadata(landed["key"])  # raises when an object is missing: then nothing is committed
    consumer = _consumer(settings)
    committed = {}
    try:
        for topic in drained["topics"]:
            committed[topic["topic"]] = drain.commit_offsets(
                consumer,
                settings.kafka_conn_id,
                topic["topic"],
                {int(p): o for p, o in topic["next_offsets"].items()},
                settings.kafka_timeout_seconds,
            )
            log.info("%s: committed %s", topic["topic"], committed[topic["topic"]])
    finally:
        consumer.close()
    return {"committed": {t: dict(offsets) for t, offsets in committed.items()}}


@task(trigger_rule="none_failed")
def load_bronze(params: dict) -> dict:
    """Load every landed object not loaded yet (the whole archive on full refresh) into bronze."""
    settings = Settings.from_env()
    store = _object_store(settings)
    target = WarehouseTarget.from_airflow(BaseHook.get_connection(settings.warehouse_conn_id))
    targets = [
        bronze.BronzeTarget(
            table,
            settings.topic(table),
            settings.raw_prefix_for(table),
            settings.quarantine_prefix_for(table),
        )
        for table in settings.contract
    ]
    # Closed, not committed, on the way out: the load commits its own work, and the connection may be gone.
    conn = target.connect()
    try:
        summary = bronze.load_bronze(
            conn,
            store,
            targets,
            target.where,
            full_refresh=params["full_refresh"],
            max_quarantined=settings.max_quarantined_per_run,
            connect=target.connect,
            connections=settings.load_connections,
        )
    finally:
        conn.close()
    return summary.to_xcom()


@task(outlets=[DIM_PRODUCT, DIM_PRODUCT_SEARCH])
def publish_marts() -> dict:
    """Record an update of the marts' Airflow Assets once every check has passed."""
    settings = Settings.from_env()
    target = WarehouseTarget.from_airflow(BaseHook.get_connection(settings.warehouse_conn_id))
    with target.connect() as conn:
        counts = dict(conn.execute(statement("marts/publish.sql", "mart_rows")).fetchall())
    log.info("published %s", counts)
    return counts
