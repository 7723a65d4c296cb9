"""Bad input is quarantined with its reason or handled, counted, and never dropped silently."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from devstack.synth.debezium_encoding import Message
from include.cdc.airflow import tasks
from tests.integration.warehouse import RUN, dbt, ingest

pytestmark = pytest.mark.integration

SOURCE = {"schema": "dbo", "table": "Product", "ts_ms": 1_767_600_000_000}


def event(product_id: int, lsn: str, op: str = "u", **after) -> bytes:
    row = {"ID": product_id, "Name": f"product {product_id}", "VendorCode": "BOS-1", "NetUID": None, **after}
    envelope = {
        "before": row if op in {"u", "d"} else None,
        "after": row if op != "d" else None,
        "source": {**SOURCE, "commit_lsn": lsn, "change_lsn": lsn, "event_serial_no": 2},
        "op": op,
        "ts_ms": 1_767_600_000_100,
    }
    return json.dumps(envelope).encode()


def key(product_id: int) -> bytes:
    return json.dumps({"ID": product_id}).encode()


BAD = {  # value -> the reason it is quarantined
    b"\x00\x01binary": "value is not JSON",
    b"\xff\xfe\xfd": "value is not valid UTF-8",
    b"definitely not json": "value is not JSON",
    b'{"op": "u", "after": {"ID": 9': "value is not JSON",
    b'{"id": 9, "note": "a row someone wrote by hand"}': "no 'op'",
    event(9, "ffffffff:00000000:0001", op="x"): "unknown op 'x'",
    json.dumps(
        {
            **json.loads(event(9, "ffffffff:00000000:0002")),
            "source": {**SOURCE, "table": "Customer", "commit_lsn": "ffffffff:00000000:0002"},
        }
    ).encode(): "envelope for dbo.Customer on the topic of dbo.Product",
    event(9, "ffffffff:00000000:0003", Weight=["not", "a", "decimal"]): "column Weight holds list",
    # valid for Python's JSON parser, refused by PostgreSQL's jsonb: an unpaired UTF-16 surrogate
    event(9, "ffffffff:00000000:0005").replace(
        b'"product 9"', b'"product \\ud800"'
    ): "unpaired UTF-16 surrogate",
    # a poison record: JSON nested 1,000 levels deep makes the decoders raise RecursionError
    event(9, "ffffffff:00000000:0006", Note="@").replace(b'"@"', b"[" * 1000 + b"]" * 1000): (
        "value nests JSON arrays and objects 1002 levels deep"
    ),
    # values staging's casts would refuse, every run, if they entered bronze
    event(9, "ffffffff:00000000:0007", Status=300): "column Status holds 300: outside tinyint's range 0..255",
    event(9, "ffffffff:00000000:0008", Weight="12.5.5"): "neither base64 nor a plain decimal number",
    event(9, "ffffffff:00000000:0009", Rating="@").replace(b'"@"', b"1e400"): "beyond real's range",
    # JSON, and a column staging ignores, but a number beyond what PostgreSQL's numeric holds
    event(9, "ffffffff:00000000:000a", Note="@").replace(b'"@"', b"1e-20000"): (
        "PostgreSQL refuses it: value overflows numeric format"
    ),
}
BAD_KEYS = {  # key -> the reason its (valid) record is quarantined
    b"\xff\xfe{": "key is not valid UTF-8",
    b"ID=9": "key is not JSON",
}


@pytest.fixture
def stream(corner):
    generator = corner.generator(products=10, events=600, partitions=1)
    good = list(generator.messages())
    topic = corner.topic
    bad = [Message(topic, 0, key(9), value, [], 1) for value in BAD]
    bad.append(Message(topic, 0, None, event(9, "ffffffff:00000000:0004"), [], 1))  # a missing key
    bad += [Message(topic, 0, k, event(9, "ffffffff:00000000:0010"), [], 1) for k in BAD_KEYS]
    huge = "x" * 1_300_000
    handled = [
        Message(
            topic, 0, key(90001), event(90001, "fffffff0:00000000:0001", op="c", Description=huge), [], 1
        ),
        # a column added at the source that the contract does not know yet
        Message(
            topic, 0, key(90002), event(90002, "fffffff0:00000000:0002", op="c", NewSourceColumn=7), [], 1
        ),
        Message(topic, 0, key(90002), None, [], 1),  # a tombstone
        Message(topic, 0, key(90003), event(90003, "fffffff0:00000000:0004", Name="newer"), [], 1),
        Message(topic, 0, key(90003), event(90003, "fffffff0:00000000:0003", Name="older"), [], 1),
    ]
    # ... and the older event re-emitted after a connector restart, at a new offset
    handled.append(handled[-1])
    corner.produce(good + bad + handled, partitions=1)
    return generator, good, bad, handled


def test_each_bad_record_is_quarantined_with_its_reason_and_the_rest_is_handled(
    corner, stream, monkeypatch, tmp_path
):
    generator, good, bad, handled = stream

    loaded = ingest()["total"]

    assert loaded["records"] == len(good) + len(bad) + len(handled)
    assert loaded["quarantined"] == len(bad) == 17
    assert loaded["tombstones"] == generator.total.tombstones + 1
    assert loaded["rows_loaded"] == generator.total.envelopes + len(handled) - 1
    rows = corner.query(
        "select kafka_offset, reason, quarantine_key from cdc_meta.quarantine order by kafka_offset"
    )
    expected_reasons = [*BAD.values(), "missing key", *BAD_KEYS.values()]
    assert len(rows) == len(expected_reasons)
    for row, reason in zip(rows, expected_reasons, strict=True):
        assert reason in row["reason"], (reason, row["reason"])
    client = corner.stack.s3.client()
    for row, message in zip(rows, bad, strict=True):  # the bytes, exactly as received
        assert client.get_object(Bucket="cord-raw", Key=row["quarantine_key"])["Body"].read() == message.value
    assert (
        "if the source column's type changed, change it in the contract (stg_product.yml)"
        in rows[7]["reason"]
    )

    dbt(corner, monkeypatch, tmp_path, "run", "--select", "stg_product")
    staged = {
        r["product_id"]: r for r in corner.query("select * from staging.stg_product where product_id > 90000")
    }
    assert len(staged[90001]["description"]) == 1_300_000  # a message over 1 MB is handled
    assert staged[90002]["name"] == "product 90002"  # staging ignores the unknown column ...
    assert (
        corner.scalar(  # ... which bronze keeps
            "select count(*) from bronze.product_cdc where cdc_payload -> 'after' ? 'NewSourceColumn'"
        )
        == 1
    )
    assert staged[90003]["name"] == "newer"  # late and re-emitted events do not win over a newer state
    assert corner.scalar("select count(*) from bronze.product_cdc where kafka_key = '{\"ID\": 90003}'") == 3


def test_more_quarantined_records_than_the_limit_fail_the_run_after_loading_the_rest(
    corner, stream, monkeypatch
):
    generator, _, _, handled = stream
    monkeypatch.setenv("PRODUCT_CDC_MAX_QUARANTINED_PER_RUN", "3")
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)

    # Failed for good (AirflowFailException): a retry would find nothing left to quarantine, and pass.
    with pytest.raises(
        AirflowFailException, match="17 records were quarantined in this run, more than the limit of 3"
    ):
        tasks.load_bronze.function(params=RUN)

    assert corner.bronze_rows() == generator.total.envelopes + len(handled) - 1
    assert corner.scalar("select count(*) from cdc_meta.quarantine") == 17
    assert tasks.load_bronze.function(params=RUN)["total"]["objects"] == 0  # nothing is loaded twice


def not_a_row_change(op: str, lsn: str, **fields) -> bytes:
    """A truncate (op t) or a logical decoding message (op m): no row image, as Debezium writes them."""
    source = {**SOURCE, "commit_lsn": lsn, "change_lsn": None, "event_serial_no": None}
    envelope = {"before": None, "after": None, "source": source, "op": op, "ts_ms": 1_767_600_000_100}
    return json.dumps({**envelope, **fields}).encode()


def test_truncate_message_and_mismatched_key_events_are_quarantined_and_a_truncate_fails_the_run(
    corner, monkeypatch
):
    generator = corner.generator(products=5, events=120, partitions=1)
    good = list(generator.messages())
    topic = corner.topic
    bad = [  # (key, value, the reason it is quarantined)
        (None, not_a_row_change("t", "fffffff1:00000000:0001"), "truncate event: dbo.Product was truncated"),
        (
            None,
            not_a_row_change("m", "fffffff1:00000000:0002", message={"prefix": "audit", "content": "aGk="}),
            "message event",
        ),
        (
            key(900105),
            event(900106, "fffffff1:00000000:0003", op="c"),
            "key says ID=900105 but the after image holds ID=900106",
        ),
        (
            key(900107),
            event(900108, "fffffff1:00000000:0004", op="d"),
            "key says ID=900107 but the before image holds ID=900108",
        ),
    ]
    fine = [Message(topic, 0, key(900109), event(900109, "fffffff1:00000000:0005", op="c"), [], 1)]
    corner.produce(good + [Message(topic, 0, k, v, [], 1) for k, v, _ in bad] + fine, partitions=1)
    drained = tasks.drain_kafka.function(params=RUN)
    tasks.commit_offsets.function(drained)

    # Failed for good, after loading the rest: the warehouse still holds the rows the truncate removed.
    with pytest.raises(AirflowFailException, match=r"dbo\.Product was truncated at the source") as raised:
        tasks.load_bronze.function(params=RUN)
    assert "full_refresh" in str(raised.value)

    reasons = [
        r["reason"] for r in corner.query("select reason from cdc_meta.quarantine order by kafka_offset")
    ]
    assert len(reasons) == len(bad)
    for reason, (_, _, expected) in zip(reasons, bad, strict=True):
        assert reason.startswith(expected), (expected, reason)
    assert corner.bronze_rows() == generator.total.envelopes + len(fine)
    assert corner.scalar("select count(*) from bronze.product_cdc where kafka_key = '{\"ID\": 900109}'") == 1
    assert (  # neither the key nor the image of a mismatched record is in bronze
        corner.scalar(
            "select count(*) from bronze.product_cdc where (kafka_key ->> 'ID')::bigint between 900100 and "
            "900110 or (coalesce(cdc_payload -> 'after', cdc_payload -> 'before') ->> 'ID')::bigint between "
            "900100 and 900110"
        )
        == 1
    )
    assert tasks.load_bronze.function(params=RUN)["total"]["objects"] == 0  # nothing is loaded twice
    assert corner.bronze_rows() == generator.total.envelopes + len(fine)
