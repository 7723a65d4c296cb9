-- Statements of the bronze load (include/cdc/bronze/). {table} is quoted by the loader.

-- name: try_lock
-- One load at a time per warehouse: a second run waits for nothing and fails with a clear message.
select pg_try_advisory_lock(hashtext('product_cdc_sync.load_bronze'));

-- name: unlock
select pg_advisory_unlock(hashtext('product_cdc_sync.load_bronze'));

-- name: size_temp_buffers
-- The fallback's temporary table lives in this session's memory: large enough for one object's rows
-- (default 8 MB). Set before the session's first temporary table.
set temp_buffers = '128MB';

-- name: copy_rows
-- The fast path: an object's rows straight into bronze. One row already there fails the whole COPY.
copy {table} (kafka_offset, kafka_timestamp, kafka_key, cdc_payload, kafka_topic, kafka_partition, batch_file)
from stdin;

-- The fallback, for an object some of whose rows bronze holds already (objects that overlap, as archives
-- of older drains hold them): the same lines into a temporary table, then one INSERT that skips them.

-- name: create_incoming
-- Per-session, created on the first fallback; emptied at every commit. Text JSON columns: COPY only
-- moves the bytes, and the JSON is parsed once, by the INSERT into bronze.
create temporary table if not exists incoming_events (
    kafka_offset bigint not null,
    kafka_timestamp timestamptz,
    kafka_key text not null,
    cdc_payload text not null,
    kafka_topic text not null,
    kafka_partition integer not null,
    batch_file text not null
) on commit delete rows;

-- name: copy_incoming
copy pg_temp.incoming_events (
    kafka_offset, kafka_timestamp, kafka_key, cdc_payload, kafka_topic, kafka_partition, batch_file
)
from stdin;

-- name: insert_incoming
insert into {table} (
    kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, cdc_payload, batch_file
)
select
    kafka_topic,
    kafka_partition,
    kafka_offset,
    kafka_timestamp,
    kafka_key::jsonb,
    cdc_payload::jsonb,
    batch_file
from pg_temp.incoming_events
on conflict (kafka_topic, kafka_partition, kafka_offset) do nothing;

-- name: record_quarantine
insert into cdc_meta.quarantine (
    kafka_topic, kafka_partition, kafka_offset, reason, quarantine_key, batch_file, load_id
)
values (
    %(topic)s, %(partition)s, %(offset)s, %(reason)s, %(quarantine_key)s, %(object_key)s, %(load_id)s
)
on conflict (kafka_topic, kafka_partition, kafka_offset) do nothing;

-- name: record_load
insert into cdc_meta.load_ledger (
    object_key, bronze_table, kafka_topic, kafka_partition, first_offset, last_offset, records,
    rows_loaded, duplicates_skipped, tombstones, quarantined
)
values (
    %(object_key)s, %(bronze_table)s, %(topic)s, %(partition)s, %(first_offset)s, %(last_offset)s,
    %(records)s, %(rows_loaded)s, %(duplicates_skipped)s, %(tombstones)s, %(quarantined)s
);

-- name: record_drift
-- One drift of one column, as a load saw it: first seen stays, last seen moves on.
insert into cdc_meta.schema_drift (
    source_table, column_name, kind, events, first_object, first_offset, last_object, last_offset, detail
)
values (
    %(source_table)s, %(column_name)s, %(kind)s, %(events)s, %(first_object)s, %(first_offset)s,
    %(last_object)s, %(last_offset)s, %(detail)s
)
on conflict (source_table, column_name, kind) do update
    set
        events = schema_drift.events + excluded.events,
        last_seen = excluded.last_seen,
        last_object = excluded.last_object,
        last_offset = excluded.last_offset,
        detail = coalesce(excluded.detail, schema_drift.detail);

-- name: forget_missing
-- Contract columns a run's events carried are not missing any more.
delete from cdc_meta.schema_drift
where
    source_table = %(source_table)s
    and kind = 'missing_column'
    and column_name = any(%(columns)s);

-- name: loaded_keys
-- Every object of a topic already loaded: what is pending is the bucket's listing minus these.
select object_key
from cdc_meta.load_ledger
where kafka_topic = %(topic)s and starts_with(object_key, %(prefix)s);

-- Full refresh: forget what was loaded for one topic, so the archive is replayed into an empty table
-- (and its schema drift found again). The four statements run in one transaction.

-- name: reset_table
truncate {table};

-- name: reset_ledger
delete from cdc_meta.load_ledger
where kafka_topic = %(topic)s;

-- name: reset_quarantine
delete from cdc_meta.quarantine
where kafka_topic = %(topic)s;

-- name: reset_drift
delete from cdc_meta.schema_drift
where source_table = %(source_table)s;
