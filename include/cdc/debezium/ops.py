"""Two ops Debezium defines are no row change, and each has a reason of its own (never "missing key",
although both may come without one):

- ``t``, a truncate. Staging keeps the latest state per key, deletes kept; a truncate names no key and
  carries no row image, so it cannot be applied per key, and Debezium sends no per-row deletes for it.
  Loaded or dropped, it would leave every row it removed in staging and the marts. It is quarantined as
  ``TruncateEvent`` and the load then fails the run (``include/cdc/bronze/load.py``), after loading
  everything else, with what to do. (SQL Server refuses TRUNCATE on a table with CDC enabled, so the
  SQL Server connector should never send one; if one comes, the source no longer matches the warehouse.)
- ``m``, a logical decoding message (PostgreSQL's connector; never SQL Server's): no row, nothing to
  apply. It is quarantined, and counted against the run's quarantine limit like any record that is no
  change event of this table: a flood of them means another connector writes to this topic.
"""

from __future__ import annotations

from include.cdc.contract import SourceTable
from include.cdc.debezium.jsonb_text import NotAnEnvelope

MESSAGE_REASON = (
    "message event (op 'm'): not a row change but a logical decoding message, which SQL Server's connector "
    "never sends; check which connector writes to this topic"
)


class TruncateEvent(NotAnEnvelope):
    """A truncate (op ``t``): quarantined, and it fails the run once the rest is loaded (see the module
    docstring)."""

    def __init__(self, table: SourceTable) -> None:
        super().__init__(
            f"truncate event: {table.schema}.{table.table} was truncated at the source; Debezium sends no "
            f"per-row deletes for it, so staging still holds every row it removed: set the table's archive "
            f"aside, re-snapshot the table, then run with full_refresh (the DAG's Docs tab, 'truncate event')"
        )
