{{ cdc_latest_state(source('bronze', 'product_availability_cdc')) }}
