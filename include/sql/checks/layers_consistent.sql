-- Every layer agrees with the one below it. One column per rule; the check fails on any false one.
--   staging is derived from bronze: no captured table has more staging rows than bronze events;
--   dim_product holds exactly the active staging products, dim_product_search exactly dim_product's.
select
    {%- for bronze_table, staging_model in params.tables %}
    (select count(*) from bronze.{{ bronze_table }}) >= (select count(*) from staging.{{ staging_model }})
        as {{ bronze_table }}_covers_{{ staging_model }},
    {%- endfor %}
    (select count(*) from marts.dim_product)
    = (
        select count(*) from staging.stg_product
        where not deleted and not coalesce(is_deleted, false)
    )
        as dim_product_equals_active_stg_product,
    (select count(*) from marts.dim_product_search) = (select count(*) from marts.dim_product)
        as dim_product_search_equals_dim_product
