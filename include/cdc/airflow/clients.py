"""Clients built from the Airflow connections, for the task bodies only.

Imported inside the tasks, never on the DAG file's import path: boto3, confluent_kafka, aiohttp and
psycopg take seconds to import on a busy worker, and every task start parses the DAG file first.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk import BaseHook

from include.cdc.archive.storage import CLIENT_CONFIG, ObjectStore
from include.cdc.errors import ConfigurationError
from include.cdc.ingest.kafka import DrainConsumer
from include.cdc.settings import Settings
from include.cdc.warehouse import WarehouseTarget


class DrainConsumerHook(KafkaConsumerHook):
    """The provider's consumer hook, with the settings a commit-after-write drain relies on, building a
    consumer that names a refused password or certificate (the provider's error callback only prints)."""

    def _get_client(self, config):
        if not config.get("group.id"):
            raise ConfigurationError(
                f"Kafka connection {self.kafka_config_id!r} needs a group.id in its extra: the drain reads "
                f"from, and commits to, that consumer group's offsets."
            )
        return DrainConsumer(
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
            },
            self.kafka_config_id,
        )


def object_store(settings: Settings) -> ObjectStore:
    hook = S3Hook(aws_conn_id=settings.s3_conn_id, config=CLIENT_CONFIG)
    return ObjectStore(hook.get_conn(), settings.bucket, settings.s3_conn_id)


def kafka_consumer(settings: Settings):
    return DrainConsumerHook(topics=[], kafka_config_id=settings.kafka_conn_id).get_conn


def kafka_connect(settings: Settings) -> HttpHook:
    return HttpHook(method="GET", http_conn_id=settings.kafka_connect_conn_id)


def warehouse(settings: Settings) -> WarehouseTarget:
    return WarehouseTarget.from_airflow(BaseHook.get_connection(settings.warehouse_conn_id))
