-- Active products per supplier, with their share and how many are for sale (largest first).
--   psql "postgresql://cord_etl@host:5432/cord" -f include/sql/analytics/supplier_distribution.sql
select
    supplier_name,
    count(*) as products,
    round(100.0 * count(*) / sum(count(*)) over (), 1) as share_percent,
    count(*) filter (where is_for_sale) as for_sale,
    count(*) filter (where is_on_sale) as on_sale
from marts.dim_product
group by supplier_name
order by products desc, supplier_name asc;
