"""``make docs`` (``python -m devstack docs``): the dbt docs with the catalog of a built warehouse.

The docs are generated against a corner's warehouse after the pipeline and dbt built it, served on
loopback as ``make docs`` serves them, and read in Debian's Chromium: the model's columns carry the types the
warehouse holds (the catalog), and the lineage graph of ``dim_product_search`` shows the models it is
built from. A warehouse not built yet stops the command with a message saying what to do.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from devstack import docs
from devstack.stack.config import HOST, StackError
from tests.integration.browser import UI_TIMEOUT_MS, screenshot
from tests.integration.conftest import leaked_secrets
from tests.integration.warehouse import dbt, ingest

pytestmark = pytest.mark.integration

MODEL = "model.cord_warehouse.dim_product_search"
# The lineage graph is drawn on a canvas by cytoscape.js, so what it shows is read from the cytoscape
# instance the page draws with (kept on its container): the nodes drawn inside the canvas, and the edges;
# null until the graph is there and its view has stopped moving.
DRAWN_GRAPH = """() => {
    const cy = document.querySelector('.__________cytoscape_container')?._cyreg?.cy;
    if (!cy || cy.animated()) return null;
    const inside = (p) => p.x >= 0 && p.y >= 0 && p.x <= cy.width() && p.y <= cy.height();
    return {
        nodes: cy.nodes(':visible').filter((n) => inside(n.renderedPosition())).map((n) => n.id()),
        edges: cy.edges(':visible').map((e) => [e.source().id(), e.target().id()]),
    };
}"""


def upstream_models(manifest: dict, unique_id: str) -> set[str]:
    """The models ``unique_id`` is built from, directly or through others (the manifest's parent map)."""
    seen, todo = set(), [unique_id]
    while todo:
        for parent in manifest["parent_map"].get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return {node for node in seen if node.startswith("model.")}


@pytest.fixture
def served_docs(stack, corner, monkeypatch, tmp_path):
    """The docs of the corner's warehouse, built from generated events, served on loopback."""
    corner.produce(list(corner.generator(products=20, events=1000).messages()))
    ingest()
    dbt(corner, monkeypatch, tmp_path, "build")
    target = docs.generate(stack, tmp_path / "docs", corner.database)
    server = docs.start_server(stack, target)
    yield f"http://{HOST}:{docs.DOCS_PORT}", target
    server.stop()


@pytest.mark.browser
def test_docs_show_the_catalog_and_the_lineage_of_dim_product_search(page, stack, corner, served_docs):
    url, target = served_docs
    manifest = json.loads((target / "manifest.json").read_text())
    upstream = upstream_models(manifest, MODEL)
    direct = {p for p in manifest["parent_map"][MODEL] if p in upstream}
    assert direct, "dim_product_search is built from other models"
    node = manifest["nodes"][MODEL]
    columns = corner.query(
        "select attname, format_type(atttypid, atttypmod) as type from pg_attribute "
        "where attrelid = %s::regclass and attnum > 0 and not attisdropped",
        f"{node['schema']}.{node['alias']}",
    )

    page.goto(f"{url}/#!/model/{MODEL}")
    expect(page.get_by_role("heading", name=node["name"])).to_be_visible()
    expect(page.get_by_text(f"{corner.database}.{node['schema']}.{node['alias']}")).to_be_visible()
    for column in columns:  # the catalog: each column with the type the warehouse gives it
        row = page.get_by_role("row").filter(has=page.get_by_text(column["attname"], exact=True))
        expect(row.first).to_contain_text(column["type"])
    screenshot(page, "docs-1-dim-product-search")

    page.get_by_title("View Lineage Graph").click()
    expect(page.get_by_role("heading", name="Lineage Graph")).to_be_visible()
    page.wait_for_function(f"(id) => ({DRAWN_GRAPH})()?.nodes.includes(id)", arg=MODEL, timeout=UI_TIMEOUT_MS)
    drawn = page.evaluate(DRAWN_GRAPH)
    screenshot(page, "docs-2-lineage-graph")

    assert upstream <= set(drawn["nodes"])
    assert {(parent, MODEL) for parent in direct} <= {tuple(edge) for edge in drawn["edges"]}
    for path in (p for p in target.rglob("*") if p.is_file()):
        assert leaked_secrets(stack, path.read_text(errors="replace")) == [], path


def test_docs_of_a_warehouse_not_built_yet_say_to_build_it_first(stack, corner, tmp_path):
    with pytest.raises(StackError, match=r"has not been built: .*marts\.dim_product_search.*make demo"):
        docs.generate(stack, tmp_path / "docs", corner.database)
    assert not (tmp_path / "docs").exists()
