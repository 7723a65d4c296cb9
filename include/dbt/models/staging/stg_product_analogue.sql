{{ cdc_latest_state(source('bronze', 'product_analogue_cdc')) }}
