"""Apache Superset on the local stack: the marts' dashboard, from the bundle in ``include/superset``.

Superset runs from a venv of its own (superset_venv.py) under gunicorn, on loopback. Its metadata
database is a database of the stack's PostgreSQL; its configuration, ``superset_config.py`` in the stack
directory (mode 600), is written on every start from the stack's ``secrets.json``. The first start
migrates the metadata database, creates the ``admin`` user (its password goes to Superset on stdin,
never on a command line) and sets up Superset's roles; every start imports the bundle through the
REST API, overwriting what an earlier import made, with the warehouse's URI of this stack and the
password of ``bi_reader`` (the read-only role) passed beside the bundle, never inside it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import requests

from devstack.stack import superset_venv
from devstack.stack.config import (
    BI_READER_ROLE,
    HOST,
    REPO,
    STACK_DIR,
    SUPERSET_ADMIN,
    SUPERSET_DB,
    SUPERSET_ROLE,
    WAREHOUSE_DB,
    WAREHOUSE_ROLE,
    Ports,
    Secrets,
    StackError,
)
from devstack.stack.postgres import Postgres
from devstack.stack.service import ProcessService
from devstack.superset import bundle

DATABASE_NAME = "Cord warehouse"  # the bundle's database (include/superset/databases)
# Cached chart data lives a day, so that what a dashboard showed stays reproducible while the marts
# change underneath (a chart's data API with ?force=true reads the warehouse). The team's deployment
# uses 300 s.
CACHE_SECONDS = 24 * 3600
API_TIMEOUT = 60


def config_text(stack_dir: Path, port: int, postgres_port: int, secrets_: Secrets) -> str:
    """``superset_config.py`` (it holds the secret key and the metadata database's password)."""
    metadata_uri = (
        f"postgresql+psycopg2://{SUPERSET_ROLE}:{secrets_.superset_db_password}"
        f"@{HOST}:{postgres_port}/{SUPERSET_DB}"
    )
    cache = stack_dir / "superset" / "cache"
    return f'''"""Written by devstack (devstack/stack/superset.py) on every start: edits are lost."""

SECRET_KEY = {secrets_.superset_secret_key!r}
SQLALCHEMY_DATABASE_URI = {metadata_uri!r}
SUPERSET_WEBSERVER_ADDRESS = {HOST!r}
SUPERSET_WEBSERVER_PORT = {port}
# Chart data and Superset's metadata cache on disk, a day long: a dashboard shows the same numbers until
# the cache expires or a chart is refreshed, so what a test or a person saw can be seen again. The team's
# deployment uses CACHE_DEFAULT_TIMEOUT 300 (5 minutes).
DATA_CACHE_CONFIG = {{
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": {str(cache / "data")!r},
    "CACHE_DEFAULT_TIMEOUT": {CACHE_SECONDS},
    "CACHE_KEY_PREFIX": "cord_data_",
}}
CACHE_CONFIG = {{
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": {str(cache / "metadata")!r},
    "CACHE_DEFAULT_TIMEOUT": {CACHE_SECONDS},
    "CACHE_KEY_PREFIX": "cord_meta_",
}}
RATELIMIT_STORAGE_URI = "memory://"
# No example data: nothing runs `superset load-examples`; the dashboard is include/superset's.
'''


class Superset(ProcessService):
    name = "Superset"
    port_variable = "CORD_STACK_SUPERSET_PORT"
    ready_seconds = 240  # importing Superset takes a minute on a busy 2-core machine
    # One gunicorn worker with threads: a second worker doubled the start's CPU time on 2 cores for
    # a dashboard with one user.
    workers = 1

    def __init__(
        self, ports: Ports, secrets_: Secrets, postgres: Postgres, stack_dir: Path = STACK_DIR
    ) -> None:
        super().__init__("superset", stack_dir)
        self.port = ports.superset
        self.postgres_port = ports.postgres
        self.secrets = secrets_
        self.postgres = postgres
        self.dir = stack_dir
        self.home = stack_dir / "superset"
        self.config_file = self.home / "superset_config.py"
        self.cwd = self.home

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def env(self) -> dict[str, str]:
        # Started from a shell or a test that holds the stack's connections, Superset would inherit
        # every credential of the stack: those variables are emptied for it.
        inherited = {
            name: ""
            for name in os.environ
            if name.startswith(("AIRFLOW_CONN_", "AIRFLOW__")) or name == "CORD_WAREHOUSE_PASSWORD"
        }
        return {
            **inherited,
            "SUPERSET_CONFIG_PATH": str(self.config_file),
            "SUPERSET_HOME": str(self.home),
            "PYTHONPATH": "",  # the repo's modules are Airflow's, not Superset's
        }

    def _bin(self, program: str) -> str:
        return str(superset_venv.ensure() / "bin" / program)

    def prepare(self) -> None:
        venv = superset_venv.ensure()
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.touch(mode=0o600)
        self.config_file.chmod(0o600)
        self.config_file.write_text(config_text(self.dir, self.port, self.postgres_port, self.secrets))
        self.ensure_databases()
        marker = self.home / ".initialised"
        if marker.exists() and marker.read_text() == venv.name:
            return
        self.superset("db", "upgrade")
        self.superset(
            "fab", "create-admin", "--username", SUPERSET_ADMIN, "--firstname", "Cord", "--lastname",
            "Admin", "--email", "admin@cord.local",
            stdin=f"{self.secrets.superset_admin_password}\n" * 2,
        )  # fmt: skip
        self.superset("init")
        marker.write_text(venv.name)

    def ensure_databases(self) -> None:
        """Superset's metadata database and role, and ``bi_reader`` on the warehouse (idempotent)."""
        s = self.secrets
        self.postgres.psql(f"""
            select format('create role {SUPERSET_ROLE} login password %L', '{s.superset_db_password}')
            where not exists (select from pg_roles where rolname = '{SUPERSET_ROLE}') \\gexec
            select 'create database {SUPERSET_DB} owner {SUPERSET_ROLE}'
            where not exists (select from pg_database where datname = '{SUPERSET_DB}') \\gexec
        """)
        self.grant_bi_reader(WAREHOUSE_DB)

    def grant_bi_reader(self, database: str) -> None:
        """``bi_reader`` as the README tells an administrator to set it up, on ``database``."""
        script = REPO / "include" / "sql" / "setup" / "bi_reader_role.sql"
        self.postgres.psql(
            f"\\set role {BI_READER_ROLE}\n\\set owner {WAREHOUSE_ROLE}\n\\set database {database}\n"
            f"\\set password '{self.secrets.bi_reader_password}'\n\\i {script}\n",
            database=database,
        )

    def superset(self, *args: str, stdin: str | None = None) -> None:
        """A Superset command, its output to Superset's log (credentials only on stdin)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            done = subprocess.run(
                [self._bin("superset"), *args],
                input=(stdin or "").encode(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env()},
                cwd=self.home,
                check=False,
            )
        if done.returncode != 0:
            raise StackError(
                f"`superset {args[0]} {args[1] if len(args) > 1 else ''}` failed; see {self.log}"
            )

    def argv(self) -> list[str]:
        return [
            self._bin("gunicorn"),
            "--bind", f"{HOST}:{self.port}",
            "--workers", str(self.workers),
            "--threads", "4",
            "--worker-class", "gthread",
            "--timeout", "120",
            "--limit-request-line", "0",
            "--limit-request-field_size", "0",
            "--no-control-socket",  # else a socket in ~/.gunicorn, shared by every stack
            "--graceful-timeout", "5",  # a browser's keep-alive connection held a stop for 10 s
            "superset.app:create_app()",
        ]  # fmt: skip

    def ready(self) -> None:
        self.import_bundle()

    # -- the REST API -----------------------------------------------------------------------------

    def session(self) -> requests.Session:
        """A session logged in as ``admin`` (JWT), with the CSRF token Superset's writes ask for."""
        session = requests.Session()
        login = {
            "username": SUPERSET_ADMIN,
            "password": self.secrets.superset_admin_password,
            "provider": "db",
            "refresh": False,
        }
        response = session.post(f"{self.url}/api/v1/security/login", json=login, timeout=API_TIMEOUT)
        if response.status_code != 200:
            raise StackError(f"Superset refused the admin login: HTTP {response.status_code}")
        session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        csrf = session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=API_TIMEOUT)
        csrf.raise_for_status()
        session.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": self.url})
        return session

    def warehouse_uri(self, database: str = WAREHOUSE_DB) -> str:
        """The "Cord warehouse" connection's URI, password masked the way Superset's exports write it."""
        return f"postgresql+psycopg2://{BI_READER_ROLE}:{bundle.MASK}@{HOST}:{self.postgres_port}/{database}"

    def import_bundle(self, database: str = WAREHOUSE_DB) -> None:
        """Import ``include/superset`` (overwriting), its database pointed at ``database``."""
        passwords = dict.fromkeys(bundle.database_files(), self.secrets.bi_reader_password)
        zipped = bundle.build(sqlalchemy_uri=self.warehouse_uri(database))
        response = self.session().post(
            f"{self.url}/api/v1/assets/import/",
            files={"bundle": ("cord_superset_bundle.zip", zipped, "application/zip")},
            data={"passwords": json.dumps(passwords)},
            timeout=API_TIMEOUT * 3,
        )
        if response.status_code != 200:
            raise StackError(
                f"Superset did not import {bundle.FOLDER}: HTTP {response.status_code} {response.text[:500]}"
            )
