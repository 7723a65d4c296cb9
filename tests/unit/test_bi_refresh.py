"""The BI refresh against a fake Superset: which datasets and charts it picks, metadata refreshed only
when a mart's columns changed, and which errors are retried, which fail at once, none with a password."""

from __future__ import annotations

import json
import socket

import pytest

from include.cdc.bi import refresh
from include.cdc.bi.superset import SupersetAuthError, SupersetClient, SupersetError, SupersetTarget
from include.cdc.errors import PermanentError
from include.cdc.marts import MARTS
from tests.unit.fake_superset import LOGIN, PASSWORD, fake_superset

PRODUCT_COLUMNS = ["product_id", "supplier_name", "is_for_sale"]
SEARCH_COLUMNS = ["product_id", "search_text"]
WAREHOUSE = {"marts.dim_product": PRODUCT_COLUMNS, "marts.dim_product_search": SEARCH_COLUMNS}


@pytest.fixture
def superset():
    with fake_superset() as (url, state):
        both = (11, "For sale")  # a chart on both marts (a virtual join would be one; enough here)
        state.add_dataset(1, "marts", "dim_product", PRODUCT_COLUMNS, [(10, "Products"), both])
        state.add_dataset(2, "marts", "dim_product_search", SEARCH_COLUMNS, [both, (12, "Search")])
        state.add_dataset(3, "staging", "dim_product", PRODUCT_COLUMNS, [(13, "Not a mart")])
        state.add_dataset(4, "marts", "other_table", ["x"], [(14, "Not ours")])
        virtual = "select supplier_name, count(*) as n from marts.dim_product group by 1"
        state.add_dataset(5, "public", "suppliers", ["n"], [(15, "Suppliers")], sql=virtual)
        state.add_dataset(6, "marts", "stock", ["n"], [(16, "Stock")], sql="select 1 from dim_product_search")
        staged = "select 1 from staging.dim_product"
        state.add_dataset(7, "marts", "staged", ["n"], [(17, "Staged")], sql=staged)
        yield url, state


def client(url: str, password: str = PASSWORD, timeout: float = 5.0) -> SupersetClient:
    return SupersetClient(SupersetTarget("cord_superset", url, LOGIN, password, timeout=timeout))


def logged_in(url: str) -> SupersetClient:
    c = client(url)
    c.login()
    return c


def test_the_marts_datasets_are_invalidated_and_each_of_their_charts_warmed_once(superset):
    url, state = superset
    report = refresh.refresh(logged_in(url), MARTS, WAREHOUSE)
    # Virtual datasets too: their SQL reads a mart (named with its schema, or bare in the marts' schema).
    assert [body for m, path, body in state.calls if path == "/api/v1/cachekey/invalidate"] == [
        {"datasource_uids": ["1__table", "2__table", "5__table", "6__table"]}
    ]
    warmed = [body["chart_id"] for m, path, body in state.calls if path == "/api/v1/chart/warm_up_cache"]
    assert warmed == [10, 11, 12, 15, 16]  # chart 11 reads both marts: warmed once
    assert report.charts_warmed == [10, 11, 12, 15, 16]
    assert len(report.datasets) == 4


def test_metadata_is_left_alone_when_the_columns_are_the_warehouse_s(superset):
    url, state = superset
    report = refresh.refresh(logged_in(url), MARTS, WAREHOUSE)
    assert not [p for p in state.paths("PUT") if p.endswith("/refresh")]
    assert report.metadata_refreshed == []


def test_metadata_is_refreshed_only_for_the_mart_whose_columns_changed(superset):
    url, state = superset
    warehouse = {**WAREHOUSE, "marts.dim_product": [*PRODUCT_COLUMNS, "weight_category"]}
    report = refresh.refresh(logged_in(url), MARTS, warehouse)
    assert [p for p in state.paths("PUT") if p.endswith("/refresh")] == ["/api/v1/dataset/1/refresh"]
    assert report.metadata_refreshed == ["marts.dim_product (dataset 1, database 'warehouse')"]
    # Refreshed before the charts are warmed, so that they run on the new columns.
    order = [path for _, path, _ in state.calls]
    assert order.index("/api/v1/dataset/1/refresh") < order.index("/api/v1/chart/warm_up_cache")


def test_a_mart_missing_from_the_warehouse_keeps_its_metadata(superset):
    url, state = superset
    refresh.refresh(logged_in(url), MARTS, {"marts.dim_product": PRODUCT_COLUMNS})
    assert not [p for p in state.paths("PUT") if p.endswith("/refresh")]


@pytest.mark.parametrize(
    ("left", "right", "changed"),
    [
        (["a", "b"], ["b", "a"], False),  # order is Superset's business
        (["a", "b"], ["a", "b", "c"], True),
        (["a", "b"], ["a"], True),
        (["a", "b"], ["a", "c"], True),
    ],
)
def test_columns_changed(left, right, changed):
    assert refresh.columns_changed(left, right) is changed


def test_no_dataset_on_the_marts_touches_nothing():
    with fake_superset() as (url, state):
        report = refresh.refresh(logged_in(url), MARTS, WAREHOUSE)
    assert report.datasets == []
    assert state.paths("POST") == ["/api/v1/security/login"]
    assert not state.paths("PUT")


