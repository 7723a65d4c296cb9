{{ cdc_latest_state(source('bronze', 'product_oem_number_cdc')) }}
