"""The DAG files: import cleanly (without a database, the network or dbt); product_cdc_sync wires the
stages in order (bi_refresh's wiring is in test_bi_refresh_dag.py)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from include.cdc.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
MARTS = REPO / "include" / "dbt" / "models" / "marts"
STAGES = ["check_connector", "drain_kafka", "commit_offsets", "load_bronze"]
MODELS = [
    "stg_product",
    "stg_product_availability",
    "stg_product_analogue",
    "stg_product_oem_number",
    "dim_product",
    "dim_product_search",
]
CHECKS = {
    "check_layers_consistent",
    "check_no_duplicate_products",
    "check_bronze_is_fresh",
    "check_multilingual_coverage",
    "check_supplier_concentration",
    "check_for_sale_share_stable",
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["product_cdc_sync"]


def test_parses_without_database_network_or_dbt(tmp_path):
    """Parse in a fresh interpreter where sockets, the metadata database and dbt all raise."""
    probe = textwrap.dedent(
        f"""
        import socket, subprocess, sys
        def refuse(*args, **kwargs):
            raise RuntimeError("network or database touched while parsing")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        real_popen = subprocess.Popen.__init__
        def no_dbt(self, args, *a, **k):
            if "dbt" in " ".join(map(str, args if isinstance(args, (list, tuple)) else [args])):
                raise RuntimeError("dbt invoked while parsing")
            return real_popen(self, args, *a, **k)
        subprocess.Popen.__init__ = no_dbt
        try:
            import dbt  # Airflow's environment holds no dbt (.venv-dbt does)
        except ImportError:
            pass
        else:
            raise AssertionError("dbt-core is installed beside Airflow; it belongs in .venv-dbt")
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag({str(DAGS)!r})
        assert not bag.import_errors, bag.import_errors
        print(sorted(bag.dags))
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody:x@192.0.2.1:1/none",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "['bi_refresh', 'product_cdc_sync']"


def test_two_dags_and_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == ["bi_refresh", "product_cdc_sync"]


PRODUCER = "dbt.dbt_producer_watcher"


def test_stages_in_order(dag):
    for upstream, downstream in itertools.pairwise(STAGES):
        assert dag.task_dict[upstream].downstream_task_ids == {downstream}, (upstream, downstream)
    dbt_tasks = {t for t in dag.task_ids if t.startswith("dbt.")}
    # One dbt build (the producer), then per model a task reporting its run and one its tests; tests of
    # two models report after both.
    per_model = {f"dbt.{m}.{step}" for m in MODELS for step in ("run", "test")}
    assert per_model <= dbt_tasks
    assert dbt_tasks - per_model - {PRODUCER, f"{PRODUCER}_done"} == {
        t for t in dbt_tasks if t.startswith("dbt.relationships_") and t.endswith("_test")
    }
    assert dag.task_dict["load_bronze"].downstream_task_ids == {PRODUCER}
    load_bronze = dag.task_dict["load_bronze"]
    for task_id in dbt_tasks:
        assert task_id in load_bronze.get_flat_relative_ids(upstream=False)
    for check in CHECKS:
        assert dbt_tasks <= dag.task_dict[check].get_flat_relative_ids(upstream=True), check
        assert dag.task_dict[check].downstream_task_ids == {"publish_marts", "record_run_metrics"}
    assert "dbt.dim_product.run" in dag.task_dict["dbt.stg_product.test"].downstream_task_ids
    assert "dbt.dim_product_search.run" in dag.task_dict["dbt.dim_product.test"].downstream_task_ids


def test_model_tasks_start_once_the_build_has_succeeded_or_skipped_its_retry(dag):
    """So that each finds its model's outcome at once, a failed build's models run alone, and nothing
    runs when a stage before the build failed."""
    producer = dag.task_dict[PRODUCER]
    staging_runs = {f"dbt.{m}.run" for m in MODELS if m.startswith("stg_")}
    assert staging_runs <= producer.downstream_task_ids
    for task_id in staging_runs:
        assert dag.task_dict[task_id].trigger_rule == "none_failed"
    for task_id in {t for t in dag.task_ids if t.startswith("dbt.")} - {PRODUCER}:
        assert PRODUCER in dag.task_dict[task_id].get_flat_relative_ids(upstream=True), task_id


def test_the_dbt_unit_tests_run_in_the_test_suite_not_in_each_run(dag):
    """The unit tests pin the models' logic on fixed rows (tests/integration/test_dbt_unit_tests.py);
    every dbt command of the DAG that could run them, the producer's build and each test task's
    ``dbt test --select <model>`` on a retry, leaves them out. Cosmos does not render them as tasks."""
    excluding = {
        task.task_id
        for task in dag.tasks
        if task.task_id.startswith("dbt.")
        and "resource_type:unit_test" in " ".join(getattr(task, "add_global_flags", list)()).split()
    }
    assert PRODUCER in excluding
    dbt_tests = {t for t in dag.task_ids if t.startswith("dbt.") and t.endswith("test")}
    assert dbt_tests
    assert dbt_tests <= excluding
    assert not any("unit_test" in task_id for task_id in dag.task_ids)


