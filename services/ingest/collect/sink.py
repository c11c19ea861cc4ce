"""Hand records to the bus and wait for the broker's acknowledgement, within bounds.

A hit is answered 2xx only once its record is durably on Kafka (acks=all). Records of
concurrent hits are gathered and published together (`Bus.publish_batch`: one producer batch
per partition, one span): while one publish is in flight, the next batch fills, and it leaves
the moment the previous one is acknowledged. At low load a hit goes out alone at once; under a
spike thousands share a round trip. This costs a list append per hit instead of a producer
coroutine, future and span per record.

Two bounds protect the process and tell the client the truth when the broker cannot keep up:
- at most INGEST_BUFFER_MAX records are buffered or in flight at once; beyond that a hit is
  refused at once (the buffer never grows without limit under a broker stall);
- a hit not acknowledged within INGEST_PUBLISH_TIMEOUT_SECONDS is a failure for the client.
Both answer 503 with Retry-After (`UnavailableError`). A record whose client was answered 503
may still be written later: a retried pixel then makes a second event (a batch's events carry
the same ids both times, so the store keeps one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka.errors import KafkaError

from shared.bus.base import Bus, Headers, RawRecord

log = logging.getLogger("ingest.sink")
Observe = Callable[[float], None]
Out = tuple[str, bytes, bytes, Headers]  # topic, value, key, headers


class UnavailableError(Exception):
    """The bus cannot take the hit now: answer 503 with Retry-After."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _retrieve(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()  # every waiter may have given up: no "never retrieved" warning


class Sink:
    def __init__(
        self, bus: Bus, *, capacity: int, timeout: float, observe: Observe | None = None
    ) -> None:
        self.bus, self.capacity, self.timeout = bus, capacity, timeout
        self.observe = observe
        self.buffered = 0  # records gathered or in flight
        self.refused = self.timed_out = self.failed = self.published = 0
        self._batch: list[tuple[str, RawRecord]] = []
        self._done: asyncio.Future[None] | None = None
        self._flushing = self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> int:  # the metrics gauge
        return self.buffered

    async def send(self, topic: str, value: bytes, key: bytes, headers: Headers) -> None:
        await self.send_all(((topic, value, key, headers),))

    async def send_all(self, records: Sequence[Out]) -> None:
        """Every record acknowledged, or `UnavailableError`."""
        count = len(records)
        if self.buffered + count > self.capacity:
            self.refused += count
            raise UnavailableError("too many events are waiting for the broker")
        started = time.perf_counter()
        done = self._add(records)
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.shield(done)
        except TimeoutError:
            self.timed_out += count
            raise UnavailableError("the broker did not acknowledge in time") from None
        except (KafkaError, OSError, RuntimeError, ValueError) as exc:
            self.failed += count
            log.warning("publishing failed: %s", exc)
            raise UnavailableError("the broker refused the events") from None
        if self.observe is not None:
            self.observe(time.perf_counter() - started)

    def _add(self, records: Sequence[Out]) -> asyncio.Future[None]:
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            self._done.add_done_callback(_retrieve)
        self._batch.extend((topic, (key, value, headers)) for topic, value, key, headers in records)
        self.buffered += len(records)
        if not self._flushing and not self._scheduled:
            # After this loop turn: every hit handled in it joins the batch.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_next)
        return self._done

    def _flush_next(self) -> None:
        self._scheduled = False
        if self._flushing or not self._batch or self._done is None:
            return
        batch, done = self._batch, self._done
        self._batch, self._done = [], None
        self._flushing = True
        task = asyncio.get_running_loop().create_task(self._flush(batch, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[str, RawRecord]], done: asyncio.Future[None]) -> None:
        by_topic: dict[str, list[RawRecord]] = {}
        for topic, record in batch:
            by_topic.setdefault(topic, []).append(record)
        try:
            await asyncio.gather(
                *(self.bus.publish_batch(topic, records) for topic, records in by_topic.items())
            )
        except Exception as exc:
            done.set_exception(exc)
        else:
            self.published += len(batch)
            done.set_result(None)
        finally:
            self.buffered -= len(batch)
            self._flushing = False
            if self._batch:
                self._flush_next()

    async def close(self) -> None:
        """Wait for what is in flight (the answers that wait on it are being sent)."""
        while self._tasks or self._batch:
            if self._batch and not self._flushing:
                self._flush_next()
            await asyncio.gather(*self._tasks, return_exceptions=True)
