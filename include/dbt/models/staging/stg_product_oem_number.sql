{#-
  The latest state of a captured table, one row per key, from its Debezium change events in bronze; a
  key whose latest event is a delete stays, with deleted = true. The contract (key, columns, types) is
  this model's yml; the macros are in include/dbt/macros/ (cdc_staging.sql: what every stg_* shares).
-#}
{%- set contract = cdc_contract() -%}

with changes as (
    -- Every change event: row image, op, LSNs, Kafka position. Incremental: only the new loads.
    select
        {{ cdc_event_columns() }}
    from {{ source('bronze', 'product_oem_number_cdc') }}
    {%- if is_incremental() %}
    where ingested_at > {{ newest_staged_ingested_at() }}
    {%- endif %}
),

latest as (
    -- The latest event of each key: latest_first orders by commit_lsn, change_lsn, event_serial_no desc,
    -- then kafka_partition, kafka_offset asc (the first copy of a re-emitted event).
    select distinct on ({{ contract['keys'] | join(', ') }})
        {{ cdc_decoded_columns(contract['key_columns'], 'row_image') }},
        *
    from changes
    order by {{ latest_first(contract) }}
),

decoded as (
    -- The contract's columns, decoded from the latest event's row image, then the technical ones.
    select
        {{ cdc_decoded_columns(contract['columns'], 'row_image', already_decoded=contract['keys']) }},
        {{ cdc_technical_columns() }}
    from latest
){% if is_incremental() %},

later_than_staged as (
    -- A key's new row, kept only when it is later than the row staging holds for the key.
    {{ later_than_staged('decoded', contract) }}
)
{%- endif %}

select
    {{ cdc_staging_columns(contract, indent=4) }},
    now() as staged_at
from {{ 'later_than_staged' if is_incremental() else 'decoded' }}
