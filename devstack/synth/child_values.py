"""Plausible values for the rows that hang off a product: stock per warehouse, OEM numbers, analogue
links; any other column gets a value from its SQL Server type (values.py)."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

from devstack.synth.values import typed_default
from include.cdc.contract import Column

WAREHOUSES = [
    (1, "Kyiv Central"),
    (2, "Lviv West"),
    (3, "Odesa South"),
    (4, "Warsaw Hub"),
    (5, "Dnipro East"),
]
MANUFACTURERS = ["VAG", "Toyota", "Renault", "Ford", "BMW", "Mercedes-Benz", "Hyundai", "Opel", "Skoda"]
ANALOGUE_KINDS = ["equivalent", "replacement", "cross_reference"]


class ChildValues:
    """Rows of the tables that hang off a product: stock per warehouse, OEM numbers, analogue links."""

    def __init__(self, columns: tuple[Column, ...], rng: random.Random) -> None:
        self.columns = {c.source_column: c for c in columns}
        self.rng = rng

    def _complete(self, known: dict, pk: int, now: datetime) -> dict:
        return {
            name: known[name] if name in known else typed_default(column, self.rng, pk, now)
            for name, column in self.columns.items()
        }

    def new_row(self, pk: int, references: dict, now: datetime) -> dict:
        rng = self.rng
        warehouse_id, warehouse_name = rng.choice(WAREHOUSES)
        quantity = Decimal(rng.randint(0, 400)).quantize(Decimal("0.001"))
        known = {
            "ID": pk,
            "WarehouseID": warehouse_id,
            "WarehouseName": warehouse_name,
            "Quantity": quantity,
            "ReservedQuantity": min(quantity, Decimal(rng.randint(0, 20))).quantize(Decimal("0.001")),
            "OEMNumber": " ".join(
                [
                    f"{rng.randint(1, 9)}{rng.choice('KGJH')}{rng.randint(0, 9)}",
                    str(rng.randint(100, 999)),
                    str(rng.randint(100, 999)),
                    rng.choice(["", "A", "B", "AC"]),
                ]
            ).strip(),
            "Manufacturer": rng.choice(MANUFACTURERS),
            "Kind": rng.choice(ANALOGUE_KINDS),
            "Created": now,
            "Updated": now,
            **references,
        }
        return self._complete(known, pk, now)

    def change(self, row: dict, now: datetime) -> dict:
        """Stock moves; an OEM number is corrected; a link changes kind."""
        rng = self.rng
        new = dict(row)
        if "Quantity" in new:
            new["Quantity"] = Decimal(max(0, int(new["Quantity"] or 0) + rng.randint(-15, 25))).quantize(
                Decimal("0.001")
            )
            new["ReservedQuantity"] = min(new["Quantity"], Decimal(rng.randint(0, 10))).quantize(
                Decimal("0.001")
            )
        elif "OEMNumber" in new:
            new["Manufacturer"] = rng.choice(MANUFACTURERS)
        elif "Kind" in new:
            new["Kind"] = rng.choice(ANALOGUE_KINDS)
        if "Updated" in new:
            new["Updated"] = now
        return new
