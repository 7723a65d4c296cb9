-- name: mart_rows
select
    'marts.dim_product' as mart,
    count(*) as row_count
from marts.dim_product
union all
select
    'marts.dim_product_search' as mart,
    count(*) as row_count
from marts.dim_product_search;
