"""The Airflow UI in a real browser, used as an operator uses it.

Debian's Chromium, driven by Playwright, against a real Airflow (API server, scheduler, DAG processor,
triggerer) on the local stack, with a corner of the stack for this module: the Graph shows the DAG's
stages left to right in their order, under the names the DAG gives them; a run triggered from the
Trigger form with "Events per run" set loads exactly that many events into bronze; a run with the
"Full refresh" switch on replays the archive, and the load's log says so; a task's log shows what the
task did; a run whose dbt test failed for a data reason is retried from the UI, first its failed task
alone ("Clear Task Instance", Downstream off), then the tasks that did not run ("Clear Run", only
failed), and ends green. Each step's screenshot is saved under ``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pytest
from playwright.sync_api import Page, expect

from devstack.demo import load_dag
from devstack.synth.generator import ChangeEventGenerator
from devstack.verify import mart_mismatches
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
def snapshot(ui_corner: Corner) -> ChangeEventGenerator:
    """The generator's snapshot, produced to the corner's topics; the generator holds its state."""
    generator = ui_corner.generator(products=PRODUCTS)
    messages = next(generator.batches())
    assert all(m.value is not None for m in messages)
    assert len(messages) > MAX_EVENTS, "the cap must leave events in Kafka"
    ui_corner.produce(messages)
    return generator


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


def test_full_refresh_switch_replays_the_archive(ui, ui_corner, dag, capped_run, snapshot):
    assert capped_run.state == "Success", "a full refresh replays the archive the capped run wrote"

    run_id = ui.trigger("3a-trigger-form-full-refresh", switches=["Full refresh"])
    assert ui.wait_for_run(run_id) == "Success"

    log = ui.open_task_log(run_id, dag.get_task("load_bronze").task_display_name)
    expect(
        log.get_by_text(re.compile(r"full refresh: emptying bronze\.product_cdc and replaying"))
    ).to_be_visible()
    screenshot(ui.page, "3b-full-refresh-load-log")

    # The drain took what the cap had left in Kafka; bronze was rebuilt from the whole archive.
    assert ui_corner.bronze_rows() == sum(c.envelopes for c in snapshot.counts.values())
    assert mart_mismatches(ui_corner.query, snapshot) == []


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


FAILING_TEST = "dbt.stg_product_oem_number.test"


def test_a_failed_dbt_test_is_cleared_from_the_ui_and_the_run_ends_green(
    ui, ui_corner, airflow, capped_run, snapshot
):
    assert capped_run.state == "Success"
    # A data reason: a hand-made row in staging breaks a dbt test (an OEM number without its number).
    broken = ui_corner.scalar("select max(oem_number_id) + 1 from staging.stg_product_oem_number")
    ui_corner.execute(
        "create temp table broken_row as select * from staging.stg_product_oem_number limit 1;"
        f"update broken_row set oem_number_id = {broken}, oem_number = null;"
        "insert into staging.stg_product_oem_number select * from broken_row;"
    )
    # The source sends something, so the run builds (with nothing new it would skip the dbt stage, and
    # the layers check would fail instead): a change re-emitted, as after a connector restart.
    ui_corner.reemit_a_landed_record("ProductOEMNumber")
    run_id = ui.trigger("5a-trigger-a-run-that-will-fail")
    assert ui.wait_for_run(run_id) == "Failed"
    assert airflow.task_instances(DAG_ID, run_id)[FAILING_TEST][0] == "failed"

    ui_corner.execute(f"delete from staging.stg_product_oem_number where oem_number_id = {broken}")  # the fix
    before = airflow.task_instances(DAG_ID, run_id)

    # The failed task alone: its page (the alert's log link leads there), Clear (the header's button,
    # "Press shift+c to clear"), Downstream off (on by default): the dialog lists one affected task.
    ui.page.goto(f"{airflow.url}/dags/{DAG_ID}/runs/{quote(run_id)}/tasks/{FAILING_TEST}")
    ui.page.get_by_role("button", name="Press shift+c to clear").click()
    dialog = ui.page.get_by_role("dialog")
    expect(dialog.get_by_text(re.compile(r"Affected Tasks: ([2-9]|\d\d)"))).to_be_visible()
    dialog.get_by_role("button", name="Downstream", exact=True).click()
    expect(dialog.get_by_text("Affected Tasks: 1", exact=True)).to_be_visible()
    screenshot(ui.page, "5b-clear-the-failed-test-alone")
    dialog.get_by_role("button", name="Confirm").click()
    expect(ui.header_state()).to_have_text("Success", timeout=RUN_TIMEOUT_MS)
    after = airflow.task_instances(DAG_ID, run_id)
    assert after[FAILING_TEST] == ("success", before[FAILING_TEST][1] + 1)
    rerun = {t for t in after if after[t][1] != before[t][1]}
    assert rerun == {FAILING_TEST}, "the cleared task ran alone"

    # The tasks that could not run after it: Clear Run, only failed (failed and upstream failed).
    ui.open_run(run_id)
    ui.page.get_by_role("button", name="Press shift+c to clear").click()
    dialog = ui.page.get_by_role("dialog")
    dialog.get_by_role("button", name="Clear only failed tasks").click()
    not_green = sum(state != "success" and state != "skipped" for state, _ in after.values())
    expect(dialog.get_by_text(f"Affected Tasks: {not_green}", exact=True)).to_be_visible()
    screenshot(ui.page, "5c-clear-run-only-failed")
    dialog.get_by_role("button", name="Confirm").click()
    assert ui.wait_for_run(run_id) == "Success"
    screenshot(ui.page, "5d-run-green-after-clearing")

    final = airflow.task_instances(DAG_ID, run_id)
    assert final[FAILING_TEST] == after[FAILING_TEST], "Clear Run, only failed, left the fixed task alone"
    assert mart_mismatches(ui_corner.query, snapshot) == []
