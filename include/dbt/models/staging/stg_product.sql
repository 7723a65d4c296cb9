{{ cdc_latest_state(source('bronze', 'product_cdc')) }}
