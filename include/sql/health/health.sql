-- Statements of the health check (include/cdc/checks/health.py). {relation} is quoted by the caller.

-- name: exists
select to_regclass(%(relation)s) is not null;

-- name: row_count
select count(*) from {relation};

-- name: schema_drift
-- Every drift the bronze load recorded (include/cdc/bronze/drift.py), each a WARN.
select
    source_table,
    column_name,
    kind,
    events,
    first_seen,
    first_object,
    first_offset,
    last_seen,
    last_object,
    last_offset
from bronze.schema_drift
order by source_table, column_name, kind;
