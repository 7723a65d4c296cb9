-- Row counts of every layer, like the runbook's validation (docs/manual-procedure.md). Runnable with psql:
--   psql "postgresql://cord_etl@host:5432/cord" -f include/sql/analytics/layer_counts.sql
select layer, what, row_count
from (
    select 'bronze.product_cdc' as layer, 'events' as what, count(*) as row_count from bronze.product_cdc
    union all select 'bronze.product_availability_cdc', 'events', count(*) from bronze.product_availability_cdc
    union all select 'bronze.product_analogue_cdc', 'events', count(*) from bronze.product_analogue_cdc
    union all select 'bronze.product_oem_number_cdc', 'events', count(*) from bronze.product_oem_number_cdc
    union all select 'bronze.load_ledger', 'objects loaded', count(*) from bronze.load_ledger
    union all select 'bronze.quarantine', 'records quarantined', count(*) from bronze.quarantine
    union all select 'staging.stg_product', 'rows (deleted ones kept)', count(*) from staging.stg_product
    union all select 'staging.stg_product', 'active products', count(*) from staging.stg_product
        where not deleted and not coalesce(is_deleted, false)
    union all select 'staging.stg_product', 'deleted at the source', count(*) from staging.stg_product where deleted
    union all select 'staging.stg_product_availability', 'rows (live)', count(*) filter (where not deleted)
        from staging.stg_product_availability
    union all select 'staging.stg_product_analogue', 'rows (live)', count(*) filter (where not deleted)
        from staging.stg_product_analogue
    union all select 'staging.stg_product_oem_number', 'rows (live)', count(*) filter (where not deleted)
        from staging.stg_product_oem_number
    union all select 'marts.dim_product', 'active products', count(*) from marts.dim_product
    union all select 'marts.dim_product_search', 'active products', count(*) from marts.dim_product_search
) as counts
order by case split_part(layer, '.', 1) when 'bronze' then 1 when 'staging' then 2 else 3 end, layer, what;
