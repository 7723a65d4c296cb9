"""The warehouse's dbt build lock: one session advisory lock, so two builds never run side by side.

The lock's session is opened before dbt starts and lives as long as dbt (``__main__.py`` hands its socket
to dbt across ``exec``); PostgreSQL releases the lock when that session ends, so a killed build never
wedges the next one. A build that finds the lock held waits at most ``wait_seconds`` (in the server:
``lock_timeout``), then fails naming the holder, before dbt ran.
"""

from __future__ import annotations

import sys

import psycopg

from include.cdc.warehouse import DBT_BUILD_LOCK, WarehouseError, WarehouseTarget, explain

# The lock's holder in this database: the backend, its application_name (which task) and since when.
_HOLDER = """
select a.pid, a.application_name, a.backend_start
from pg_locks as l join pg_stat_activity as a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and l.database = (select oid from pg_database where datname = current_database())
  and ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint
"""
_SERVER_14 = 140000  # idle_session_timeout exists from PostgreSQL 14


class BuildLockBusy(RuntimeError):
    """Another dbt build held the lock for longer than this one may wait."""


def holder(conn: psycopg.Connection) -> tuple[int | None, str]:
    """The holder's backend pid and a description of it."""
    row = conn.execute(_HOLDER, [DBT_BUILD_LOCK]).fetchone()
    if row is None:
        return None, "its holder has just let it go"
    pid, application, since = row
    since_text = f"{since:%Y-%m-%d %H:%M:%S %Z}".strip()
    return pid, f"pid {pid} of backend, {application or 'no application_name'}, since {since_text}"


def take(target: WarehouseTarget, wait_seconds: float, application_name: str) -> psycopg.Connection:
    """Open a session on ``target`` and take the build lock in it, waiting at most ``wait_seconds``.
    The returned connection holds the lock until it closes (or its process ends)."""
    conn = target.connect(application_name=application_name[:63])
    try:
        conn.autocommit = True
        # The session sits idle while dbt builds: no server timeout may end it (and the lock with it);
        # keepalives let the server notice a holder whose host vanished.
        if conn.info.server_version >= _SERVER_14:
            conn.execute("set idle_session_timeout = 0")
        conn.execute("set idle_in_transaction_session_timeout = 0")
        conn.execute("set tcp_keepalives_idle = 60")
        if conn.execute("select pg_try_advisory_lock(hashtext(%s))", [DBT_BUILD_LOCK]).fetchone()[0]:
            return conn
        print(
            f"dbt waits up to {wait_seconds:g} s for the warehouse's dbt build lock: another dbt build "
            f"holds it ({holder(conn)[1]})",
            file=sys.stderr,
            flush=True,
        )
        conn.execute(f"set lock_timeout = {max(1, round(wait_seconds * 1000))}")
        try:
            conn.execute("select pg_advisory_lock(hashtext(%s))", [DBT_BUILD_LOCK])
        except psycopg.errors.LockNotAvailable:
            pid, who = holder(conn)
            raise BuildLockBusy(
                f"dbt did not start: another dbt build holds the warehouse's build lock ({who}) "
                f"and still held it after {wait_seconds:g} s (PRODUCT_CDC_DBT_LOCK_WAIT_SECONDS); this "
                f"build ran beside no other build. Let that build finish, then retry this task. If no build "
                f"runs any more, end the holder's session: select pg_terminate_backend({pid or '<pid>'})."
            ) from None
        conn.execute("set lock_timeout = 0")
        return conn
    except psycopg.Error as exc:
        conn.close()
        raise WarehouseError(f"Cannot take the dbt build lock, {target.where}: {explain(exc)}") from None
    except BaseException:
        conn.close()
        raise