def _task_ids(node) -> set[str]:
    return {t.task_id for t in node.iter_tasks()} if hasattr(node, "iter_tasks") else {node.task_id}


def test_the_graph_names_the_stages_as_the_docs_tab_describes_a_run(dag):
    """Each stage of the graph (a task or a group) is labelled as the Docs tab names it, beside its id,
    and the Docs tab names them in the order they run."""
    nodes = dag.task_group.topological_sort()
    docs = " ".join(dag.doc_md.split())  # as rendered: line breaks are spaces
    mentioned_at = {node.node_id: docs.find(f"{node.label} (`{node.node_id}`") for node in nodes}
    assert -1 not in mentioned_at.values(), mentioned_at
    assert {node.label for node in nodes}.isdisjoint(mentioned_at), "a stage shows only its id"
    for before, after in itertools.permutations(nodes, 2):
        downstream = set().union(
            *(dag.task_dict[t].get_flat_relative_ids(upstream=False) for t in _task_ids(before))
        )
        if _task_ids(after) & downstream:
            assert mentioned_at[before.node_id] < mentioned_at[after.node_id], (before.label, after.label)


def test_the_sql_checks_are_one_group_and_keep_their_task_ids(dag):
    assert _task_ids(dag.task_group_dict["checks"]) == CHECKS


def test_run_metrics_are_recorded_even_when_a_check_fails(dag):
    task = dag.task_dict["record_run_metrics"]
    assert task.upstream_task_ids == CHECKS
    assert task.trigger_rule == "all_done_min_one_success"


def test_runs_every_six_hours_and_never_catches_up(dag):
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.trigger import CronTriggerTimetable

    assert dag.catchup is False
    # The scheduler's side of the DAG's timetable, which computes the runs.
    cron = dag.timetable.timetable  # beside the Asset of new changes (test_dag_schedule.py)
    timetable = CronTriggerTimetable(cron.expression, timezone=cron.timezone)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    runs, interval = [], None
    for _ in range(5):
        info = timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction)
        runs.append(info.run_after)
        interval = info.data_interval
    gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(runs)}
    assert gaps == {timedelta(hours=6).total_seconds()}
    assert "every 6 hours" in dag.doc_md


def test_run_policy(dag):
    assert dag.max_active_runs == 1
    assert {"cdc", "debezium", "dbt"} <= set(dag.tags)
    assert "check_connector" in dag.doc_md
    assert "full_refresh" in dag.params
    assert dag.params["full_refresh"] is False
    assert dag.params["max_events"] == 0
    assert dag.params["accept_lost_offsets"] is False  # a loss at the source is accepted only explicitly


def test_every_task_retries_with_backoff_and_records_its_error_for_the_run_s_email(dag):
    """No task emails by itself: each records its first error line when it fails for good, and the run,
    once failed, sends one email naming them all."""
    from include.cdc.airflow import alerts

    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        callbacks = (
            task.on_failure_callback
            if isinstance(task.on_failure_callback, list)
            else [task.on_failure_callback]
        )
        assert alerts.record_error in callbacks, task.task_id
        assert not any(type(c).__name__ == "SmtpNotifier" for c in callbacks), task.task_id
    (run_callback,) = (
        dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
    )
    assert run_callback.func is alerts.email_failed_run
    assert run_callback.keywords["settings"].smtp_conn_id == Settings().smtp_conn_id


def test_every_dbt_command_records_dbt_s_failing_nodes(dag):
    """Cosmos calls it after each dbt command (the build, a model task's retry, local mode's builds)."""
    from include.cdc.airflow import alerts

    for task in dag.tasks:
        if task.task_id.startswith("dbt.") and hasattr(task, "callback"):
            callbacks = task.callback if isinstance(task.callback, list) else [task.callback]
            assert callbacks[0] is alerts.record_dbt_failures, task.task_id


def test_a_passing_build_reports_each_test_of_two_models_to_that_test_s_task(dag, tmp_path):
    """Otherwise each such task finds no status, defers to the triggerer and waits there for the build
    to be over, in every run. After a failed build they find none, and a later try runs the test."""
    from cosmos.operators.watcher import DbtTestWatcherOperator

    build = dag.get_task("dbt.dbt_producer_watcher")
    of_two_models = [
        task
        for task in dag.tasks
        if isinstance(task, DbtTestWatcherOperator) and task.model_unique_id.startswith("test.")
    ]
    assert {t.task_id.split("_")[0] for t in of_two_models} == {"dbt.relationships"}
    assert len(of_two_models) == 5
    pushed = {}

    class Ti:
        task_id = build.task_id

        def xcom_push(self, key, value):
            pushed[key] = value

        def xcom_pull(self, task_ids, key):
            assert task_ids == build.task_id
            return pushed.get(key)

    def build_with(status_of_a_model: str) -> None:
        pushed.clear()
        results = [{"unique_id": "model.cord_warehouse.stg_product", "status": status_of_a_model}]
        results += [{"unique_id": t.model_unique_id, "status": "pass"} for t in of_two_models]
        (tmp_path / "target").mkdir(exist_ok=True)
        (tmp_path / "target" / "run_results.json").write_text(json.dumps({"results": results}))
        for callback in build.callback:  # no build inputs were pushed: nothing is recorded
            callback(str(tmp_path), context={"ti": Ti(), "task": build, "run_id": "r"})

    build_with("success")
    assert [task._get_node_status(Ti(), {}) for task in of_two_models] == ["pass"] * 5
    build_with("error")
    assert [task._get_node_status(Ti(), {}) for task in of_two_models] == [None] * 5


