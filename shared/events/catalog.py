"""The event catalog: event type -> topic, partition key and payload model.

Contracts live here (not in a service) because they are what services share. A service
publishes with `spec.new(payload, source=...)` and consumes by topic; the catalog decodes.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic

from shared.events.envelope import CloudEvent, PayloadT


@dataclass(frozen=True)
class EventSpec(Generic[PayloadT]):
    type: str
    topic: str
    payload: builtins.type[PayloadT]
    key: Callable[[PayloadT], str]
    key_doc: str
    description: str

    def new(
        self, data: PayloadT, *, source: str, subject: str | None = None
    ) -> CloudEvent[PayloadT]:
        return CloudEvent[PayloadT](source=source, type=self.type, subject=subject, data=data)

    def partition_key(self, event: CloudEvent[PayloadT]) -> str:
        return self.key(event.data)


class UnknownEventTypeError(KeyError):
    pass


class Catalog:
    def __init__(self) -> None:
        self._by_type: dict[str, EventSpec[Any]] = {}

    def register(self, spec: EventSpec[PayloadT]) -> EventSpec[PayloadT]:
        if spec.type in self._by_type:
            raise ValueError(f"event type {spec.type!r} registered twice")
        self._by_type[spec.type] = spec
        return spec

    def get(self, event_type: str) -> EventSpec[Any]:
        try:
            return self._by_type[event_type]
        except KeyError:
            raise UnknownEventTypeError(event_type) from None

    def __iter__(self) -> Iterator[EventSpec[Any]]:
        return iter(sorted(self._by_type.values(), key=lambda s: s.type))

    def topics(self) -> list[str]:
        return sorted({spec.topic for spec in self._by_type.values()})


CATALOG = Catalog()
"""The platform's catalog. Contract modules in `shared.events.contracts` register into it."""
