{#
  The parts every staging model (stg_*.sql) shares. Each model's SQL is the recipe (its bronze source,
  then changes -> latest -> decoded, and on an incremental run later_than_staged); these macros are the
  mechanics that are the same for every captured table, written once. `contract` is cdc_contract()'s.
#}

{#- Every Debezium envelope has the same shape, whatever its table: the row image (a delete's before
    image), then the technical columns staging keeps, read from the envelope and the Kafka position. -#}
{% macro cdc_event_columns() -%}
        case
            when cdc_payload ->> 'op' = 'd' then cdc_payload -> 'before' else cdc_payload -> 'after'
        end as row_image,
        cdc_payload ->> 'op' = 'd' as deleted,
        cdc_payload ->> 'op' as cdc_op,
        cdc_payload -> 'source' ->> 'commit_lsn' as commit_lsn,
        cdc_payload -> 'source' ->> 'change_lsn' as change_lsn,
        (cdc_payload -> 'source' ->> 'event_serial_no')::integer as event_serial_no,
        to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0) as source_committed_at,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        ingested_at
{%- endmacro %}

{#- The columns staging adds after the contract's, in the order of include/dbt/cdc_technical_columns.yml
    (staged_at, which the model writes itself, aside); prefixed with `relation.` when one is given. -#}
{% macro cdc_technical_columns(relation=none, indent=8) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {%- set names = ['deleted', 'cdc_op', 'commit_lsn', 'change_lsn', 'event_serial_no', 'source_committed_at',
                     'kafka_topic', 'kafka_partition', 'kafka_offset', 'ingested_at'] -%}
    {%- for name in names -%}
        {{ prefix ~ name }}{{ ',\n' ~ ' ' * indent if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- Contract columns, each decoded from a row image (debezium_decode); a column named in
    `already_decoded` is passed through by name, so the key is decoded once. -#}
{% macro cdc_decoded_columns(columns, image, already_decoded=[], indent=8) -%}
    {%- set items = [] -%}
    {%- for column in columns -%}
        {%- if column.name in already_decoded -%}
            {%- do items.append(column.name) -%}
        {%- else -%}
            {%- do items.append(debezium_decode(image, column) ~ ' as ' ~ column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ items | join(',\n' ~ ' ' * indent) }}
{%- endmacro %}

{#- The contract's column names, then the technical ones (see cdc_technical_columns). -#}
{% macro cdc_staging_columns(contract, relation=none, indent=8) -%}
    {%- set prefix = relation ~ '.' if relation else '' -%}
    {%- for column in contract['columns'] -%}
        {{ prefix ~ column.name }},{{ '\n' ~ ' ' * indent }}
    {%- endfor -%}
    {{ cdc_technical_columns(relation, indent) }}
{%- endmacro %}

{#- "Latest" is the order SQL Server committed the changes: commit_lsn, change_lsn, event_serial_no
    (LSNs are fixed-width hex, compared as bytes; a snapshot read has no change_lsn and loses a tie).
    Copies of one event (re-emitted after a connector restart) tie there; the first copy in Kafka
    (lowest partition, then offset) wins. After the key, as `distinct on (key)` needs. -#}
{% macro latest_first(contract) -%}
    {{ contract['keys'] | join(' asc, ') }} asc,
        commit_lsn collate "C" desc,
        change_lsn collate "C" desc nulls last,
        event_serial_no desc nulls last,
        kafka_partition asc,
        kafka_offset asc
{%- endmacro %}

{#- The newest ingested_at staging holds: an incremental run reads only bronze rows loaded after it.
    Bronze loads are serialized by load_bronze's lock and finish before dbt runs, so no row can appear
    later with an older ingested_at. -#}
{% macro newest_staged_ingested_at() -%}
    (
            select coalesce(max(staged.ingested_at), '-infinity'::timestamptz)
            from {{ this }} as staged
        )
{%- endmacro %}

{#- An incremental run keeps a key's new row only when it is later (latest_first) than the row staging
    holds for the key: a late or re-emitted older event never brings back an older state. The new rows
    and the staged rows of the same keys are ranked together; a key's row is returned when the new one
    wins (is_new). -#}
{% macro later_than_staged(new, contract) -%}
    {%- set keys = contract['keys'] -%}
    select *
    from (
        select distinct on ({{ keys | join(', ') }}) *
        from (
            select
                {{ new }}.*,
                true as is_new
            from {{ new }}
            union all
            select
                {{ cdc_staging_columns(contract, 'current_state', indent=16) }},
                false as is_new
            from {{ this }} as current_state
            where
                ({% for key in keys %}current_state.{{ key }}{{ ', ' if not loop.last }}{% endfor %})
                in (
                    select {% for key in keys %}{{ new }}.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
                    from {{ new }}
                )
        ) as candidates
        order by
            {{ latest_first(contract) | indent(4) }}
    ) as winners
    where is_new
{%- endmacro %}
