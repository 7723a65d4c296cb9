-- How many active products are named in each language, and the multilingual status mix.
--   psql "postgresql://cord_etl@host:5432/cord" -f include/sql/analytics/multilingual_coverage.sql
select
    count(*) as active_products,
    round(100.0 * avg((coalesce(trim(name_ua), '') <> '')::int), 1) as ua_percent,
    round(100.0 * avg((coalesce(trim(name_pl), '') <> '')::int), 1) as pl_percent,
    round(100.0 * avg((coalesce(trim(name_en), '') <> '')::int), 1) as en_percent,
    round(100.0 * avg((coalesce(trim(name_de), '') <> '')::int), 1) as de_percent,
    count(*) filter (where multilingual_status = 'complete') as complete,
    count(*) filter (where multilingual_status = 'partial') as partial,
    count(*) filter (where multilingual_status = 'base_only') as base_only
from marts.dim_product;
