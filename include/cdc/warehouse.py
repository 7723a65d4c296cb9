"""Connections to the PostgreSQL warehouse, built from the fields of an Airflow connection.

The bronze load streams with psycopg 3's COPY, whatever driver PostgresHook happens to pick in a given
Airflow image, so it opens its own connection from the connection's fields. Failures become one sentence
naming the connection id, the server and what to check; the password never appears in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

# Session advisory locks, one per job that must never run twice at once in a warehouse; the key is
# hashtext(name). The bronze load's is in include/sql/bronze/load.sql ('product_cdc_sync.load_bronze').
# A lock ends with its session, so a killed holder never leaves it behind.
DBT_BUILD_LOCK = "product_cdc_sync.dbt_build"  # every dbt command of the DAG that writes (dbt_runner/)

# Connection extras that are libpq parameters and may be passed through.
_LIBPQ_EXTRAS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "options",
    "connect_timeout",
    "target_session_attrs",
)


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or used with the connection's credentials and rights."""


@dataclass(frozen=True)
class WarehouseTarget:
    conn_id: str
    host: str
    port: int
    dbname: str
    user: str
    password: str
    extra: dict

    @classmethod
    def from_airflow(cls, connection) -> WarehouseTarget:
        """From an Airflow Connection (its ``schema`` field is the database name)."""
        return cls(
            conn_id=connection.conn_id,
            host=connection.host or "localhost",
            port=int(connection.port or 5432),
            dbname=connection.schema or "postgres",
            user=connection.login or "",
            password=connection.password or "",
            extra=connection.extra_dejson,
        )

    @property
    def where(self) -> str:
        return f"connection {self.conn_id!r} ({self.user}@{self.host}:{self.port}/{self.dbname})"

    def connect(self, application_name: str = "product_cdc_sync") -> psycopg.Connection:
        params = {k: self.extra[k] for k in _LIBPQ_EXTRAS if k in self.extra}
        params.setdefault("connect_timeout", 10)
        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                dbname=self.dbname,
                user=self.user,
                password=self.password,
                application_name=application_name,
                **params,
            )
        except psycopg.OperationalError as exc:
            raise WarehouseError(f"Cannot connect to the warehouse, {self.where}: {explain(exc)}") from None


# A session that ended under the pipeline: an administrator's or the server's shutdown, a terminated
# backend, or a socket that closed without a word.
_CONNECTION_LOST = (
    psycopg.errors.AdminShutdown,
    psycopg.errors.CrashShutdown,
    psycopg.errors.IdleSessionTimeout,
)
_CONNECTION_LOST_SIGNS = ("server closed the connection", "consuming input failed", "the connection is lost")


_ANNEX = re.compile(r"\s|(CONTEXT|DETAIL|HINT|LINE \d+):")  # what a server or libpq adds after the cause


def _cause(exc: psycopg.Error) -> str:
    """The server's message, else the last line that is no CONTEXT, DETAIL or HINT (libpq lists every
    host it tried and ends with the last failure)."""
    if exc.diag.message_primary:
        return exc.diag.message_primary
    lines = [line for line in str(exc).strip().splitlines() if line and not _ANNEX.match(line)]
    return lines[-1] if lines else type(exc).__name__


def explain(exc: psycopg.Error) -> str:
    """A short cause and what to check, for the errors operators meet."""
    text = _cause(exc)
    lowered = str(exc).lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return "the password was rejected: fix the connection's login and password"
    if "connection refused" in lowered or "could not connect" in lowered or "timeout expired" in lowered:
        return (
            f"the server does not answer ({text}): check that PostgreSQL is up and the connection's host/port"
        )
    if isinstance(exc, _CONNECTION_LOST) or any(sign in lowered for sign in _CONNECTION_LOST_SIGNS):
        return (
            f"the connection was lost ({text}): PostgreSQL restarted, stopped or ended the session; check "
            f"the server, then rerun"
        )
    if "does not exist" in lowered and "database" in lowered:
        return f"{text}: the connection's schema field must name an existing database"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return (
            f"the role lacks a privilege ({text}): grant what the README's 'Warehouse role' section "
            f"lists, then rerun"
        )
    return text
