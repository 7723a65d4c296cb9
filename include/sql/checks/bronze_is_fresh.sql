-- The newest change reached bronze less than params.max_age_hours ago. A failure means nothing new
-- arrived for that long: check that the connector still captures (its status, SQL Server CDC jobs).
select
    coalesce(max(newest) > now() - make_interval(secs => {{ params.max_age_hours }} * 3600), false)
        as newest_bronze_row_is_fresh
from (
    {%- for bronze_table, _ in params.tables %}
    select max(ingested_at) as newest from bronze.{{ bronze_table }}{{ " union all" if not loop.last }}
    {%- endfor %}
) as per_table
