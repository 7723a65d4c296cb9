"""The local stack: real servers from PyPI wheels and Maven Central, on loopback, started and stopped
together.

PostgreSQL (postgres.py), Apache Kafka (kafka.py), S3 (s3.py), a Kafka Connect worker
(connect.py) and an SMTP sink (smtp.py); Airflow's processes (local_airflow.py) and Superset (superset.py)
when asked for. Each runs detached with its log and pid under the stack directory (``.stack/`` by default)
and is waited for until it answers (service.py). What Airflow needs to reach them is handed over as
connections only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from devstack.stack.config import (
    AIRFLOW_COMPONENTS,
    AIRFLOW_DB,
    AIRFLOW_ROLE,
    CELERY_WORKERS,
    HOST,
    KAFKA_GROUP,
    REPO,
    STACK_DIR,
    SUPERSET_ADMIN,
    WAREHOUSE_DB,
    WAREHOUSE_ROLE,
    Ports,
    Secrets,
)
from devstack.stack.connect import KafkaConnect
from devstack.stack.kafka import Kafka
from devstack.stack.postgres import Postgres
from devstack.stack.process import Process, stop_processes
from devstack.stack.redis import Redis
from devstack.stack.s3 import S3
from devstack.stack.smtp import SmtpSink
from devstack.stack.superset import Superset


class Stack:
    def __init__(self, stack_dir: Path = STACK_DIR) -> None:
        self.dir = stack_dir
        self.ports = Ports.from_env()
        self.secrets = Secrets.load_or_create(stack_dir)
        self.postgres = Postgres(self.ports, self.secrets, stack_dir)
        self.kafka = Kafka(self.ports, self.secrets, stack_dir)
        self.s3 = S3(self.ports, self.secrets, stack_dir)
        self.connect = KafkaConnect(self.ports, self.kafka.bootstrap, stack_dir)
        self.smtp = SmtpSink(self.ports, self.secrets, stack_dir)
        # Started by devstack.stack.local_airflow; here so that `down` stops them too.
        self.airflow = {name: Process(f"airflow-{name}", stack_dir) for name in AIRFLOW_COMPONENTS}
        # The CeleryExecutor mode's broker and workers (celery_workers.py), likewise.
        self.redis = Redis(self.ports, self.secrets, stack_dir)
        self.celery_workers = {name: Process(f"airflow-celery-{name}", stack_dir) for name in CELERY_WORKERS}
        # Started only when asked for (`python -m devstack superset`, the demo): it adds a minute to a start.
        self.superset = Superset(self.ports, self.secrets, self.postgres, stack_dir)

    def up(self, superset: bool = False, connect: bool = True) -> None:
        """Start the stack; ``connect=False`` leaves Kafka Connect out, for a caller that produces the
        change events itself and never runs ``check_connector`` (the benchmark's stages)."""
        self.postgres.start()
        self.kafka.start()
        self.s3.start()
        self.s3.ensure_bucket()
        if connect:
            self.connect.start()  # after Kafka: its configuration, offsets and statuses are topics there
        self.smtp.start()
        if superset:
            self.superset.start()

    def down(self) -> None:
        # Before PostgreSQL, their metadata database, and Redis, the Celery workers' broker.
        stopped = stop_processes([*self.airflow.values(), *self.celery_workers.values()])
        if stopped:
            print(f"stopped {', '.join(stopped)}")
        for service in (
            self.superset,
            self.redis,
            self.smtp,
            self.connect,
            self.s3,
            self.kafka,
            self.postgres,
        ):
            service.stop()

    def reset_kafka(self) -> None:
        """A wiped cluster: Kafka on empty logs, and Kafka Connect started again on them. A worker whose
        configuration, offset and status topics vanish under it logs every failed fetch, for ever."""
        self.connect.stop()
        self.kafka.reset()
        self.connect.start()  # new topics, and the demo connector registered again

    def reset(self) -> None:
        """Stop everything and delete the stack's data (a fresh stack starts on the next ``up``)."""
        self.down()
        if self.dir.exists():
            shutil.rmtree(self.dir)

    # -- how Airflow reaches it ------------------------------------------------------------------

    def connections_apart(self, database: str, group: str) -> dict[str, str]:
        """A warehouse database and a Kafka consumer group of their own, for a test or a benchmark: the
        ``AIRFLOW_CONN_*`` variables that point the pipeline at them (the database is created here)."""
        self.postgres.psql(
            f"create database {database}; grant connect, create, temporary on database {database} "
            f"to {WAREHOUSE_ROLE};"
        )
        connections = self.connections()
        connections["cord_warehouse"]["schema"] = database
        connections["cord_kafka"]["extra"]["group.id"] = group
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(c) for conn_id, c in connections.items()}

    def connections(self) -> dict[str, dict]:
        s = self.secrets
        return {
            "cord_warehouse": {
                "conn_type": "postgres",
                "host": HOST,
                "port": self.ports.postgres,
                "login": WAREHOUSE_ROLE,
                "password": s.warehouse_password,
                "schema": WAREHOUSE_DB,
            },
            "cord_kafka": {
                "conn_type": "kafka",
                # The SASL_SSL listener, as a deployment's broker asks: user, password and CA.
                "extra": {**self.kafka.client_config(), "group.id": KAFKA_GROUP},
            },
            "cord_minio": {
                "conn_type": "aws",
                "login": s.s3_access_key,
                "password": s.s3_secret_key,
                "extra": {"endpoint_url": self.s3.endpoint, "region_name": "us-east-1"},
            },
            "cord_kafka_connect": {
                "conn_type": "http",
                "host": HOST,
                "port": self.ports.connect,
                "schema": "http",
            },
            "cord_smtp": {
                "conn_type": "smtp",
                "host": HOST,
                "port": self.ports.smtp,
                "login": s.smtp_user,
                "password": s.smtp_password,
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": "airflow@cord.local",
                    "timeout": 10,
                },
            },
            "cord_superset": {
                "conn_type": "http",
                "host": HOST,
                "port": self.ports.superset,
                "schema": "http",
                "login": SUPERSET_ADMIN,
                "password": s.superset_admin_password,
            },
        }

    def connect_warehouse(self, database: str | None = None, **options):
        """A psycopg connection as the pipeline's warehouse role (to ``database`` when given)."""
        import psycopg

        c = self.connections()["cord_warehouse"]
        return psycopg.connect(
            host=c["host"],
            port=c["port"],
            user=c["login"],
            password=c["password"],
            dbname=database or c["schema"],
            **options,
        )

    def dbt_env(self, database: str | None = None) -> dict[str, str]:
        """The variables include/dbt/profiles.yml reads, for the warehouse (``database`` when given)."""
        c = self.connections()["cord_warehouse"]
        return {
            "CORD_WAREHOUSE_HOST": c["host"],
            "CORD_WAREHOUSE_PORT": str(c["port"]),
            "CORD_WAREHOUSE_USER": c["login"],
            "CORD_WAREHOUSE_PASSWORD": c["password"],
            "CORD_WAREHOUSE_DB": database or c["schema"],
        }

    def airflow_env(self) -> dict[str, str]:
        """Environment for Airflow processes (CLI, scheduler, tests) that use this stack."""
        home = self.dir / "airflow"
        env = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://{AIRFLOW_ROLE}:{self.secrets.airflow_db_password}"
                f"@{HOST}:{self.ports.postgres}/{AIRFLOW_DB}"
            ),
            "AIRFLOW__CORE__FERNET_KEY": self.secrets.fernet_key,
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            # Where Cosmos keeps dbt's partial parse from one dbt task to the next: the stack's own, as dbt
            # reuses a parse only on the connection it was made with (this stack's port).
            "AIRFLOW__COSMOS__CACHE_DIR": str(self.dir / "cosmos-cache"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONPATH": str(REPO),
            # glibc's default of 8 malloc arenas per core keeps freed batch buffers of the worker threads
            # mapped: two arenas hold a million-event load under 400 MB (docs/benchmark.md, Memory).
            "MALLOC_ARENA_MAX": "2",
            "PRODUCT_CDC_ALERT_RECIPIENTS": "data-alerts@cord.local",
            "PRODUCT_CDC_ALERT_FROM": "airflow@cord.local",
        }
        for conn_id, fields in self.connections().items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(fields)
        return env
