from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.bus.base import Record
from shared.bus.codec import DecodeError, decode, encode
from tests.bus_support import Parcel, catalog_with, parcel, parcel_spec

pytestmark = pytest.mark.unit

SPEC = parcel_spec("parcels")
CATALOG = catalog_with(SPEC)


def as_record(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Record:
    return Record("parcels", 2, 41, key, value, tuple(headers), timestamp_ms=1_700_000_000_000)


def test_encode_uses_binary_content_mode_headers_key_and_json_value() -> None:
    event = SPEC.new(Parcel(parcel_id="p-7", weight_grams=900), source="/scale", subject="p-7")
    key, value, headers = encode(SPEC, event)
    assert key == b"p-7"
    assert json.loads(value) == {"parcel_id": "p-7", "weight_grams": 900}
    assert dict(headers) == {
        "ce_id": event.id.encode(),
        "ce_source": b"/scale",
        "ce_type": b"test.parcel.weighed.v1",
        "ce_specversion": b"1.0",
        "ce_time": event.time.isoformat().encode(),
        "ce_subject": b"p-7",
        "content-type": b"application/json",
    }


def test_round_trip_gives_back_the_same_event_with_a_typed_payload() -> None:
    event = SPEC.new(Parcel(parcel_id="p-1", weight_grams=5), source="/scale", subject="s")
    decoded = decode(as_record(*encode(SPEC, event)), CATALOG)
    assert decoded == event
    assert isinstance(decoded.data, Parcel)
    assert decoded.time == event.time


def test_subject_is_optional_and_ce_time_defaults_to_the_record_timestamp() -> None:
    key, value, headers = encode(SPEC, parcel(SPEC, 1))
    assert "ce_subject" not in dict(headers)
    without_time = [(k, v) for k, v in headers if k != "ce_time"]
    decoded = decode(as_record(key, value, without_time), CATALOG)
    assert decoded.subject is None
    assert decoded.time == datetime.fromtimestamp(1_700_000_000, UTC)


def test_encode_refuses_an_event_of_another_type() -> None:
    other = parcel_spec("elsewhere")
    event = other.new(Parcel(parcel_id="x", weight_grams=1), source="/s")
    wrong = event.model_copy(update={"type": "test.other.v1"})
    with pytest.raises(ValueError, match="does not match"):
        encode(SPEC, wrong)


@pytest.mark.parametrize("header", ["ce_id", "ce_source", "ce_type", "ce_specversion"])
def test_a_missing_required_header_is_a_decode_error_naming_it(header: str) -> None:
    key, value, headers = encode(SPEC, parcel(SPEC, 1))
    with pytest.raises(DecodeError, match=header):
        decode(as_record(key, value, [(k, v) for k, v in headers if k != header]), CATALOG)


def replace_header(
    headers: list[tuple[str, bytes]], name: str, raw: bytes
) -> list[tuple[str, bytes]]:
    return [(k, raw if k == name else v) for k, v in headers]


@pytest.mark.parametrize(
    ("value", "header", "raw", "message"),
    [
        (b"{not json", None, b"", "bad JSON"),
        (b'{"parcel_id": "p"}', None, b"", "invalid payload.*weight_grams"),
        (None, "ce_type", b"test.unknown.v9", "unknown event type 'test.unknown.v9'"),
        (None, "ce_specversion", b"0.3", "unsupported ce_specversion"),
        (None, "ce_source", b"\xff\xfe", "ce_source is not UTF-8"),
        (None, "content-type", b"application/avro", "unsupported content-type"),
        (None, "ce_id", b"", "invalid CloudEvents attributes.*id"),
        (None, "ce_time", b"yesterday", "invalid CloudEvents attributes.*time"),
    ],
)
def test_undecodable_records_raise_a_clear_decode_error(
    value: bytes | None, header: str | None, raw: bytes, message: str
) -> None:
    key, good_value, headers = encode(SPEC, parcel(SPEC, 1))
    if header is not None:
        headers = replace_header(headers, header, raw)
    with pytest.raises(DecodeError, match=message) as caught:
        decode(as_record(key, value or good_value, headers), CATALOG)
    assert isinstance(caught.value, ValueError)
    assert "parcels[2]@41" in str(caught.value)


def test_json_media_type_suffixes_and_parameters_are_accepted() -> None:
    key, value, headers = encode(SPEC, parcel(SPEC, 3))
    headers = replace_header(
        headers, "content-type", b"application/cloudevents+json; charset=utf-8"
    )
    assert decode(as_record(key, value, headers), CATALOG).data == Parcel(
        parcel_id="p3", weight_grams=3
    )
