"""The CPU pool: image decoding, encoding and model inference in worker processes, so none of it
runs on (or holds the GIL of) the event loop.

`multiprocessing.Pool` (spawn) of AVATARS_POOL_WORKERS processes, each with one libvips thread
and one onnxruntime thread (the pool is the parallelism), and its moderator built once, on first
use. A task that overruns its timeout means a worker is stuck (a pathological decode, a hung
model): the whole pool is terminated and replaced (a Pool cannot kill one worker), the task
raises `StepTimeoutError`, and the tasks of other uploads that were in it fail with
`PoolRestartedError` and are retried by their steps.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable
from multiprocessing.pool import Pool
from typing import Any, TypeVar

log = logging.getLogger("services.avatars.cpu")
T = TypeVar("T")

_moderator_spec = "opennsfw"
_moderator: Any = None


class StepTimeoutError(TimeoutError):
    pass


class PoolRestartedError(RuntimeError):
    pass


def _init_worker(moderator_spec: str) -> None:
    global _moderator_spec
    _moderator_spec = moderator_spec
    # Ctrl-C reaches the whole foreground process group: the parent stops the pool itself (a
    # worker dying on its own while it holds the task queue's lock hangs Pool.terminate).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Load the model now, not in the first upload's moderate step (a failure here is left to
    # that step, which reports it and retries, rather than to a worker respawned forever).
    global _moderator
    try:
        from services.avatars.moderation.base import load_moderator

        _moderator = load_moderator(moderator_spec)
    except Exception:
        log.exception("moderator %s could not be loaded at worker start", moderator_spec)


# Task functions: module level, so the spawned workers can import them.


def inspect_task(path: str, limits: Any) -> Any:
    from services.avatars.imaging.inspect import inspect_file

    return inspect_file(path, limits)


def moderate_task(canonical: bytes) -> list[tuple[str, float]]:
    import pyvips

    global _moderator
    if _moderator is None:
        from services.avatars.moderation.base import load_moderator

        _moderator = load_moderator(_moderator_spec)
    image = pyvips.Image.new_from_buffer(canonical, "")
    return [(label.name, float(label.confidence)) for label in _moderator.labels(image)]


def render_task(canonical: bytes, width: int, height: int, fmt: str) -> bytes:
    from services.avatars.imaging.variants import render

    return render(canonical, width, height, fmt)


def render_many_task(
    canonical: bytes, sizes: tuple[tuple[int, int], ...], formats: tuple[str, ...]
) -> dict[str, bytes]:
    from services.avatars.imaging.variants import render_many

    return render_many(canonical, sizes, formats)


class CpuPool:
    def __init__(self, workers: int, moderator_spec: str) -> None:
        self.workers, self.moderator_spec = workers, moderator_spec
        self._pool: Pool | None = None
        self._generation = 0
        self._pending: dict[int, set[asyncio.Future[Any]]] = {}
        self.restarts = 0

    def _make(self) -> Pool:
        # Read by libvips and onnxruntime when the worker imports them.
        os.environ.setdefault("VIPS_CONCURRENCY", "1")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        context = multiprocessing.get_context("spawn")
        return context.Pool(self.workers, initializer=_init_worker, initargs=(self.moderator_spec,))

    async def start(self) -> None:
        self._pool = await asyncio.to_thread(self._make)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(_terminate, pool)

    def pids(self) -> list[int]:
        """The workers' process ids (the benchmark sums their memory)."""
        children = multiprocessing.active_children()
        return [p.pid for p in children if p.pid is not None]

    async def run(self, limit: float, fn: Callable[..., T], *args: Any) -> T:
        pool = self._pool
        if pool is None:
            raise RuntimeError("CpuPool.start() has not run")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        generation = self._generation
        pending = self._pending.setdefault(generation, set())
        pending.add(future)
        future.add_done_callback(pending.discard)

        def settle(setter: Callable[[Any], None], value: Any) -> None:
            if not future.done():
                setter(value)

        pool.apply_async(
            fn,
            args,
            callback=lambda value: loop.call_soon_threadsafe(settle, future.set_result, value),
            error_callback=lambda exc: loop.call_soon_threadsafe(settle, future.set_exception, exc),
        )
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(future)
        except TimeoutError:
            future.cancel()
            await self._restart(generation)
            raise StepTimeoutError(f"{fn.__name__} took longer than {limit:g} s") from None

    async def _restart(self, generation: int) -> None:
        if generation != self._generation:
            return  # another timeout already replaced that pool
        self._generation += 1
        self.restarts += 1
        old, self._pool = self._pool, await asyncio.to_thread(self._make)
        for stranded in self._pending.pop(generation, set()):
            if not stranded.done():
                stranded.set_exception(PoolRestartedError("the CPU pool was replaced"))
        log.warning("a CPU pool task timed out: pool replaced (restart %d)", self.restarts)
        if old is not None:
            await asyncio.to_thread(_terminate, old)


def _terminate(pool: Pool) -> None:
    pool.terminate()
    pool.join()
