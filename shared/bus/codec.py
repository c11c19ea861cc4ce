"""CloudEvents 1.0 in Kafka binary content mode (cloudevents/spec kafka-protocol-binding).

Attributes travel as `ce_<name>` headers (UTF-8), `datacontenttype` as `content-type`, the
payload JSON as the record value and the catalog's partition key as the record key, so every
event of one entity lands on one partition, in order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.bus.base import Record
from shared.events.catalog import Catalog, EventSpec, UnknownEventTypeError
from shared.events.envelope import CloudEvent

SPECVERSION = "1.0"
REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_specversion")
_ENVELOPE = CloudEvent[Any]  # parametrize once: pydantic's generic lookup costs per call


class DecodeError(ValueError):
    """The record is not a valid event of a known type: poison, retrying cannot help."""


def encode(
    spec: EventSpec[Any], event: CloudEvent[Any]
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Return (key, value, headers) for one event."""
    if event.type != spec.type:
        raise ValueError(f"event type {event.type!r} does not match spec {spec.type!r}")
    headers = [
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        ("ce_specversion", event.specversion.encode()),
        ("ce_time", event.time.isoformat().encode()),
    ]
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    headers.append(("content-type", event.datacontenttype.encode()))
    key = spec.partition_key(event).encode()
    return key, event.data.model_dump_json().encode(), headers


def _text(headers: dict[str, bytes], name: str, where: str) -> str | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(f"{where}: header {name} is not UTF-8") from None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def decode(record: Record, catalog: Catalog) -> CloudEvent[Any]:
    """Rebuild the typed event from a record; raise `DecodeError` when that is impossible."""
    where = f"{record.topic}[{record.partition}]@{record.offset}"
    # Built back to front so the first occurrence wins, as in Record.header.
    headers: dict[str, bytes] = dict(reversed(record.headers))
    missing = [name for name in REQUIRED if name not in headers]
    if missing:
        raise DecodeError(f"{where}: missing CloudEvents headers {', '.join(missing)}")
    specversion = _text(headers, "ce_specversion", where)
    if specversion != SPECVERSION:
        raise DecodeError(f"{where}: unsupported ce_specversion {specversion!r}")
    event_type = _text(headers, "ce_type", where) or ""
    try:
        spec = catalog.get(event_type)
    except UnknownEventTypeError:
        raise DecodeError(f"{where}: unknown event type {event_type!r}") from None
    content_type = _text(headers, "content-type", where) or "application/json"
    if not _is_json(content_type):
        raise DecodeError(f"{where}: unsupported content-type {content_type!r}")
    try:
        data = spec.payload.model_validate_json(record.value)
    except ValidationError as exc:
        kind = "bad JSON" if _is_json_error(exc) else "invalid payload"
        raise DecodeError(f"{where}: {kind} for {event_type}: {_summary(exc)}") from None
    time = _text(headers, "ce_time", where)
    try:
        return _ENVELOPE.model_validate(
            {
                "id": _text(headers, "ce_id", where),
                "source": _text(headers, "ce_source", where),
                "type": event_type,
                "specversion": specversion,
                "time": time or datetime.fromtimestamp(record.timestamp_ms / 1000, UTC),
                "subject": _text(headers, "ce_subject", where),
                "datacontenttype": content_type,
                "data": data,
            }
        )
    except ValidationError as exc:
        raise DecodeError(f"{where}: invalid CloudEvents attributes: {_summary(exc)}") from None


def _is_json_error(exc: ValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors())


def _summary(exc: ValidationError) -> str:
    parts = [
        f"{'.'.join(str(p) for p in error['loc']) or '<root>'}: {error['msg']}"
        for error in exc.errors()[:5]
    ]
    return "; ".join(parts)
