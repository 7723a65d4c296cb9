-- No supplier bucket holds more than params.max_share of the active products, except the suppliers
-- listed in PRODUCT_CDC_DOMINANT_SUPPLIERS (bound as allowed_suppliers). A failure usually means
-- supplier names went missing (everything lands in one "Unknown supplier" bucket) or a bad bulk
-- reassignment.
select coalesce(max(supplier_share), 0) <= {{ params.max_share }} as no_supplier_above_max_share
from (
    select count(*)::numeric / (select count(*) from marts.dim_product) as supplier_share
    from marts.dim_product as product
    group by product.supplier_name
    having product.supplier_name <> all(%(allowed_suppliers)s::text[])
) as buckets
