{#
  Active products for BI: present at the source (not deleted by CDC) and not soft-deleted,
  with the helper columns the dashboards group by.
#}
with active_products as (
    select *
    from {{ ref('stg_product') }}
    where not deleted
      and not coalesce(is_deleted, false)
),

translations as (
    select
        product_id,
        (name_ua is not null and trim(name_ua) <> '')::int
        + (name_pl is not null and trim(name_pl) <> '')::int
        + (name_en is not null and trim(name_en) <> '')::int
        + (name_de is not null and trim(name_de) <> '')::int as translated_names
    from active_products
)

select
    p.product_id,
    p.net_uid,
    p.vendor_code,
    p.main_original_number,
    p.barcode,
    p.name,
    p.name_ua,
    p.name_pl,
    p.name_en,
    p.name_de,
    p.brand,
    p.supplier_id,
    coalesce(nullif(trim(p.supplier_name_raw), ''), 'Unknown supplier ' || coalesce(p.supplier_code, p.supplier_id::text, '?'))
        as supplier_name,
    p.category_name,
    p.product_group_id,
    p.country_of_origin,
    p.measure_unit,
    p.weight_kg,
    case
        when p.weight_kg is null then 'unknown'
        when p.weight_kg < 1 then 'light'
        when p.weight_kg < 5 then 'medium'
        when p.weight_kg < 20 then 'heavy'
        else 'oversized'
    end as weight_category,
    case t.translated_names
        when 4 then 'complete'
        when 0 then 'base_only'
        else 'partial'
    end as multilingual_status,
    p.retail_price,
    p.wholesale_price,
    p.currency_code,
    p.discount_percent,
    p.is_for_sale,
    p.is_for_web,
    p.is_on_sale,
    p.is_hazardous,
    p.is_oversized,
    p.warranty_months,
    p.rating,
    p.created_at,
    p.updated_at,
    p.price_updated_at,
    p.source_committed_at as last_changed_at,
    p.ingested_at
from active_products as p
inner join translations as t using (product_id)
