"""dbt never outlives its task, and two dbt builds never run side by side (include/cdc/dbt_runner/).

The task process is killed with SIGKILL while its dbt waits on a lock the test holds (so the kill lands
inside a build): no dbt process of that build survives, its warehouse build lock is gone, and a rerun
makes the marts equal the source. In both of Cosmos's modes: watcher (the producer's one ``dbt build``)
and local (each model task's own).

A build that finds another holding the warehouse's build lock waits, then fails with a message naming the
holder, and never starts dbt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.dag_runner import run_dag
from devstack.demo import ensure_airflow_db, load_dag
from include.cdc.contract import table
from include.cdc.warehouse import DBT_BUILD_LOCK
from tests.integration.test_crash_recovery import RUN_DAG, assert_exactly_once_and_equal, crashed, start
from tests.integration.warehouse import DBT_PROJECT, ingest

pytestmark = pytest.mark.integration

DBT_TASK = DBT_PROJECT / "bin" / "dbt-task"
DBT_COMMANDS = {"build", "run", "test"}

# Who holds the build lock (granted) and who waits for it, in the test's database.
BUILD_LOCK = """
select l.pid, l.granted, a.application_name
from pg_locks as l join pg_stat_activity as a on a.pid = l.pid
where l.locktype = 'advisory' and l.objsubid = 1
  and l.database = (select oid from pg_database where datname = current_database())
  and ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint
"""


def build_lock(corner) -> list[dict]:
    return corner.query(BUILD_LOCK, DBT_BUILD_LOCK)


def dbt_processes(corner) -> list[int]:
    """Processes running a dbt command (or the wrapper about to become one) on the test's database."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        is_dbt = b"--project-dir" in args and any(a.decode(errors="replace") in DBT_COMMANDS for a in args)
        if is_dbt and corner.database.encode() in environ and state != "Z":
            found.append(int(proc.name))
    return found


def until(condition, seconds: float = 60):
    """Poll ``condition`` until it holds or ``seconds`` passed; its last value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def waiting_on(corner, relation: str) -> list[dict]:
    return corner.query(
        "select a.pid, a.query from pg_locks as l join pg_stat_activity as a on a.pid = l.pid "
        "where not l.granted and l.relation = %s::regclass",
        relation,
    )


@pytest.fixture
def dag_in(stack, corner, monkeypatch):
    monkeypatch.setenv("PRODUCT_CDC_RETRY_DELAY_SECONDS", "1")
    ensure_airflow_db(stack)

    def load(mode: str):
        monkeypatch.setenv("PRODUCT_CDC_DBT_MODE", mode)
        return load_dag()

    return load


@pytest.mark.parametrize("mode", ["watcher", "local"])
def test_a_killed_task_leaves_no_dbt_running_and_a_rerun_builds_the_marts(dag_in, corner, mode):
    generator = corner.generator(products=20, events=2500, restart_every=800)
    batches = generator.batches()
    corner.produce_until(batches, 1200)
    # The warehouse before the kill, built in the faster mode: what is tested is the mode of the killed run.
    assert run_dag(dag_in("watcher")).succeeded
    dag = dag_in(mode)
    corner.produce([m for batch in batches for m in batch])

    relation = "marts.dim_product_search"
    process = start(RUN_DAG)  # its environment has the test's PRODUCT_CDC_DBT_MODE
    with corner.connect() as locker:
        locker.autocommit = False
        locker.execute(f"lock table {relation} in access exclusive mode")
        waiting = until(lambda: process.poll() is None and waiting_on(corner, relation), 300)
        assert waiting, f"the run finished without dbt touching {relation}"
        holders = [row for row in build_lock(corner) if row["granted"]]
        building = dbt_processes(corner)
        process.send_signal(signal.SIGKILL)
        assert crashed(process, 30)

        # Still holding the relation: a dbt that outlived its task would be waiting here, alive.
        gone = until(lambda: not dbt_processes(corner), 30)
        assert gone, f"dbt outlived its killed task: pids {dbt_processes(corner)} (of {building})"
        assert holders, "the build ran without the warehouse's build lock"
        assert until(lambda: not build_lock(corner), 30), build_lock(corner)
        locker.rollback()

    run = run_dag(dag)
    assert run.succeeded, run.failed_tasks()
    assert_exactly_once_and_equal(corner, generator)


def dbt_build(corner, target: Path, **env: str) -> subprocess.Popen:
    """``dbt build`` through the wrapper, as a task runs it, with the project's own profile."""
    return subprocess.Popen(
        [
            str(DBT_TASK),
            "build",
            "--exclude",
            "resource_type:unit_test",
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(target / "target"),
            "--log-path",
            str(target / "logs"),
        ],
        env={
            **os.environ,
            **corner.stack.dbt_env(corner.database),
            "CORD_DBT_PYTHON": sys.executable,
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_second_build_waits_for_the_first_then_fails_clearly_without_running_dbt(corner, tmp_path):
    generator = corner.generator(products=20, events=1500, restart_every=800)
    corner.produce(list(generator.messages()))
    ingest()

    relation = f"bronze.{table('Product').bronze_table}"
    with corner.connect() as locker:
        locker.autocommit = False
        locker.execute(f"lock table {relation} in access exclusive mode")
        first = dbt_build(corner, tmp_path / "first")
        assert until(lambda: first.poll() is None and waiting_on(corner, relation), 300), "dbt never ran"
        (holder,) = [row for row in build_lock(corner) if row["granted"]]

        started = time.monotonic()
        second = dbt_build(corner, tmp_path / "second", PRODUCT_CDC_DBT_LOCK_WAIT_SECONDS="5")
        output, _ = second.communicate(timeout=300)
        waited = time.monotonic() - started

        assert second.returncode == 75, output
        assert waited >= 5, output
        assert "another dbt build holds the warehouse's build lock" in output, output
        assert f"pid {holder['pid']} of backend" in output, output
        assert "ran beside no other build" in output, output
        assert "Running with dbt" not in output, output  # dbt never started
        assert first.poll() is None, "the first build ended while the second waited"
        assert [row["pid"] for row in build_lock(corner)] == [holder["pid"]]
        locker.rollback()

    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output
    assert until(lambda: not build_lock(corner), 30), build_lock(corner)
