"""bi_refresh: runs when product_cdc_sync publishes the marts, alone, retried, and alerts as the sync does."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.cdc import marts
from include.cdc.settings import Settings

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["bi_refresh"]


def test_runs_when_either_mart_is_published(dag):
    from airflow.sdk.definitions.asset import AssetAny

    assert isinstance(dag.timetable.asset_condition, AssetAny)
    assert {a.name for a in dag.timetable.asset_condition.objects} == set(marts.MARTS)


def test_the_sync_publishes_the_assets_it_runs_on(dagbag):
    publish = dagbag.dags["product_cdc_sync"].task_dict["publish_marts"]
    assert {o.name for o in publish.outlets} == set(marts.MARTS)


def test_nothing_in_the_sync_waits_on_it(dagbag):
    """A separate DAG: the sync has no sensor or trigger of it, so its failure never fails a sync."""
    sync = dagbag.dags["product_cdc_sync"]
    assert not any("bi_refresh" in repr(getattr(t, "trigger_dag_id", "")) for t in sync.tasks)
    assert not any(getattr(t, "external_dag_id", None) == "bi_refresh" for t in sync.tasks)


def test_run_policy(dag):
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"bi", "superset"} <= set(dag.tags)
    assert "cord_superset" in dag.doc_md
    assert [t.task_id for t in dag.tasks] == ["refresh_superset"]


def test_the_task_retries_and_the_failed_run_emails_as_the_sync_does(dag):
    from include.cdc.airflow import alerts

    (task,) = dag.tasks
    assert task.retries == Settings().retries >= 2
    assert task.retry_exponential_backoff
    callbacks = task.on_failure_callback
    assert alerts.record_error in (callbacks if isinstance(callbacks, list) else [callbacks])
    (run_callback,) = (
        dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    )
    assert run_callback.func is alerts.email_failed_run
