"""Superset on the local stack (``python -m devstack superset``), started from the repo's files: the
admin logs in with the password of ``secrets.json``, the bundle of include/superset is imported, and its
Big Number shows the active products of a warehouse the pipeline built, read as ``bi_reader``, which
reads the marts only. No credential is on a command line, in Superset's log or in a readable file, and
Superset listens on loopback only.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import psycopg
import pytest
import requests
import yaml

from devstack.stack.config import BI_READER_ROLE, HOST
from devstack.superset import bundle
from tests.integration.conftest import leaked_secrets
from tests.integration.test_real_scheduler_runs import listening_sockets, on_loopback
from tests.integration.warehouse import dbt, ingest

pytestmark = pytest.mark.integration

BIG_NUMBER = "Active products"


@pytest.fixture(scope="module")
def api(superset) -> requests.Session:
    return superset.session()


def bundled(kind: str) -> dict[str, dict]:
    """The bundle's objects of one kind, by uuid."""
    configs = (yaml.safe_load(p.read_text()) for p in (bundle.FOLDER / kind).rglob("*.yaml"))
    return {c["uuid"]: c for c in configs}


def listed(api: requests.Session, url: str, kind: str) -> dict[str, dict]:
    """What Superset holds of one kind, by uuid."""
    response = api.get(f"{url}/api/v1/{kind}/", params={"q": "(page_size:100)"}, timeout=60)
    response.raise_for_status()
    return {item["uuid"]: item for item in response.json()["result"]}


def chart_data(api: requests.Session, url: str, chart_id: int, force: bool) -> dict:
    response = api.get(
        f"{url}/api/v1/chart/{chart_id}/data/", params={"force": str(force).lower()}, timeout=120
    )
    assert response.status_code == 200, response.text[:500]
    return response.json()["result"][0]


def test_the_admin_logs_in_with_the_password_of_secrets_json_only(superset):
    login = {"username": "admin", "password": superset.secrets.superset_admin_password, "provider": "db"}
    answer = requests.post(f"{superset.url}/api/v1/security/login", json=login, timeout=60)
    assert answer.status_code == 200
    assert answer.json()["access_token"]
    wrong = requests.post(
        f"{superset.url}/api/v1/security/login", json={**login, "password": "x"}, timeout=60
    )
    assert wrong.status_code == 401


def test_the_bundle_is_imported_with_its_dashboard_charts_datasets_and_database(superset, api):
    url = superset.url
    for kind in ("chart", "dataset", "dashboard"):
        folder = f"{kind}s"
        assert set(bundled(folder)) <= set(listed(api, url, kind)), kind
    charts = listed(api, url, "chart")
    assert {c["slice_name"] for c in bundled("charts").values()} == {
        charts[uuid]["slice_name"] for uuid in bundled("charts")
    }
    (database,) = bundled("databases").values()
    databases = api.get(f"{url}/api/v1/database/", timeout=60).json()["result"]
    assert [d["database_name"] for d in databases] == [database["database_name"]]
    dashboard = api.get(f"{url}/api/v1/dashboard/cord-product-catalog", timeout=60)
    assert dashboard.status_code == 200
    assert dashboard.json()["result"]["published"] is True


def test_the_big_number_shows_the_active_products_of_the_marts(
    stack, superset, api, corner, monkeypatch, tmp_path
):
    superset.grant_bi_reader(corner.database)  # before dbt: its default privileges cover the new marts
    corner.produce(list(corner.generator(products=30, events=1500).messages()))
    ingest()
    dbt(corner, monkeypatch, tmp_path, "build")
    superset.import_bundle(corner.database)
    active = corner.scalar("select count(*) from marts.dim_product")
    assert active > 0
    big_number = next(c for c in listed(api, superset.url, "chart").values() if c["slice_name"] == BIG_NUMBER)

    shown = chart_data(api, superset.url, big_number["id"], force=True)
    assert shown["data"] == [{"count": active}]

    # A day's cache: the marts change, the chart keeps showing what it showed until it is refreshed.
    corner.execute(
        "delete from marts.dim_product where product_id in (select min(product_id) from marts.dim_product)"
    )
    cached = chart_data(api, superset.url, big_number["id"], force=False)
    assert (cached["is_cached"], cached["data"]) == (True, [{"count": active}])
    refreshed = chart_data(api, superset.url, big_number["id"], force=True)
    assert refreshed["data"] == [{"count": active - 1}]

    for chart in bundled("charts").values():  # every chart of the dashboard answers on a built warehouse
        chart_id = listed(api, superset.url, "chart")[chart["uuid"]]["id"]
        assert chart_data(api, superset.url, chart_id, force=True)["data"], chart["slice_name"]


def test_bi_reader_reads_the_marts_and_nothing_else_and_writes_nothing(stack, superset, corner):
    superset.grant_bi_reader(corner.database)
    corner.execute("create schema if not exists bronze; create table bronze.secret_events (id int)")
    corner.execute("create schema if not exists cdc_meta; create table cdc_meta.secret_ledger (id int)")
    corner.execute("create table marts.later_mart (id int); insert into marts.later_mart values (1)")
    reader = psycopg.connect(
        host=HOST,
        port=stack.ports.postgres,
        user=BI_READER_ROLE,
        password=stack.secrets.bi_reader_password,
        dbname=corner.database,
        autocommit=True,
    )
    with reader:
        assert reader.execute("select id from marts.later_mart").fetchall() == [(1,)]  # default privileges
        for statement in (
            "select * from bronze.secret_events",
            "select * from cdc_meta.secret_ledger",  # the load's bookkeeping
            "insert into marts.later_mart values (2)",
            "delete from marts.later_mart",
            "create table marts.mine (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)


def test_no_credential_on_a_command_line_in_the_log_or_a_readable_file(stack, superset):
    leader = psutil.Process(superset.process.pid())
    for process in (leader, *leader.children(recursive=True)):
        assert leaked_secrets(stack, " ".join(process.cmdline())) == [], process.pid
        # The stack's connections in the environment of the test session stay out of Superset's.
        assert leaked_secrets(stack, "\n".join(process.environ().values())) == [], process.pid
    assert leaked_secrets(stack, superset.log.read_text(errors="replace")) == []
    assert superset.config_file.stat().st_mode & 0o077 == 0
    assert (stack.dir / "secrets.json").stat().st_mode & 0o077 == 0
    readable = [p for p in Path(superset.home).rglob("*") if p.is_file() and p.stat().st_mode & 0o044]
    assert not [p for p in readable if leaked_secrets(stack, p.read_text(errors="replace"))]


def test_superset_listens_on_loopback_only(stack, superset):
    ours = [s for s in listening_sockets(stack.dir) if s[1] in {superset.process.pid()} | {
        c.pid for c in psutil.Process(superset.process.pid()).children(recursive=True)}]  # fmt: skip
    assert {(address, port) for _, _, address, port in ours} == {(HOST, superset.port)}
    assert all(on_loopback(address) for _, _, address, _ in ours)
