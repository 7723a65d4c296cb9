{#
  The latest state of every row of a captured table, from its bronze table of Debezium envelopes.

  Columns come from the calling model's contract (its properties file: every column with
  meta.source_column), so a column added to the contract appears here without editing SQL.
  "Latest" is by commit_lsn, change_lsn, event_serial_no: the order SQL Server committed the changes.
  Kafka offsets only break ties between identical re-emitted events, never order changes.
  A key whose latest event is a delete stays, with deleted = true and the values it had before.
#}
{% macro cdc_latest_state(bronze_relation) -%}
    {%- if not execute -%}
        {#- At parse time the model's properties are not attached yet; only the source() call matters. -#}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set cdc_source = (model.config.get('meta') or {}).get('cdc_source') -%}
    {%- if not cdc_source -%}
        {{ exceptions.raise_compiler_error(model.name ~ ": its properties need config.meta.cdc_source") }}
    {%- endif -%}
    {%- set contract = [] -%}
    {%- for column in model.columns.values() if column.meta and column.meta.source_column -%}
        {%- do contract.append(column) -%}
    {%- endfor -%}
    {%- set keys = cdc_source.primary_key -%}
    {%- set key_columns = [] -%}
    {%- for column in contract if column.name in keys -%}
        {%- do key_columns.append(column) -%}
    {%- endfor -%}

with changes as (
    select
        case when cdc_payload ->> 'op' = 'd' then cdc_payload -> 'before' else cdc_payload -> 'after' end as row_image,
        cdc_payload ->> 'op' as cdc_op,
        cdc_payload -> 'source' ->> 'commit_lsn' as commit_lsn,
        cdc_payload -> 'source' ->> 'change_lsn' as change_lsn,
        (cdc_payload -> 'source' ->> 'event_serial_no')::integer as event_serial_no,
        to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0) as source_committed_at,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at
    from {{ bronze_relation }}
),

keyed as (
    select
        {%- for column in key_columns %}
        {{ debezium_decode('row_image', column) }} as {{ column.name }},
        {%- endfor %}
        changes.*
    from changes
),

latest as (
    select distinct on ({{ key_columns | map(attribute='name') | join(', ') }}) *
    from keyed
    order by
        {{ key_columns | map(attribute='name') | join(', ') }},
        commit_lsn collate "C" desc,
        change_lsn collate "C" desc nulls last,
        event_serial_no desc nulls last,
        kafka_offset desc
)

select
    {%- for column in contract %}
    {% if column in key_columns %}{{ column.name }}{% else %}{{ debezium_decode('row_image', column) }} as {{ column.name }}{% endif %},
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
from latest
{%- endmacro %}
