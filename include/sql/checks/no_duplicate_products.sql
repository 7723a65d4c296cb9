-- Both marts hold one row per product.
select
    (select count(*) = count(distinct product_id) from marts.dim_product)
        as dim_product_has_unique_product_id,
    (select count(*) = count(distinct product_id) from marts.dim_product_search)
        as dim_product_search_has_unique_product_id
