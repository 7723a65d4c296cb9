-- Figures of this run, for the next run's checks (for_sale_share_stable) and for trend dashboards.
-- Runs after the checks whatever their outcome, so an alarm fires once for a jump, not on every run.
insert into cdc_meta.run_metrics (dag_run_id, metric, value)
select
    %(run_id)s as dag_run_id,
    metric,
    value
from (
    select
        'for_sale_share' as metric,
        coalesce(avg(is_for_sale::int), 0)::numeric as value
    from marts.dim_product
    union all
    select
        'active_products' as metric,
        count(*) as value
    from marts.dim_product
    union all
    select
        'complete_translation_share' as metric,
        coalesce(avg((multilingual_status = 'complete')::int), 0) as value
    from marts.dim_product
    union all
    select
        'in_stock_share' as metric,
        coalesce(avg(in_stock::int), 0) as value
    from marts.dim_product_search
) as figures
on conflict (dag_run_id, metric) do update set value = excluded.value, measured_at = now();
