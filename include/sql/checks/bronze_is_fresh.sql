-- The newest change reached bronze less than params.max_age_hours ago. A failure means nothing new
-- arrived for that long: check that the connector still captures (its status, SQL Server CDC jobs).
select coalesce(max(ingested_at) > now() - make_interval(secs => {{ params.max_age_hours }} * 3600), false)
    as newest_bronze_row_is_fresh
from bronze.product_cdc
