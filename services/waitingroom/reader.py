"""What the follower needs of a zone log reader: every replica reads the whole zone log from the
earliest offset (no consumer group; see `shared.bus.logreader`).

`KafkaLogReader` and, for unit tests, `MemoryLogReader` from `shared.bus.logreader` implement it;
`create_log_topic` there creates the zone log with nothing ever deleted or compacted (the log is
the state, see the contract's docstring).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.bus.base import Record
from shared.bus.logreader import Bounds, Ends


class LogReader(Protocol):
    async def start(self) -> Bounds: ...
    async def stop(self) -> None: ...
    async def fetch(self, timeout_ms: int) -> Sequence[Record]: ...
    async def end_offsets(self) -> Ends: ...
