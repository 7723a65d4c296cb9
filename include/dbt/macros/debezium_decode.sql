{#
  Decoding of Debezium SQL Server column values (JsonConverter, default settings), driven by the
  sqlserver_type each contract column declares: a mapping such as {type: decimal, precision: 10,
  scale: 3}, which include/cdc/contract.py checks (every parameter a cast needs is there; money and
  smallmoney spell their fixed precision and scale). See docs/debezium-encodings.md:
    decimal/numeric/money: base64 of the unscaled two's-complement integer, or a plain string
    datetime/datetime2(0-3): epoch ms; datetime2(4-6): epoch µs; datetime2(7): epoch ns
    date: days since 1970-01-01; datetimeoffset: ISO-8601 string; bit: true/false
  PostgreSQL keeps microseconds, so datetime2(7)'s 100 ns steps are truncated.
#}

{% macro debezium_decimal(text_value, scale) -%}
    {#- A signed big-endian integer of up to 16 bytes, from base64, scaled down by 10^scale. -#}
    {%- set bytes = "decode(" ~ text_value ~ ", 'base64')" -%}
    {%- set sign_pad = "case when get_byte(" ~ bytes ~ ", 0) >= 128 then 'f' else '0' end" -%}
    {%- set from_base64 -%}
        (case
            when length({{ bytes }}) <= 8 then
                ('x' || lpad(encode({{ bytes }}, 'hex'), 16, {{ sign_pad }}))::bit(64)::bigint::numeric
            else
                ('x' || lpad(encode(substr({{ bytes }}, 1, length({{ bytes }}) - 8), 'hex'), 16, {{ sign_pad }}))::bit(64)::bigint::numeric
                * 18446744073709551616
                + ('x' || encode(substr({{ bytes }}, length({{ bytes }}) - 7), 'hex'))::bit(64)::bigint::numeric
                + case when get_byte({{ bytes }}, length({{ bytes }}) - 8) >= 128 then 18446744073709551616 else 0 end
        end / {{ 10 ** scale }}::numeric)
    {%- endset -%}
    {%- set mode = var('debezium_decimal_handling', 'auto') -%}
    {%- if mode == 'precise' -%}
        {{ from_base64 }}
    {%- elif mode == 'string' -%}
        ({{ text_value }})::numeric
    {%- else -%}
        {#- base64 never holds '.' or '-', and its length is a multiple of 4 -#}
        case
            when {{ text_value }} ~ '[.-]' or length({{ text_value }}) % 4 <> 0 then ({{ text_value }})::numeric
            else {{ from_base64 }}
        end
    {%- endif -%}
{%- endmacro %}


{#- One contract column (its properties: name, meta.source_column, meta.sqlserver_type) of a Debezium
    row image (a jsonb expression), as the column's PostgreSQL type. -#}
{% macro debezium_decode(image, column) -%}
    {%- set t = column.meta.sqlserver_type -%}
    {%- set raw = "(" ~ image ~ " ->> '" ~ column.meta.source_column ~ "')" -%}
    {%- set integers = {'bigint': 'bigint', 'int': 'integer', 'smallint': 'smallint', 'tinyint': 'smallint'} -%}
    {%- set strings = ('char', 'varchar', 'nchar', 'nvarchar', 'text', 'ntext') -%}
    {%- if t is not mapping -%}
        {{ exceptions.raise_compiler_error(column.name ~ ": meta.sqlserver_type must be a mapping such as {type: decimal, precision: 18, scale: 2}") }}
    {%- elif t.type in integers -%}
        {{ raw }}::{{ integers[t.type] }}
    {%- elif t.type == 'bit' -%}
        {{ raw }}::boolean
    {%- elif t.type in ('decimal', 'numeric', 'money', 'smallmoney') -%}
        ({{ debezium_decimal(raw, t.scale) }})::numeric({{ t.precision }}, {{ t.scale }})
    {%- elif t.type == 'real' -%}
        {{ raw }}::real
    {%- elif t.type == 'float' -%}
        {{ raw }}::double precision
    {%- elif t.type == 'uniqueidentifier' -%}
        {{ raw }}::uuid
    {%- elif t.type == 'date' -%}
        (date '1970-01-01' + {{ raw }}::integer)
    {%- elif t.type == 'datetimeoffset' -%}
        {{ raw }}::timestamptz
    {%- elif t.type in ('datetime', 'smalldatetime') or (t.type == 'datetime2' and t.precision <= 3) -%}
        (timestamp '1970-01-01' + {{ raw }}::bigint * interval '1 millisecond')
    {%- elif t.type == 'datetime2' and t.precision <= 6 -%}
        (timestamp '1970-01-01' + {{ raw }}::bigint * interval '1 microsecond')
    {%- elif t.type == 'datetime2' -%}
        (timestamp '1970-01-01' + floor({{ raw }}::numeric / 1000)::bigint * interval '1 microsecond')
    {%- elif t.type in strings -%}
        {{ raw }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(column.name ~ ": no decoding for SQL Server type '" ~ t.type ~ "'") }}
    {%- endif -%}
{%- endmacro %}
