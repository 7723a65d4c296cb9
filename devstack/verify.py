"""Compare the warehouse with the generator's true final state, row for row.

What is compared is what the source's final state says directly: every staging model holds the latest
state of every key the source ever had (deleted ones with deleted = true), and both marts hold each
active product (present at the source and not soft-deleted) once, with the columns they copy from its
row. What the marts derive (dim_product's supplier_name, weight_category and multilingual_status;
dim_product_search's supplier_name, stock summary, analogues, OEM numbers and search text) is not
computed a second time here: the dbt unit tests in the marts' property files
(include/dbt/models/marts/*.yml) specify it, and ``make test`` runs them
(tests/integration/test_dbt_unit_tests.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from devstack.synth.generator import ChangeEventGenerator
from devstack.synth.state import PRODUCT

Query = Callable[[str], list[dict]]

# Columns each mart copies unchanged from the product's staging row (stg_product), besides product_id.
DIM_PRODUCT_COPIES = (
    "net_uid",
    "vendor_code",
    "main_original_number",
    "barcode",
    "name",
    "name_ua",
    "name_pl",
    "name_en",
    "name_de",
    "brand",
    "supplier_id",
    "category_name",
    "product_group_id",
    "country_of_origin",
    "measure_unit",
    "weight_kg",
    "retail_price",
    "wholesale_price",
    "currency_code",
    "discount_percent",
    "is_for_sale",
    "is_for_web",
    "is_on_sale",
    "is_hazardous",
    "is_oversized",
    "warranty_months",
    "rating",
    "created_at",
    "updated_at",
    "price_updated_at",
)
DIM_PRODUCT_SEARCH_COPIES = ("vendor_code", "name", "brand", "category_name")


def _comparable(value):
    return str(value) if isinstance(value, UUID) else value


def _diff(name: str, expected: dict[tuple, dict], actual: dict[tuple, dict]) -> list[str]:
    problems = []
    if actual.keys() != expected.keys():
        problems.append(
            f"{name}: keys differ: missing {sorted(expected.keys() - actual.keys())[:5]}, "
            f"extra {sorted(actual.keys() - expected.keys())[:5]}"
        )
    for key in sorted(expected.keys() & actual.keys()):
        for column, value in expected[key].items():
            got = _comparable(actual[key][column])
            if got != value:
                problems.append(f"{name} {key} {column}: expected {value!r}, got {got!r}")
    return problems


def _compare(query: Query, relation: str, keys: tuple[str, ...], expected: dict[tuple, dict]) -> list[str]:
    """The relation's rows against ``expected`` (key -> the columns to compare): same keys, each once,
    and the same values in those columns."""
    rows = query(f"select * from {relation}")
    counts = Counter(tuple(row[k] for k in keys) for row in rows)
    repeated = sorted(key for key, n in counts.items() if n > 1)
    problems = [f"{relation}: keys held more than once: {repeated[:5]}"] if repeated else []
    return problems + _diff(relation, expected, {tuple(row[k] for k in keys): row for row in rows})


def expected_staging_rows(generator: ChangeEventGenerator, table: str = PRODUCT) -> dict[tuple, dict]:
    """One table's staging rows the warehouse must end with: column name -> value as psycopg returns it."""
    contract = generator.tables[table]
    state = generator.state[table]
    rows = {}
    for key, row in state.rows.items():
        out = {}
        for column in contract.columns:
            value = row.get(column.source_column)
            t = column.sqlserver_type
            if value is not None and t.name == "uniqueidentifier":
                value = value.lower()
            elif value is not None and t.name in {"decimal", "numeric", "money", "smallmoney"}:
                value = Decimal(value).quantize(Decimal(1).scaleb(-t.scale))
            out[column.name] = value
        out["deleted"] = key in state.deleted
        rows[key] = out
    return rows


def staging_mismatches(query: Query, generator: ChangeEventGenerator) -> list[str]:
    """Every difference between the staging models and the source's final state (empty: equal)."""
    problems = []
    for name, table in generator.tables.items():
        relation = f"staging.{table.staging_model}"
        problems += _compare(query, relation, table.primary_key, expected_staging_rows(generator, name))
    return problems


def expected_mart_copies(generator: ChangeEventGenerator, columns: tuple[str, ...]) -> dict[tuple, dict]:
    """Per active product of the source's final state, its product_id and ``columns`` as staged."""
    staging = expected_staging_rows(generator, PRODUCT)
    return {
        key: {c: staging[key][c] for c in ("product_id", *columns)}
        for key in generator.state[PRODUCT].active_keys()
    }


def mart_mismatches(query: Query, generator: ChangeEventGenerator) -> list[str]:
    """Differences between the marts and the source's final state (empty: equal): which products each
    mart holds (the active ones, each once) and the columns it copies from them."""
    return _compare(
        query, "marts.dim_product", ("product_id",), expected_mart_copies(generator, DIM_PRODUCT_COPIES)
    ) + _compare(
        query,
        "marts.dim_product_search",
        ("product_id",),
        expected_mart_copies(generator, DIM_PRODUCT_SEARCH_COPIES),
    )
