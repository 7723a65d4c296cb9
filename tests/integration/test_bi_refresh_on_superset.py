"""bi_refresh against a real Superset: a chart on a mart answers its old number from Superset's cache
after the mart changed, and the new one once the task ran; a changed mart's dataset gets its columns.

Superset is the stack's (``python -m devstack superset``). Each test registers the corner's warehouse
database in Superset, a dataset and a chart, and deletes them on the way out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from airflow.sdk.exceptions import AirflowFailException

from devstack.stack.config import SUPERSET_ADMIN
from include.cdc.airflow.bi_refresh import refresh_superset
from include.cdc.bi.superset import SupersetClient, SupersetTarget

pytestmark = pytest.mark.integration

run_task = refresh_superset.function  # the task's body, as the worker calls it


@dataclass
class SupersetAdmin:
    """The admin of a Superset under test, and what a test needs to make in it."""

    base_url: str
    login: str
    password: str

    def client(self) -> SupersetClient:
        client = SupersetClient(SupersetTarget("cord_superset", self.base_url, self.login, self.password))
        client.login()
        return client

    def connection(self, password: str | None = None) -> str:
        """``AIRFLOW_CONN_CORD_SUPERSET`` for this Superset."""
        scheme, _, address = self.base_url.partition("://")
        host, _, port = address.rstrip("/").partition(":")
        return json.dumps(
            {
                "conn_type": "http",
                "host": host,
                "port": int(port or 80),
                "schema": scheme,
                "login": self.login,
                "password": password or self.password,
            }
        )

    @contextmanager
    def chart_on(self, warehouse: dict, mart: str) -> Iterator[tuple[int, int]]:
        """(dataset id, chart id) of a ``count(*)`` chart on ``mart`` in the ``warehouse`` connection's
        database, deleted on the way out."""
        api = _Api(self.client())
        password = quote(warehouse["password"], safe="")
        uri = "postgresql+psycopg2://{login}:{password}@{host}:{port}/{schema}".format(
            **warehouse | {"password": password}
        )
        database = api.post(
            "/api/v1/database/", {"database_name": warehouse["schema"], "sqlalchemy_uri": uri}
        )
        schema, table = mart.split(".")
        dataset = api.post("/api/v1/dataset/", {"database": database, "schema": schema, "table_name": table})
        query_context = {
            "datasource": {"id": dataset, "type": "table"},
            "queries": [{"columns": [], "metrics": ["count"], "row_limit": 10}],
            "result_format": "json",
            "result_type": "full",
        }
        params = {"datasource": f"{dataset}__table", "viz_type": "big_number_total", "metric": "count"}
        chart = api.post(
            "/api/v1/chart/",
            {
                "slice_name": f"{mart} rows",
                "viz_type": "big_number_total",
                "datasource_id": dataset,
                "datasource_type": "table",
                "params": json.dumps(params),
                "query_context": json.dumps(query_context),
            },
        )
        try:
            yield dataset, chart
        finally:
            api.delete(f"/api/v1/chart/{chart}")
            api.delete(f"/api/v1/dataset/{dataset}")
            api.delete(f"/api/v1/database/{database}")

    def chart_count(self, chart: int) -> tuple[int, bool]:
        """The chart's number and whether Superset answered it from its cache, as a dashboard asks."""
        result = _Api(self.client()).get(f"/api/v1/chart/{chart}/data/")["result"][0]
        return result["data"][0]["count"], bool(result["is_cached"])

    def dataset_columns(self, dataset: int) -> list[str]:
        return [
            c["column_name"]
            for c in _Api(self.client()).get(f"/api/v1/dataset/{dataset}")["result"]["columns"]
        ]


class _Api:
    def __init__(self, client: SupersetClient) -> None:
        self.client = client

    def _request(self, method: str, path: str, body: dict | None = None):
        response = self.client.session.request(
            method, f"{self.client.target.base_url}{path}", json=body, timeout=60
        )
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def get(self, path: str) -> dict:
        return self._request("GET", path)

    def post(self, path: str, body: dict) -> int:
        return self._request("POST", path, body)["id"]

    def delete(self, path: str) -> None:
        self._request("DELETE", path)


@pytest.fixture(scope="session")
def admin(superset) -> SupersetAdmin:
    """The stack's Superset, as its admin."""
    return SupersetAdmin(superset.url, SUPERSET_ADMIN, superset.secrets.superset_admin_password)


@pytest.fixture
def marts(corner):
    """Two small marts in the corner's database, as the DAG's dbt models leave them (fewer columns)."""
    corner.execute(
        "create schema marts;"
        "create table marts.dim_product (product_id int primary key, supplier_name text, is_for_sale bool);"
        "insert into marts.dim_product"
        " select g, 'S' || mod(g, 3), mod(g, 2) = 0 from generate_series(1, 10) g;"
        "create table marts.dim_product_search (product_id int primary key, search_text text);"
        "insert into marts.dim_product_search select g, 'p' || g from generate_series(1, 10) g;"
    )
    return corner


@pytest.fixture
def on_superset(admin, marts, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CORD_SUPERSET", admin.connection())
    warehouse = json.loads(os.environ["AIRFLOW_CONN_CORD_WAREHOUSE"])
    # The datasets of this test's database only: others in the stack's Superset (the bundle's) may point
    # at a database another test dropped.
    monkeypatch.setenv("PRODUCT_CDC_SUPERSET_DATABASE", warehouse["schema"])
    with admin.chart_on(warehouse, "marts.dim_product") as (dataset, chart):
        yield admin, dataset, chart


def test_a_chart_shows_the_cached_number_until_the_refresh_then_the_new_one(on_superset, marts):
    superset, _, chart = on_superset
    superset.chart_count(chart)
    assert superset.chart_count(chart) == (10, True)
    marts.execute("insert into marts.dim_product select g, 'S', true from generate_series(11, 15) g")
    assert superset.chart_count(chart) == (10, True)  # what a dashboard shows without bi_refresh

    report = run_task()

    assert chart in report["charts_warmed"]
    assert superset.chart_count(chart) == (15, True)  # new, and already in the cache
    assert report["metadata_refreshed"] == []


def test_a_mart_s_new_column_reaches_its_dataset(on_superset, marts):
    superset, dataset, _ = on_superset
    marts.execute("alter table marts.dim_product add column weight_category text")

    report = run_task()

    assert [label.split(" ")[0] for label in report["metadata_refreshed"]] == ["marts.dim_product"]
    assert "weight_category" in superset.dataset_columns(dataset)
    assert run_task()["metadata_refreshed"] == []  # the next run finds nothing to refresh


def test_a_refused_password_fails_at_once_naming_the_connection(admin, marts, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CORD_SUPERSET", admin.connection(password="not-the-password"))
    with pytest.raises(AirflowFailException, match=r"HTTP 401.*connection 'cord_superset'") as failed:
        run_task()
    assert "not-the-password" not in str(failed.value)
