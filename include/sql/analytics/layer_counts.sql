-- Row counts of every layer, like the runbook's validation (docs/manual-procedure.md). Runnable with psql:
--   psql "postgresql://cord_etl@host:5432/cord" -f include/sql/analytics/layer_counts.sql
select
    layer,
    what,
    row_count
from (
    select
        'bronze.product_cdc' as layer,
        'events' as what,
        count(*) as row_count
    from bronze.product_cdc
    union all
    select
        'bronze.product_availability_cdc' as layer,
        'events' as what,
        count(*) as row_count
    from bronze.product_availability_cdc
    union all
    select
        'bronze.product_analogue_cdc' as layer,
        'events' as what,
        count(*) as row_count
    from bronze.product_analogue_cdc
    union all
    select
        'bronze.product_oem_number_cdc' as layer,
        'events' as what,
        count(*) as row_count
    from bronze.product_oem_number_cdc
    union all
    select
        'cdc_meta.load_ledger' as layer,
        'objects loaded' as what,
        count(*) as row_count
    from cdc_meta.load_ledger
    union all
    select
        'cdc_meta.quarantine' as layer,
        'records quarantined' as what,
        count(*) as row_count
    from cdc_meta.quarantine
    union all
    select
        'staging.stg_product' as layer,
        'rows (deleted ones kept)' as what,
        count(*) as row_count
    from staging.stg_product
    union all
    select
        'staging.stg_product' as layer,
        'active products' as what,
        count(*) as row_count
    from staging.stg_product
    where not deleted and not coalesce(is_deleted, false)
    union all
    select
        'staging.stg_product' as layer,
        'deleted at the source' as what,
        count(*) as row_count
    from staging.stg_product
    where deleted
    union all
    select
        'staging.stg_product_availability' as layer,
        'rows (live)' as what,
        count(*) filter (where not deleted) as row_count
    from staging.stg_product_availability
    union all
    select
        'staging.stg_product_analogue' as layer,
        'rows (live)' as what,
        count(*) filter (where not deleted) as row_count
    from staging.stg_product_analogue
    union all
    select
        'staging.stg_product_oem_number' as layer,
        'rows (live)' as what,
        count(*) filter (where not deleted) as row_count
    from staging.stg_product_oem_number
    union all
    select
        'marts.dim_product' as layer,
        'active products' as what,
        count(*) as row_count
    from marts.dim_product
    union all
    select
        'marts.dim_product_search' as layer,
        'active products' as what,
        count(*) as row_count
    from marts.dim_product_search
) as counts
order by case split_part(layer, '.', 1) when 'bronze' then 1 when 'staging' then 2 else 3 end, layer, what;
