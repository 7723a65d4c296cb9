"""The bi_refresh DAG's task: a thin shell that builds the Superset client from ``cord_superset`` and the
warehouse's columns from ``cord_warehouse``, and calls ``include.cdc.bi.refresh``.

No connection ``cord_superset`` means no Superset to refresh (a deployment without BI, a developer's
machine): the task skips and says so. Superset's refusal of the credentials (401/403) fails it at once;
a Superset that does not answer, or fails, is retried with the DAG's retries. requests and psycopg are
imported inside the task, off the DAG file's import path.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseHook, task
from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSkipException

from include.cdc import marts
from include.cdc.airflow.tasks import fails_at_once
from include.cdc.errors import ConfigurationError
from include.cdc.settings import Settings

log = logging.getLogger(__name__)


def base_url(connection) -> str:
    """``schema://host:port`` of an http connection (a host may carry its own scheme)."""
    host = (connection.host or "").rstrip("/")
    if not host:
        raise ConfigurationError(
            f"Connection {connection.conn_id!r} has no host: set the host (and port, and schema http or "
            f"https) of Superset's web server."
        )
    if "://" not in host:
        host = f"{connection.schema or 'http'}://{host}"
    return f"{host}:{connection.port}" if connection.port else host


def superset_target(connection, settings: Settings):
    """The client's target from the Airflow connection: login, password, ``extra.provider`` (db)."""
    from include.cdc.bi.superset import SupersetTarget

    if not connection.login or not connection.password:
        raise ConfigurationError(
            f"Connection {connection.conn_id!r} needs the login and password of a Superset user that may "
            f"read datasets and charts and refresh them."
        )
    return SupersetTarget(
        conn_id=connection.conn_id,
        base_url=base_url(connection),
        login=connection.login,
        password=connection.password,
        provider=connection.extra_dejson.get("provider", "db"),
        timeout=settings.http_timeout_seconds,
        warm_up_timeout=settings.superset_warm_up_timeout_seconds,
    )


@task
@fails_at_once
def refresh_superset() -> dict:
    """Refresh the marts' datasets when their columns changed; invalidate and warm up their charts."""
    from include.cdc.bi import refresh
    from include.cdc.bi.superset import SupersetClient
    from include.cdc.warehouse import WarehouseTarget

    settings = Settings.from_env()
    conn_id = settings.superset_conn_id
    try:
        connection = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.info("no connection %r: Superset is not configured, so there is nothing to refresh", conn_id)
        raise AirflowSkipException(f"Superset is not configured (no connection {conn_id!r})") from None
    client = SupersetClient(superset_target(connection, settings))
    client.login()  # refused credentials fail before anything else is asked
    warehouse = WarehouseTarget.from_airflow(BaseHook.get_connection(settings.warehouse_conn_id))
    with warehouse.connect(application_name="bi_refresh") as conn:
        columns = refresh.mart_columns(conn, marts.MARTS)
    report = refresh.refresh(client, marts.MARTS, columns, settings.superset_database)
    log.info(
        "Superset (%s): %d datasets on the marts, metadata refreshed for %s, %d charts warmed up",
        client.target.where,
        len(report.datasets),
        report.metadata_refreshed or "none",
        len(report.charts_warmed),
    )
    return report.to_xcom()
