{#
  Post-hook: a unique index on the model's unique_key and an index on its watermark column, created
  when missing. Indexes are unnamed (PostgreSQL names them), so a table rebuilt by a full refresh
  never collides with the names on the table it replaces.
#}
{% macro ensure_indexes(watermark_column) -%}
    {%- set keys = config.get('unique_key') -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {{ ensure_index(keys, unique=true) }}
    {{ ensure_index([watermark_column]) }}
{%- endmacro %}

{% macro ensure_index(columns, unique=false) -%}
do $$
begin
    if not exists (
        select from pg_index as i
        where i.indrelid = '{{ this }}'::regclass
          and i.indisunique = {{ unique }}
          and array(
              select a.attname::text
              from unnest(i.indkey::int2[]) with ordinality as k(attnum, position)
              join pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum
              order by k.position
          ) = array['{{ columns | join("', '") }}']
    ) then
        create {{ 'unique' if unique else '' }} index on {{ this }} ({{ columns | join(', ') }});
    end if;
end
$$;
{%- endmacro %}
