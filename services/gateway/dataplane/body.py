"""A request body as it arrives, with flow control: the client is read only as fast as the
body is consumed (reading stops above HIGH_WATER bytes buffered, resumes below LOW_WATER), so a
large upload is never held whole in memory."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class BodyStream:
    __slots__ = (
        "_buffered",
        "_chunks",
        "_continue",
        "_eof",
        "_error",
        "_pause",
        "_resume",
        "_waiter",
        "received",
    )

    def __init__(
        self,
        pause: Callable[[], None],
        resume: Callable[[], None],
        send_continue: Callable[[], None] | None = None,
    ) -> None:
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._pause = pause
        self._resume = resume
        self._continue = send_continue  # Expect: 100-continue, sent on the first read
        self.received = 0

    # --- fed by the connection ------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self.received += len(chunk)
        if self._buffered > HIGH_WATER:
            self._pause()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        """The connection went away mid-body."""
        if not self._eof:
            self._error = exc
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- read by the handler ----------------------------------------------------------------

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    @property
    def complete(self) -> bool:
        """Every byte of the body has arrived (whether read or not)."""
        return self._eof

    async def readany(self) -> bytes:
        if self._continue is not None:
            send, self._continue = self._continue, None
            if not self._chunks and not self._eof:
                send()
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        before = self._buffered
        self._buffered -= len(chunk)
        if before > LOW_WATER >= self._buffered:
            self._resume()
        return chunk

    def read_nowait(self) -> bytes:
        """Everything buffered now (used when the whole body has already arrived)."""
        data = b"".join(self._chunks)
        self._chunks.clear()
        if self._buffered > LOW_WATER:
            self._resume()
        self._buffered = 0
        return data
