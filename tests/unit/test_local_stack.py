"""The local stack refuses to start on a taken port, with a message that says what to do, and stops
every process it started."""

from __future__ import annotations

import os
import socket

import pytest

from devstack.stack.config import Ports, StackError
from devstack.stack.kafka import Kafka
from devstack.stack.process import Process, stop_processes, wait_until


def test_a_taken_port_stops_the_start_with_the_port_and_the_variable(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError) as raised:
            Kafka(Ports(kafka=port), stack_dir=tmp_path).start()
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
