{#
  The latest state of every row of a captured table, from its bronze table of Debezium envelopes.

  Columns come from the calling model's contract (its properties file: every column with
  meta.source_column; the primary key is config.unique_key), so a column added to the contract
  appears here without editing SQL. A dbt unit test compiles the model with the unit test itself as
  `model`, which has neither the model's config nor its columns: each unit test of a staging model
  hands them over as var cdc_model, {config: ..., columns: ...}, YAML anchors to the model's own
  properties in the same file (see stg_product.yml), so the contract is still written once.

  "Latest" is by commit_lsn, change_lsn, event_serial_no: the order SQL Server committed the changes.
  Copies of one event (re-emitted after a connector restart) tie there; the first copy in Kafka
  (lowest partition, then offset) is kept. A key whose latest event is a delete stays, with
  deleted = true and the values it had before.

  Incremental runs read only the bronze rows loaded since the newest one staging has seen, pick the
  latest event per key among them, and compare it with the row staging already holds: a key is
  rewritten only when the new event is later, so a late or re-emitted event never brings back an
  older state. (Bronze loads are serialized by load_bronze's lock and finish before dbt runs, so no
  row can appear later with an older ingested_at.)
#}
{% macro cdc_latest_state(bronze_relation) -%}
    {%- if not execute -%}
        {#- At parse time the model's properties are not attached yet; only the source() call matters. -#}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set node = model -%}
    {%- if model.resource_type == 'unit_test' -%}
        {%- set node = var('cdc_model', none) -%}
        {%- if node is none -%}
            {{ exceptions.raise_compiler_error(model.name ~ ": a unit test of a staging model needs overrides: {vars: {cdc_model: {config: <the model's config>, columns: <its columns>}}}") }}
        {%- endif -%}
    {%- endif -%}
    {%- set keys = node.config.get('unique_key') -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- if not keys or not (node.config.get('meta') or {}).get('cdc_source') -%}
        {{ exceptions.raise_compiler_error(model.name ~ ": its properties need config.unique_key and config.meta.cdc_source") }}
    {%- endif -%}
    {%- set columns = node.columns.values() if node.columns is mapping else node.columns -%}
    {%- set contract = [] -%}
    {%- for column in columns if column.meta and column.meta.source_column -%}
        {%- do contract.append(column) -%}
    {%- endfor -%}
    {%- set key_list = keys | join(', ') -%}
    {%- set current_keys, decoded_keys = [], [] -%}
    {%- for key in keys -%}
        {%- do current_keys.append('current_state.' ~ key) -%}
        {%- do decoded_keys.append('decoded.' ~ key) -%}
    {%- endfor -%}
    {%- set technical = ['deleted', 'cdc_op', 'commit_lsn', 'change_lsn', 'event_serial_no', 'source_committed_at',
                         'kafka_topic', 'kafka_partition', 'kafka_offset', 'ingested_at'] -%}
    {%- set latest_first -%}
        {{ keys | join(' asc,\n        ') }} asc,
        commit_lsn collate "C" desc,
        change_lsn collate "C" desc nulls last,
        event_serial_no desc nulls last,
        kafka_partition asc,
        kafka_offset asc
    {%- endset -%}

with changes as (
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
    from {{ bronze_relation }}
    {%- if is_incremental() %}
    where
        ingested_at > (
            select coalesce(max(staged.ingested_at), '-infinity'::timestamptz)
            from {{ this }} as staged
        )
    {%- endif %}
),

keyed as (
    select
        {%- for column in contract if column.name in keys %}
        {{ debezium_decode('changes.row_image', column) }} as {{ column.name }},
        {%- endfor %}
        changes.*
    from changes
),

latest_new as (
    select distinct on ({{ key_list }}) *
    from keyed
    order by
        {{ latest_first }}
),

decoded as (
    select
        {%- for column in contract %}
        {% if column.name in keys %}{{ column.name }}{% else %}{{ debezium_decode('row_image', column) }} as {{ column.name }}{% endif %},
        {%- endfor %}
        cdc_op = 'd' as deleted,
        {{ technical[1:] | join(',\n        ') }}
    from latest_new
)

{%- if is_incremental() %},

candidates as (
    select
        decoded.*,
        true as is_new
    from decoded
    union all
    select
        {%- for name in contract | map(attribute='name') | list + technical %}
        current_state.{{ name }},
        {%- endfor %}
        false as is_new
    from {{ this }} as current_state
    where ({{ current_keys | join(', ') }}) in (select {{ decoded_keys | join(', ') }} from decoded)
),

winners as (
    select distinct on ({{ key_list }}) *
    from candidates
    order by
        {{ latest_first }}
)

select
    {%- for column in contract %}
    {{ column.name }},
    {%- endfor %}
    {{ technical | join(',\n    ') }},
    now() as staged_at
from winners
where is_new
{%- else %}

select
    decoded.*,
    now() as staged_at
from decoded
{%- endif %}
{%- endmacro %}
