{#-
  Table: dbo.Product. Contract: stg_product.yml.
  The table's latest state, one row per key, from its Debezium change events in bronze. The contract
  (the captured columns, their SQL Server types, the key) is read by cdc_contract(); debezium_decode()
  casts one column of a row image (both in include/dbt/macros/).

  "Latest" is the order SQL Server committed the changes: commit_lsn, change_lsn, event_serial_no.
  Copies of one event (re-emitted after a connector restart) tie there; the first copy in Kafka (lowest
  partition, then offset) is kept. A key whose latest event is a delete stays, with deleted = true and
  the values it had before.

  An incremental run reads only the bronze rows loaded since the newest one staging holds, takes the
  latest event per key among them, and keeps it only when it is later than the row staging already
  holds for the key: a late or re-emitted older event never brings back an older state. (Bronze loads
  are serialized by load_bronze's lock and finish before dbt runs, so no row can appear later with an
  older ingested_at.)

  Every stg_*.sql is this SQL with its own table (tests/unit/test_staging_models.py checks).
-#}
{%- set contract = cdc_contract() %}
{%- set keys = contract['keys'] | join(', ') %}
{%- set latest_first -%}
    {{ contract['keys'] | join(' asc, ') }} asc,
        commit_lsn collate "C" desc,
        change_lsn collate "C" desc nulls last,
        event_serial_no desc nulls last,
        kafka_partition asc,
        kafka_offset asc
{%- endset -%}

with changes as (
    -- Every change event: its row image (a delete's before image), op, log position and Kafka position.
    select
        case
            when cdc_payload ->> 'op' = 'd' then cdc_payload -> 'before' else cdc_payload -> 'after'
        end as row_image,
        cdc_payload ->> 'op' as cdc_op,
        cdc_payload -> 'source' ->> 'commit_lsn' as commit_lsn,
        cdc_payload -> 'source' ->> 'change_lsn' as change_lsn,
        (cdc_payload -> 'source' ->> 'event_serial_no')::integer as event_serial_no,
        to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0) as source_committed_at,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at
    from {{ source('bronze', 'product_cdc') }}
    {%- if is_incremental() %}
    where
        ingested_at > (
            select coalesce(max(staged.ingested_at), '-infinity'::timestamptz)
            from {{ this }} as staged
        )
    {%- endif %}
),

keyed as (
    -- The primary key, decoded from each event's row image.
    select
        {%- for column in contract['key_columns'] %}
        {{ debezium_decode('changes.row_image', column) }} as {{ column.name }},
        {%- endfor %}
        changes.*
    from changes
),

latest_new as (
    -- The latest event of each key.
    select distinct on ({{ keys }}) *
    from keyed
    order by
        {{ latest_first }}
),

decoded as (
    -- Every contract column, decoded from the latest event's row image only.
    select
        {%- for column in contract['columns'] %}
        {%- if column.name in contract['keys'] %}
        {{ column.name }},
        {%- else %}
        {{ debezium_decode('row_image', column) }} as {{ column.name }},
        {%- endif %}
        {%- endfor %}
        cdc_op = 'd' as deleted,
        cdc_op,
        commit_lsn,
        change_lsn,
        event_serial_no,
        source_committed_at,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at
    from latest_new
)

{%- if is_incremental() %},

candidates as (
    -- The new latest events, and the rows staging holds for the same keys.
    select
        decoded.*,
        true as is_new
    from decoded
    union all
    select
        {%- for column in contract['columns'] %}
        current_state.{{ column.name }},
        {%- endfor %}
        current_state.deleted,
        current_state.cdc_op,
        current_state.commit_lsn,
        current_state.change_lsn,
        current_state.event_serial_no,
        current_state.source_committed_at,
        current_state.kafka_topic,
        current_state.kafka_partition,
        current_state.kafka_offset,
        current_state.ingested_at,
        false as is_new
    from {{ this }} as current_state
    where
        ({% for key in contract['keys'] %}current_state.{{ key }}{{ ', ' if not loop.last }}{% endfor %})
        in (
            select {% for key in contract['keys'] %}decoded.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
            from decoded
        )
),

winners as (
    -- The later of the two for each key: a key is rewritten only when its new event is later.
    select distinct on ({{ keys }}) *
    from candidates
    order by
        {{ latest_first }}
)

select
    {%- for column in contract['columns'] %}
    {{ column.name }},
    {%- endfor %}
    deleted,
    cdc_op,
    commit_lsn,
    change_lsn,
    event_serial_no,
    source_committed_at,
    kafka_topic,
    kafka_partition,
    kafka_offset,
    ingested_at,
    now() as staged_at
from winners
where is_new
{%- else %}

select
    decoded.*,
    now() as staged_at
from decoded
{%- endif %}
