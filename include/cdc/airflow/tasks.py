"""The DAG's Python tasks: thin shells that build clients from Airflow connections and call the logic.

Everything they decide is in the stage packages (``include/cdc/connect``, ``ingest``, ``bronze``); here
are only run parameters and logging, and how they run (trigger rules, display names) is the DAG file's.
Tasks hand each other object keys, counts and offsets, never payloads. The stage modules and the clients
are imported inside each task: this module is on the DAG file's import path, which every task start and
every DAG processor pass pays for.
"""

from __future__ import annotations

import functools
import logging

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

from include.cdc.airflow.assets import DIM_PRODUCT, DIM_PRODUCT_SEARCH
from include.cdc.errors import PermanentError
from include.cdc.settings import Settings

log = logging.getLogger(__name__)


def fails_at_once(body):
    """Fail the task without retries on an error no retry can heal (``include.cdc.errors``)."""

    @functools.wraps(body)
    def run(*args, **kwargs):
        try:
            return body(*args, **kwargs)
        except PermanentError as exc:
            raise AirflowFailException(f"{exc} (not retried: a retry cannot heal this)") from exc

    return run


@task
@fails_at_once
def check_connector() -> str:
    """Fail unless the Debezium connector and all its tasks are RUNNING."""
    from include.cdc.airflow import clients
    from include.cdc.connect import check as connector

    settings = Settings.from_env()
    status = connector.check_connector(
        clients.kafka_connect(settings),
        settings.kafka_connect_conn_id,
        settings.connector_name,
        settings.http_timeout_seconds,
    )
    log.info("Debezium %s", status.summary)
    return status.summary


@task
@fails_at_once
def drain_kafka(params: dict) -> dict:
    """Land every topic's new records in the bucket; hand over object keys, counts and next offsets.

    A full refresh drains too: the archive it rebuilds bronze from is then whole up to now, so a topic
    recreated under the pipeline is rebuilt in one run, never published empty between two."""
    from include.cdc.airflow import clients, lineage
    from include.cdc.ingest import drain

    settings = Settings.from_env()
    store = clients.object_store(settings)
    store.check_bucket()
    consumer = clients.kafka_consumer(settings)
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
    lineage.report_drain(settings, [t["topic"] for t in topics], [t["topic"] for t in topics if t["objects"]])
    return {"topics": topics, "events": sum(t["events"] for t in topics)}


@task
@fails_at_once
def commit_offsets(drained: dict) -> dict:
    """Commit the consumer group's offsets, once every object that holds the records is in the bucket."""
    from include.cdc.airflow import clients
    from include.cdc.ingest import kafka

    settings = Settings.from_env()
    store = clients.object_store(settings)
    for topic in drained["topics"]:
        for landed in topic["objects"]:
            store.metadata(landed["key"])  # raises when an object is missing: then nothing is committed
    consumer = clients.kafka_consumer(settings)
    committed = {}
    try:
        for topic in drained["topics"]:
            committed[topic["topic"]] = kafka.commit_offsets(
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


@task
@fails_at_once
def load_bronze(params: dict) -> dict:
    """Load every landed object not loaded yet (the whole archive on full refresh) into bronze."""
    from include.cdc.airflow import clients, lineage
    from include.cdc.bronze import load as bronze_load
    from include.cdc.bronze.target import BronzeTarget

    settings = Settings.from_env()
    store = clients.object_store(settings)
    target = clients.warehouse(settings)
    targets = [
        BronzeTarget(
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
        summary = bronze_load.load_bronze(
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
    # A full refresh rewrote every table from its whole prefix; otherwise, the tables objects went into.
    written = [t for t, counts in summary.tables.items() if params["full_refresh"] or counts.objects]
    lineage.report_bronze_load(settings, written)
    return summary.to_xcom()


@task(outlets=[DIM_PRODUCT, DIM_PRODUCT_SEARCH])
@fails_at_once
def publish_marts() -> dict:
    """Record an update of the marts' Airflow Assets once every check has passed."""
    from include.cdc.airflow import clients
    from include.cdc.sqlfiles import statement

    settings = Settings.from_env()
    with clients.warehouse(settings).connect() as conn:
        counts = dict(conn.execute(statement("marts/publish.sql", "mart_rows")).fetchall())
    log.info("published %s", counts)
    return counts
