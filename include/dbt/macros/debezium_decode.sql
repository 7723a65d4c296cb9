{#
  Decoding of Debezium SQL Server column values (JsonConverter, default settings), driven by the
  sqlserver_type each contract column declares. See docs/debezium-encodings.md:
    decimal/numeric/money: base64 of the unscaled two's-complement integer, or a plain string
    datetime/datetime2(0-3): epoch ms; datetime2(4-6): epoch µs; datetime2(7): epoch ns
    date: days since 1970-01-01; datetimeoffset: ISO-8601 string; bit: true/false
  PostgreSQL keeps microseconds, so datetime2(7)'s 100 ns steps are truncated.
#}

{% macro sqlserver_type(type_text) -%}
    {%- set m = modules.re.match('^\s*(\w+)\s*(?:\(\s*(\w+)\s*(?:,\s*(\d+)\s*)?\))?\s*$', type_text) -%}
    {%- if not m -%}
        {{ exceptions.raise_compiler_error("unsupported SQL Server type '" ~ type_text ~ "'") }}
    {%- endif -%}
    {%- set name = m.group(1) | lower -%}
    {%- set first, second = m.group(2), m.group(3) -%}
    {%- if name in ('decimal', 'numeric', 'datetime2') and first is not none and not first.isdigit() -%}
        {{ exceptions.raise_compiler_error("unsupported SQL Server type '" ~ type_text ~ "': " ~ name ~ " takes a number") }}
    {%- endif -%}
    {%- if name in ('decimal', 'numeric') -%}
        {{ return({'name': name, 'precision': (first or 18) | int, 'scale': (second or 0) | int}) }}
    {%- elif name == 'money' -%}
        {{ return({'name': name, 'precision': 19, 'scale': 4}) }}
    {%- elif name == 'smallmoney' -%}
        {{ return({'name': name, 'precision': 10, 'scale': 4}) }}
    {%- elif name == 'datetime2' -%}
        {{ return({'name': name, 'precision': (first if first is not none else 7) | int}) }}
    {%- else -%}
        {{ return({'name': name, 'length': first}) }}
    {%- endif -%}
{%- endmacro %}


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


{% macro debezium_decode(image, column) -%}
    {%- set t = sqlserver_type(column.meta.sqlserver_type) -%}
    {%- set raw = "(" ~ image ~ " ->> '" ~ column.meta.source_column ~ "')" -%}
    {%- set integers = {'bigint': 'bigint', 'int': 'integer', 'smallint': 'smallint', 'tinyint': 'smallint'} -%}
    {%- if t.name in integers -%}
        {{ raw }}::{{ integers[t.name] }}
    {%- elif t.name == 'bit' -%}
        {{ raw }}::boolean
    {%- elif t.name in ('decimal', 'numeric', 'money', 'smallmoney') -%}
        ({{ debezium_decimal(raw, t.scale) }})::numeric({{ t.precision }}, {{ t.scale }})
    {%- elif t.name == 'real' -%}
        {{ raw }}::real
    {%- elif t.name == 'float' -%}
        {{ raw }}::double precision
    {%- elif t.name == 'uniqueidentifier' -%}
        {{ raw }}::uuid
    {%- elif t.name == 'date' -%}
        (date '1970-01-01' + {{ raw }}::integer)
    {%- elif t.name == 'datetimeoffset' -%}
        {{ raw }}::timestamptz
    {%- elif t.name in ('datetime', 'smalldatetime') or (t.name == 'datetime2' and t.precision <= 3) -%}
        (timestamp '1970-01-01' + {{ raw }}::bigint * interval '1 millisecond')
    {%- elif t.name == 'datetime2' and t.precision <= 6 -%}
        (timestamp '1970-01-01' + {{ raw }}::bigint * interval '1 microsecond')
    {%- elif t.name == 'datetime2' -%}
        (timestamp '1970-01-01' + floor({{ raw }}::numeric / 1000)::bigint * interval '1 microsecond')
    {%- else -%}
        {{ raw }}
    {%- endif -%}
{%- endmacro %}
