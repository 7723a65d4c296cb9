"""How one landed object is split into COPY rows, tombstones and quarantined records."""

from __future__ import annotations

import gzip
import json
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from include.cdc.archive.landing import BatchBuffer, DamagedObject, ObjectKey, encode_record
from include.cdc.archive.storage import StorageError
from include.cdc.bronze import prepare
from include.cdc.bronze.copy_text import copy_timestamp
from include.cdc.bronze.prepare import prefetched, prepare_object
from include.cdc.bronze.quarantine import put_quarantined, quarantine_key
from include.cdc.bronze.target import BronzeTarget
from include.cdc.contract import load_contract
from tests.unit.memory_store import MemoryStore

PRODUCT = load_contract()[0]
TOPIC = "cord.ConcordDb.dbo.Product"
TARGET = BronzeTarget(PRODUCT, TOPIC, "product/raw/", "product/quarantine/")
SOURCE = {"schema": "dbo", "table": "Product", "commit_lsn": "00000027:00000758:0005"}


def envelope(name: str = "Brake disc") -> bytes:
    return json.dumps(
        {"before": None, "after": {"ID": 1, "Name": name}, "source": SOURCE, "op": "c"}
    ).encode()


def landed_object(values: list[tuple[bytes | None, bytes | None]]) -> tuple[str, bytes]:
    batch = BatchBuffer(0, 1)
    for offset, (key, value) in enumerate(values):
        batch.add(offset, encode_record(TOPIC, 3, offset, 1_700_000_000_000, key, value, []))
    key = str(ObjectKey("product/raw/", TOPIC, 3, 0, len(values) - 1))
    return key, batch.finish()


def copy_rows(prepared) -> list[list[str]]:
    return [row.decode().rstrip("\n").split("\t") for row in prepared.rows]


def test_events_tombstones_and_bad_records_are_counted_apart():
    key, body = landed_object(
        [
            (b'{"ID":1}', envelope()),
            (b'{"ID":1}', None),
            (b'{"ID":2}', b"not json"),
            (b'{"ID":3}', b"\xff\xfe"),
            (None, envelope()),
            (
                b'{"schema":{},"payload":{"ID":1}}',
                json.dumps({"schema": {}, "payload": json.loads(envelope())}).encode(),
            ),
        ]
    )
    prepared = prepare_object(key, body, TARGET)
    assert prepared.counts.records == 6
    assert prepared.counts.tombstones == 1
    assert [(q.offset, q.reason) for q in prepared.quarantined] == [
        (2, "value is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (3, "value is not valid UTF-8"),
        (4, "missing key: a captured table with a primary key always has one"),
    ]
    assert prepared.quarantined[1].raw == b"\xff\xfe"  # bytes kept exactly
    rows = copy_rows(prepared)
    assert [r[0] for r in rows] == ["0", "5"]
    assert json.loads(rows[1][2]) == {"ID": 1}  # key unwrapped
    assert json.loads(rows[1][3]) == json.loads(envelope())  # envelope unwrapped


def test_a_copy_line_holds_every_column_of_bronze_but_ingested_at_the_offset_first():
    key, body = landed_object([(b'{"ID":1}', envelope())])
    [row] = copy_rows(prepare_object(key, body, TARGET))
    assert row[:2] == ["0", "2023-11-14 22:13:20.000+00"]  # 1_700_000_000_000 ms after the epoch, in UTC
    assert row[4:] == [TOPIC, "3", key]


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))  # years 1..9999
def test_copy_timestamps_are_the_instant_of_the_epoch_milliseconds_in_utc(ms):
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert copy_timestamp(ms) == instant.isoformat(sep=" ", timespec="milliseconds").replace("+00:00", "+00")


def test_copy_timestamps_beyond_pythons_dates_are_spelled_as_postgresql_reads_them():
    assert copy_timestamp(None) == "\\N"
    assert copy_timestamp(253_402_300_800_000) == "10000-01-01 00:00:00.000+00"
    assert copy_timestamp(-62_135_596_800_001) == "0001-12-31 BC 23:59:59.999+00"  # the year before 1
    assert copy_timestamp(-62_198_755_200_000) == "0002-01-01 BC 00:00:00.000+00"


