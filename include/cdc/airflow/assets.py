"""Airflow Assets this package updates, for downstream DAGs to schedule on.

from include.cdc.airflow.assets import DIM_PRODUCT

@dag(schedule=[DIM_PRODUCT])
def refresh_product_embeddings(): ...

Named, without a URI: a URI makes every task start import every provider's asset handlers (boto3 among
them, about half a second on a busy worker), and the warehouse's real host stays in its connection.
"""

from __future__ import annotations

from airflow.sdk import Asset

from include.cdc import marts

DIM_PRODUCT = Asset(name=marts.DIM_PRODUCT)
DIM_PRODUCT_SEARCH = Asset(name=marts.DIM_PRODUCT_SEARCH)
