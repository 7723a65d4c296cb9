"""Airflow Assets this package updates, for downstream DAGs to schedule on.

from include.cdc.assets import DIM_PRODUCT

@dag(schedule=[DIM_PRODUCT])
def refresh_product_embeddings(): ...
"""

from __future__ import annotations

from airflow.sdk import Asset

# Logical URIs: the real host and credentials stay in the warehouse connection.
DIM_PRODUCT = Asset(name="marts.dim_product", uri="postgres://cord-warehouse:5432/cord/marts/dim_product")
DIM_PRODUCT_SEARCH = Asset(
    name="marts.dim_product_search", uri="postgres://cord-warehouse:5432/cord/marts/dim_product_search"
)