def test_copy_text_escapes_backslashes_and_control_characters():
    value = json.dumps(
        {"before": None, "after": {"ID": 1, "Name": 'quote " back\\slash\ttab'}, "source": SOURCE, "op": "c"},
        ensure_ascii=False,
    )
    raw_newline = value.replace('"op"', '\n"op"')  # JSON may carry raw whitespace between tokens
    key, body = landed_object([(b'{"ID":1}', raw_newline.encode())])
    rows = copy_rows(prepare_object(key, body, TARGET))
    assert len(rows) == 1
    payload = rows[0][3]
    assert "\\\\slash" in payload
    assert "\\n" in payload
    assert "\n" not in payload
    assert "\t" not in payload


def test_nul_characters_are_quarantined_because_jsonb_cannot_hold_them():
    value = envelope("bad\u0000name")
    key, body = landed_object([(b'{"ID":1}', value)])
    prepared = prepare_object(key, body, TARGET)
    assert prepared.counts.quarantined == 1
    assert "NUL" in prepared.quarantined[0].reason


def test_quarantine_keys_are_deterministic():
    assert quarantine_key(TARGET, 3, 42) == (
        "product/quarantine/topic=cord.ConcordDb.dbo.Product/partition=3/00000000000000000042.bin"
    )


def test_unpaired_surrogates_are_quarantined_not_crashing_the_load():
    wrapped = json.dumps({"schema": {}, "payload": json.loads(envelope("\ud800 broken"))})
    key, body = landed_object([(b'{"ID":1}', wrapped.encode())])
    prepared = prepare_object(key, body, TARGET)
    assert prepared.rows == []
    assert "surrogate" in prepared.quarantined[0].reason


def test_a_key_that_is_not_utf8_or_not_json_is_quarantined_as_such_never_as_missing():
    key, body = landed_object([(b"\xff\xfe", envelope()), (b"ID=1", envelope()), (b"", envelope())])
    reasons = [q.reason for q in prepare_object(key, body, TARGET).quarantined]
    assert reasons[0] == "key is not valid UTF-8"
    assert reasons[1].startswith("key is not JSON: Expecting value")
    assert reasons[2].startswith("key is not JSON")


def test_json_nested_too_deep_for_the_decoder_is_quarantined_and_the_records_around_it_load():
    deep = json.dumps({"before": None, "after": {"ID": 2, "Note": "@"}, "source": SOURCE, "op": "c"})
    deep = deep.replace('"@"', "[" * 1000 + "]" * 1000).encode()
    key, body = landed_object([(b'{"ID":1}', envelope()), (b'{"ID":2}', deep), (b'{"ID":1}', envelope())])
    prepared = prepare_object(key, body, TARGET)
    assert [r[0] for r in copy_rows(prepared)] == ["0", "2"]
    assert [(q.offset, q.reason) for q in prepared.quarantined] == [
        (
            1,
            "value nests JSON arrays and objects 1002 levels deep, deeper than the decoder follows "
            "(RecursionError)",
        )
    ]
    assert prepared.quarantined[0].raw == deep


def test_whatever_a_check_raises_quarantines_the_record_with_the_exception(monkeypatch):
    def check(key, value, table):
        if "poison" in value:
            raise KeyError("a bug in a check")
        return real(key, value, table)

    real = prepare.parse_change_event
    monkeypatch.setattr(prepare, "parse_change_event", check)
    key, body = landed_object([(b'{"ID":1}', envelope("poison")), (b'{"ID":1}', envelope())])
    prepared = prepare_object(key, body, TARGET)
    assert len(prepared.rows) == 1
    assert prepared.quarantined[0].reason.startswith("checking it raised KeyError ('a bug in a check')")


