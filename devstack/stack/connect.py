"""Kafka Connect: a real worker in distributed mode, with Debezium's SQL Server connector on its plugin path.

Its configuration, offsets and statuses live in topics of the stack's broker, so connectors survive a
restart of the worker like they do in the astro dev stack. SQL Server cannot run here, so the demo
connector (``CONNECTOR``) is not Debezium's: it is ``IdleSourceConnector`` (``idle_source/``, compiled
into the plugin path on start), whose one task runs and produces nothing, so that the DAG's connector
check passes against the worker's own answers. The generator (devstack/synth) plays Debezium by writing
its change events to Kafka directly.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from devstack.stack.config import CONNECTOR, HOST, JVM_OPTIONS, STACK_DIR, Ports, StackError
from devstack.stack.maven import DEBEZIUM_SQLSERVER, KAFKA, log4j2_properties
from devstack.stack.service import ProcessService

DEBEZIUM_CLASS = "io.debezium.connector.sqlserver.SqlServerConnector"
IDLE_CLASS = "cord.devstack.IdleSourceConnector"
IDLE_CONFIG = {"connector.class": IDLE_CLASS, "tasks.max": "1"}
IDLE_SOURCE = Path(__file__).resolve().parent / "idle_source"
GROUP = "cord-connect"
TOPICS = {"config": "connect-configs", "offset": "connect-offsets", "status": "connect-status"}

# the plugin scan reports every class it cannot load
LOG4J2 = log4j2_properties({"reflections": ("org.reflections", "ERROR")})


class KafkaConnect(ProcessService):
    name = "Kafka Connect"
    port_variable = "CORD_STACK_CONNECT_PORT"
    ready_seconds = 240  # a JVM that scans its plugin path and joins its group, on a busy machine

    def __init__(self, ports: Ports, bootstrap: str, stack_dir: Path = STACK_DIR) -> None:
        super().__init__("kafka-connect", stack_dir)
        self.port = ports.connect
        self.bootstrap = bootstrap
        self.folder = stack_dir / "connect"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def answers(self) -> bool:
        """The REST listener opens before the worker has joined its group; until then it answers 5xx."""
        import requests

        plugins = requests.get(f"{self.url}/connector-plugins", timeout=5)
        known = {plugin["class"] for plugin in plugins.json()} if plugins.status_code == 200 else set()
        return {DEBEZIUM_CLASS, IDLE_CLASS} <= known and self.request("GET", "/connectors").status_code == 200

    def prepare(self) -> None:
        plugins = self.folder / "plugins"
        if plugins.exists():
            shutil.rmtree(plugins)  # rebuilt each start: the Maven cache or the idle connector may have moved
        debezium = plugins / "debezium-connector-sqlserver"
        debezium.mkdir(parents=True)
        for jar in DEBEZIUM_SQLSERVER.jars():
            (debezium / jar.name).symlink_to(jar)
        self._compile_idle_source(plugins / "cord-idle-source")
        (self.folder / "log4j2.properties").write_text(LOG4J2)
        worker = {
            "bootstrap.servers": self.bootstrap,
            "group.id": GROUP,
            "listeners": f"http://{HOST}:{self.port}",
            "rest.advertised.host.name": HOST,
            "rest.advertised.port": str(self.port),
            "plugin.path": str(plugins),
            # Plugins declare themselves (META-INF/services) instead of being found by a scan of every
            # class: a faster start, and less memory.
            "plugin.discovery": "service_load",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "offset.flush.interval.ms": "10000",
        }
        for kind, topic in TOPICS.items():
            worker[f"{kind}.storage.topic"] = topic
            worker[f"{kind}.storage.replication.factor"] = "1"
        worker["offset.storage.partitions"] = worker["status.storage.partitions"] = "1"
        (self.folder / "worker.properties").write_text("".join(f"{k}={v}\n" for k, v in worker.items()))

    def _compile_idle_source(self, target: Path) -> None:
        javac = shutil.which("javac")
        if javac is None:
            raise StackError("Kafka Connect's demo connector is compiled on start: install a JDK (javac)")
        sources = [str(path) for path in sorted(IDLE_SOURCE.rglob("*.java"))]
        argv = [javac, "-nowarn", "-cp", KAFKA.classpath(), "-d", str(target), *sources]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"could not compile {IDLE_SOURCE}:\n{done.stderr}")
        shutil.copytree(IDLE_SOURCE / "META-INF", target / "META-INF")  # found by service_load

    def argv(self) -> list[str]:
        return [
            "java",
            "-Xmx512m",
            "-XX:+UseSerialGC",  # one small worker: G1's threads and regions cost more than they give
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.folder / 'log4j2.properties'}",
            "-cp",
            KAFKA.classpath(),
            "org.apache.kafka.connect.cli.ConnectDistributed",
            str(self.folder / "worker.properties"),
        ]

    def ready(self) -> None:
        self.ensure_demo_connector()

    def request(self, method: str, path: str, body: object | None = None):
        import requests

        return requests.request(method, f"{self.url}{path}", json=body, timeout=30)

    def ensure_demo_connector(self, timeout: float = 120) -> None:
        """Register the demo connector (idempotent) and wait until it and its task are RUNNING."""
        answer = self.request("PUT", f"{rest_path(CONNECTOR)}/config", IDLE_CONFIG)
        if answer.status_code not in (200, 201):
            raise StackError(f"Kafka Connect refused the demo connector {CONNECTOR!r}: {answer.text}")
        self.wait_for_status(CONNECTOR, running, timeout)

    def wait_for_status(
        self, connector: str, wanted: Callable[[int, object], bool], timeout: float
    ) -> object:
        """Poll the status until ``wanted(status_code, body)`` and return that body, until a deadline."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.request("GET", f"{rest_path(connector)}/status")
            body = (
                answer.json()
                if answer.headers.get("Content-Type", "").startswith("application/json")
                else answer.text
            )
            if wanted(answer.status_code, body):
                return body
            if time.monotonic() > deadline:
                raise StackError(
                    f"connector {connector!r}: no such status within {timeout:g} s; last: {body}"
                )
            time.sleep(0.1)  # a restart shows RESTARTING for about a second


def rest_path(connector: str) -> str:
    return f"/connectors/{quote(connector, safe='')}"


def running(status_code: int, body: object) -> bool:
    """The connector and its tasks, one at least, are RUNNING."""
    if status_code != 200 or not isinstance(body, dict):
        return False
    tasks = body["tasks"]
    return (
        body["connector"]["state"] == "RUNNING"
        and bool(tasks)
        and all(t["state"] == "RUNNING" for t in tasks)
    )


def in_state(state: str) -> Callable[[int, object], bool]:
    """The connector is in ``state`` and so is each of its tasks (a STOPPED connector has none)."""

    def wanted(status_code: int, body: object) -> bool:
        if status_code != 200 or not isinstance(body, dict):
            return False
        return body["connector"]["state"] == state and all(t["state"] == state for t in body["tasks"])

    return wanted
