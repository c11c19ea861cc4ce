"""Argon2 never runs on the event loop: under a storm of sign-ins (each hash tens of
milliseconds at these parameters), the loop keeps ticking with gaps far below one hash."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.accounts_support import running_accounts

pytestmark = pytest.mark.integration


async def test_the_loop_stays_responsive_under_a_sign_in_storm(tmp_path: Path) -> None:
    async with running_accounts(
        tmp_path,
        backoff_free_failures=1000,
        argon2_time_cost=3,
        argon2_memory_kib=32_768,
        argon2_parallelism=1,
    ) as svc:
        await svc.verified_account("storm@example.com")
        started = time.perf_counter()
        svc.ctx.hasher.argon2.hash("one hash, timed")
        one_hash = time.perf_counter() - started
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        storm_started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                svc.http.post(
                    "/accounts/api/signin",
                    json={"email": "storm@example.com", "password": f"wrong-password-{n}"},
                )
                for n in range(12)
            )
        )
        storm = time.perf_counter() - storm_started
        stop.set()
        await ticking
        assert [a.status for a in answers] == [401] * 12
        # The storm took many hashes' time, yet the loop never stalled for even half of one.
        assert storm > 3 * one_hash, (storm, one_hash)
        assert max(gaps) < one_hash / 2, (max(gaps), one_hash)
