"""An upstream's connection slots: a counting semaphore whose free slot is taken without awaiting.

`asyncio.Semaphore` can only be acquired by awaiting, and the data plane's synchronous path
(dataplane/flight.py) must know at once whether a slot is free. Waiters are served in arrival
order, a released slot goes straight to the oldest waiter, and a cancelled waiter that had
already been handed a slot passes it on.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    __slots__ = ("_free", "_waiters", "size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("an upstream needs at least one connection slot")
        self.size = size
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        return self._free

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits for one (never suspends)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands; `free` stays as it is
                return
        self._free += 1
