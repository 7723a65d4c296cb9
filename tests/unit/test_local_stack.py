"""The local stack refuses to start on a taken port, with a message that says what to do, and stops
every process it started."""

from __future__ import annotations

import os
import re
import shlex
import socket
from pathlib import Path

import pytest

from devstack.stack.config import Ports, Secrets, StackError
from devstack.stack.connect import KafkaConnect
from devstack.stack.kafka import Kafka
from devstack.stack.maven import DEBEZIUM_VERSION
from devstack.stack.process import Process, stop_processes, wait_until
from devstack.stacks import QUICK_JVM, WORKER_PORT_STEP, stack_env, worker_env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_taken_port_stops_the_start_with_the_port_and_the_variable(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # Kafka's other two ports free, not the defaults: a developer's running stack holds those.
        ports = Ports(kafka=port, kafka_sasl=_free_port(), kafka_controller=_free_port())
        with pytest.raises(StackError) as raised:
            Kafka(ports, Secrets.load_or_create(tmp_path), tmp_path).start()
    assert f"[{port}]" in str(raised.value)
    assert "CORD_STACK_KAFKA_PORT" in str(raised.value)


def test_stopping_a_process_stops_what_it_started_even_in_a_session_of_its_own(tmp_path):
    """As a task process or a dbt subprocess under the scheduler: reparented once its parent exits."""
    psutil = pytest.importorskip("psutil")
    grandchild_pid = tmp_path / "grandchild.pid"
    parent = Process("parent", tmp_path)
    parent.start(["sh", "-c", f"setsid sleep 600 & echo $! > {grandchild_pid}; wait"])
    wait_until(lambda: grandchild_pid.read_text().strip() != "", "the grandchild", 30)
    grandchild = psutil.Process(int(grandchild_pid.read_text()))
    wait_until(lambda: os.getsid(grandchild.pid) == grandchild.pid, "the grandchild's own session", 30)

    assert stop_processes([parent, Process("never-started", tmp_path)]) == ["parent"]

    assert parent.pid() is None
    assert not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_redis_answers_only_with_its_password_which_is_in_no_argv_or_log(tmp_path, monkeypatch):
    """Debian's redis-server (make test installs it), as the CeleryExecutor mode starts it."""
    from devstack.stack import Stack

    monkeypatch.setenv("CORD_STACK_REDIS_PORT", str(free_port()))
    redis = Stack(tmp_path).redis
    redis.start()
    try:
        assert redis.answers()
        with socket.create_connection(("127.0.0.1", redis.port), timeout=10) as client:
            client.sendall(b"PING\r\n")
            assert client.recv(100).startswith(b"-NOAUTH")
        pid = redis.process.pid()
        assert redis.password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert (tmp_path / "redis" / "redis.conf").stat().st_mode & 0o077 == 0
    finally:
        assert redis.stop()
    assert redis.password not in redis.process.log.read_text()
    assert redis.process.pid() is None


def test_the_executor_is_local_unless_celery_is_asked_for(tmp_path, monkeypatch):
    from devstack.stack import Stack
    from devstack.stack.celery_workers import from_env

    stack = Stack(tmp_path)
    monkeypatch.delenv("CORD_AIRFLOW_EXECUTOR", raising=False)
    assert from_env(stack) is None
    monkeypatch.setenv("CORD_AIRFLOW_EXECUTOR", "celery")
    monkeypatch.setenv("PRODUCT_CDC_DBT_QUEUE", "dbt-large")
    workers = from_env(stack)
    assert [(w.queue, w.name) for w in workers.workers] == [
        ("default", "worker-default"),
        ("dbt-large", "worker-dbt"),
    ]
    assert workers.environment()["PRODUCT_CDC_DBT_QUEUE"] == "dbt-large"
    assert workers.environment()["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    monkeypatch.setenv("CORD_AIRFLOW_EXECUTOR", "kubernetes")
    with pytest.raises(StackError, match="CORD_AIRFLOW_EXECUTOR"):
        from_env(stack)


# A tuning knob of the pipeline's own (PRODUCT_CDC_*), with the default the DAG uses: not the warehouse's.
PROFILE_SETTINGS = {"PRODUCT_CDC_DBT_THREADS"}


def test_env_prints_what_a_shell_dbt_build_reads_from_profiles_yml(capsys):
    """`eval "$(python -m devstack env)"` gives dbt in that shell exactly the variables profiles.yml reads."""
    from devstack.__main__ import main
    from devstack.stack import Stack
    from devstack.stack.config import REPO

    profile = (REPO / "include" / "dbt" / "profiles.yml").read_text()
    reads = set(re.findall(r"env_var\(\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]", profile))
    assert "CORD_WAREHOUSE_PASSWORD" in reads  # the pattern finds what profiles.yml reads

    assert main(["env"]) == 0
    printed = {}
    for line in capsys.readouterr().out.splitlines():
        export, assignment = shlex.split(line)  # one `export NAME=value` a line, quoted for the shell
        assert export == "export"
        name, _, value = assignment.partition("=")
        printed[name] = value
    assert {name for name in printed if name.startswith("CORD_WAREHOUSE_")} == reads - PROFILE_SETTINGS
    assert {name: printed[name] for name in reads - PROFILE_SETTINGS} == Stack().dbt_env()


def test_the_pipeline_reaches_kafka_over_sasl_ssl_as_the_drain_user(tmp_path, monkeypatch):
    """The cord_kafka connection names the SASL_SSL listener, the stack's CA and the user's password, so
    the drain meets the authentication a deployment's broker asks for; the secrets file is the user's only."""
    from devstack.stack import Stack

    monkeypatch.setenv("CORD_STACK_KAFKA_SASL_PORT", "29993")
    stack = Stack(tmp_path)
    extra = stack.connections()["cord_kafka"]["extra"]
    assert extra["bootstrap.servers"] == "127.0.0.1:29993"
    assert (extra["security.protocol"], extra["sasl.mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (extra["sasl.username"], extra["sasl.password"]) == ("cord_drain", stack.secrets.kafka_password)
    assert extra["ssl.ca.location"] == str(tmp_path / "kafka" / "tls" / "ca.pem")
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_kafka_connect_listens_on_loopback_and_keeps_its_topics_on_the_stacks_broker(tmp_path):
    """The worker's files, as prepared before its start: no server is started here."""
    worker = KafkaConnect(Ports(connect=28999), "127.0.0.1:29999", tmp_path)
    worker.prepare()
    properties = dict(
        line.split("=", 1) for line in (tmp_path / "connect" / "worker.properties").read_text().splitlines()
    )
    assert properties["listeners"] == "http://127.0.0.1:28999"
    assert properties["rest.advertised.host.name"] == "127.0.0.1"
    assert properties["bootstrap.servers"] == "127.0.0.1:29999"
    for kind in ("config", "offset", "status"):
        assert properties[f"{kind}.storage.replication.factor"] == "1"
    plugins = Path(properties["plugin.path"])
    assert plugins.is_relative_to(tmp_path)
    debezium = {jar.name for jar in (plugins / "debezium-connector-sqlserver").iterdir()}
    assert f"debezium-connector-sqlserver-{DEBEZIUM_VERSION}.jar" in debezium
    assert not any(name.startswith(("kafka-clients", "connect-api")) for name in debezium)  # the worker's own
    assert (plugins / "cord-idle-source" / "cord" / "devstack" / "IdleSourceConnector.class").is_file()
    assert "-Xmx512m" in worker.argv()
    assert set(QUICK_JVM.split()) <= set(worker.argv())  # the tests' stack (tests/conftest.py)


def test_runs_on_new_changes_go_with_scheduled_runs(tmp_path):
    """The scheduler creates asset-triggered runs only with its job schedule on: without it, a watcher
    in the triggerer would ask Kafka for runs that never start. A test may still turn it on."""
    from devstack.stack import Stack
    from devstack.stack.local_airflow import AirflowServices

    stack = Stack(tmp_path)
    off = AirflowServices(stack).environment()
    assert (off["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"], off["PRODUCT_CDC_RUN_ON_NEW_CHANGES"]) == (
        "False",
        "false",
    )
    on = AirflowServices(stack, scheduled_runs=True).environment()
    assert (on["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"], on["PRODUCT_CDC_RUN_ON_NEW_CHANGES"]) == (
        "True",
        "true",
    )
    asked = AirflowServices(stack, extra_env={"PRODUCT_CDC_RUN_ON_NEW_CHANGES": "true"}).environment()
    assert asked["PRODUCT_CDC_RUN_ON_NEW_CHANGES"] == "true"


class _Answer:
    def __init__(self, status_code: int, body: dict | None = None) -> None:
        self.status_code, self.body = status_code, body or {}

    def json(self) -> dict:
        return self.body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


@pytest.mark.parametrize("deadlocks", [0, 1, 2])
def test_the_due_cron_run_is_failed_again_while_paused_after_a_deadlock(tmp_path, monkeypatch, deadlocks):
    """The API's update of a run the scheduler is scheduling can end in a PostgreSQL deadlock (HTTP 500):
    it is asked again once, with the DAG paused so that the scheduler leaves the run alone, and
    unpaused after. A second 500 is an error."""
    from datetime import UTC, datetime

    from devstack.stack import Stack, local_airflow

    airflow = local_airflow.AirflowServices(Stack(tmp_path))
    state = {"run": "running"}
    calls = []

    def patch(url, json, timeout):
        calls.append((url.rsplit("/", 1)[-1], json))
        if "is_paused" in json:
            return _Answer(200)
        if sum("state" in body for _, body in calls) <= deadlocks:
            return _Answer(500)
        state["run"] = "failed"
        return _Answer(200)

    monkeypatch.setattr(local_airflow.requests, "patch", patch)
    monkeypatch.setattr(
        local_airflow.requests, "get", lambda url, timeout: _Answer(200, {"next_dagrun_run_after": None})
    )
    monkeypatch.setattr(airflow, "runs_of", lambda *_: [{"dag_run_id": "scheduled__1"}])
    monkeypatch.setattr(airflow, "run_state", lambda *_: state["run"])

    if deadlocks == 2:
        with pytest.raises(RuntimeError, match="HTTP 500"):
            airflow.fail_the_due_cron_run("d", datetime.now(UTC))
    else:
        airflow.fail_the_due_cron_run("d", datetime.now(UTC))
        assert state["run"] == "failed"
    failed, paused, unpaused = {"state": "failed"}, {"is_paused": True}, {"is_paused": False}
    expected = [("scheduled__1", failed)]
    if deadlocks:
        expected += [("d", paused), ("scheduled__1", failed), ("d", unpaused)]
    assert calls == expected


def test_a_parallel_worker_s_stack_moves_its_ports_and_folder_and_keeps_the_rest():
    first = stack_env("tests")
    second = worker_env(first, 1)
    ports = [name for name in first if name.endswith("_PORT")]
    assert all(int(second[name]) == int(first[name]) + WORKER_PORT_STEP for name in ports)
    assert second["CORD_STACK_DIR"] == first["CORD_STACK_DIR"] + "-worker1"
    assert second["CORD_STACK_JVM_OPTIONS"] == first["CORD_STACK_JVM_OPTIONS"] == QUICK_JVM
    assert "CORD_STACK_JVM_OPTIONS" not in stack_env("bench")  # its figures: the JVM's defaults
