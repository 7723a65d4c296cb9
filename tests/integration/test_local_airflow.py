"""`make airflow` as a user meets it: it says where the UI is once every component is healthy, and Ctrl-C
or `python -m devstack down` leaves no Airflow process and no listening port behind (and keeps the
stack's data: Kafka's logs).

The stack here is a private one (its own directory and ports): `down` stops every service of a stack,
and the session's stack must stay up for the other tests.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from devstack.demo import ensure_airflow_db
from devstack.stack.config import REPO, StackError
from devstack.stack.local_airflow import AirflowServices
from devstack.stack.process import port_is_free
from devstack.stacks import stack_env

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

LIFECYCLE_STACK = stack_env("lifecycle")
AIRFLOW_PORT = int(LIFECYCLE_STACK["CORD_STACK_AIRFLOW_PORT"])
SERVICE_PORTS = [int(v) for k, v in LIFECYCLE_STACK.items() if k.endswith("_PORT") and "AIRFLOW" not in k]


@pytest.fixture
def private_stack():
    env = {**os.environ, **LIFECYCLE_STACK}
    devstack("up", env=env)
    yield env
    devstack("down", env=env)


def devstack(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "devstack", *args]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def start_make_airflow(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """What `make airflow` runs, once it has said where the UI is."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "devstack", "airflow"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    said = []
    for line in serve.stdout:  # ends when it exits; its own readiness limit bounds the wait
        said.append(line)
        if up := re.search(r"Airflow is up at (\S+)", line):
            return serve, up.group(1)
    output = "".join(said)[-3000:]
    pytest.fail(f"`devstack airflow` exited with {serve.wait()} before Airflow was up:\n{output}")


def airflow_processes(stack_dir: str) -> list[psutil.Process]:
    found = []
    for pid_file in (Path(stack_dir) / "run").glob("airflow-*.pid"):
        leader = psutil.Process(int(pid_file.read_text()))
        found += [leader, *leader.children(recursive=True)]
    return found


def still_running(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return alive


def test_ctrl_c_and_down_each_leave_no_airflow_process_and_no_port(private_stack):
    env = private_stack
    serve, url = start_make_airflow(env)
    try:
        assert url == f"http://127.0.0.1:{AIRFLOW_PORT}"
        health = requests.get(f"{url}/api/v2/monitor/health", timeout=10).json()
        assert {health[c]["status"] for c in ("metadatabase", "scheduler", "dag_processor", "triggerer")} == {
            "healthy"
        }
        processes = airflow_processes(env["CORD_STACK_DIR"])
        assert len(processes) >= 4

        serve.send_signal(signal.SIGINT)  # Ctrl-C
        assert serve.wait(timeout=120) == 0
        assert still_running(processes) == []
        assert port_is_free(AIRFLOW_PORT)

        # The port is free again, so a second start works; `down` stops it from another shell.
        serve, url = start_make_airflow(env)
        processes = airflow_processes(env["CORD_STACK_DIR"])
        stopped = devstack("down", env=env)
        assert "stopped airflow-api-server, airflow-scheduler, airflow-dag-processor, airflow-triggerer" in (
            stopped.stdout
        )
        serve.wait(timeout=120)
        assert still_running(processes) == []
        assert port_is_free(AIRFLOW_PORT)
        assert all(port_is_free(port) for port in SERVICE_PORTS)
        assert (Path(env["CORD_STACK_DIR"]) / "kafka" / "data" / "meta.properties").exists()  # logs kept
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)


def test_a_failed_start_stops_every_process_it_started(stack):
    ensure_airflow_db(stack)
    services = AirflowServices(stack, extra_env={"AIRFLOW__CORE__EXECUTOR": "NoSuchExecutor"})
    with pytest.raises(StackError, match="exited while starting"):
        services.start()
    assert all(process.pid() is None for process in services.processes.values())
    assert port_is_free(services.port)
