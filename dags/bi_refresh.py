"""bi_refresh: Superset's charts on the marts show the new numbers as soon as product_cdc_sync publishes.

This file only wires the task; it is built in include/cdc/airflow/bi_refresh.py, what it does is in
include/cdc/bi/, and what an operator does when it fails is in include/docs/bi_refresh.md (the Docs tab).
A separate DAG, scheduled on the marts' Assets: nothing in product_cdc_sync waits on it or fails with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag

from include.cdc.airflow.alerts import failed_run_email, task_defaults
from include.cdc.airflow.assets import DIM_PRODUCT, DIM_PRODUCT_SEARCH
from include.cdc.airflow.bi_refresh import refresh_superset
from include.cdc.settings import Settings

INCLUDE = Path(__file__).resolve().parents[1] / "include"

settings = Settings.from_env()


@dag(
    dag_id="bi_refresh",
    # Either mart updated starts a run; product_cdc_sync publishes both at once, which makes one run.
    schedule=(DIM_PRODUCT | DIM_PRODUCT_SEARCH),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    tags=["bi", "superset", "product"],
    doc_md=(INCLUDE / "docs" / "bi_refresh.md").read_text(),
    on_failure_callback=failed_run_email(settings),  # one email per failed run, naming the failed task
    default_args=task_defaults(
        settings, max_retry_delay=timedelta(minutes=10), execution_timeout=timedelta(minutes=30)
    ),
)
def bi_refresh():
    refresh_superset.override(task_display_name="Refresh Superset's datasets and charts")()


bi_refresh()
