"""include/dbt/bin/dbt-task, what the DAG's tasks run as dbt: it dies with the task process, and it
reads the warehouse dbt will use from the profile Cosmos writes.

A stand-in for dbt (``sleep``) shows the lifetime: the task process is a parent that starts the wrapper
in a session of its own, as Cosmos does (``setsid``), and is then killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from include.cdc.dbt_runner.__main__ import LOCKED_COMMANDS, command_of
from include.cdc.dbt_runner.profile import ProfileError, warehouse_of

REPO = Path(__file__).resolve().parents[2]
DBT_TASK = REPO / "include" / "dbt" / "bin" / "dbt-task"
STAND_IN = "sleep"

# The task process: starts ``argv`` as Cosmos starts dbt (a new session), says the child's pid, waits.
TASK_PROCESS = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[1:], start_new_session=True)
print(child.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    except FileNotFoundError:
        return []


def kill_the_task_process(argv: list[str], env: dict[str, str]) -> int:
    """Start the task process with ``argv`` as its dbt, wait until the stand-in runs, SIGKILL the task
    process. Returns the stand-in's pid."""
    task = subprocess.Popen(
        [sys.executable, "-c", TASK_PROCESS, *argv],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = int(task.stdout.readline())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(cmdline(pid)[0]).name != STAND_IN:
        time.sleep(0.05)
    assert Path(cmdline(pid)[0]).name == STAND_IN, cmdline(pid)
    task.send_signal(signal.SIGKILL)
    assert task.wait(30) == -signal.SIGKILL
    return pid


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.05)
    return not alive(pid)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_dbt_dies_with_its_killed_task_process():
    env = {"CORD_DBT_PYTHON": sys.executable, "CORD_DBT_EXECUTABLE": STAND_IN}
    pid = kill_the_task_process([str(DBT_TASK), "600"], env)  # "600": no command that takes the lock
    assert gone_within(pid, 30), f"dbt (pid {pid}) outlived its task process"


def test_without_it_dbt_outlives_its_killed_task_process():
    """What Cosmos did before: dbt, in a session of its own, went on after the task process died."""
    pid = kill_the_task_process([STAND_IN, "600"], {})
    try:
        assert not gone_within(pid, 2)
    finally:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["--log-format", "json", "build", "--select", "run"], "build"),
        (["--no-partial-parse", "test", "--select", "dim_product"], "test"),
        (["run", "--project-dir", "include/dbt"], "run"),
        (["parse"], "parse"),
        (["--version"], None),
    ],
)
def test_the_command_is_dbt_subcommand_whatever_flags_come_first(args, command):
    assert command_of(args) == command


def test_every_command_that_writes_takes_the_lock():
    assert {"build", "run", "test", "seed", "snapshot"} <= LOCKED_COMMANDS
    assert not {"parse", "deps", "ls", "compile", "docs"} & LOCKED_COMMANDS


COSMOS_PROFILE = """
cord_warehouse:
  outputs:
    airflow:
      type: postgres
      host: db.internal
      port: 6543
      user: cord_etl
      password: "{{ env_var('COSMOS_CONN_POSTGRES_PASSWORD') }}"
      dbname: wh_one
      schema: staging
      threads: 4
      sslmode: require
  target: airflow
"""


def test_the_warehouse_is_the_target_cosmos_wrote(tmp_path, monkeypatch):
    (tmp_path / "profiles.yml").write_text(COSMOS_PROFILE)
    monkeypatch.setenv("COSMOS_CONN_POSTGRES_PASSWORD", "not-a-secret")
    args = ["build", "--profiles-dir", str(tmp_path), "--profile", "cord_warehouse", "--target", "airflow"]
    target = warehouse_of(args)
    assert (target.host, target.port, target.dbname, target.user) == (
        "db.internal",
        6543,
        "wh_one",
        "cord_etl",
    )
    assert target.password == "not-a-secret"
    assert target.extra == {"sslmode": "require"}
    assert "not-a-secret" not in target.where


def test_the_projects_own_profile_reads_cord_warehouse_variables(monkeypatch):
    monkeypatch.setenv("CORD_WAREHOUSE_PORT", "26832")
    monkeypatch.setenv("CORD_WAREHOUSE_DB", "cord_test")
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    target = warehouse_of(["run", "--project-dir", str(REPO / "include" / "dbt")])
    assert (target.port, target.dbname, target.host) == (26832, "cord_test", "127.0.0.1")


def test_a_password_variable_that_is_missing_is_named(tmp_path, monkeypatch):
    (tmp_path / "profiles.yml").write_text(COSMOS_PROFILE)
    monkeypatch.delenv("COSMOS_CONN_POSTGRES_PASSWORD", raising=False)
    with pytest.raises(ProfileError, match="COSMOS_CONN_POSTGRES_PASSWORD"):
        warehouse_of(["build", "--profiles-dir", str(tmp_path), "--profile", "cord_warehouse"])
