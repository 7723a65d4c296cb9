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
from cdc_meta.schema_drift
order by source_table, column_name, kind;

-- name: last_load
-- The last bronze load (include/cdc/bronze/load.py records each one when it starts).
select
    load_id,
    started_at
from cdc_meta.loads
order by load_id desc
limit 1;

-- name: quarantined_in_load
-- The records one load quarantined, counted per bronze table and reason.
select
    coalesce(ledger.bronze_table, quarantine.kafka_topic) as bronze_table,
    quarantine.reason,
    count(*) as records
from cdc_meta.quarantine
left join cdc_meta.load_ledger as ledger on quarantine.batch_file = ledger.object_key
where quarantine.load_id = %(load_id)s
group by coalesce(ledger.bronze_table, quarantine.kafka_topic), quarantine.reason
order by bronze_table, quarantine.reason;

-- name: read_quarantined
-- Printed by the health check for a person to run (psql, or the bi tool as the warehouse role): the
-- last load's quarantined records; their bytes are in the bucket at quarantine_key.
select
    kafka_topic,
    kafka_partition,
    kafka_offset,
    reason,
    quarantine_key,
    batch_file,
    quarantined_at
from cdc_meta.quarantine
where load_id = %(load_id)s
order by kafka_topic, kafka_partition, kafka_offset;
