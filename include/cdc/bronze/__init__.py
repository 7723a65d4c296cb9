"""Bronze load: every landed object not yet loaded goes, exactly once, into its ``bronze.<table>_cdc``
table; records that are not change events staging can decode go to the quarantine instead.

``load`` is one run's load (lock, tables, what is pending, several connections); ``object_load`` loads
one object in one transaction with its ledger row; ``prepare`` turns a landed object into COPY rows
(``copy_text``), tombstones and quarantined records; ``quarantine`` writes those aside; ``target`` is what
a table's load reads, writes and counts; ``drift`` records where the events' columns differ from the
contract; ``statements`` names its SQL in ``include/sql/bronze/``.
"""
