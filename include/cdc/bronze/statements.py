"""The bronze load's SQL: the named statements of ``include/sql/bronze/``."""

from __future__ import annotations

import psycopg

from include.cdc.sqlfiles import statement

DDL = "bronze/ddl.sql"
LOAD = "bronze/load.sql"


class Statements:
    """Runs the named statements of ``include/sql`` on one connection (``self.conn``)."""

    conn: psycopg.Connection

    def _run(self, relative: str, name: str, params: dict | None = None, **identifiers: str):
        return self.conn.execute(statement(relative, name, **identifiers), params)
