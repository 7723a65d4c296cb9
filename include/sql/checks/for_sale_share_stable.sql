-- The share of active products for sale moved at most params.max_shift since the previous run
-- (cdc_meta.run_metrics, written by record_run_metrics after the checks). The first run has nothing to
-- compare with.
-- A failure is an alarm: a mass change of IsForSale at the source, or a broken flag in the pipeline.
with current_share as (
    select coalesce(avg(is_for_sale::int), 0) as for_sale_share from marts.dim_product
),

previous as (
    select value as for_sale_share
    from cdc_meta.run_metrics
    where metric = 'for_sale_share'
    order by measured_at desc
    limit 1
)

select
    coalesce(abs((select for_sale_share from current_share) - (select for_sale_share from previous)), 0)
    <= {{ params.max_shift }}
        as for_sale_share_moved_at_most_max_shift
