"""Events whose payload is a protocol buffer (high-volume streams: `tracking.events`).

Same CloudEvents 1.0 binary content mode as the JSON events (`shared.bus.codec`): attributes in
`ce_*` headers, the payload as the record value, the partition key as the record key; the
`content-type` is `application/protobuf` and `ce_dataschema` names the message in its `.proto`
file. A `ProtoSpec` registers in `PROTO_SPECS`, which the AsyncAPI document reads next to the
JSON catalog.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from shared.bus.base import Record
from shared.bus.codec import SPECVERSION, DecodeError

CONTENT_TYPE = "application/protobuf"
ROOT = Path(__file__).resolve().parents[2]
MessageT = TypeVar("MessageT", bound=Message)


@dataclass(frozen=True)
class ProtoSpec(Generic[MessageT]):
    type: str
    topic: str
    message: builtins.type[MessageT]
    schema_file: str  # repository-relative path of the .proto file
    key_doc: str
    description: str

    @property
    def full_name(self) -> str:
        return str(self.message.DESCRIPTOR.full_name)

    @property
    def dataschema(self) -> str:
        return f"{self.schema_file}#{self.full_name}"

    def schema_text(self) -> str:
        return (ROOT / self.schema_file).read_text(encoding="utf-8")

    def headers(
        self, event_id: str, source: str, time_ms: int, *, subject: str | None = None
    ) -> list[tuple[str, bytes]]:
        """The `ce_*` headers of one event (the record value is the serialized message)."""
        at = _iso(time_ms)
        headers = [
            ("ce_id", event_id.encode()),
            ("ce_source", source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_time", at.encode()),
            ("ce_dataschema", self.dataschema.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if subject is not None:
            headers.append(("ce_subject", subject.encode()))
        return headers

    def decode(self, record: Record) -> MessageT:
        """The record's payload; `DecodeError` (poison) when it is not this event."""
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        event_type = record.header("ce_type")
        if event_type is not None and event_type != self.type.encode():
            raise DecodeError(f"{where}: unexpected event type {event_type!r}")
        message = self.message()
        try:
            message.ParseFromString(record.value)
        except ProtobufDecodeError as exc:
            raise DecodeError(f"{where}: bad protobuf for {self.type}: {exc}") from None
        return message


@functools.lru_cache(maxsize=1024)
def _iso(time_ms: int) -> str:
    # The events of one request share their time: formatted once.
    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat()


class ProtoCatalog:
    def __init__(self) -> None:
        self._by_type: dict[str, ProtoSpec[Message]] = {}

    def register(self, spec: ProtoSpec[MessageT]) -> ProtoSpec[MessageT]:
        if spec.type in self._by_type:
            raise ValueError(f"event type {spec.type!r} registered twice")
        self._by_type[spec.type] = spec  # type: ignore[assignment]
        return spec

    def __iter__(self) -> Iterator[ProtoSpec[Message]]:
        return iter(sorted(self._by_type.values(), key=lambda s: s.type))


PROTO_SPECS = ProtoCatalog()
"""Protobuf events of the platform; contract modules register into it."""
