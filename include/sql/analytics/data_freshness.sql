-- How fresh each layer is: when its newest row arrived, and how far behind the source it is.
--   psql "postgresql://cord_etl@host:5432/cord" -f include/sql/analytics/data_freshness.sql
select
    'bronze.product_cdc' as relation,
    max(ingested_at) as newest_row,
    now() - max(ingested_at) as age,
    max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0)) as newest_source_commit
from bronze.product_cdc
union all
select
    'bronze.product_availability_cdc' as relation,
    max(ingested_at) as newest_row,
    now() - max(ingested_at) as age,
    max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0)) as newest_source_commit
from bronze.product_availability_cdc
union all
select
    'bronze.product_analogue_cdc' as relation,
    max(ingested_at) as newest_row,
    now() - max(ingested_at) as age,
    max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0)) as newest_source_commit
from bronze.product_analogue_cdc
union all
select
    'bronze.product_oem_number_cdc' as relation,
    max(ingested_at) as newest_row,
    now() - max(ingested_at) as age,
    max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0)) as newest_source_commit
from bronze.product_oem_number_cdc
union all
select
    'staging.stg_product' as relation,
    max(staged_at) as newest_row,
    now() - max(staged_at) as age,
    max(source_committed_at) as newest_source_commit
from staging.stg_product
union all
select
    'marts.dim_product' as relation,
    max(refreshed_at) as newest_row,
    now() - max(refreshed_at) as age,
    max(last_changed_at) as newest_source_commit
from marts.dim_product
union all
select
    'marts.dim_product_search' as relation,
    max(refreshed_at) as newest_row,
    now() - max(refreshed_at) as age,
    null as newest_source_commit
from marts.dim_product_search;
