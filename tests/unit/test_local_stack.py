"""The local stack refuses to start on a taken port, with a message that says what to do."""

from __future__ import annotations

import socket

import pytest

from devstack.services import Kafka, Ports, StackError


def test_a_taken_port_stops_the_start_with_the_port_and_the_variable(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError) as raised:
            Kafka(Ports(kafka=port), stack_dir=tmp_path).start()
    assert f"[{port}]" in str(raised.value)
    assert "CORD_STACK_KAFKA_PORT" in str(raised.value)
