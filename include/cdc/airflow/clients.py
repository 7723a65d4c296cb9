"""Clients built from the Airflow connections, for the task bodies only.

Imported inside the tasks, never on the DAG file's import path: boto3, confluent_kafka, aiohttp and
psycopg take seconds to import on a busy worker, and every task start parses the DAG file first.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk import BaseHook

from include.cdc.archive.storage import CLIENT_CONFIG, ObjectStore
from include.cdc.errors import ConfigurationError
from include.cdc.ingest.kafka import DrainConsumer, Refusals, secret_values
from include.cdc.settings import Settings
from include.cdc.warehouse import WarehouseTarget


class DrainConsumerHook(KafkaConsumerHook):
    """The provider's consumer hook, with the settings a commit-after-write drain relies on, building a
    consumer that names a refused password or certificate (the provider's error callback only prints)."""

    def _get_client(self, config):
        group_id(config, self.kafka_config_id)
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


def group_id(config: dict, conn_id: str) -> str:
    if not config.get("group.id"):
        raise ConfigurationError(
            f"Kafka connection {conn_id!r} needs a group.id in its extra: the drain reads from, and "
            f"commits to, that consumer group's offsets."
        )
    return config["group.id"]


CONSUMER_ONLY = (
    "group.",
    "auto.",
    "enable.auto.",
    "enable.partition.eof",
    "isolation.level",
    "queued.",
    "fetch.",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "check.crcs",
)


class OffsetsAdminHook(KafkaBaseHook):
    """An AdminClient built as the drain's consumer is (the provider's config building: callbacks, managed
    OAuth tokens), over a connection fetched beforehand, which the triggerer does without blocking its
    loop (``aget_connection``). The admin client cannot join, consume from or commit for the group."""

    def __init__(self, connection, kafka_config_id: str) -> None:
        super().__init__(kafka_config_id=kafka_config_id)
        self.connection = connection
        self.group = ""
        self.refusals: Refusals | None = None

    def get_connection(self, conn_id):  # the connection the caller fetched, not a second, blocking lookup
        return self.connection

    def _get_client(self, config):
        from confluent_kafka.admin import AdminClient

        self.group = group_id(config, self.kafka_config_id)
        self.refusals = Refusals(self.kafka_config_id, secret_values(config))
        # librdkafka warns about each consumer setting an admin client ignores: those are left out.
        shared = {k: v for k, v in config.items() if not k.startswith(CONSUMER_ONLY)}
        return AdminClient({**shared, "error_cb": self.refusals})


def object_store(settings: Settings) -> ObjectStore:
    hook = S3Hook(aws_conn_id=settings.s3_conn_id, config=CLIENT_CONFIG)
    return ObjectStore(hook.get_conn(), settings.bucket, settings.s3_conn_id)


def kafka_consumer(settings: Settings):
    return DrainConsumerHook(topics=[], kafka_config_id=settings.kafka_conn_id).get_conn


def kafka_connect(settings: Settings) -> HttpHook:
    return HttpHook(method="GET", http_conn_id=settings.kafka_connect_conn_id)


def warehouse(settings: Settings) -> WarehouseTarget:
    return WarehouseTarget.from_airflow(BaseHook.get_connection(settings.warehouse_conn_id))
