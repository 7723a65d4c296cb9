"""The marts this package publishes, as ``schema.table``: one list for the Airflow Assets, the BI refresh
and anything else that names them."""

from __future__ import annotations

DIM_PRODUCT = "marts.dim_product"
DIM_PRODUCT_SEARCH = "marts.dim_product_search"
MARTS = (DIM_PRODUCT, DIM_PRODUCT_SEARCH)