def test_the_build_skips_the_dbt_stage_when_nothing_is_new_and_the_checks_run_all_the_same(dag):
    """Its pre_execute compares what it would read with what the last passing build read
    (tests/integration/test_dag_end_to_end.py runs it)."""
    from include.cdc.airflow import alerts, dbt_group

    build = dag.get_task("dbt.dbt_producer_watcher")
    assert build._pre_execute_hook.func is dbt_group.skip_the_build_when_nothing_is_new
    assert [getattr(c, "func", c) for c in build.callback] == [
        alerts.record_dbt_failures,
        dbt_group.after_a_passing_build,
    ]
    for task_id in CHECKS:
        assert dag.get_task(task_id).trigger_rule == "none_failed", task_id


def test_deadline_alert_emails_once_the_run_is_late(dag):
    from airflow.sdk import DeadlineReference

    (alert,) = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.interval == Settings().deadline
    assert alert.callback.path == "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
    assert alert.callback.kwargs["smtp_conn_id"] == Settings().smtp_conn_id


def test_mart_assets_are_published_last(dag):
    outlets = dag.task_dict["publish_marts"].outlets
    assert {o.name for o in outlets} == {f"marts.{model.stem}" for model in MARTS.glob("*.sql")}
    assert not dag.task_dict["publish_marts"].downstream_task_ids


def test_every_task_runs_on_the_default_queue_unless_a_dbt_queue_is_set(dag):
    assert {task.queue for task in dag.tasks} == {"default"}


@pytest.mark.parametrize(
    ("mode", "on_the_dbt_queue"),
    [
        ("watcher", lambda task_id: task_id == PRODUCER),
        ("local", lambda task_id: task_id.startswith("dbt.")),
    ],
)
def test_the_tasks_that_run_dbt_go_to_the_dbt_queue(monkeypatch, mode, on_the_dbt_queue):
    """Watcher: the build alone (the model tasks only read its XCom); local: every dbt task."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("PRODUCT_CDC_DBT_QUEUE", "dbt")
    monkeypatch.setenv("PRODUCT_CDC_DBT_MODE", mode)
    dag = DagBag(str(DAGS)).dags["product_cdc_sync"]
    queues = {task.task_id: task.queue for task in dag.tasks}
    assert {task_id for task_id, queue in queues.items() if queue == "dbt"} == set(
        filter(on_the_dbt_queue, queues)
    )
    assert {queue for task_id, queue in queues.items() if not on_the_dbt_queue(task_id)} == {"default"}


@pytest.mark.parametrize("mode", ["watcher", "local"])
def test_every_task_that_may_run_dbt_runs_it_through_dbt_task(monkeypatch, mode):
    """Cosmos starts dbt-task, never dbt itself nor dbt in the task's process (dbtRunner): dbt dies with
    its task and runs under the warehouse's build lock (include/cdc/dbt_runner/). In watcher mode the
    model tasks run dbt too, on a retry."""
    from airflow.dag_processing.dagbag import DagBag
    from cosmos.constants import InvocationMode

    monkeypatch.setenv("PRODUCT_CDC_DBT_MODE", mode)
    dag = DagBag(str(DAGS)).dags["product_cdc_sync"]
    dbt_tasks = [task for task in dag.tasks if hasattr(task, "dbt_executable_path")]
    assert {task.task_id for task in dbt_tasks} >= {
        task_id for task_id in dag.task_ids if task_id.startswith("dbt.") and not task_id.endswith("_done")
    }
    for task in dbt_tasks:
        assert task.dbt_executable_path == str(REPO / "include" / "dbt" / "bin" / "dbt-task"), task.task_id
        assert task.invocation_mode == InvocationMode.SUBPROCESS, task.task_id
        assert task.env["CORD_DBT_PYTHON"] == sys.executable, task.task_id


def test_the_docs_tab_reads_in_airflows_narrow_modal(dag):
    """Airflow 3 opens the Docs tab in a narrow modal: a table of three columns or more is cut off there,
    so the stages and the error messages are lists."""
    rows = [line for line in dag.doc_md.splitlines() if line.lstrip().startswith("|")]
    assert [row for row in rows if row.strip().strip("|").count("|") >= 2] == []
    assert "- **`drain_kafka`**" in dag.doc_md
