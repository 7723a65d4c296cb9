-- Bronze layer DDL. Run by load_bronze before every load, under its lock; every statement is idempotent.
-- {table} is a captured table's bronze table (bronze.product_cdc for dbo.Product), quoted by the loader.
-- bronze holds the raw change tables only, what dbt and BI read as sources; the load's bookkeeping
-- (ledger, quarantine, schema drift, run metrics, loads) is in cdc_meta.

-- name: create_schema
create schema if not exists bronze;

-- Creating cdc_meta and moving there the bookkeeping of a warehouse built before it
-- (include/cdc/bronze/meta.py), in the transaction of the DDL. {relation} is a bookkeeping table's name,
-- quoted by the loader.

-- name: lock_meta
-- Held to the end of the transaction: two moves never interleave, whoever runs them. Taken before the
-- schema is created: two concurrent "create schema if not exists" can collide.
select pg_advisory_xact_lock(hashtext('product_cdc_sync.cdc_meta'));

-- name: create_meta_schema
create schema if not exists cdc_meta;

-- name: where_meta_table_is
-- Whether the table is in bronze (the old layout), in cdc_meta, or both.
select
    to_regclass('bronze.' || quote_ident(%(relation)s)) is not null as in_bronze,
    to_regclass('cdc_meta.' || quote_ident(%(relation)s)) is not null as in_meta;

-- name: move_meta_table
-- Its rows, indexes and constraints go with it.
alter table bronze.{relation} set schema cdc_meta;

-- name: create_load_ledger
-- One row per landed object loaded into bronze, written in the same transaction as the object's rows:
-- an object is in the ledger exactly when its rows are in bronze.
create table if not exists cdc_meta.load_ledger (
    object_key text primary key,
    bronze_table text not null,
    kafka_topic text not null,
    kafka_partition integer not null,
    first_offset bigint not null,
    last_offset bigint not null,
    records integer not null,
    rows_loaded integer not null,
    duplicates_skipped integer not null,
    tombstones integer not null,
    quarantined integer not null,
    loaded_at timestamptz not null default now()
);
create index if not exists load_ledger_by_partition
on cdc_meta.load_ledger (kafka_topic, kafka_partition, object_key);

-- name: create_quarantine
-- Records that could not be loaded as change events. Their bytes are in the bucket at quarantine_key.
create table if not exists cdc_meta.quarantine (
    kafka_topic text not null,
    kafka_partition integer not null,
    kafka_offset bigint not null,
    reason text not null,
    quarantine_key text not null,
    batch_file text not null,
    quarantined_at timestamptz not null default now(),
    load_id bigint,
    primary key (kafka_topic, kafka_partition, kafka_offset)
);
-- load_id came with cdc_meta: null on the records of loads before it.
alter table cdc_meta.quarantine add column if not exists load_id bigint;

-- name: create_loads
-- One row per bronze load, written when it starts (under its lock): the health check reads the last
-- load's quarantined records by its load_id.
create table if not exists cdc_meta.loads (
    load_id bigint generated always as identity primary key,
    started_at timestamptz not null default now()
);

-- name: start_load
insert into cdc_meta.loads default values
returning load_id;

-- name: create_schema_drift
-- Where the columns the source sends differ from the contract (include/cdc/contract.py), one row per
-- table, column and kind: new_column (the source sends a column the contract does not know),
-- missing_column (no event of a run carried a contract column), type_change (values the contract's type
-- cannot hold, quarantined). Upserted in the transaction of the load that showed it; the health check
-- reports every row as a WARN.
create table if not exists cdc_meta.schema_drift (
    source_table text not null,
    column_name text not null,
    kind text not null check (kind in ('new_column', 'missing_column', 'type_change')),
    events bigint not null,
    first_seen timestamptz not null default now(),
    last_seen timestamptz not null default now(),
    first_object text not null,
    first_offset bigint not null,
    last_object text not null,
    last_offset bigint not null,
    detail text,
    primary key (source_table, column_name, kind)
);

-- name: create_run_metrics
-- Figures measured at the end of each DAG run; checks compare a run with the one before.
create table if not exists cdc_meta.run_metrics (
    measured_at timestamptz not null default now(),
    dag_run_id text not null,
    metric text not null,
    value numeric not null,
    primary key (dag_run_id, metric)
);

-- name: create_cdc_table
-- Raw Debezium envelopes, one row per Kafka record, deduplicated on its position in Kafka.
create table if not exists {table} (
    kafka_topic text not null,
    kafka_partition integer not null,
    kafka_offset bigint not null,
    kafka_timestamp timestamptz,
    kafka_key jsonb not null,
    cdc_payload jsonb not null,
    batch_file text not null,
    ingested_at timestamptz not null default now(),
    primary key (kafka_topic, kafka_partition, kafka_offset)
);
create index if not exists {ingested_index} on {table} (ingested_at);
