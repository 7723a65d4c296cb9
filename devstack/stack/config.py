"""What the local stack is made of: its directory, names, ports and generated credentials.

The ports come from ``CORD_STACK_*_PORT`` and the directory from ``CORD_STACK_DIR``, read on import
(``devstack.stacks`` gives the tests' and the benchmark's). Credentials are generated on the first start,
kept in ``secrets.json`` (mode 600) under the stack directory and handed to Airflow only as connections.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STACK_DIR = Path(os.environ.get("CORD_STACK_DIR", REPO / ".stack")).resolve()
HOST = "127.0.0.1"
# Extra options for the stack's JVMs (Kafka, Kafka Connect); the tests' stacks set them (devstack/stacks.py).
JVM_OPTIONS = tuple(os.environ.get("CORD_STACK_JVM_OPTIONS", "").split())
PG_SYSTEM_USER = "embedded_postgres"
WAREHOUSE_DB, WAREHOUSE_ROLE = "cord", "cord_etl"
AIRFLOW_DB, AIRFLOW_ROLE = "airflow", "airflow"
SUPERSET_DB, SUPERSET_ROLE = "superset", "superset"  # Superset's metadata database (superset.py)
BI_READER_ROLE = "bi_reader"  # read-only on the marts (include/sql/setup/bi_reader_role.sql)
SUPERSET_ADMIN = "admin"
BUCKET = "cord-raw"
CONNECTOR = "sqlserver-product-v2"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
CELERY_WORKERS = ("worker-default", "worker-dbt")  # the CeleryExecutor mode's (celery_workers.py)
KAFKA_GROUP = "product-cdc-sync"
KAFKA_USER = "cord_drain"  # the SCRAM user of the cord_kafka connection (kafka.py)


def airflow_command() -> list[str]:
    """``airflow``, with its log servers on loopback (devstack/airflow_cli.py)."""
    return [sys.executable, "-m", "devstack.airflow_cli"]


class StackError(RuntimeError):
    """A service could not be started or is not answering."""


@dataclass(frozen=True)
class Ports:
    """Below Linux's ephemeral range (32768-60999), so no outgoing connection can be holding one."""

    postgres: int = 25432
    kafka: int = 29092  # PLAINTEXT, for the stack's tools
    kafka_sasl: int = 29093  # SASL_SSL, for the pipeline (the cord_kafka connection)
    kafka_controller: int = 29094  # KRaft's controller
    s3: int = 28333  # SeaweedFS also takes s3 + 1 .. s3 + 10 for its internal servers
    connect: int = 28083
    smtp: int = 28025
    redis: int = 26379  # the CeleryExecutor mode's broker (redis.py)
    # Airflow's log servers, on loopback (devstack/airflow_cli.py): the scheduler's (the LocalExecutor's
    # tasks), the triggerer's, and the two Celery workers' (this port and the one above it).
    worker_log: int = 28793
    trigger_log: int = 28794
    celery_logs: int = 28795
    superset: int = 28090  # Superset's web server (superset.py), started only when asked for

    @classmethod
    def from_env(cls) -> Ports:
        values = {}
        for name in cls.__dataclass_fields__:
            raw = os.environ.get(f"CORD_STACK_{name.upper()}_PORT")
            if raw:
                values[name] = int(raw)
        return cls(**values)

    def seaweed(self) -> dict[str, int]:
        base = self.s3
        return {
            "s3": base,
            "master": base + 1,
            "volume": base + 2,
            "filer": base + 3,
            "admin": base + 4,
            "s3.grpc": base + 5,
            "master.grpc": base + 6,
            "volume.grpc": base + 7,
            "filer.grpc": base + 8,
            "admin.grpc": base + 9,
        }


@dataclass(frozen=True)
class Secrets:
    warehouse_password: str
    airflow_db_password: str
    s3_access_key: str
    s3_secret_key: str
    smtp_user: str
    smtp_password: str
    fernet_key: str
    redis_password: str
    kafka_password: str
    superset_db_password: str
    superset_secret_key: str
    superset_admin_password: str
    bi_reader_password: str

    @classmethod
    def load_or_create(cls, stack_dir: Path = STACK_DIR) -> Secrets:
        from cryptography.fernet import Fernet

        path = stack_dir / "secrets.json"
        fresh = {
            "warehouse_password": secrets.token_urlsafe(18),
            "airflow_db_password": secrets.token_urlsafe(18),
            "s3_access_key": "cord" + secrets.token_hex(8),
            "s3_secret_key": secrets.token_urlsafe(24),
            "smtp_user": "airflow-alerts",
            "smtp_password": secrets.token_urlsafe(12),
            # Every Airflow process must share it: the scheduler encrypts what the triggerer decrypts.
            "fernet_key": Fernet.generate_key().decode(),
            "redis_password": secrets.token_urlsafe(24),
            "kafka_password": secrets.token_urlsafe(24),
            "superset_db_password": secrets.token_urlsafe(18),
            # Signs Superset's sessions and encrypts the database passwords it stores.
            "superset_secret_key": secrets.token_urlsafe(42),
            "superset_admin_password": secrets.token_urlsafe(18),
            "bi_reader_password": secrets.token_urlsafe(18),
        }
        known = json.loads(path.read_text()) if path.exists() else {}
        if known.keys() != fresh.keys():
            stack_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps({**fresh, **known}))  # keep what a running stack already uses
        return cls(**{**fresh, **known})
