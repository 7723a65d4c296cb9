-- name: mart_columns
select
    table_schema || '.' || table_name as mart,
    column_name
from information_schema.columns
where (table_schema || '.' || table_name) = any(%(marts)s)
order by mart, ordinal_position;
