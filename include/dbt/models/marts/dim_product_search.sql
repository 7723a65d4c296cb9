{#
  One row per active product for the embedding pipeline, the semantic search API and the proposal
  service: stock, active analogues, OEM numbers and one search text in every language.

  Incremental (strategy sync_keys): the batch is every product affected since this mart was last
  refreshed: its own row, one of its stock rows, OEM numbers or analogue links changed, or a product
  it lists as an analogue changed (a deleted analogue must leave the array). Products that left
  dim_product get a null refreshed_at, which removes them. Deleted stock rows, OEM numbers and links
  never count.
#}
{{ config(unique_key='product_id') }}
-- depends_on: {{ ref('stg_product') }}

{%- set since -%}
(select coalesce(max(refreshed_at), '-infinity'::timestamptz) from {{ this }})
{%- endset %}

with keys as (
    {%- if is_incremental() %}
    select product_id from {{ ref('stg_product') }}
    where staged_at > {{ since }}
    union
    select product_id from {{ ref('stg_product_availability') }}
    where staged_at > {{ since }}
    union
    select product_id from {{ ref('stg_product_oem_number') }}
    where staged_at > {{ since }}
    union
    select product_id from {{ ref('stg_product_analogue') }}
    where staged_at > {{ since }}
    union
    select link.product_id
    from {{ ref('stg_product_analogue') }} as link
    inner join {{ ref('stg_product') }} as analogue on link.analogue_product_id = analogue.product_id
    where analogue.staged_at > {{ since }}
    {%- else %}
    select product_id from {{ ref('dim_product') }}
    {%- endif %}
),

products as (
    select product.*
    from {{ ref('dim_product') }} as product
    where product.product_id in (select keys.product_id from keys)
),

stock_per_warehouse as (
    select
        product_id,
        warehouse_id,
        max(warehouse_name) as warehouse_name,
        sum(quantity) as quantity,
        sum(quantity - coalesce(reserved_quantity, 0)) as available_quantity
    from {{ ref('stg_product_availability') }}
    where not deleted and product_id in (select products.product_id from products)
    group by product_id, warehouse_id
),

stock as (
    select
        product_id,
        sum(quantity) as total_quantity,
        sum(available_quantity) as available_quantity,
        jsonb_agg(
            jsonb_build_object(
                'warehouse_id', warehouse_id,
                'warehouse_name', warehouse_name,
                'quantity', quantity,
                'available_quantity', available_quantity
            )
            order by warehouse_id
        ) as warehouse_stock
    from stock_per_warehouse
    group by product_id
),

analogues as (
    select
        link.product_id,
        array_agg(distinct link.analogue_product_id order by link.analogue_product_id) as ids
    from {{ ref('stg_product_analogue') }} as link
    inner join {{ ref('dim_product') }} as analogue on link.analogue_product_id = analogue.product_id
    where not link.deleted and link.product_id in (select products.product_id from products)
    group by link.product_id
),

oem_numbers as (
    select
        product_id,
        jsonb_agg(
            jsonb_build_object('oem_number', oem_number, 'manufacturer', manufacturer)
            order by manufacturer, oem_number
        ) as numbers,
        string_agg(oem_number, ' ' order by manufacturer, oem_number) as search_words
    from {{ ref('stg_product_oem_number') }}
    where not deleted and product_id in (select products.product_id from products)
    group by product_id
)

select
    keys.product_id,
    products.vendor_code,
    products.name,
    products.brand,
    products.category_name,
    products.supplier_name,
    coalesce(stock.total_quantity, 0)::numeric as total_quantity,
    coalesce(stock.available_quantity, 0)::numeric as available_quantity,
    coalesce(stock.available_quantity, 0) > 0 as in_stock,
    coalesce(stock.warehouse_stock, '[]'::jsonb) as warehouse_stock,
    coalesce(analogues.ids, '{}'::bigint[]) as analogue_product_ids,
    coalesce(oem_numbers.numbers, '[]'::jsonb) as oem_numbers,
    concat_ws(
        ' ',
        products.name, products.name_ua, products.name_pl, products.name_en, products.name_de,
        products.vendor_code, products.main_original_number, oem_numbers.search_words
    ) as search_text,
    case when products.product_id is not null then now() end as refreshed_at
from keys
left join products on keys.product_id = products.product_id
left join stock on keys.product_id = stock.product_id
left join analogues on keys.product_id = analogues.product_id
left join oem_numbers on keys.product_id = oem_numbers.product_id
