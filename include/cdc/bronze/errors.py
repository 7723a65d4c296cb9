"""What stops the bronze load: another load holding the lock, or records that need a person."""

from include.cdc.errors import PermanentError


class LoadInProgress(RuntimeError):
    """Another bronze load holds the lock."""


class TooManyQuarantined(PermanentError):
    """More records were quarantined in one run than the configured limit (the rest is loaded). No retry:
    it would find everything loaded, quarantine nothing and pass, and nobody would know."""


class TruncatedAtSource(PermanentError):
    """A truncate event was quarantined in this run (the rest is loaded).

    Why the run fails, whatever the quarantine limit: Debezium sends no per-row deletes for a truncate,
    so bronze, staging and the marts keep every row it removed, and nothing later ever corrects them;
    quarantined quietly, it would be silent loss of deletes. Why not at once, at the record: the objects
    after it, of every table, would then stay unloaded on every rerun until someone acts, while loading
    them is right whatever is done about the truncate. Failing after the load keeps dbt from building
    the marts on top in this run and sends the alert (the task does not retry: a retry would find the
    object in the ledger and pass). The fix is at the source and in the archive, not here: set the
    table's archive aside, re-snapshot it, run with full_refresh (the message says so).
    """


class MetaInBothSchemas(PermanentError):
    """A bookkeeping table is both in bronze (the layout before cdc_meta) and in cdc_meta. Moving one
    would fail, dropping either could lose rows: a person compares them (the message says how)."""
