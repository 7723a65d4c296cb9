-- Every active product in staging is in the mart, and nothing else is.
select
    (select count(*) from marts.dim_product)
    = (select count(*) from staging.stg_product where not deleted and not coalesce(is_deleted, false))
    as dim_product_count_equals_active_staging_rows
