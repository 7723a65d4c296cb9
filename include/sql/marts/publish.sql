-- name: dim_product_rows
select count(*) from marts.dim_product;
