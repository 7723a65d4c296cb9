-- The benchmark's references (devstack/bench.py). {table}, {copy} are quoted by the caller.

-- name: create_schema
create schema if not exists bench;

-- name: drop_copy
drop table if exists {copy};

-- name: create_copy
-- An empty table like the bronze table, with its primary key.
create table {copy} (like {table} including all);

-- name: copy_out
copy {table} to stdout;

-- name: copy_in
copy {copy} from stdin;

-- name: runbook_insert
-- The runbook's load (docs/manual-procedure.md): one statement per row.
insert into {copy} (
    kafka_topic, kafka_partition, kafka_offset, kafka_timestamp, kafka_key, cdc_payload, batch_file
)
values (%s, %s, %s, to_timestamp(%s / 1000.0), %s, %s, %s)
on conflict (kafka_topic, kafka_partition, kafka_offset) do nothing;
