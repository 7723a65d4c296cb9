"""Health check of the warehouse: PASS, WARN or FAIL for every bronze table, staging model and mart.

    python -m include.cdc.checks.health [--conn-id cord_warehouse]

A relation that is missing FAILs, one that exists but is empty WARNs, one with rows PASSes. Each schema
drift the bronze load recorded (``cdc_meta.schema_drift``) WARNs, with what to do. The records the last
bronze load quarantined (``cdc_meta.quarantine``) are counted per table and reason: WARN, or FAIL when
they are more than the per-run limit (``PRODUCT_CDC_MAX_QUARANTINED_PER_RUN``), with the query that reads
them; none PASSes. A missing or unreachable warehouse connection FAILs with the reason. The exit status
is 1 when anything FAILed, so the command can gate a deployment or page someone.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import psycopg

from include.cdc.archive.landing import ObjectKey
from include.cdc.settings import Settings
from include.cdc.sqlfiles import named_statements, statement
from include.cdc.warehouse import WarehouseError, WarehouseTarget, explain

MARTS_DIR = Path(__file__).resolve().parents[2] / "dbt" / "models" / "marts"
HEALTH = "health/health.sql"
DRIFT_TABLE = "cdc_meta.schema_drift"
LOADS_TABLE = "cdc_meta.loads"
QUARANTINE_TABLE = "cdc_meta.quarantine"
WHAT_TO_DO = {
    "new_column": "bronze keeps it, staging ignores it: add it to the contract and the models (README, "
    "One contract), then run with full_refresh; or leave it out",
    "missing_column": "staging fills it with nulls: confirm the drop at the source, then take it out of "
    "the contract and the models; or restore its capture",
    "type_change": "its records are quarantined: change its sqlserver_type in the contract, then run with "
    "full_refresh",
}


@dataclass(frozen=True)
class Finding:
    status: str  # PASS, WARN or FAIL
    subject: str
    detail: str
    hint: str = ""  # printed on a line of its own under the finding

    def __str__(self) -> str:
        line = f"{self.status:4}  {self.subject:36} {self.detail}"
        return f"{line}\n      {self.hint}" if self.hint else line


def relations(settings: Settings) -> list[tuple[str, str]]:
    """(layer, schema.table) for every relation the pipeline builds, bronze to marts."""
    found = [("bronze", f"bronze.{t.bronze_table}") for t in settings.contract]
    found += [("staging", f"staging.{t.staging_model}") for t in settings.contract]
    found += [("marts", f"marts.{path.stem}") for path in sorted(MARTS_DIR.glob("*.sql"))]
    return found


def inspect(conn: psycopg.Connection, settings: Settings) -> list[Finding]:
    findings = []
    for layer, relation in relations(settings):
        exists = conn.execute(statement(HEALTH, "exists"), {"relation": relation}).fetchone()[0]
        if not exists:
            findings.append(Finding("FAIL", relation, f"missing: the {layer} layer has not been built"))
            continue
        rows = conn.execute(statement(HEALTH, "row_count", relation=relation)).fetchone()[0]
        if rows == 0:
            findings.append(Finding("WARN", relation, "exists but holds no rows"))
        else:
            findings.append(Finding("PASS", relation, f"{rows} rows"))
    if conn.execute(statement(HEALTH, "exists"), {"relation": DRIFT_TABLE}).fetchone()[0]:
        findings += [drift_finding(*row) for row in conn.execute(statement(HEALTH, "schema_drift"))]
    findings += quarantine_findings(conn, settings.max_quarantined_per_run)
    return findings


def quarantine_findings(conn: psycopg.Connection, limit: int) -> list[Finding]:
    """The last load's quarantined records, one finding per bronze table and reason: WARN, or FAIL when
    there are more in all than ``limit`` (the load failed the run then); PASS when there are none. Nothing
    before the first load (the bronze findings FAIL then)."""
    exists = statement(HEALTH, "exists")
    if not all(conn.execute(exists, {"relation": r}).fetchone()[0] for r in (LOADS_TABLE, QUARANTINE_TABLE)):
        return []
    last = conn.execute(statement(HEALTH, "last_load")).fetchone()
    if last is None:
        return []
    load_id, started_at = last
    load = f"the last load (load_id {load_id}, {started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
    counts = conn.execute(statement(HEALTH, "quarantined_in_load"), {"load_id": load_id}).fetchall()
    if not counts:
        return [Finding("PASS", QUARANTINE_TABLE, f"nothing quarantined in {load}")]
    total = sum(records for _, _, records in counts)
    status = "FAIL" if total > limit else "WARN"
    against = f"{total} in all, {'more than' if total > limit else 'within'} the limit of {limit} per run"
    findings = [
        Finding(status, f"quarantine {table}", f"{records} quarantined in {load} ({against}): {reason}")
        for table, reason, records in counts
    ]
    findings[-1] = Finding(
        status, findings[-1].subject, findings[-1].detail, f"read them: {read_quarantined(load_id)}"
    )
    return findings


def read_quarantined(load_id: int) -> str:
    """The query that reads one load's quarantined records, on one line, for a person to run."""
    text = named_statements(HEALTH)["read_quarantined"]
    query = " ".join(line for line in text.splitlines() if not line.startswith("--"))
    return " ".join(query.split()).replace("%(load_id)s", str(int(load_id)))


def drift_finding(table, column, kind, events, first_seen, first_object, first_offset, *last) -> Finding:
    def where(seen, object_key, offset) -> str:
        partition = ObjectKey.parse(object_key).partition
        return f"{seen.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (partition {partition}, offset {offset})"

    return Finding(
        "WARN",
        f"{table}.{column}",
        f"{kind} in {events} events, first seen {where(first_seen, first_object, first_offset)}, "
        f"last seen {where(*last)}: {WHAT_TO_DO[kind]}",
    )


def check(conn_id: str, settings: Settings) -> list[Finding]:
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises a different error per secrets backend
        return [
            Finding("FAIL", "warehouse connection", f"Airflow connection {conn_id!r} is not defined: {exc}")
        ]
    target = WarehouseTarget.from_airflow(connection)
    try:
        with target.connect(application_name="product_cdc_health") as conn:
            return inspect(conn, settings)
    except WarehouseError as exc:
        return [Finding("FAIL", "warehouse connection", str(exc))]
    except psycopg.Error as exc:
        return [Finding("FAIL", "warehouse", f"{target.where}: {explain(exc)}")]


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m include.cdc.checks.health", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--conn-id", default=settings.warehouse_conn_id, help="Airflow connection of the warehouse"
    )
    args = parser.parse_args(argv)
    findings = check(args.conn_id, settings)
    for finding in findings:
        print(finding)
    failed = sum(f.status == "FAIL" for f in findings)
    warned = sum(f.status == "WARN" for f in findings)
    print(
        f"\n{'FAIL' if failed else 'WARN' if warned else 'PASS'}: {failed} failed, {warned} warnings, "
        f"{len(findings) - failed - warned} passed"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
