"""What the bronze load is measured against, on the same rows: one plain COPY (the limit) and the
runbook's way (docs/manual-procedure.md)."""

from __future__ import annotations

import io
import time

from include.cdc.sqlfiles import statement

REFERENCES = "bench/references.sql"


def _fresh_copy(conn, table: str, copy: str) -> None:
    conn.execute(statement(REFERENCES, "create_schema"))
    conn.execute(statement(REFERENCES, "drop_copy", copy=copy))
    conn.execute(statement(REFERENCES, "create_copy", copy=copy, table=table))
    conn.commit()


def plain_copy(conn, tables: list[str]) -> tuple[int, float]:
    """COPY every bronze row into a fresh copy of its table: how fast PostgreSQL takes these rows."""
    rows, seconds = 0, 0.0
    for table in tables:
        _fresh_copy(conn, f"bronze.{table}", f"bench.{table}")
        data = io.BytesIO()
        with conn.cursor().copy(statement(REFERENCES, "copy_out", table=f"bronze.{table}")) as copy:
            for chunk in copy:
                data.write(chunk)
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            with cursor.copy(statement(REFERENCES, "copy_in", copy=f"bench.{table}")) as copy:
                copy.write(data.getbuffer())
            rows += cursor.rowcount
        conn.commit()
        seconds += time.perf_counter() - started
    return rows, seconds


def runbook_way(conn, store, settings, sample_rows: int, commit_each_row: bool) -> tuple[int, float]:
    """The runbook's load, written afresh: one GET per object, one INSERT ... ON CONFLICT per row,
    committed row by row (the runbook's script) or object by object (a kinder variant)."""
    from include.cdc.archive.landing import decode_record, read_lines
    from include.cdc.debezium.envelope import parse_change_event
    from include.cdc.debezium.jsonb_text import NotAnEnvelope

    for table in settings.contract:
        _fresh_copy(conn, f"bronze.{table.bronze_table}", f"bench.runbook_{table.bronze_table}")
    rows = 0
    started = time.perf_counter()
    for table in settings.contract:
        insert = statement(REFERENCES, "runbook_insert", copy=f"bench.runbook_{table.bronze_table}")
        for key in store.list_keys(settings.raw_prefix_for(table)):
            for line in read_lines(store.get(key)):
                record = decode_record(line)
                if record.is_tombstone:
                    continue
                try:
                    event = parse_change_event(record.key, record.value, table)
                except NotAnEnvelope:
                    continue
                conn.execute(
                    insert,
                    (
                        record.topic,
                        record.partition,
                        record.offset,
                        record.timestamp_ms,
                        event.key_json,
                        event.envelope_json,
                        key,
                    ),
                )
                if commit_each_row:
                    conn.commit()
                rows += 1
                if rows >= sample_rows:
                    conn.commit()
                    return rows, time.perf_counter() - started
            conn.commit()
    return rows, time.perf_counter() - started
