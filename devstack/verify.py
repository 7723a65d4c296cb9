"""Compare the warehouse with the generator's true final state, row for row.

The expected marts are computed here from the source's final state, independently of the dbt SQL,
following the marts' documented rules (include/dbt/models/marts/*.yml).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from devstack.generator import PRODUCT, ChangeEventGenerator, expected_staging_rows

Query = Callable[[str], list[dict]]


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


def _rows(query: Query, relation: str, keys: tuple[str, ...]) -> dict[tuple, dict]:
    return {tuple(row[k] for k in keys): row for row in query(f"select * from {relation}")}


def staging_mismatches(query: Query, generator: ChangeEventGenerator) -> list[str]:
    """Every difference between the staging models and the source's final state (empty: equal)."""
    problems = []
    for name, table in generator.tables.items():
        expected = expected_staging_rows(generator, name)
        problems += _diff(
            f"staging.{table.staging_model}",
            expected,
            _rows(query, f"staging.{table.staging_model}", table.primary_key),
        )
    return problems


def _multilingual_status(row: dict) -> str:
    translated = sum(bool((row[c] or "").strip()) for c in ("name_ua", "name_pl", "name_en", "name_de"))
    return "complete" if translated == 4 else "base_only" if translated == 0 else "partial"


def _weight_category(weight: Decimal | None) -> str:
    if weight is None:
        return "unknown"
    return "light" if weight < 1 else "medium" if weight < 5 else "heavy" if weight < 20 else "oversized"


def expected_dim_product(generator: ChangeEventGenerator) -> dict[tuple, dict]:
    staging = expected_staging_rows(generator, PRODUCT)
    rows = {}
    for key in generator.state[PRODUCT].active_keys():
        s = staging[key]
        passthrough = (
            "product_id",
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
        row = {c: s[c] for c in passthrough}
        supplier = (s["supplier_name_raw"] or "").strip()
        code = s["supplier_code"] or (str(s["supplier_id"]) if s["supplier_id"] is not None else "?")
        row["supplier_name"] = supplier or f"Unknown supplier {code}"
        row["weight_category"] = _weight_category(s["weight_kg"])
        row["multilingual_status"] = _multilingual_status(s)
        rows[key] = row
    return rows


def expected_dim_product_search(generator: ChangeEventGenerator) -> dict[tuple, dict]:
    products = expected_dim_product(generator)
    stock = expected_staging_rows(generator, "ProductAvailability")
    links = expected_staging_rows(generator, "ProductAnalogue")
    oem = expected_staging_rows(generator, "ProductOEMNumber")
    rows = {}
    for key, p in products.items():
        warehouses: dict[int, dict] = {}
        for s in stock.values():
            if s["product_id"] == key[0] and not s["deleted"]:
                w = warehouses.setdefault(
                    s["warehouse_id"],
                    {
                        "warehouse_id": s["warehouse_id"],
                        "warehouse_name": s["warehouse_name"],
                        "quantity": Decimal(0),
                        "available_quantity": Decimal(0),
                    },
                )
                w["warehouse_name"] = max(w["warehouse_name"], s["warehouse_name"])
                w["quantity"] += s["quantity"]
                w["available_quantity"] += s["quantity"] - (s["reserved_quantity"] or 0)
        numbers = sorted(
            (o["manufacturer"], o["oem_number"])
            for o in oem.values()
            if o["product_id"] == key[0] and not o["deleted"]
        )
        total = sum((w["quantity"] for w in warehouses.values()), Decimal(0))
        available = sum((w["available_quantity"] for w in warehouses.values()), Decimal(0))
        rows[key] = {
            "product_id": key[0],
            "vendor_code": p["vendor_code"],
            "name": p["name"],
            "brand": p["brand"],
            "category_name": p["category_name"],
            "supplier_name": p["supplier_name"],
            "total_quantity": total,
            "available_quantity": available,
            "in_stock": available > 0,
            "warehouse_stock": [
                {**w, "quantity": float(w["quantity"]), "available_quantity": float(w["available_quantity"])}
                for _, w in sorted(warehouses.items())
            ],
            "analogue_product_ids": sorted(
                {
                    link["analogue_product_id"]
                    for link in links.values()
                    if link["product_id"] == key[0]
                    and not link["deleted"]
                    and (link["analogue_product_id"],) in products
                }
            ),
            "oem_numbers": [{"oem_number": n, "manufacturer": m} for m, n in numbers],
            "search_text": " ".join(
                v
                for v in (
                    p["name"],
                    p["name_ua"],
                    p["name_pl"],
                    p["name_en"],
                    p["name_de"],
                    p["vendor_code"],
                    p["main_original_number"],
                    " ".join(n for _, n in numbers) or None,
                )
                if v is not None
            ),
        }
    return rows


def _json_numbers_as_floats(rows: dict[tuple, dict]) -> dict[tuple, dict]:
    for row in rows.values():
        for item in row.get("warehouse_stock") or []:
            item["quantity"] = float(item["quantity"])
            item["available_quantity"] = float(item["available_quantity"])
    return rows


def mart_mismatches(query: Query, generator: ChangeEventGenerator) -> list[str]:
    """Differences between the marts and what the source's final state says they hold (empty: equal)."""
    return _diff(
        "marts.dim_product",
        expected_dim_product(generator),
        _rows(query, "marts.dim_product", ("product_id",)),
    ) + _diff(
        "marts.dim_product_search",
        expected_dim_product_search(generator),
        _json_numbers_as_floats(_rows(query, "marts.dim_product_search", ("product_id",))),
    )
