-- Staging is derived from bronze: it cannot hold more rows than bronze holds events.
select (select count(*) from bronze.product_cdc) >= (select count(*) from staging.stg_product)
    as bronze_events_cover_staging_rows