def test_running_out_of_memory_is_not_blamed_on_the_record(monkeypatch):
    monkeypatch.setattr(prepare, "parse_change_event", lambda *_: (_ for _ in ()).throw(MemoryError()))
    key, body = landed_object([(b'{"ID":1}', envelope())])
    with pytest.raises(MemoryError):
        prepare_object(key, body, TARGET)


@pytest.mark.parametrize(
    ("body", "damage"),
    [
        (b"not gzip at all", "is not a whole gzip stream after line 0 (BadGzipFile"),
        (
            gzip.compress(b'{"topic":"t","partition":3,"offset":0}\n' * 3)[:-12],
            "is not a whole gzip stream after line 0 (EOFError",
        ),
        (
            gzip.compress(b'{"topic":"t","partition":3,"offset":0}\n{"topic": 1}\n'),
            "line 2 is not a landed record",
        ),
        (
            gzip.compress(b'{"topic":"t","partition":3,"offset":0}\nnot json\n'),
            "line 2 is not a landed record",
        ),
    ],
    # Named, not by their bytes: gzip writes the time into its header, and parallel workers must collect
    # the same test ids.
    ids=["not gzip", "cut off", "not a landed record", "not json"],
)
def test_a_damaged_object_fails_with_its_key_and_line(body, damage):
    key = str(ObjectKey("product/raw/", TOPIC, 3, 0, 2))
    with pytest.raises(DamagedObject, match=re.escape(f"Landed object {key}: {damage}")):
        prepare_object(key, body, TARGET)


def test_reasons_show_names_from_the_record_escaped_and_metadata_holds_printable_ascii_only():
    store = MemoryStore()
    key, body = landed_object([(b'{"ID":1}', envelope().replace(b'"Product"', b'"Pro\\nduct \\u00e9"'))])
    prepared = prepare_object(key, body, TARGET)
    bad = prepared.quarantined[0]
    assert bad.reason.startswith("envelope for dbo.'Pro\\nduct é' on the topic of dbo.Product")
    bad.reason += " (KeyError: 'line\nbreak')"  # as an unexpected exception's text may hold
    put_quarantined(store, TARGET, prepared, bad)
    reason = store.metadata(quarantine_key(TARGET, 3, 0))["reason"]
    assert reason.endswith("(KeyError: 'line?break')")
    assert re.fullmatch("[ -~]*", reason)


def test_the_next_object_is_prepared_while_the_current_one_is_loaded():
    """The loader works on object a (here: waits) while object b's preparation has already begun."""
    started = {key: threading.Event() for key in "abc"}

    def prepare(key: str) -> str:
        started[key].set()
        return key

    seen = []
    for key in prefetched("abc", prepare):
        if key != "c":
            following = "abc"[len(seen) + 1]
            assert started[following].wait(timeout=30), f"{following} was not prepared while {key} loaded"
        seen.append(key)
    assert seen == ["a", "b", "c"]


def test_a_failed_preparation_stops_the_load_at_that_object():
    def prepare(key: str) -> str:
        if key == "b":
            raise StorageError("b is gone")
        return key

    objects = prefetched("abc", prepare)
    assert next(objects) == "a"
    with pytest.raises(StorageError, match="b is gone"):
        next(objects)


def test_a_truncate_is_quarantined_as_a_truncate_and_marked_for_the_load_to_fail_the_run():
    truncate = json.dumps({"before": None, "after": None, "source": SOURCE, "op": "t"}).encode()
    message = json.dumps({"source": SOURCE, "op": "m", "message": {"prefix": "p", "content": ""}}).encode()
    key, body = landed_object(
        [(b'{"ID":1}', envelope()), (None, truncate), (None, message), (b'{"ID":2}', envelope())]
    )
    prepared = prepare_object(key, body, TARGET)
    assert [r[0] for r in copy_rows(prepared)] == ["0"]
    assert [(q.offset, q.reason.split(":")[0], q.truncate) for q in prepared.quarantined] == [
        (1, "truncate event", True),
        (2, "message event (op 'm')", False),
        (3, "key says ID=2 but the after image holds ID=1", False),
    ]
