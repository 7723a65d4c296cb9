"""Consecutive runs under a real scheduler, triggerer, DAG processor and API server (LocalExecutor).

dag.test() runs one task at a time in one process. Here every task is a process of its own, started by
the executor, and the dbt stage's tasks meet as they do in production: the watcher's model tasks read
what the build task pushed to XCom through the API server. Four runs in a row (the first, nothing new,
a little new, a full refresh) all succeed; the warehouse then equals the source, each model's run
and tests have a log of their own that names the model, no task of the dbt stage waited in the
triggerer (each reports what the build did), and the run with nothing new skipped the dbt stage.

While it runs, every port the stack's processes listen on (Airflow's log servers included, which Airflow
itself would bind to every interface) is on loopback, and the log servers are on the stack's own ports.
"""

from __future__ import annotations

import ipaddress
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from devstack.stack.process import wait_until
from devstack.verify import mart_mismatches, staging_mismatches
from tests.integration.conftest import real_airflow

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

DAG_ID = "product_cdc_sync"


@pytest.fixture
def airflow(stack, corner):
    with real_airflow(stack, {**corner.environment(), "PRODUCT_CDC_RETRY_DELAY_SECONDS": "1"}) as services:
        yield services


def task_log(stack, run_id: str, task_id: str) -> str:
    folder = stack.dir / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}"
    return "\n".join(path.read_text(errors="replace") for path in sorted(folder.glob("attempt=*.log")))


def listening_sockets(stack_dir: Path) -> list[tuple[str, int, str, int]]:
    """(command, pid, address, port) of each TCP socket that the stack's processes, or any process they
    started, listen on."""
    found = set()
    for pid_file in (stack_dir / "run").glob("*.pid"):
        try:
            leader = psutil.Process(int(pid_file.read_text()))
            family = [leader, *leader.children(recursive=True)]
        except (psutil.NoSuchProcess, ValueError):
            continue
        for process in family:
            try:
                command = " ".join(filter(None, process.cmdline()))[:80]  # setproctitle pads it
                sockets = process.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            found |= {
                (command, process.pid, s.laddr.ip, s.laddr.port)
                for s in sockets
                if s.status == psutil.CONN_LISTEN
            }
    return sorted(found)


def log_server_ports(stack_dir: Path) -> set[int]:
    return {port for command, _, _, port in listening_sockets(stack_dir) if command == "airflow serve-logs"}


def on_loopback(host: str) -> bool:
    """Java's servers bind IPv6 sockets to ``::ffff:127.0.0.1``, IPv4's loopback mapped into IPv6, which
    Python 3.11's ``is_loopback`` does not count (3.13 does)."""
    address = ipaddress.ip_address(host)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def assert_every_port_on_loopback(stack) -> None:
    # The scheduler's log server (the LocalExecutor's) and the triggerer's: both up before checking.
    wait_until(lambda: len(log_server_ports(stack.dir)) == 2, "Airflow's two log servers", timeout=120)
    exposed = [s for s in listening_sockets(stack.dir) if not on_loopback(s[2])]
    assert exposed == []
    assert log_server_ports(stack.dir) == {stack.ports.worker_log, stack.ports.trigger_log}
    # The API server fetches a running task's log from http://<the task's host name>:<port>: that name
    # must lead to the log server (which answers 403 to a request without the API's signed token).
    from airflow.utils.net import get_hostname

    served = requests.get(f"http://{get_hostname()}:{stack.ports.worker_log}/log/x.log", timeout=30)
    assert served.status_code == 403


def test_first_nothing_new_a_little_new_and_full_refresh_runs_succeed(stack, corner, airflow):
    generator = corner.generator(products=20, events=1500, restart_every=600)
    batches = generator.batches()
    corner.produce_until(batches, 1000)
    airflow.wait_for_dag(DAG_ID)
    assert_every_port_on_loopback(stack)

    runs = []
    for label, conf in (
        ("first", {}),
        ("nothing-new", {}),
        ("a-little-new", {}),
        ("full-refresh", {"full_refresh": True}),
    ):
        if label == "a-little-new":
            corner.produce([m for batch in batches for m in batch])
        run_id = f"{label}-{uuid.uuid4().hex[:6]}"
        airflow.trigger(DAG_ID, run_id, conf)
        assert airflow.wait_for_run(DAG_ID, run_id, timeout=900) == "success", label
        runs.append(run_id)

    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []
    assert corner.bronze_rows() == generator.total.envelopes
    # The model tasks start once the build is over, and each finds its outcome at once: no task of the
    # dbt stage waits in the triggerer. With nothing new, the build skips them all.
    for run_id in runs:
        tasks = airflow.run_timeline(DAG_ID, run_id)["tasks"]
        dbt_states = {times["state"] for t, times in tasks.items() if t.startswith("dbt.")}
        assert dbt_states == ({"success", "skipped"} if run_id.startswith("nothing-new") else {"success"})
        build_end = tasks["dbt.dbt_producer_watcher"]["end"]
        ran = {t: times for t, times in tasks.items() if t.endswith(".run") and times["state"] == "success"}
        started_early = [t for t, times in ran.items() if times["start"] < build_end]
        assert started_early == []
        deferred = [
            t for t in airflow.task_instances(DAG_ID, run_id) if "Deferring" in task_log(stack, run_id, t)
        ]
        assert deferred == [], run_id
    for model in ("stg_product", "dim_product", "dim_product_search"):
        assert model in task_log(stack, runs[-1], f"dbt.{model}.run"), model
        assert model in task_log(stack, runs[-1], f"dbt.{model}.test"), model
