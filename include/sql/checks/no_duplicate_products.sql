-- The mart has one row per product.
select count(*) = count(distinct product_id) as dim_product_has_no_duplicate_product_id
from marts.dim_product
