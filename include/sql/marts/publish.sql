-- name: mart_rows
select 'marts.dim_product', count(*) from marts.dim_product
union all
select 'marts.dim_product_search', count(*) from marts.dim_product_search;
