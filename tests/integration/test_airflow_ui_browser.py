"""The Airflow UI in a real browser, used as an operator uses it.

Debian's Chromium, driven by Playwright, against a real Airflow (API server, scheduler, DAG processor,
triggerer) on the local stack, with a corner of the stack for this module: the Graph shows the DAG's
stages left to right in their order, under the names the DAG gives them; a run triggered from the
Trigger form with "Events per run" set loads exactly that many events into bronze; a run with the
"Full refresh" switch on skips the Kafka drain, and the drain's log says why in its main section; a
task's log shows what the task did. Each step's screenshot is saved under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pytest
from playwright.sync_api import Page, expect

from devstack.demo import load_dag
from include.cdc.airflow.tasks import FULL_REFRESH_SKIP
from include.cdc.contract import load_contract
from tests.integration.browser import new_page, screenshot
from tests.integration.conftest import Corner, new_corner, real_airflow

pytestmark = [pytest.mark.integration, pytest.mark.airflow_services, pytest.mark.browser]

DAG_ID = "product_cdc_sync"
PRODUCTS = 30
# Only the generator's snapshot goes to Kafka: every product, then its stock rows, OEM numbers and
# analogue links, all op "r", so every record is an event bronze keeps (no tombstone). The cap is shared
# max-min fairly across the four topics: four times the products reads every product, so each child
# row read finds its product and the run's relationship tests pass; the child topics hold more than
# their share, so the cap leaves records in Kafka.
MAX_EVENTS = 4 * PRODUCTS
RUN_TIMEOUT_MS = 900_000


@dataclass
class FinishedRun:
    run_id: str
    state: str  # as the UI shows it


class AirflowUI:
    """The pages of the Airflow UI these tests use, reached and read as a person does."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url

    def open_dag(self) -> None:
        self.page.goto(f"{self.url}/dags/{DAG_ID}")

    def trigger(self, screenshot_name: str, numbers: dict[str, int] | None = None, switches=()) -> str:
        """Trigger a run from the Trigger form, its params set by their titles; the new run's id."""
        self.open_dag()
        self.page.get_by_role("button", name="Trigger Dag").click()
        form = self.page.get_by_role("dialog")
        for title, value in (numbers or {}).items():
            field = form.get_by_role("spinbutton", name=title)
            field.fill(str(value))
            expect(field).to_have_value(str(value))
        for title in switches:
            switch = form.get_by_role("checkbox", name=title)
            switch.locator("xpath=..").click()  # the input is hidden: a person clicks the switch's label
            expect(switch).to_be_checked()
        screenshot(self.page, screenshot_name)
        form.get_by_role("button", name="Trigger", exact=True).click()
        self.page.wait_for_url(re.compile(rf"/dags/{DAG_ID}/runs/[^/]+$"))
        return unquote(self.page.url.rsplit("/runs/", 1)[1])

    def open_run(self, run_id: str) -> None:
        self.page.goto(f"{self.url}/dags/{DAG_ID}/runs/{quote(run_id)}")

    def header_state(self):
        """The state badge in the header of a run's or a task instance's page."""
        return self.page.get_by_test_id("header-card").get_by_test_id("state-badge")

    def wait_for_run(self, run_id: str) -> str:
        """The run's state once it has finished, as its page shows it (the page follows a run that is
        going: a slow answer of the API server only delays it)."""
        self.open_run(run_id)
        state = self.header_state()
        expect(state).to_have_text(re.compile(r"^(Success|Failed)$"), timeout=RUN_TIMEOUT_MS)
        return state.inner_text()

    def open_task_log(self, run_id: str, task_label: str):
        """Open a task instance from its run's task list; its log (the page's first tab)."""
        self.open_run(run_id)
        self.page.get_by_test_id("table-list").get_by_role("link", name=task_label, exact=True).click()
        expect(self.page.get_by_role("heading", name=task_label)).to_be_visible()
        return self.page.get_by_test_id("virtualized-list")


@pytest.fixture(scope="module")
def ui_corner(stack):
    with pytest.MonkeyPatch.context() as monkeypatch, new_corner(stack, monkeypatch) as corner:
        yield corner


@pytest.fixture(scope="module")
def snapshot(ui_corner: Corner) -> None:
    """The generator's snapshot, produced to the corner's topics."""
    messages = next(ui_corner.generator(products=PRODUCTS).batches())
    assert all(m.value is not None for m in messages)
    assert len(messages) > MAX_EVENTS, "the cap must leave events in Kafka"
    ui_corner.produce(messages)


