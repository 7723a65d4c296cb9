-- name: mart_columns
-- Each mart's columns in the warehouse, in order (bi_refresh compares them with Superset's dataset).
select
    table_schema || '.' || table_name as mart,
    column_name
from information_schema.columns
where table_schema || '.' || table_name = any(%(marts)s::text[])
order by mart, ordinal_position;
