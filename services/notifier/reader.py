"""What the fan-out needs of a whole-topic reader: every replica reads the publication and
presence topics from the earliest retained offset (no consumer group; see
`shared.bus.logreader`), rebuilds its history and presence from them at start, then follows them.

`KafkaLogReader` and, for unit tests, `MemoryLogReader` from `shared.bus.logreader` implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.bus.base import Record
from shared.bus.logreader import Bounds


class LogReader(Protocol):
    async def start(self) -> Bounds: ...
    async def stop(self) -> None: ...
    async def fetch(self, timeout_ms: int) -> Sequence[Record]: ...
    def partition_for(self, topic: str, key: bytes) -> int: ...
