"""What the last passing dbt build read, so that a run with nothing new skips the dbt stage.

The models are a function of bronze, their only source, and of the dbt project. When neither changed
since a full build in which every model and test passed, building again would change no row and pass
the same tests: a run with nothing new then skips the build and its reporting tasks (about half of such
a run under a real scheduler) and still runs the SQL checks, bronze's freshness among them. Bronze is
described by its load ledger, the project by its manifest's checksum, so a deploy that changes a model
builds at the next run. A full refresh always builds.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg

from include.cdc.sqlfiles import statement

SQL = "dbt/builds.sql"


def _exists(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute(statement(SQL, "table_exists"), {"relation": relation}).fetchone()[0]


def current_inputs(conn: psycopg.Connection, manifest: Path) -> str:
    """Bronze's state and the project's, as one string: equal strings, equal builds."""
    project = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    if not _exists(conn, "cdc_meta.load_ledger"):
        return f"no load ledger; manifest {project}"
    objects, last_loaded_at = conn.execute(statement(SQL, "bronze_state")).fetchone()
    return f"ledger: {objects} objects, last loaded at epoch {last_loaded_at or 'never'}; manifest {project}"


def last_build_inputs(conn: psycopg.Connection) -> str | None:
    if not _exists(conn, "cdc_meta.dbt_builds"):
        return None  # no build has passed in this warehouse yet
    row = conn.execute(statement(SQL, "last_build")).fetchone()
    return row[0] if row else None


def record_build(conn: psycopg.Connection, inputs: str, dag_run_id: str) -> None:
    with conn.transaction():
        conn.execute(statement(SQL, "create_builds"))
        conn.execute(statement(SQL, "record_build"), {"dag_run_id": dag_run_id, "inputs": inputs})
