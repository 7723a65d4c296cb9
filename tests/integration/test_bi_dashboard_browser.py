"""The dashboard as a person sees it in a browser, with a real scheduler, triggerer and Superset.

Superset answers a dashboard from its cache: after a green run of product_cdc_sync alone, the "Active
products" Big Number still shows the number it showed before. Once ``bi_refresh`` is unpaused, the
marts' Asset event of the next run starts it, and the dashboard shows the marts' new number on a plain
reload (no Force Refresh). With Superset down, ``bi_refresh`` fails naming its connection and sends its
alert, and product_cdc_sync stays green. Screenshots: test-artifacts/browser/bi-*.png.
"""

from __future__ import annotations

import html
import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page

from devstack.demo import DASHBOARD_SLUG
from devstack.stack.config import SUPERSET_ADMIN
from devstack.stack.local_airflow import AirflowServices
from devstack.stack.process import wait_until
from tests.integration.browser import screenshot
from tests.integration.conftest import real_airflow
from tests.integration.test_alerts import mails_about

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services]

SYNC, BI = "product_cdc_sync", "bi_refresh"
BIG_NUMBER = '[data-test-chart-name="Active products"] .header-line'
PER_MART = '[data-test-chart-name="Active products per mart"] td'  # a table on a virtual dataset
ENV = {"PRODUCT_CDC_RETRY_DELAY_SECONDS": "1", "PRODUCT_CDC_SUPERSET_DATABASE": "Cord warehouse"}


def sign_in(page: Page, superset) -> None:
    page.goto(f"{superset.url}/login/")
    page.fill("#username", SUPERSET_ADMIN)
    page.fill("#password", superset.secrets.superset_admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/superset/welcome/**")


def dashboard_shows(page: Page, superset, name: str) -> int:
    """The Big Number on a plain (re)load of the dashboard, as a person opening it sees it."""
    page.goto(f"{superset.url}/superset/dashboard/{DASHBOARD_SLUG}/")
    number = page.locator(BIG_NUMBER)
    number.wait_for()
    screenshot(page, name)
    return int(number.inner_text().replace(",", ""))


def bi_run(airflow, since: datetime, timeout: float = 600) -> dict:
    """The bi_refresh run the marts' Asset event started, once it has finished."""

    def finished() -> list[dict]:
        runs = airflow.runs_of(BI, "asset_triggered", since)
        return [r for r in runs if r["state"] in {"success", "failed"}]

    wait_until(finished, "a bi_refresh run started by the marts' Asset event", timeout)
    (run,) = finished()
    return run


@contextmanager
def scheduler_on(stack, env: dict[str, str]) -> Iterator[AirflowServices]:
    """A real Airflow whose scheduler creates asset-triggered runs (its job schedule on), with
    product_cdc_sync unpaused, the cron's run due now failed, and bi_refresh paused."""
    since = datetime.now(UTC)
    with real_airflow(stack, env, scheduled_runs=True) as airflow:
        airflow.wait_for_dag(SYNC)
        airflow.fail_the_due_cron_run(SYNC, since)
        try:
            yield airflow
        finally:
            airflow.set_paused(BI, True)


def sync(airflow, label: str) -> str:
    run_id = f"{label}-{uuid.uuid4().hex[:6]}"
    airflow.trigger(SYNC, run_id)
    assert airflow.wait_for_run(SYNC, run_id, timeout=900) == "success", label
    return run_id


def active_products(corner) -> int:
    return corner.scalar("select count(*) from marts.dim_product")


@pytest.fixture
def dashboard_corner(stack, superset, corner):
    """The corner's warehouse behind the bundle's dashboard, readable by bi_reader once dbt builds it."""
    superset.grant_bi_reader(corner.database)
    superset.import_bundle(corner.database)
    return corner


def test_the_dashboard_stays_stale_after_a_sync_alone_and_bi_refresh_makes_it_fresh(
    stack, superset, dashboard_corner, page
):
    corner = dashboard_corner
    batches = corner.generator(products=30, events=1800).batches()
    with scheduler_on(stack, {**corner.environment(), **ENV}) as airflow:
        corner.produce_until(batches, 600)
        sync(airflow, "first")  # bi_refresh is paused: product_cdc_sync runs alone
        sign_in(page, superset)
        first = active_products(corner)
        assert dashboard_shows(page, superset, "bi-1-after-the-first-sync") == first

        corner.produce_until(batches, 600)
        sync(airflow, "second")
        second = active_products(corner)
        assert second != first  # the generator's catalog changed (seeded: always so)
        assert dashboard_shows(page, superset, "bi-2-stale-after-a-sync-alone") == first

        airflow.wait_for_dag(BI)  # unpaused: the next publish of the marts starts it
        since = datetime.now(UTC)
        corner.produce([m for batch in batches for m in batch])
        sync(airflow, "third")
        third = active_products(corner)
        assert third != second
        assert bi_run(airflow, since)["state"] == "success"
        assert dashboard_shows(page, superset, "bi-3-fresh-after-bi-refresh") == third
        cells = page.locator(PER_MART).all_inner_texts()
        assert [int(c) for c in cells if c.strip().isdigit()] == [third, third]  # both marts, fresh too


def test_bi_refresh_with_superset_down_fails_naming_its_connection_and_the_sync_stays_green(stack, corner):
    nothing_listens = socket.socket()  # bound, never listening: a connection to it is refused
    nothing_listens.bind(("127.0.0.1", 0))
    down = {**stack.connections()["cord_superset"], "port": nothing_listens.getsockname()[1]}
    env = {
        **corner.environment(),
        **ENV,
        "AIRFLOW_CONN_CORD_SUPERSET": json.dumps(down),
    }
    with nothing_listens, scheduler_on(stack, env) as airflow:
        corner.produce([m for batch in corner.generator(products=10, events=300).batches() for m in batch])
        airflow.wait_for_dag(BI)
        since = datetime.now(UTC)
        sync(airflow, "superset-down")  # green, whatever becomes of bi_refresh
        run = bi_run(airflow, since)
        assert run["state"] == "failed"
        # The DAG processor sends the run's failure email: while Airflow still runs.
        wait_until(lambda: mails_about(stack, run["dag_run_id"]), "bi_refresh's failure email", timeout=120)
    log_dir = stack.dir / "airflow" / "logs" / f"dag_id={BI}" / f"run_id={run['dag_run_id']}"
    log = "\n".join(p.read_text(errors="replace") for p in log_dir.rglob("*.log"))
    assert "Cannot reach Superset, connection 'cord_superset'" in log
    (mail,) = mails_about(stack, run["dag_run_id"])
    body = html.unescape(mail.get_body(("html",)).get_content())
    assert "Cannot reach Superset, connection 'cord_superset'" in body
