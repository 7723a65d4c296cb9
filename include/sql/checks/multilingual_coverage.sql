-- At least params.min_share of the active products are named in every language (UA, PL, EN, DE).
-- A failure usually means a catalog import without translations.
select
    coalesce(avg((multilingual_status = 'complete')::int), 1) >= {{ params.min_share }}
        as multilingual_coverage_at_or_above_threshold
from marts.dim_product
