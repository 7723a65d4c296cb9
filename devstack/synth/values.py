"""Plausible auto-parts catalog values for generated rows.

Columns the catalog vocabulary knows get realistic values (names in several languages, brands, OEM
numbers, prices); any other column gets a value from its SQL Server type, so a column added to the
contract needs nothing here.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from include.cdc.contract import Column, SqlServerType

PART_TYPES = [
    # group id, category, base/en, ua, pl, de, unit, weight range kg
    (
        101,
        "Brakes",
        "Brake pad set",
        "Комплект гальмівних колодок",
        "Klocki hamulcowe",
        "Bremsbelagsatz",
        "set",
        (0.4, 2.5),
    ),
    (101, "Brakes", "Brake disc", "Гальмівний диск", "Tarcza hamulcowa", "Bremsscheibe", "pcs", (3.0, 14.0)),
    (102, "Filters", "Oil filter", "Масляний фільтр", "Filtr oleju", "Ölfilter", "pcs", (0.15, 0.9)),
    (102, "Filters", "Air filter", "Повітряний фільтр", "Filtr powietrza", "Luftfilter", "pcs", (0.2, 1.4)),
    (102, "Filters", "Cabin filter", "Фільтр салону", "Filtr kabinowy", "Innenraumfilter", "pcs", (0.1, 0.5)),
    (
        103,
        "Ignition",
        "Spark plug",
        "Свічка запалювання",
        "Świeca zapłonowa",
        "Zündkerze",
        "pcs",
        (0.04, 0.1),
    ),
    (104, "Suspension", "Shock absorber", "Амортизатор", "Amortyzator", "Stoßdämpfer", "pcs", (1.5, 6.0)),
    (104, "Suspension", "Control arm", "Важіль підвіски", "Wahacz", "Querlenker", "pcs", (1.2, 5.5)),
    (
        105,
        "Engine",
        "Timing belt kit",
        "Комплект ГРМ",
        "Zestaw rozrządu",
        "Zahnriemensatz",
        "set",
        (0.8, 4.0),
    ),
    (105, "Engine", "Water pump", "Водяний насос", "Pompa wody", "Wasserpumpe", "pcs", (0.9, 3.5)),
    (106, "Electrics", "Alternator", "Генератор", "Alternator", "Lichtmaschine", "pcs", (4.0, 9.0)),
    (106, "Electrics", "Starter motor", "Стартер", "Rozrusznik", "Anlasser", "pcs", (2.5, 7.5)),
    (107, "Body", "Bumper", "Бампер", "Zderzak", "Stoßfänger", "pcs", (3.0, 38.0)),
    (
        108,
        "Fluids",
        "Engine oil 5W-30 5L",
        "Моторна олива 5W-30 5л",
        "Olej silnikowy 5W-30 5L",
        "Motoröl 5W-30 5L",
        "l",
        (4.2, 4.6),
    ),
]
BRANDS = [
    ("BOS", "Bosch", "DE"),
    ("MAN", "Mann-Filter", "DE"),
    ("TRW", "TRW", "CZ"),
    ("FEB", "Febi Bilstein", "DE"),
    ("SAC", "Sachs", "DE"),
    ("VAL", "Valeo", "FR"),
    ("NGK", "NGK", "JP"),
    ("CON", "Continental", "DE"),
    ("SKF", "SKF", "SE"),
    ("HEL", "Hella", "DE"),
    ("DEN", "Denso", "JP"),
    ("LEM", "Lemförder", "DE"),
    ("CAS", "Castrol", "GB"),
    ("INA", "INA", "PL"),
]
SUPPLIERS = [
    (11, "Inter Cars", "IC"),
    (12, "Auto Partner", "AP"),
    (13, "Elit Ukraine", "ELIT"),
    (14, "Vladislav", "VLAD"),
    (15, "Omega", "OMG"),
    (16, "", "UNK"),
    (17, "Bus Market", "BM"),
]
VEHICLES = [
    "VW Golf VII",
    "Skoda Octavia III",
    "Toyota Corolla E210",
    "Renault Megane IV",
    "Ford Focus III",
    "BMW 3 F30",
    "Audi A4 B9",
    "Opel Astra K",
    "Hyundai Tucson NX4",
    "Mercedes C W205",
]
CURRENCIES = ["UAH", "EUR", "PLN"]


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(round(rng.uniform(low, high), 2))).quantize(Decimal("0.0001"))


def _decimal(rng: random.Random, sql_type: SqlServerType, low: float, high: float) -> Decimal:
    quantum = Decimal(1).scaleb(-(sql_type.scale or 0))
    return Decimal(str(rng.uniform(low, high))).quantize(quantum)


def _timestamp(rng: random.Random, sql_type: SqlServerType, around: datetime) -> datetime | str:
    """A time near ``around``; ns columns get a nanosecond part, zoned ones an ISO string."""
    moment = around - timedelta(seconds=rng.randint(0, 86400 * 30), microseconds=rng.randint(0, 999_999))
    unit = sql_type.epoch_unit
    if unit == "ms":
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if sql_type.name == "datetimeoffset":
        return moment.replace(tzinfo=UTC)
    return moment


def typed_default(column: Column, rng: random.Random, pk: int, now: datetime):
    """A value for any column, from its SQL Server type alone."""
    t = column.sqlserver_type
    if t.name in {"bigint", "int"}:
        return rng.randint(0, 100_000)
    if t.name in {"smallint", "tinyint"}:
        return rng.randint(0, 250)
    if t.name == "bit":
        return rng.random() < 0.5
    if t.name in {"decimal", "numeric", "money", "smallmoney"}:
        return _decimal(rng, t, 0, 1000)
    if t.name == "real":
        return rng.randint(0, 20) / 4  # exactly representable as float32
    if t.name == "float":
        return round(rng.uniform(0, 1000), 6)
    if t.name == "uniqueidentifier":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
    if t.name == "date":
        return (now - timedelta(days=rng.randint(0, 3650))).date()
    if t.epoch_unit or t.name == "datetimeoffset":
        return _timestamp(rng, t, now)
    length = 40 if t.length in {None, "max"} else t.length
    return f"{column.source_column}-{pk}"[:length]


class CatalogValues:
    """Builds whole product rows and the changes the catalog team makes to them."""

    def __init__(self, columns: tuple[Column, ...], rng: random.Random) -> None:
        self.columns = {c.source_column: c for c in columns}
        self.rng = rng

    def new_row(self, pk: int, now: datetime) -> dict:
        rng = self.rng
        group, category, base, ua, pl, de, unit, (w_low, w_high) = rng.choice(PART_TYPES)
        brand_code, brand, country = rng.choice(BRANDS)
        supplier_id, supplier_name, supplier_code = rng.choice(SUPPLIERS)
        vehicle = rng.choice(VEHICLES)
        purchase = _money(rng, 80, 9000)
        # Coverage of translations varies, so multilingual status has all its values.
        coverage = rng.random()
        names = {
            "Name": f"{base} {brand} {vehicle}",
            "NameEN": f"{base} {brand} for {vehicle}",
            "NameUA": f"{ua} {brand} {vehicle}" if coverage > 0.1 else None,
            "NamePL": f"{pl} {brand} {vehicle}" if coverage > 0.3 else None,
            "NameDE": f"{de} {brand} {vehicle}" if coverage > 0.5 else None,
        }
        known = {
            "ID": pk,
            "VendorCode": f"{brand_code}-{rng.randint(10000, 99999)}",
            "MainOriginalNumber": f"{rng.randint(0, 9)} {rng.randint(100, 999)} {rng.randint(100, 999)} "
            f"{rng.randint(100, 999)}",
            "Barcode": "".join(str(rng.randint(0, 9)) for _ in range(13)) if rng.random() < 0.8 else None,
            "ErpCode": f"ERP{pk:07d}",
            **names,
            "Description": f"{base} by {brand}. Fits {vehicle}.",
            "DescriptionUA": f"{ua} {brand}. Підходить для {vehicle}." if names["NameUA"] else None,
            "DescriptionPL": f"{pl} {brand}. Pasuje do {vehicle}." if names["NamePL"] else None,
            "DescriptionEN": f"{base} by {brand}, fits {vehicle}.",
            "SearchKeywords": f"{base.lower()}, {brand.lower()}, {vehicle.lower()}",
            "SupplierID": supplier_id,
            "SupplierName": supplier_name if rng.random() < 0.95 else None,
            "SupplierCode": supplier_code,
            "Brand": brand,
            "CountryOfOrigin": country,
            "ProductGroupID": group,
            "CategoryName": category,
            "MeasureUnit": unit,
            "Status": 1,
            "Weight": _decimal(rng, self.columns["Weight"].sqlserver_type, w_low, w_high)
            if "Weight" in self.columns and rng.random() < 0.92
            else None,
            "DiscontinuedAt": None,
            "PurchasePrice": purchase,
            "RetailPrice": (purchase * Decimal("1.35")).quantize(Decimal("0.0001")),
            "WholesalePrice": (purchase * Decimal("1.18")).quantize(Decimal("0.0001")),
            "MinimalPrice": (purchase * Decimal("1.05")).quantize(Decimal("0.0001")),
            "CurrencyCode": rng.choice(CURRENCIES),
            "VatRate": Decimal("20.00"),
            "DiscountPercent": Decimal("0.00"),
            "IsForSale": rng.random() < 0.9,
            "IsForWeb": rng.random() < 0.8,
            "IsOnSale": rng.random() < 0.1,
            "IsHazardous": category == "Fluids",
            "IsOversized": category == "Body",
            "IsDeleted": False,
            "MinOrderQty": 1,
            "PackQty": 4 if "set" in unit else 1,
            "WarrantyMonths": rng.choice([6, 12, 24, 36]),
            "Rating": rng.randint(6, 20) / 4,
            "PopularityScore": round(rng.uniform(0, 100), 4),
            "Created": now,
            "Updated": now,
            "PriceUpdated": now.replace(microsecond=now.microsecond // 1000 * 1000),
        }
        row = {}
        for name, column in self.columns.items():
            row[name] = known[name] if name in known else typed_default(column, rng, pk, now)
        return row

    def change(self, row: dict, now: datetime) -> dict:
        """An update the catalog team would make: mostly prices, sometimes flags, names or sales data."""
        rng = self.rng
        new = dict(row)
        kind = rng.random()
        if kind < 0.65:
            factor = Decimal(str(round(rng.uniform(0.9, 1.12), 3)))
            for name in ("PurchasePrice", "RetailPrice", "WholesalePrice", "MinimalPrice"):
                if new.get(name) is not None:
                    new[name] = (new[name] * factor).quantize(Decimal("0.0001"))
            new["PriceUpdated"] = now.replace(microsecond=now.microsecond // 1000 * 1000)
        elif kind < 0.78:
            new["IsOnSale"] = not new["IsOnSale"]
            new["DiscountPercent"] = (
                Decimal(str(rng.choice([5, 10, 15, 20]))) if new["IsOnSale"] else Decimal(0)
            )
            new["DiscountPercent"] = new["DiscountPercent"].quantize(Decimal("0.01"))
            if rng.random() < 0.03:
                new["IsForSale"] = not new["IsForSale"]
            if rng.random() < 0.2:
                new["IsForWeb"] = not new["IsForWeb"]
        elif kind < 0.88:
            for lang, index in (("NameUA", 3), ("NamePL", 4), ("NameDE", 5)):
                if new.get(lang) is None:
                    part = next(p for p in PART_TYPES if new["Name"].startswith(p[2]))
                    new[lang] = f"{part[index]} {new['Brand']}"
                    break
            else:
                new["SearchKeywords"] = f"{new['SearchKeywords']}, {rng.choice(VEHICLES).lower()}"[:1000]
        else:
            new["LastSoldAt"] = now
            new["PopularityScore"] = round(rng.uniform(0, 100), 4)
            new["Rating"] = rng.randint(4, 20) / 4
        new["Updated"] = now
        return {k: v for k, v in new.items() if k in self.columns}
