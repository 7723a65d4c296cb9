-- How fresh each layer is: when its newest row arrived, and how far behind the source it is.
--   psql "postgresql://cord_etl@host:5432/cord" -f include/sql/analytics/data_freshness.sql
select 'bronze.product_cdc' as relation, max(ingested_at) as newest_row, now() - max(ingested_at) as age,
       max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0)) as newest_source_commit
from bronze.product_cdc
union all
select 'bronze.product_availability_cdc', max(ingested_at), now() - max(ingested_at),
       max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0))
from bronze.product_availability_cdc
union all
select 'bronze.product_analogue_cdc', max(ingested_at), now() - max(ingested_at),
       max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0))
from bronze.product_analogue_cdc
union all
select 'bronze.product_oem_number_cdc', max(ingested_at), now() - max(ingested_at),
       max(to_timestamp((cdc_payload -> 'source' ->> 'ts_ms')::bigint / 1000.0))
from bronze.product_oem_number_cdc
union all
select 'staging.stg_product', max(staged_at), now() - max(staged_at), max(source_committed_at) from staging.stg_product
union all
select 'marts.dim_product', max(refreshed_at), now() - max(refreshed_at), max(last_changed_at) from marts.dim_product
union all
select 'marts.dim_product_search', max(refreshed_at), now() - max(refreshed_at), null from marts.dim_product_search;
