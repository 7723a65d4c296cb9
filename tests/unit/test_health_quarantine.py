"""The health check's findings on the last load's quarantine, on a connection that answers each of its
statements with given rows (the integration test runs them on a warehouse)."""

from __future__ import annotations

from datetime import UTC, datetime

from include.cdc.checks.health import HEALTH, quarantine_findings, read_quarantined
from include.cdc.sqlfiles import statement

STARTED = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


class Rows:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows


class Answers:
    """A connection whose statements return the rows given for them by name."""

    def __init__(self, **rows_by_name: list[tuple]) -> None:
        self.rows = [(statement(HEALTH, name), rows) for name, rows in rows_by_name.items()]

    def execute(self, query, params=None):
        return Rows(next(rows for known, rows in self.rows if known == query))


def connection(counts: list[tuple], tables_exist: bool = True) -> Answers:
    return Answers(exists=[(tables_exist,)], last_load=[(7, STARTED)], quarantined_in_load=counts)


def test_nothing_quarantined_in_the_last_load_passes():
    (finding,) = quarantine_findings(connection([]), limit=100)
    assert finding.status == "PASS"
    assert finding.subject == "cdc_meta.quarantine"
    assert finding.detail == "nothing quarantined in the last load (load_id 7, 2026-12-07 02:00:00 UTC)"


def test_quarantined_records_within_the_limit_warn_per_table_and_reason_with_the_query():
    counts = [("bronze.product_cdc", "value is not JSON", 2), ("bronze.product_cdc", "no 'op'", 1)]
    findings = quarantine_findings(connection(counts), limit=3)
    assert [(f.status, f.subject) for f in findings] == [("WARN", "quarantine bronze.product_cdc")] * 2
    assert findings[0].detail.startswith("2 quarantined in the last load (load_id 7, ")
    assert findings[0].detail.endswith("(3 in all, within the limit of 3 per run): value is not JSON")
    assert findings[1].hint == f"read them: {read_quarantined(7)}"
    assert str(findings[1]).splitlines()[1] == f"      read them: {read_quarantined(7)}"
    assert not findings[0].hint


def test_more_quarantined_records_than_the_limit_fail():
    counts = [("bronze.product_cdc", "value is not JSON", 2), ("bronze.product_availability_cdc", "x", 2)]
    findings = quarantine_findings(connection(counts), limit=3)
    assert [f.status for f in findings] == ["FAIL", "FAIL"]
    assert "(4 in all, more than the limit of 3 per run)" in findings[1].detail


def test_nothing_is_said_before_the_first_load_or_on_a_warehouse_not_moved_yet():
    assert quarantine_findings(connection([], tables_exist=False), limit=3) == []
    no_load = Answers(exists=[(True,)], last_load=[])
    assert quarantine_findings(no_load, limit=3) == []


def test_the_query_to_read_them_is_one_line_of_the_file_s_statement():
    query = read_quarantined(7)
    assert query.startswith("select kafka_topic, kafka_partition, kafka_offset, reason, quarantine_key")
    assert "from cdc_meta.quarantine where load_id = 7 order by" in query
    assert "\n" not in query
    assert "--" not in query