def test_every_page_of_datasets_is_read():
    with fake_superset() as (url, state):
        for i in range(1, 151):
            state.add_dataset(i, "marts", "dim_product" if i == 150 else f"t{i}", PRODUCT_COLUMNS, [(i, "c")])
        report = refresh.refresh(logged_in(url), MARTS, WAREHOUSE)
    assert report.charts_warmed == [150]


def test_post_and_put_carry_the_csrf_token(superset):
    """Superset 6.1 answers 400 "The CSRF token is missing." without it (the fake does too)."""
    url, state = superset
    refresh.refresh(logged_in(url), MARTS, {**WAREHOUSE, "marts.dim_product": ["changed"]})
    assert "/api/v1/cachekey/invalidate" in state.paths("POST")
    assert "/api/v1/dataset/1/refresh" in state.paths("PUT")


def test_a_chart_that_fails_to_warm_is_named_and_the_others_are_warmed(superset):
    url, state = superset
    state.viz_errors[11] = 'column "is_for_sale" does not exist'
    with pytest.raises(SupersetError) as failed:
        refresh.refresh(logged_in(url), MARTS, WAREHOUSE)
    assert "chart 11 'For sale': column \"is_for_sale\" does not exist" in str(failed.value)
    assert not isinstance(failed.value, PermanentError)
    warmed = [body["chart_id"] for m, path, body in state.calls if path == "/api/v1/chart/warm_up_cache"]
    assert warmed == [10, 11, 12, 15, 16]


def test_a_refused_password_fails_at_once_naming_the_connection_without_the_password(superset, caplog):
    url, _ = superset
    wrong = PASSWORD + "-wrong"
    with pytest.raises(SupersetAuthError) as refused:
        client(url, password=wrong).login()
    text = str(refused.value)
    assert isinstance(refused.value, PermanentError)
    assert f"HTTP 401: Not authorized), connection 'cord_superset' ({LOGIN}@{url})" in text
    assert wrong not in text
    assert wrong not in caplog.text


@pytest.mark.parametrize("path", ["/api/v1/dataset/", "/api/v1/cachekey/invalidate"])
def test_a_user_without_the_rights_fails_at_once(superset, path):
    url, state = superset
    state.fail[path] = 403
    with pytest.raises(SupersetAuthError, match=r"HTTP 403.*cord_superset.*rights"):
        refresh.refresh(logged_in(url), MARTS, WAREHOUSE)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_failing_superset_is_retried(superset, status):
    url, state = superset
    state.fail["/api/v1/dataset/"] = status
    with pytest.raises(SupersetError) as failed:
        refresh.refresh(logged_in(url), MARTS, WAREHOUSE)
    assert not isinstance(failed.value, PermanentError)
    expected = f"HTTP {status} to GET /api/v1/dataset/ (fake failure {status}), connection 'cord_superset'"
    assert expected in str(failed.value)
    assert PASSWORD not in str(failed.value)


def test_a_superset_that_is_down_is_retried_and_named():
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(SupersetError) as down:
        client(url).login()
    assert not isinstance(down.value, PermanentError)
    assert "Cannot reach Superset, connection 'cord_superset'" in str(down.value)
    assert PASSWORD not in str(down.value)


def test_a_silent_superset_fails_within_the_timeout(superset):
    url, state = superset
    state.hang.add("/api/v1/security/login")
    with pytest.raises(SupersetError, match=r"did not answer POST /api/v1/security/login within 0.3 s"):
        client(url, timeout=0.3).login()


def test_the_report_goes_to_xcom_as_json(superset):
    url, _ = superset
    report = refresh.refresh(logged_in(url), MARTS, WAREHOUSE)
    assert json.loads(json.dumps(report.to_xcom()))["charts_warmed"] == [10, 11, 12, 15, 16]


def test_only_the_named_superset_database_s_datasets_are_refreshed():
    with fake_superset() as (url, state):
        state.add_dataset(1, "marts", "dim_product", PRODUCT_COLUMNS, [(10, "Ours")], database="warehouse")
        state.add_dataset(2, "marts", "dim_product", PRODUCT_COLUMNS, [(20, "A copy's")], database="copy")
        report = refresh.refresh(logged_in(url), MARTS, WAREHOUSE, database="warehouse")
    assert report.charts_warmed == [10]
    assert [body for m, path, body in state.calls if path == "/api/v1/cachekey/invalidate"] == [
        {"datasource_uids": ["1__table"]}
    ]


def test_an_expired_token_logs_in_again_once(superset):
    """Tokens last 15 minutes by default; a run that warms many slow charts outlives one."""
    url, state = superset
    c = logged_in(url)
    state.expire_token()
    report = refresh.refresh(c, MARTS, WAREHOUSE)
    assert report.charts_warmed == [10, 11, 12, 15, 16]
    assert state.paths("POST").count("/api/v1/security/login") == 2


def test_a_401_after_logging_in_again_is_a_refusal(superset):
    url, state = superset
    c = logged_in(url)
    state.fail["/api/v1/dataset/"] = 401
    with pytest.raises(SupersetAuthError, match="HTTP 401"):
        refresh.refresh(c, MARTS, WAREHOUSE)
    assert state.paths("POST").count("/api/v1/security/login") == 2
