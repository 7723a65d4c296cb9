"""Kafka: Apache Kafka in KRaft mode (one node, broker and controller), from Maven Central (maven.py).

Three listeners on loopback: PLAINTEXT for the stack's own tools (the generator, topic creation, the
tests' producers), SASL_SSL with SCRAM-SHA-512 over TLS for the pipeline (the ``cord_kafka`` connection,
as a deployment's broker asks), and the KRaft controller. The logs live under ``<stack>/kafka/data``, so
a restart keeps every topic; removing the stack directory (``devstack reset``) empties them, and so does
``Kafka.reset()``, for the tests of a broker whose logs were lost.

The CA and the broker's certificate are generated into ``<stack>/kafka/tls`` on the first start; the
drain's SCRAM credential is set through the Admin API on every start, so its password (in
``secrets.json``) is never in an argv, a config file or the broker's log.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack.stack.config import HOST, JVM_OPTIONS, KAFKA_USER, STACK_DIR, Ports, Secrets, StackError
from devstack.stack.maven import KAFKA, log4j2_properties
from devstack.stack.process import answers_tcp, wait_until
from devstack.stack.service import ProcessService

HEAP = ("-Xms256m", "-Xmx768m")
MECHANISM = "SCRAM-SHA-512"
LOG4J = log4j2_properties(
    {"request": ("kafka.request.logger", "WARN"), "state": ("state.change.logger", "WARN")}
)


class Kafka(ProcessService):
    name = "Kafka"
    port_variable = "CORD_STACK_KAFKA_PORT, CORD_STACK_KAFKA_SASL_PORT and CORD_STACK_KAFKA_CONTROLLER_PORT"
    ready_seconds = 120  # a JVM on a busy machine: 5-15 s when idle

    def __init__(self, ports: Ports, secrets_: Secrets, stack_dir: Path = STACK_DIR) -> None:
        super().__init__("kafka", stack_dir)
        self.port = ports.kafka
        self.sasl_port = ports.kafka_sasl
        self.controller_port = ports.kafka_controller
        self.password = secrets_.kafka_password
        self.root = stack_dir / "kafka"
        self.data = self.root / "data"
        self.tls = self.root / "tls"

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT listener, for the stack's tools."""
        return f"{HOST}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.tls / "ca.pem"

    def client_config(self) -> dict[str, str]:
        """What a client needs to reach the SASL_SSL listener as the drain's user (password included)."""
        return {
            "bootstrap.servers": f"{HOST}:{self.sasl_port}",
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": KAFKA_USER,
            "sasl.password": self.password,
            "ssl.ca.location": str(self.ca_file),
        }

    def ports(self) -> list[int]:
        return [self.port, self.sasl_port, self.controller_port]

    def answers(self) -> bool:
        # TCP first: librdkafka logs every refused connection.
        if not (answers_tcp(self.port) and answers_tcp(self.sasl_port)):
            return False
        from confluent_kafka.admin import AdminClient

        AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
        return True

    def ready(self) -> None:
        """The drain's SCRAM credential (set again on every start: ``secrets.json`` holds the password),
        then a wait until the SASL_SSL listener authenticates with it and the group coordinator serves
        (on a fresh log it first creates ``__consumer_offsets``; until then a drain meets NOT_COORDINATOR
        and retries)."""
        from confluent_kafka import Consumer, TopicPartition
        from confluent_kafka.admin import (
            AdminClient,
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        upsert = UserScramCredentialUpsertion(
            KAFKA_USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), self.password.encode()
        )
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        admin.alter_user_scram_credentials([upsert])[KAFKA_USER].result(timeout=30)

        def serves_groups() -> bool:
            # The drain's first call, from a consumer: the Admin API's offset fetch would wait for a
            # coordinator without having its topic created.
            consumer = Consumer({**self.client_config(), "group.id": "devstack-ready"})
            try:
                consumer.committed([TopicPartition("devstack-ready", 0)], timeout=5)
            finally:
                consumer.close()
            return True

        wait_until(serves_groups, f"{self.name}'s groups over SASL_SSL", self.ready_seconds, self.log)

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.ca_file.exists():
            self._make_certificates()
        (self.root / "log4j2.properties").write_text(LOG4J)
        (self.root / "server.properties").write_text(self._server_properties())
        if not (self.data / "meta.properties").exists():
            self._format()

    def argv(self) -> list[str]:
        return [*self._java(), "kafka.Kafka", str(self.root / "server.properties")]

    def stop(self) -> bool:
        return self.process.stop(timeout=30)  # a clean shutdown spares the next start a log recovery

    def reset(self) -> None:
        """Start again on empty logs, as a wiped cluster: every topic and committed offset is gone."""
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)
        self.start()

    def _java(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "Kafka needs Java 17+: `make stack-up` installs it (or run 'apt-get install "
                "default-jre-headless' as root)"
            )
        log4j = f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}"
        return [java, *HEAP, *JVM_OPTIONS, "-Djava.awt.headless=true", log4j, "-cp", KAFKA.classpath()]

    def _server_properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": 1,
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://{HOST}:{self.port},SASL_SSL://{HOST}:{self.sasl_port},"
                f"CONTROLLER://{HOST}:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port},SASL_SSL://{HOST}:{self.sasl_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "sasl.enabled.mechanisms": MECHANISM,
            # The broker authenticates clients only: no credentials of its own in the JAAS line.
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": self.tls / "broker.pem",
            "log.dirs": self.data,
            # Every topic is created on purpose (the connector's topic.creation, ensure_topic): a
            # misspelt topic never appears by itself.
            "auto.create.topics.enable": "false",
            "num.partitions": 3,
            # The generated events carry the source's timestamps, months back: retention by time would
            # delete them at its next check, and their spread would roll a segment every few records.
            "log.retention.ms": -1,
            "log.roll.ms": 100 * 365 * 24 * 3600 * 1000,
            "message.max.bytes": 16_000_000,  # the connector may send messages over 1 MB (synth/feed.py)
            # One partition each: every group has the same coordinator, which ready() waits for.
            "offsets.topic.num.partitions": 1,
            "transaction.state.log.num.partitions": 1,
            "offsets.topic.replication.factor": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _format(self) -> None:
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid(): else it reads as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        argv = [*self._java(), "kafka.tools.StorageTool", "format", "--cluster-id", cluster_id]
        argv += ["--config", str(self.root / "server.properties")]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(f"Kafka's storage could not be formatted: {(done.stdout + done.stderr)[-2000:]}")

    def _make_certificates(self) -> None:
        """A CA of the stack's and the broker's certificate (127.0.0.1, localhost), both PEM; the broker's
        key is in ``broker.pem`` (mode 600) with its certificate chain, as ``ssl.keystore.type=PEM`` reads."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)

        def certificate(subject, issuer, public_key, signing_key, ca: bool, sans=None):
            builder = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            )
            if sans:
                builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            return builder.sign(signing_key, hashes.SHA256())

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = certificate("cord devstack CA", "cord devstack CA", ca_key.public_key(), ca_key, ca=True)
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
        broker = certificate("cord devstack kafka", "cord devstack CA", key.public_key(), ca_key, False, sans)

        pem = serialization.Encoding.PEM
        self.tls.mkdir(parents=True, exist_ok=True)
        keystore = self.tls / "broker.pem"
        keystore.touch(mode=0o600)
        keystore.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + broker.public_bytes(pem)
            + ca.public_bytes(pem)
        )
        self.ca_file.write_bytes(ca.public_bytes(pem))  # written last: the certificates are complete
