-- Row counts of every layer, like the runbook's validation query. Runnable with psql:
--   psql "$WAREHOUSE_URL" -f include/sql/analytics/layer_counts.sql
select 'bronze.product_cdc' as layer, 'events' as what, count(*) as row_count from bronze.product_cdc
union all
select 'bronze.load_ledger', 'objects loaded', count(*) from bronze.load_ledger
union all
select 'bronze.quarantine', 'records quarantined', count(*) from bronze.quarantine
union all
select 'staging.stg_product', 'products (all)', count(*) from staging.stg_product
union all
select 'staging.stg_product', 'products active', count(*) from staging.stg_product
    where not deleted and not coalesce(is_deleted, false)
union all
select 'staging.stg_product', 'products deleted at the source', count(*) from staging.stg_product where deleted
union all
select 'marts.dim_product', 'active products', count(*) from marts.dim_product;
