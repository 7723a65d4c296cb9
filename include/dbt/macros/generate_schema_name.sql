{#
  Models land in exactly the schema they configure (staging, marts), not in dbt's default
  <target schema>_<custom schema> (which gave the runbook its staging_staging: docs/manual-procedure.md).
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
