"""The Kafka key of a change event: Debezium's key schema, the row's primary-key columns.

Decoded once per record; only the contract's primary-key columns are compared with the row image the
op needs, so a key that is not its image's row is quarantined rather than loaded under another key.
"""

from __future__ import annotations

import msgspec

from include.cdc.debezium.jsonb_text import NotAnEnvelope, loads, refuse_surrogates
from include.cdc.debezium.value_rules import shown


def unwrap(document: object) -> tuple[object, bool]:
    """Strip JsonConverter's schema wrapper; report whether there was one."""
    if isinstance(document, dict) and document.keys() == {"schema", "payload"}:
        return document["payload"], True
    return document, False


class _Wrapped(msgspec.Struct, forbid_unknown_fields=True):
    schema: msgspec.Raw
    payload: msgspec.Raw


_decode_json = msgspec.json.Decoder().decode
_decode_wrapped = msgspec.json.Decoder(_Wrapped).decode


def payload(text: str) -> str:
    """The payload of the schema-wrapped form, byte for byte as written (numbers keep their text)."""
    return bytes(_decode_wrapped(text).payload).decode()


def parse_key(key: str | None) -> str:
    return key_and_columns(key)[0]


def key_and_columns(key: str | None) -> tuple[str, dict]:
    """The key (unwrapped) as JSON text, and its columns, decoded once."""
    if key is None:
        raise NotAnEnvelope("missing key: a captured table with a primary key always has one")
    try:
        document, wrapped = unwrap(_decode_json(key))
    except (msgspec.DecodeError, msgspec.ValidationError):
        document = loads(key, "key")  # says why it is not JSON, or takes what msgspec refuses
        refuse_surrogates(document, "key")
        document, wrapped = unwrap(document)
    if not isinstance(document, dict) or not document:
        raise NotAnEnvelope("key is not a JSON object of primary-key columns")
    return (payload(key) if wrapped else key), document


_ABSENT = object()


def _same(in_key: object, in_image: object) -> bool:
    """One primary-key column: the key's value against the image's (a fast-path Raw decoded first). As
    JSON values: 1 and 1.0 are one number, true is no 1, "1" is no 1."""
    if isinstance(in_image, msgspec.Raw):
        in_image = _decode_json(in_image)
    return isinstance(in_key, bool) is isinstance(in_image, bool) and in_key == in_image


def check_key(key_columns: dict, names: tuple[str, ...], image: str, primary_key: tuple) -> None:
    """Refuse a key that does not hold the primary key of the image the op needs (``after`` for c, u, r;
    ``before`` for d). Staging keys rows by the image's primary key, so such a record would be loaded
    under a key Kafka never gave it. Only the contract's primary-key columns are compared (the key was
    decoded once already): one dict lookup and one comparison per column on the hot path."""
    said = [key_columns.get(name, _ABSENT) for name in names]
    if all(_same(k, v) for k, v in zip(said, primary_key, strict=True)):
        return
    key_text = ", ".join(
        f"{name} absent" if value is _ABSENT else f"{name}={_json_shown(value)}"
        for name, value in zip(names, said, strict=True)
    )
    held = ", ".join(f"{name}={_json_shown(value)}" for name, value in zip(names, primary_key, strict=True))
    raise NotAnEnvelope(
        f"key says {key_text} but the {image} image holds {held}: Debezium keys every event by its row's "
        f"primary key, so the key or the image is not this row's"
    )


def _json_shown(value: object) -> str:
    if isinstance(value, msgspec.Raw):
        value = _decode_json(value)
    if value is None or isinstance(value, bool):
        return msgspec.json.encode(value).decode()
    return shown(value)
