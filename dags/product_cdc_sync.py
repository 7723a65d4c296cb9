"""product_cdc_sync: SQL Server's product catalog, captured by Debezium, into the warehouse's marts.

This file only wires tasks (their order, trigger rules and display names); the tasks are built in
include/cdc/airflow/, what each stage does is in include/cdc/<stage>/ and include/dbt/, and what an
operator does when a stage fails is in include/docs/product_cdc_sync.md (the DAG's Docs tab).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, TaskGroup, TriggerRule, chain, dag

from include.cdc.airflow import tasks
from include.cdc.airflow.alerts import deadline_alert, failed_run_email, task_defaults
from include.cdc.airflow.dbt_group import dbt_task_group, run_dbt_on
from include.cdc.airflow.sql_checks import record_run_metrics, sql_checks
from include.cdc.airflow.watcher import schedule
from include.cdc.settings import Settings

INCLUDE = Path(__file__).resolve().parents[1] / "include"

settings = Settings.from_env()


@dag(
    dag_id="product_cdc_sync",
    # Every 6 hours (UTC), and when the topics hold changes not drained yet, at most once per
    # PRODUCT_CDC_MIN_RUN_INTERVAL_MINUTES (an Asset watched in the triggerer; off with
    # PRODUCT_CDC_RUN_ON_NEW_CHANGES=false).
    schedule=schedule(settings),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=5),
    tags=["cdc", "debezium", "kafka", "minio", "dbt", "product"],
    doc_md=(INCLUDE / "docs" / "product_cdc_sync.md").read_text(),
    template_searchpath=[str(INCLUDE / "sql")],
    deadline=deadline_alert(settings),
    on_failure_callback=failed_run_email(settings),  # one email per failed run, naming each failed task
    params={
        "full_refresh": Param(
            False,
            type="boolean",
            title="Full refresh",
            description="Drain Kafka as usual, then rebuild bronze from the whole MinIO archive and "
            "rebuild every model.",
        ),
        "max_events": Param(
            settings.max_events_per_run,
            type="integer",
            minimum=0,
            title="Events per run",
            description="Read at most this many Kafka records in this run (0: no cap), shared fairly "
            "across the tables. The rest waits for the next run. The cap can take a table's changes before "
            "the product changes they refer to: those rows wait in staging, out of the marts, until a "
            "later run brings their product, and the run stays green.",
        ),
        "accept_lost_offsets": Param(
            False,
            type="boolean",
            title="Accept lost offsets",
            description="Only after the drain failed because Kafka deleted records (retention) before they "
            "were drained: log the lost offsets and move on from the start of the log. Re-snapshot the "
            "table with Debezium first.",
        ),
    },
    default_args=task_defaults(
        settings, max_retry_delay=timedelta(minutes=30), execution_timeout=timedelta(hours=2)
    ),
)
def product_cdc_sync():
    # Task ids stay stable for logs, alerts and the API; the graph names the stages as the docs do.
    drained = tasks.drain_kafka.override(task_display_name="Kafka drain → MinIO write")()
    dbt = dbt_task_group(settings)
    run_dbt_on(dbt, settings.dbt_queue)  # PRODUCT_CDC_DBT_QUEUE; unset: the default queue
    with TaskGroup("checks", group_display_name="SQL checks", prefix_group_id=False) as checks:
        # Also when a run with nothing new skipped the dbt stage (include/cdc/dbt_builds.py): bronze's
        # freshness is checked in every run.
        sql_checks(settings, trigger_rule=TriggerRule.NONE_FAILED)
    chain(
        tasks.check_connector.override(task_display_name="Connector status check")(),
        drained,
        tasks.commit_offsets.override(task_display_name="Commit Kafka offsets")(drained),
        tasks.load_bronze.override(task_display_name="Bronze load")(),
        dbt,
        checks,
        tasks.publish_marts.override(task_display_name="Publish mart Assets")(),
    )
    # Measured once the checks ran, even when one failed (not when they never ran because the marts
    # were not built), so that the next run compares with this one.
    checks >> record_run_metrics(
        settings,
        task_display_name="Record run metrics",
        trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,
    )


product_cdc_sync()
