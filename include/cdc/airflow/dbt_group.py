"""The dbt stage as a Cosmos task group, read from the manifest that `make manifest` and the Dockerfile
build, so that no dbt runs while the DAG file is parsed.

By default in Cosmos's watcher mode: one ``dbt build`` (the producer task) builds and tests every model,
and each model keeps a task for its run and one for its tests, reporting that model's outcome and log. A
model that failed is retried alone: its task's next try runs dbt for that model only.
``PRODUCT_CDC_DBT_MODE=local`` runs one ``dbt build`` per model instead (Cosmos's local mode): slower,
one task start and one dbt start per model.
The tasks that run dbt can go to a queue of their own (``run_dbt_on``), for workers sized for dbt.
In both modes Cosmos runs ``include/dbt/bin/dbt-task`` as dbt (include/cdc/dbt_runner/): dbt dies with
its task, and runs only under the warehouse's build lock, so two builds never run side by side. dbt itself
is ``PRODUCT_CDC_DBT_EXECUTABLE``, by default the dbt of the project's own virtualenv ``.venv-dbt``
(requirements-dbt.txt): Airflow's environment holds no dbt-core.

The manifest is ``dbt_target/manifest.json`` in the project's folder, not under ``include/``: ``astro dev
start`` bind-mounts the working tree's ``include/`` over the image's, which would hide a manifest the
image built there (``include/dbt/target`` is git-ignored, so absent from a clone).
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import TriggerRule
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import PRODUCER_WATCHER_TASK_ID, ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators.watcher import DbtTestWatcherOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

from include.cdc.airflow.alerts import DBT_FAILED, DbtNode, read_run_results, record_dbt_failures
from include.cdc.settings import DBT_MANIFEST, PROJECT_DIR, Settings

DBT_PROJECT = PROJECT_DIR / "include" / "dbt"
# Built by `make manifest` and by the Dockerfile, with the dbt of .venv-dbt (see the module's docstring).
MANIFEST = DBT_MANIFEST
# What Cosmos runs as dbt, in every mode: dbt that dies with its task and runs under the warehouse's build
# lock (include/cdc/dbt_runner/), started with this interpreter (which imports no dbt), then becoming the
# dbt of PRODUCT_CDC_DBT_EXECUTABLE.
DBT_IN_TASK = DBT_PROJECT / "bin" / "dbt-task"
BUILD_INPUTS_KEY = "build_inputs"

log = logging.getLogger(__name__)


def dbt_in_task_env(settings: Settings) -> dict[str, str]:
    return {"CORD_DBT_PYTHON": sys.executable, "CORD_DBT_EXECUTABLE": settings.dbt_executable}


class _LocalManifest(ProjectConfig):
    """Cosmos opens a manifest through Airflow's ObjectStoragePath, whose first use imports every
    provider's filesystem (boto3 among them): half a second of every task start on a busy worker. The
    manifest ships with the DAG, so it is read as the local file it is."""

    def __init__(self, manifest: Path, **kwargs) -> None:
        super().__init__(manifest_path=manifest, **kwargs)
        self.manifest_path = manifest


def _models_after_the_build(group: DbtTaskGroup) -> None:
    """Start the model tasks once the producer's ``dbt build`` has succeeded or skipped its retry.

    Cosmos starts them beside the producer, each waiting for its model's status in the triggerer. Started
    after it, each finds its status at once: one short task per model instead of two task starts and a
    deferral, and a run that ``dag.test()`` (one task at a time) can finish. A failed build's retry skips
    itself, and each model task that failed then runs its model alone. When a stage before the build
    failed, the build never ran and neither do they.
    """
    producer = group.children[f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}"]
    for task in group.get_roots():
        if task is not producer:
            task.trigger_rule = TriggerRule.NONE_FAILED
            producer >> task


def passing_build(nodes: list[DbtNode] | None) -> dict[str, str] | None:
    """Each node's status, when the dbt command ran nodes (its run_results.json was read) and none of
    them failed."""
    if not nodes or any(node.status in DBT_FAILED for node in nodes):
        return None
    return {node.unique_id: node.status for node in nodes}


def _the_rest_of_the_group(context: dict[str, Any]) -> list:
    build = context["task"]
    return [task for task in build.task_group.iter_tasks() if task.task_id != build.task_id]


def _report_detached_tests(statuses: dict[str, str], context: dict[str, Any]) -> None:
    """Each test of two models (``relationships``) reports its status where its task reads it.

    Cosmos 1.15's build reports a test's status only under each model the test belongs to, while the
    task of a test of two models watches a key of its own. That task therefore never found a status: it
    deferred to the triggerer, which reported "no information about the node" once the build was over
    (5-11 s of every run's critical path, two task starts each). After a failed build nothing is
    reported, so those tasks behave as before: a try after the build failed runs the test again.
    """
    for task in _the_rest_of_the_group(context):
        test_id = getattr(task, "model_unique_id", None) or ""
        if isinstance(task, DbtTestWatcherOperator) and test_id.startswith("test.") and test_id in statuses:
            context["ti"].xcom_push(key=get_tests_status_xcom_key(test_id), value=statuses[test_id])


def skip_the_build_when_nothing_is_new(context: dict[str, Any], *, settings: Settings) -> None:
    """``pre_execute`` of the build: when bronze and the project are as the last passing build read
    them (include/cdc/dbt_builds.py), skip it and every task of the group; the checks still run."""
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from include.cdc import dbt_builds
    from include.cdc.airflow import clients

    with clients.warehouse(settings).connect() as conn:
        inputs = dbt_builds.current_inputs(conn, MANIFEST)
        last = dbt_builds.last_build_inputs(conn)
    context["ti"].xcom_push(key=BUILD_INPUTS_KEY, value=inputs)
    if inputs == last and not context["params"].get("full_refresh"):
        log.info("nothing new since the last passing dbt build (%s): the dbt stage is skipped", inputs)
        raise DownstreamTasksSkipped(tasks=[task.task_id for task in _the_rest_of_the_group(context)])
    log.info("dbt builds from %s (last passing build: %s)", inputs, last or "none")


def after_a_passing_build(
    project_dir: str, context: dict[str, Any] | None = None, *, settings: Settings, **_: Any
) -> None:
    """Cosmos ``callback`` of the build: after a ``dbt build`` in which nothing failed, report the
    tests of two models, and record what the build read, unless a load changed bronze while it ran."""
    from include.cdc import dbt_builds
    from include.cdc.airflow import clients

    statuses = passing_build(read_run_results(project_dir)) if context is not None else None
    if statuses is None:
        return
    _report_detached_tests(statuses, context)
    ti = context["ti"]
    before = ti.xcom_pull(task_ids=ti.task_id, key=BUILD_INPUTS_KEY)
    if before is None:
        return
    with clients.warehouse(settings).connect() as conn:
        if dbt_builds.current_inputs(conn, MANIFEST) == before:
            dbt_builds.record_build(conn, before, context["run_id"])


def run_dbt_on(group: DbtTaskGroup, queue: str) -> None:
    """Send the group's tasks that run dbt to ``queue`` (empty: leave them on Airflow's default queue).

    In watcher mode that is the producer's ``dbt build`` only: the per-model tasks read what it pushed to
    XCom, from any worker. In local mode it is every task of the group.

    Why not Cosmos's ``[cosmos] watcher_dbt_execution_queue`` alone (Cosmos 1.15): it covers the watcher
    mode only (the producer's queue, set when the DAG is parsed, and the model tasks' retries, moved by
    Cosmos's cluster policy), and does nothing in local mode, whose tasks are not watcher operators. It is
    also one Airflow setting for every Cosmos DAG of the deployment, not this DAG's. So
    ``PRODUCT_CDC_DBT_QUEUE`` keeps routing the dbt tasks of both modes here; in watcher mode, set
    ``AIRFLOW__COSMOS__WATCHER_DBT_EXECUTION_QUEUE`` to the same queue to send the model tasks' retries
    (each runs dbt for its model) there too.
    """
    if not queue:
        return
    producer = group.children.get(f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}")
    for task in [producer] if producer else group.iter_tasks():
        task.queue = queue


def dbt_task_group(settings: Settings) -> DbtTaskGroup:
    watcher = settings.dbt_mode == "watcher"
    group = DbtTaskGroup(
        group_id="dbt",
        group_display_name="dbt models and tests",
        project_config=_LocalManifest(
            MANIFEST, dbt_project_path=DBT_PROJECT, project_name="cord_warehouse", install_dbt_deps=False
        ),
        profile_config=ProfileConfig(
            profile_name="cord_warehouse",
            target_name="airflow",
            profile_mapping=PostgresUserPasswordProfileMapping(
                conn_id=settings.warehouse_conn_id,
                profile_args={"schema": "staging", "threads": settings.dbt_threads},
            ),
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER if watcher else ExecutionMode.LOCAL,
            # dbt in a process of its own, never in the task's (Cosmos's dbtRunner): the wrapper that
            # starts it ties it to the task and takes the build lock. In watcher mode dbt also does not
            # wait while each model's status is pushed to XCom.
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(DBT_IN_TASK),
            # Watcher mode's build only: it skips the group when nothing is new, and after it passed,
            # records what it read and reports the tests of two models.
            setup_operator_args={
                "pre_execute": functools.partial(skip_the_build_when_nothing_is_new, settings=settings),
                "callback": [
                    record_dbt_failures,
                    functools.partial(after_a_passing_build, settings=settings),
                ],
            },
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # Watcher: a model's tests report in a task after its run. Local: one task per model, whose
            # dbt build runs the model and then its tests.
            test_behavior=TestBehavior.AFTER_EACH if watcher else TestBehavior.BUILD,
            # A test of two models (relationships) has a task of its own after both: a model's tests,
            # when run alone, must not test a model that is not rebuilt yet.
            should_detach_multiple_parents_tests=True,
            # dbt unit tests specify the models' logic on fixed rows: they run in the test suite
            # (tests/integration/test_dbt_unit_tests.py), not in each 6-hourly run. Cosmos passes this
            # to the producer's dbt build and to every command that runs a model's tests.
            exclude=["resource_type:unit_test"],
            emit_datasets=False,
        ),
        operator_args={
            "full_refresh": "{{ params.full_refresh }}",
            "env": dbt_in_task_env(settings),
            # After each dbt command: a failed test's or model's name and dbt's message (the failing row
            # count) to the task's XCom, for the run's failure email (alerts.py).
            "callback": record_dbt_failures,
        },
    )
    if watcher:
        _models_after_the_build(group)
    return group
