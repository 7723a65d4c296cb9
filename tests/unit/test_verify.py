"""devstack.verify: what the demo and the integration tests compare the warehouse with.

A warehouse built here from the generator's final state passes; each way a staging model or a mart can
be wrong in what it holds (a key missing, extra or held twice, a copied value that differs) is reported.
The columns the marts derive are not compared: the dbt unit tests specify them.
"""

from __future__ import annotations

import copy

import pytest

from devstack.synth.generator import ChangeEventGenerator, GeneratorOptions
from devstack.synth.state import PRODUCT
from devstack.verify import (
    DIM_PRODUCT_COPIES,
    DIM_PRODUCT_SEARCH_COPIES,
    expected_staging_rows,
    mart_mismatches,
    staging_mismatches,
)

DERIVED = {
    "marts.dim_product": {
        "supplier_name": "Bosch",
        "weight_category": "light",
        "multilingual_status": "complete",
    },
    "marts.dim_product_search": {"supplier_name": "Bosch", "total_quantity": 1, "search_text": "pump"},
}


@pytest.fixture(scope="module")
def generator():
    generator = ChangeEventGenerator(GeneratorOptions(products=20, events=3000, soft_delete_share=0.01))
    for _ in generator.messages():
        pass
    return generator


@pytest.fixture
def warehouse(generator) -> dict[str, list[dict]]:
    """Relation -> rows, as a faithful warehouse holds them (derived columns with some value)."""
    relations = {
        f"staging.{t.staging_model}": list(copy.deepcopy(expected_staging_rows(generator, name)).values())
        for name, t in generator.tables.items()
    }
    products = expected_staging_rows(generator, PRODUCT)
    for mart, copies in (
        ("marts.dim_product", DIM_PRODUCT_COPIES),
        ("marts.dim_product_search", DIM_PRODUCT_SEARCH_COPIES),
    ):
        relations[mart] = [
            {"product_id": key[0], **{c: products[key][c] for c in copies}, **DERIVED[mart]}
            for key in sorted(generator.state[PRODUCT].active_keys())
        ]
    return relations


def query_of(warehouse: dict[str, list[dict]]):
    def query(sql: str) -> list[dict]:
        return warehouse[sql.removeprefix("select * from ")]

    return query


def inactive_products(generator) -> list[int]:
    state = generator.state[PRODUCT]
    return sorted(key[0] for key in state.rows.keys() - state.active_keys())


def test_a_faithful_warehouse_passes(generator, warehouse):
    assert inactive_products(generator)  # deleted and soft-deleted products exist, and are left out
    assert staging_mismatches(query_of(warehouse), generator) == []
    assert mart_mismatches(query_of(warehouse), generator) == []


def test_the_derived_columns_are_left_to_the_dbt_unit_tests(generator, warehouse):
    for row in warehouse["marts.dim_product"]:
        row["weight_category"] = row["multilingual_status"] = row["supplier_name"] = "anything"
    for row in warehouse["marts.dim_product_search"]:
        row["search_text"] = row["total_quantity"] = "anything"

    assert mart_mismatches(query_of(warehouse), generator) == []


@pytest.mark.parametrize("mart", ["marts.dim_product", "marts.dim_product_search"])
def test_a_mart_missing_a_product_holding_an_inactive_one_or_one_twice_fails(generator, warehouse, mart):
    rows = warehouse[mart]
    missing = rows.pop()["product_id"]
    rows.append({**rows[0], "product_id": inactive_products(generator)[0]})
    rows.append(dict(rows[1]))

    problems = mart_mismatches(query_of(warehouse), generator)

    assert [p for p in problems if p.startswith(f"{mart}: keys differ")] == [
        f"{mart}: keys differ: missing {[(missing,)]}, extra {[(inactive_products(generator)[0],)]}"
    ]
    assert f"{mart}: keys held more than once: {[(rows[1]['product_id'],)]}" in problems


@pytest.mark.parametrize(
    ("mart", "column"), [("marts.dim_product", "weight_kg"), ("marts.dim_product_search", "vendor_code")]
)
def test_a_mart_with_another_value_in_a_copied_column_fails(generator, warehouse, mart, column):
    row = warehouse[mart][3]
    row[column] = "changed"

    assert mart_mismatches(query_of(warehouse), generator) == [
        f"{mart} ({row['product_id']},) {column}: expected "
        f"{expected_staging_rows(generator, PRODUCT)[(row['product_id'],)][column]!r}, got 'changed'"
    ]


def test_a_staging_row_in_another_state_or_a_key_lost_fails(generator, warehouse):
    deleted = next(row for row in warehouse["staging.stg_product"] if row["deleted"])
    deleted["deleted"] = False
    lost = warehouse["staging.stg_product_oem_number"].pop()

    problems = staging_mismatches(query_of(warehouse), generator)

    assert f"staging.stg_product ({deleted['product_id']},) deleted: expected True, got False" in problems
    assert f"staging.stg_product_oem_number: keys differ: missing [({lost['oem_number_id']},)], extra []" in (
        problems
    )
