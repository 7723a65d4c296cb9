"""The load's bookkeeping, in a schema of its own: ``cdc_meta``.

``bronze`` holds only the raw change tables (``bronze.<table>_cdc``) that dbt and BI read as sources.
The ledger, the quarantine, the schema drift, the run metrics and the loads are in ``cdc_meta``.

A warehouse built before ``cdc_meta`` has the first four in ``bronze``: the first load moves them
(``move_to_meta``), rows, indexes and constraints with them, in the transaction of its DDL and under
a transaction-level advisory lock, so two runs never move at once. A table already in ``cdc_meta`` is
left alone, so the move is a no-op on every later run. A table in both schemas should not exist: the move
stops with ``MetaInBothSchemas`` rather than choose one.
"""

from __future__ import annotations

import logging

import psycopg

from include.cdc.bronze.errors import MetaInBothSchemas
from include.cdc.bronze.statements import DDL
from include.cdc.sqlfiles import statement

log = logging.getLogger(__name__)

META_SCHEMA = "cdc_meta"
# The bookkeeping tables that used to be in bronze, in the order the DDL creates them.
MOVED_FROM_BRONZE = ("load_ledger", "quarantine", "schema_drift", "run_metrics")


def move_to_meta(conn: psycopg.Connection) -> list[str]:
    """Create ``cdc_meta`` and move into it each bookkeeping table still in ``bronze``; the tables
    moved. Runs in the caller's transaction when there is one (the load's DDL), else in its own."""
    with conn.transaction():
        conn.execute(statement(DDL, "lock_meta"))  # first: two "create schema if not exists" race
        conn.execute(statement(DDL, "create_meta_schema"))
        moved = []
        for name in MOVED_FROM_BRONZE:
            in_bronze, in_meta = conn.execute(
                statement(DDL, "where_meta_table_is"), {"relation": name}
            ).fetchone()
            if in_bronze and in_meta:
                raise MetaInBothSchemas(
                    f"bronze.{name} and {META_SCHEMA}.{name} both exist. The load keeps its bookkeeping in "
                    f"{META_SCHEMA} and moves bronze.{name} there once; it does not choose between two. "
                    f"Compare them, keep the one with the newer rows in {META_SCHEMA}.{name} (insert the "
                    f"other's missing rows if need be), drop bronze.{name}, then rerun."
                )
            if in_bronze:
                conn.execute(statement(DDL, "move_meta_table", relation=name))
                moved.append(name)
    for name in moved:
        log.info("moved bronze.%s to %s.%s (bookkeeping has a schema of its own)", name, META_SCHEMA, name)
    return moved
