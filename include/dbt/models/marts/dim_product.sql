{#
  Active products for BI: present at the source (not deleted by CDC) and not soft-deleted, with the
  helper columns the dashboards group by.

  Incremental (strategy sync_keys): the batch is every product staging rewrote since this mart was
  last refreshed; products that are no longer active get a null refreshed_at, which removes them.
#}
{{ config(unique_key='product_id') }}

with changed as (
    select
        *,
        not deleted and not coalesce(is_deleted, false) as is_active
    from {{ ref('stg_product') }}
    {%- if is_incremental() %}
    where
        staged_at > (
            select coalesce(max(mart.refreshed_at), '-infinity'::timestamptz) from {{ this }} as mart
        )
    {%- else %}
    where not deleted and not coalesce(is_deleted, false)
    {%- endif %}
)

select
    product_id,
    net_uid,
    vendor_code,
    main_original_number,
    barcode,
    name,
    name_ua,
    name_pl,
    name_en,
    name_de,
    brand,
    supplier_id,
    coalesce(
        nullif(trim(supplier_name_raw), ''),
        'Unknown supplier ' || coalesce(supplier_code, supplier_id::text, '?')
    )
        as supplier_name,
    category_name,
    product_group_id,
    country_of_origin,
    measure_unit,
    weight_kg,
    case
        when weight_kg is null then 'unknown'
        when weight_kg < 1 then 'light'
        when weight_kg < 5 then 'medium'
        when weight_kg < 20 then 'heavy'
        else 'oversized'
    end as weight_category,
    case (
        (coalesce(trim(name_ua), '') <> '')::int + (coalesce(trim(name_pl), '') <> '')::int
        + (coalesce(trim(name_en), '') <> '')::int + (coalesce(trim(name_de), '') <> '')::int
    )
        when 4 then 'complete'
        when 0 then 'base_only'
        else 'partial'
    end as multilingual_status,
    retail_price,
    wholesale_price,
    currency_code,
    discount_percent,
    is_for_sale,
    is_for_web,
    is_on_sale,
    is_hazardous,
    is_oversized,
    warranty_months,
    rating,
    created_at,
    updated_at,
    price_updated_at,
    source_committed_at as last_changed_at,
    ingested_at,
    case when is_active then now() end as refreshed_at
from changed
