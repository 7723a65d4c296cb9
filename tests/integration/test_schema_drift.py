"""Schema drift on the local stack: events whose row images gain or lose a column against the contract,
produced to Kafka, drained and loaded by the DAG's tasks, then read in cdc_meta.schema_drift, in the
load's log and in the health check.

The events are the generator's, reshaped here: the generator itself knows only the contract.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import msgspec
import pytest

from devstack.synth.debezium_encoding import Message
from devstack.verify import mart_mismatches, staging_mismatches
from include.cdc.checks import health
from tests.integration.warehouse import dbt, ingest
from tests.records import with_images

pytestmark = pytest.mark.integration

DRIFT_LOG = "include.cdc.bronze.drift"


def reshaped(corner, messages: list[Message], change, only=lambda i: True) -> list[Message]:
    """The messages, dbo.Product's events changed by ``change(image_name, image)`` where ``only(i)`` holds
    for the event's index among dbo.Product's events."""
    found, index = [], 0
    for message in messages:
        if message.topic == corner.topic and message.value is not None:
            if only(index):
                message = replace(message, value=with_images(message.value, change))
            index += 1
        found.append(message)
    return found


def drop(*columns: str):
    def change(_: str, image: dict) -> None:
        for column in columns:
            image.pop(column, None)

    return change


def with_after(messages: list[Message], corner) -> int:
    """How many of dbo.Product's events have an after image."""
    count = 0
    for m in messages:
        if m.topic == corner.topic and m.value is not None:
            document = msgspec.json.decode(m.value)
            count += document.get("payload", document).get("after") is not None
    return count


def drift_rows(corner) -> list[dict]:
    return corner.query(
        "select source_table, column_name, kind, events from cdc_meta.schema_drift order by column_name, kind"
    )


def health_output(capsys) -> tuple[int, str]:
    capsys.readouterr()
    status = health.main([])
    return status, capsys.readouterr().out


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == DRIFT_LOG and r.levelno == logging.WARNING]


def test_a_new_column_at_the_source_is_recorded_and_warned_and_changes_nothing_downstream(
    corner, monkeypatch, tmp_path, caplog, capsys
):
    generator = corner.generator(products=30, events=2000)
    messages = list(generator.messages())
    colour = reshaped(corner, messages, lambda _, image: image.update({"Colour": msgspec.Raw(b'"red"')}))
    corner.produce(colour)

    with caplog.at_level(logging.WARNING, logger=DRIFT_LOG):
        loaded = ingest()["total"]
    dbt(corner, monkeypatch, tmp_path, "build")

    product_events = sum(m.topic == corner.topic and m.value is not None for m in messages)
    assert loaded["quarantined"] == 0
    assert loaded["rows_loaded"] == sum(m.value is not None for m in messages)
    assert drift_rows(corner) == [
        {
            "source_table": "dbo.Product",
            "column_name": "Colour",
            "kind": "new_column",
            "events": product_events,
        }
    ]
    assert corner.scalar("select count(*) from bronze.product_cdc where cdc_payload->'after' ? 'Colour'") > 0
    assert staging_mismatches(corner.query, generator) == []
    assert mart_mismatches(corner.query, generator) == []
    (warned,) = warnings(caplog)
    assert "dbo.Product (bronze.product_cdc)" in warned
    assert "columns the contract does not know: Colour" in warned

    status, out = health_output(capsys)
    assert status == 0
    (line,) = [line for line in out.splitlines() if "dbo.Product.Colour" in line]
    assert line.startswith("WARN  dbo.Product.Colour")
    assert f"new_column in {product_events} events, first seen " in line
    assert "last seen " in line
    assert "add it to the contract and the models" in line


def test_a_contract_column_dropped_from_every_event_of_a_run_is_a_warning_naming_it(corner, caplog, capsys):
    messages = list(corner.generator(products=30, events=1200).messages())
    half = len(messages) // 2
    corner.produce(reshaped(corner, messages[:half], drop("ErpCode")))

    with caplog.at_level(logging.WARNING, logger=DRIFT_LOG):
        assert ingest()["total"]["quarantined"] == 0

    assert drift_rows(corner) == [
        {
            "source_table": "dbo.Product",
            "column_name": "ErpCode",
            "kind": "missing_column",
            "events": with_after(messages[:half], corner),
        }
    ]
    (warned,) = warnings(caplog)
    assert "dbo.Product (bronze.product_cdc)" in warned
    assert "contract columns missing from every event of this run: ErpCode" in warned
    _, out = health_output(capsys)  # staging is not built here: it FAILs, and says so
    assert "WARN  dbo.Product.ErpCode" in out
    assert "missing_column in" in out
    assert "confirm the drop at the source" in out

    corner.produce(messages[half:])  # the column arrives again
    ingest()
    assert drift_rows(corner) == []


def test_a_column_present_in_only_some_events_is_not_missing(corner, caplog):
    messages = list(corner.generator(products=30, events=1200).messages())
    some = reshaped(corner, messages, drop("ErpCode"), only=lambda i: i % 4 != 0)
    corner.produce(reshaped(corner, some, drop("Barcode")))  # and one column missing from all of them

    with caplog.at_level(logging.WARNING, logger=DRIFT_LOG):
        assert ingest()["total"]["quarantined"] == 0

    assert [(r["column_name"], r["kind"]) for r in drift_rows(corner)] == [("Barcode", "missing_column")]
    (warned,) = warnings(caplog)
    assert "ErpCode" not in warned


def test_a_value_its_contract_type_cannot_hold_is_a_type_change(corner, capsys):
    messages = list(corner.generator(products=10, events=300).messages())
    status_300 = reshaped(
        corner,
        messages,
        lambda name, image: image.update({"Status": msgspec.Raw(b"300")}) if name == "after" else None,
        only=lambda i: i in (5, 6),
    )
    corner.produce(status_300)

    assert ingest()["total"]["quarantined"] == 2

    assert drift_rows(corner) == [
        {"source_table": "dbo.Product", "column_name": "Status", "kind": "type_change", "events": 2}
    ]
    _, out = health_output(capsys)  # staging is not built here: it FAILs, and says so
    assert "WARN  dbo.Product.Status" in out
    assert "type_change in 2 events" in out
