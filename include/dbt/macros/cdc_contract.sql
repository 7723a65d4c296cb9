{#
  The contract of the staging model being compiled, from its properties file (stg_*.yml): its
  primary key (config.unique_key) and its captured columns (every column with meta.source_column, in
  the file's order), for the model's SQL to loop over. A column added to the contract so appears in
  staging without editing SQL.

  A dbt unit test compiles the model with the unit test itself as `model`, which has neither the
  model's config nor its columns: each unit test of a staging model hands them over as var cdc_model,
  {config: ..., columns: ...}, YAML anchors to the model's own properties in the same file (see
  stg_product.yml), so the contract is still written once.

  Returns {keys: [names], key_columns: [columns], columns: [columns]}; at parse time, when the model's
  properties are not attached yet, empty lists (only the model's source() call matters then).
#}
{% macro cdc_contract() -%}
    {%- if not execute -%}
        {{ return({'keys': [], 'key_columns': [], 'columns': []}) }}
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
    {%- set columns = [] -%}
    {%- for column in (node.columns.values() if node.columns is mapping else node.columns) -%}
        {%- if column.meta and column.meta.source_column -%}
            {%- do columns.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set key_columns = [] -%}
    {%- for key in keys -%}
        {%- for column in columns if column.name == key -%}
            {%- do key_columns.append(column) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return({'keys': keys, 'key_columns': key_columns, 'columns': columns}) }}
{%- endmacro %}
