{#
  Incremental strategy "sync_keys", for marts that hold only some of their source's rows (active
  products). The batch holds every key that changed since the last refresh: each of them is deleted
  from the mart and re-inserted unless its presence column (config presence_column, default
  refreshed_at) is null, which marks a key that has left the mart (deleted or deactivated at the
  source). A presence column, not an extra flag column, so the batch keeps the model's contract.
#}
{% macro get_incremental_sync_keys_sql(arg_dict) -%}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set batch = arg_dict["temp_relation"] -%}
    {%- set keys = arg_dict["unique_key"] -%}
    {%- set keys = ([keys] if keys is string else keys) | join(', ') -%}
    {%- set columns = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    {%- set presence = config.get('presence_column', 'refreshed_at') -%}
    delete from {{ target }}
    where ({{ keys }}) in (select {{ keys }} from {{ batch }});

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ batch }}
    where {{ presence }} is not null
{%- endmacro %}
