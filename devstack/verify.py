"""Compare the warehouse with the generator's true final state, row for row."""

from __future__ import annotations

from collections.abc import Callable

from devstack.generator import ChangeEventGenerator, expected_staging_rows

Query = Callable[[str], list[dict]]
MART_COLUMNS = ("net_uid", "vendor_code", "name", "retail_price", "weight_kg", "is_for_sale", "updated_at")


def _comparable(column: str, value):
    return str(value) if column == "net_uid" and value is not None else value


def staging_mismatches(query: Query, generator: ChangeEventGenerator) -> list[str]:
    """Every difference between staging.stg_product and the source's final state (empty: equal)."""
    expected = expected_staging_rows(generator)
    actual = {(row["product_id"],): row for row in query("select * from staging.stg_product")}
    problems = []
    if actual.keys() != expected.keys():
        problems.append(
            f"keys differ: missing {sorted(expected.keys() - actual.keys())[:5]}, "
            f"extra {sorted(actual.keys() - expected.keys())[:5]}"
        )
    for key in expected.keys() & actual.keys():
        for column, value in expected[key].items():
            got = _comparable(column, actual[key][column])
            if got != value:
                problems.append(f"{key} {column}: expected {value!r}, got {got!r}")
    return problems


def mart_mismatches(query: Query, generator: ChangeEventGenerator) -> list[str]:
    """Differences between marts.dim_product and the source's active rows (empty: equal)."""
    expected = expected_staging_rows(generator)
    active = {key: expected[key] for key in generator.state.active_keys()}
    mart = {(row["product_id"],): row for row in query("select * from marts.dim_product")}
    problems = []
    if mart.keys() != active.keys():
        problems.append(f"the mart's products differ from the {len(active)} active products")
    for key in mart.keys() & active.keys():
        for column in MART_COLUMNS:
            got = _comparable(column, mart[key][column])
            if got != active[key][column]:
                problems.append(f"{key} {column}: expected {active[key][column]!r}, got {got!r}")
    return problems
