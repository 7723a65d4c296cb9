"""OpenLineage datasets of the custom tasks: what a run actually read and wrote, for Marquez or Astro Observe.

Reported with the provider's public ``emit_dataset_lineage`` once a task's work is done, so the datasets
are the topics drained, the prefixes landed in and the tables loaded in this run, never a declaration.
Hook-level lineage is not used: its collector lives for the whole process, and ``dag.test()`` runs every
task in one process, so a task would report the tasks before it too.

Names follow OpenLineage's conventions, so that the bronze tables are the same nodes Cosmos reports as
the dbt sources' inputs: ``kafka://host:port`` + topic, ``s3://bucket`` + key prefix and
``postgres://host:port`` + ``database.schema.table``. Nothing here ever fails a task: without a
configured transport it does nothing, and an error is logged as a warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable

from include.cdc.archive.landing import topic_prefix
from include.cdc.settings import Settings

log = logging.getLogger(__name__)

# psycopg's named placeholders, which OpenLineage's SQL parser cannot read.
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def kafka_namespace(bootstrap_servers: str) -> str:
    """The first broker of a ``bootstrap.servers`` list, as OpenLineage names a Kafka cluster."""
    first = bootstrap_servers.split(",")[0].strip()
    return f"kafka://{first.split('://')[-1]}"


def prefix_name(prefix: str, topic: str) -> str:
    """The key prefix one topic's objects land under (``product/raw/topic=<topic>``)."""
    return topic_prefix(prefix, topic).rstrip("/")


def _report(datasets: Callable[[], tuple[list, list]]) -> None:
    """Emit this task run's inputs and outputs; never raises, and costs nothing when lineage is off."""
    try:
        from airflow.providers.openlineage.api import emit_dataset_lineage, is_openlineage_active

        if not is_openlineage_active():
            return
        inputs, outputs = datasets()
        if inputs or outputs:
            emit_dataset_lineage(inputs=inputs, outputs=outputs)
    except Exception as exc:  # lineage is an observer: it never fails the work it observes
        log.warning("OpenLineage datasets not reported: %s", exc)


def _kafka_namespace(settings: Settings) -> str:
    from airflow.sdk import BaseHook

    extra = BaseHook.get_connection(settings.kafka_conn_id).extra_dejson
    return kafka_namespace(extra["bootstrap.servers"])


def _warehouse(settings: Settings) -> tuple[str, str]:
    from include.cdc.airflow import clients

    target = clients.warehouse(settings)
    return f"postgres://{target.host}:{target.port}", target.dbname


def report_drain(settings: Settings, read: Iterable[str], landed: Collection[str]) -> None:
    """The topics read -> the prefixes of those whose records landed in this run."""

    def datasets():
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        kafka = _kafka_namespace(settings)
        prefixes = {settings.topic(table): settings.raw_prefix_for(table) for table in settings.contract}
        bucket = f"s3://{settings.bucket}"
        return (
            [InputDataset(namespace=kafka, name=topic) for topic in read],
            [OutputDataset(namespace=bucket, name=prefix_name(prefixes[topic], topic)) for topic in landed],
        )

    _report(datasets)


def report_bronze_load(settings: Settings, tables: Collection[str]) -> None:
    """The prefixes of the tables the load wrote to -> those ``bronze.*_cdc`` tables (``tables`` are
    qualified, as the load's summary names them)."""

    def datasets():
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        namespace, database = _warehouse(settings)
        bucket = f"s3://{settings.bucket}"
        inputs, outputs = [], []
        for table in settings.contract:
            if f"bronze.{table.bronze_table}" not in tables:
                continue
            inputs.append(
                InputDataset(
                    namespace=bucket, name=prefix_name(settings.raw_prefix_for(table), settings.topic(table))
                )
            )
            outputs.append(OutputDataset(namespace=namespace, name=f"{database}.bronze.{table.bronze_table}"))
        return inputs, outputs

    _report(datasets)


def tables_in(sql: str) -> tuple[list[str], list[str]]:
    """The ``schema.table`` names a warehouse query reads and writes.

    Parsed without a default schema: openlineage-sql 1.54 loses every table of a query with CTEs when
    given one, as the provider's own parse does (``public``); our queries name their schemas anyway.
    """
    import openlineage_sql

    parsed = openlineage_sql.parse([_PLACEHOLDER.sub("null", sql)], dialect="postgres")
    return (
        [f"{t.schema}.{t.name}" for t in parsed.in_tables],
        [f"{t.schema}.{t.name}" for t in parsed.out_tables],
    )


def fill_sql_lineage(settings: Settings, sql: str, found):
    """The provider's lineage of a warehouse query (an ``OperatorLineage``), or, where its parser found
    no table, the tables ``tables_in`` finds. Never raises: lineage must not fail the check."""
    if found is None or found.inputs or found.outputs:
        return found
    try:
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        namespace, database = _warehouse(settings)
        read, written = tables_in(sql)
        found.inputs = [InputDataset(namespace=namespace, name=f"{database}.{t}") for t in read]
        found.outputs = [OutputDataset(namespace=namespace, name=f"{database}.{t}") for t in written]
    except Exception as exc:
        log.warning("OpenLineage: the tables of %s not reported: %s", settings.warehouse_conn_id, exc)
    return found
