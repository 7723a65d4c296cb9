"""stg_product on hand-made bronze rows: every Debezium encoding, and "latest" by LSN, not by offset.

The decoding lives in dbt macros (include/dbt/macros/debezium_decode.sql), so it is tested where it runs:
the real model is built by dbt against PostgreSQL, from bronze rows written here.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from include.cdc.airflow import tasks
from tests.integration.warehouse import dbt

pytestmark = pytest.mark.integration


def source(commit: str, change: str | None, serial: int | None) -> dict:
    return {
        "schema": "dbo",
        "table": "Product",
        "commit_lsn": commit,
        "change_lsn": change,
        "event_serial_no": serial,
        "ts_ms": 1_767_592_800_000,
    }


EVENTS = [
    # product 1: one create carrying every encoding
    (
        1,
        {
            "op": "c",
            "before": None,
            "source": source("00000027:00000100:0003", "00000027:00000100:0002", 1),
            "after": {
                "ID": 1,
                "NetUID": "5A3E9C1B-7A44-4C2B-9F0E-2D3C4B5A6F70",
                "Name": "Brake disc",
                "Weight": "AY/J",  # base64, 3 bytes: 102.345 at scale 3
                "RetailPrice": "12.3400",  # decimal.handling.mode=string
                "PurchasePrice": "xWg=",  # base64, negative: -1.5
                "WholesalePrice": "/4AAAAAAAAAA",  # base64, 9 bytes (not minimal): -922337203685477.5808
                "MinimalPrice": "AA==",  # zero
                "VatRate": "20.00",
                "IsForSale": True,
                "IsDeleted": False,
                "Status": 1,
                "Rating": 4.5,
                "PopularityScore": 73.2511,
                "Created": 1_767_592_800_123_456_789,  # ns
                "LastSoldAt": 1_767_592_800_123_456,  # µs
                "DiscontinuedAt": 1_767_592_800_123,
                "PriceUpdated": 1_767_592_800_123,  # ms
                "AvailableFrom": 20458,  # days
                "CatalogSyncedAt": "2026-01-05T06:00:00.123456Z",
            },
        },
    ),
    # product 2: updated after the snapshot; the snapshot read is re-emitted later, at a higher offset
    (
        5,
        {
            "op": "u",
            "before": {"ID": 2, "Name": "old"},
            "after": {"ID": 2, "Name": "new"},
            "source": source("00000027:00000200:0003", "00000027:00000200:0002", 2),
        },
    ),
    (
        9,
        {
            "op": "r",
            "before": None,
            "after": {"ID": 2, "Name": "old"},
            "source": source("00000027:00000050:0001", None, None),
        },
    ),
    # product 3: created, then deleted
    (
        10,
        {
            "op": "c",
            "before": None,
            "after": {"ID": 3, "Name": "gone"},
            "source": source("00000027:00000300:0003", "00000027:00000300:0002", 1),
        },
    ),
    (
        11,
        {
            "op": "d",
            "before": {"ID": 3, "Name": "gone"},
            "after": None,
            "source": source("00000027:00000400:0003", "00000027:00000400:0002", 1),
        },
    ),
    # product 4 becomes product 5: a delete and a create with the same LSNs
    (
        12,
        {
            "op": "d",
            "before": {"ID": 4, "Name": "renumbered"},
            "after": None,
            "source": source("00000027:00000500:0003", "00000027:00000500:0002", 1),
        },
    ),
    (
        13,
        {
            "op": "c",
            "before": None,
            "after": {"ID": 5, "Name": "renumbered"},
            "source": source("00000027:00000500:0003", "00000027:00000500:0002", 2),
        },
    ),
    # product 6: two updates in one transaction, the later change LSN at the lower offset
    (
        15,
        {
            "op": "u",
            "before": {"ID": 6, "Name": "first"},
            "after": {"ID": 6, "Name": "second"},
            "source": source("00000027:00000600:0009", "00000027:00000600:0003", 2),
        },
    ),
    (
        14,
        {
            "op": "u",
            "before": {"ID": 6, "Name": "zero"},
            "after": {"ID": 6, "Name": "first"},
            "source": source("00000027:00000600:0009", "00000027:00000600:0002", 2),
        },
    ),
]


@pytest.fixture
def staging(corner, tmp_path, monkeypatch):
    tasks.load_bronze.function(
        params={"full_refresh": False, "max_events": 0}
    )  # creates bronze, loads nothing
    with corner.connect() as conn:
        for offset, payload in EVENTS:
            key = (payload["after"] or payload["before"])["ID"]
            conn.execute(
                "insert into bronze.product_cdc (kafka_topic, kafka_partition, kafka_offset, kafka_key, "
                "cdc_payload, batch_file) values (%s, 0, %s, %s::jsonb, %s::jsonb, 'hand-made')",
                (corner.topic, offset, json.dumps({"ID": key}), json.dumps(payload)),
            )
    dbt(corner, monkeypatch, tmp_path, "run", "--select", "stg_product")
    return {row["product_id"]: row for row in corner.query("select * from staging.stg_product")}


def test_every_debezium_encoding_is_decoded(staging):
    row = staging[1]
    assert row["net_uid"] == UUID("5a3e9c1b-7a44-4c2b-9f0e-2d3c4b5a6f70")
    assert row["weight_kg"] == Decimal("102.345")
    assert row["retail_price"] == Decimal("12.34")
    assert row["purchase_price"] == Decimal("-1.5")
    assert row["wholesale_price"] == Decimal("-922337203685477.5808")
    assert row["minimal_price"] == 0
    assert row["vat_rate"] == Decimal("20")
    assert row["is_for_sale"] is True
    assert row["is_deleted"] is False
    assert row["status"] == 1
    assert row["rating"] == 4.5
    assert row["popularity_score"] == 73.2511
    assert row["created_at"] == datetime(2026, 1, 5, 6, 0, 0, 123456)  # ns truncated to µs
    assert row["last_sold_at"] == datetime(2026, 1, 5, 6, 0, 0, 123456)
    assert row["discontinued_at"] == datetime(2026, 1, 5, 6, 0, 0, 123000)
    assert row["price_updated_at"] == datetime(2026, 1, 5, 6, 0, 0, 123000)
    assert row["available_from"] == date(2026, 1, 5)
    assert row["catalog_synced_at"] == datetime(2026, 1, 5, 6, 0, 0, 123456, tzinfo=UTC)
    assert row["deleted"] is False
    assert row["cdc_op"] == "c"


def test_latest_state_is_chosen_by_lsn_and_deletes_are_kept(staging):
    assert {
        pid: (row["name"], row["deleted"], row["cdc_op"]) for pid, row in staging.items() if pid != 1
    } == {
        2: ("new", False, "u"),  # the re-emitted snapshot read at offset 9 does not win
        3: ("gone", True, "d"),
        4: ("renumbered", True, "d"),  # old key of a primary-key change: deleted
        5: ("renumbered", False, "c"),  # new key: present
        6: ("second", False, "u"),  # higher change_lsn within the transaction
    }