@pytest.fixture(scope="module")
def airflow(stack, ui_corner):
    with real_airflow(stack, {**ui_corner.environment(), "PRODUCT_CDC_RETRY_DELAY_SECONDS": "1"}) as services:
        services.wait_for_dag(DAG_ID)
        yield services


@pytest.fixture(scope="module")
def dag():
    return load_dag()


@pytest.fixture
def ui(page, airflow) -> AirflowUI:
    return AirflowUI(page, airflow.url)


@pytest.fixture(scope="module")
def capped_run(chromium, airflow, ui_corner, snapshot) -> FinishedRun:
    """A run triggered from the Trigger form with "Events per run" set to MAX_EVENTS, once finished."""
    assert ui_corner.scalar("select to_regnamespace('bronze') is null"), "bronze must start empty"
    with new_page(chromium) as page:
        ui = AirflowUI(page, airflow.url)
        run_id = ui.trigger("2a-trigger-form-events-per-run", {"Events per run": MAX_EVENTS})
        state = ui.wait_for_run(run_id)
        screenshot(page, "2b-capped-run-finished")
    return FinishedRun(run_id, state)


def top_level_node(task) -> str:
    """The id of the graph's top-level node (the task, or its outermost group) that holds ``task``."""
    node_id, group = task.task_id, task.task_group
    while group.group_id is not None:
        node_id, group = group.group_id, group.parent_group
    return node_id


def test_graph_shows_the_stages_left_to_right_in_order(ui, dag):
    nodes = dag.task_group.topological_sort()
    edges = {
        (top_level_node(dag.get_task(upstream)), node.node_id)
        for node in nodes
        for upstream in node.upstream_task_ids
    }

    ui.open_dag()
    ui.page.get_by_role("button", name=re.compile("Show Graph")).click()
    boxes = {}
    for node in nodes:
        shown = ui.page.get_by_test_id(f"rf__node-{node.node_id}")
        expect(shown).to_contain_text(node.label)
        boxes[node.node_id] = shown.bounding_box()
    screenshot(ui.page, "1-graph")

    assert edges, "the stages are chained"
    for upstream, downstream in sorted(edges):
        up, down = boxes[upstream], boxes[downstream]
        assert up["x"] + up["width"] <= down["x"], f"{upstream} is not drawn left of {downstream}"


def test_trigger_form_caps_the_events_of_a_run(ui_corner, capped_run):
    assert capped_run.state == "Success"
    assert ui_corner.bronze_rows() == MAX_EVENTS


def test_full_refresh_switch_skips_the_drain_and_its_log_says_why(ui, ui_corner, dag, capped_run):
    assert capped_run.state == "Success", "a full refresh replays the archive the capped run wrote"

    run_id = ui.trigger("3a-trigger-form-full-refresh", switches=["Full refresh"])
    assert ui.wait_for_run(run_id) == "Success"

    log = ui.open_task_log(run_id, dag.get_task("drain_kafka").task_display_name)
    expect(ui.header_state()).to_have_text("Skipped")
    # In the log's main section: shown while "Post Execute", where the skip's own message is, stays shut.
    expect(log.get_by_text(f"skipped: {FULL_REFRESH_SKIP}")).to_be_visible()
    expect(log.get_by_text("▶ Post Execute")).to_be_visible()
    screenshot(ui.page, "3b-drain-skipped-log")

    assert ui_corner.bronze_rows() == MAX_EVENTS, "bronze rebuilt from the archive, Kafka not read"


def test_task_log_shows_what_the_task_did(ui, dag, capped_run):
    assert capped_run.state == "Success"

    log = ui.open_task_log(capped_run.run_id, dag.get_task("load_bronze").task_display_name)
    loaded = {}
    for table in (t.bronze_table for t in load_contract()):
        line = log.get_by_text(re.compile(rf"\b{table}: \d+ objects, \d+ rows loaded"))
        expect(line).to_be_visible()
        loaded[table] = int(re.search(r"(\d+) rows loaded", line.inner_text()).group(1))
    screenshot(ui.page, "4-load-bronze-log")

    assert sum(loaded.values()) == MAX_EVENTS
    assert all(loaded.values()), f"every table moves under the cap: {loaded}"
