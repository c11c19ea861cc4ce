"""When the broker stalls, hits get 503 with Retry-After within the bound, the in-process buffer
stays bounded, and every hit answered 2xx is on the topic.

The stall is real: a tansu broker (Kafka protocol, starts in milliseconds) stopped with SIGSTOP,
so the producer's requests hang exactly as they would on a wedged broker, then resumed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from shared.bus.logreader import KafkaLogReader
from shared.events.contracts.ingest import TRACKING_EVENT
from shared.settings import PlatformSettings
from shared.stack.tansu import Tansu
from tests.ingest_support import running_ingest, user

pytestmark = pytest.mark.integration


@pytest.fixture
def tansu() -> Iterator[Tansu]:
    broker = Tansu.start()
    try:
        yield broker
    finally:
        os.kill(broker.process.pid, signal.SIGCONT)
        broker.stop()


def batch(program: str, ids: list[str]) -> dict[str, Any]:
    return {"events": [{"id": i, "program": program, "type": "impression"} for i in ids]}


async def test_a_stalled_broker_means_503_and_nothing_acknowledged_is_lost(
    tansu: Tansu, mongodb_env: str, unique: str
) -> None:
    platform = PlatformSettings(
        kafka_bootstrap_servers=tansu.bootstrap, kafka_enable_idempotence=False
    )
    program = f"p{unique}"
    acknowledged: set[str] = set()
    auth = user("app")
    async with running_ingest(
        platform=platform, publish_timeout_seconds=1.0, buffer_max=40, retry_after_seconds=3
    ) as ingest:
        await ingest.put_program(program)
        http = ingest.http

        async def send(ids: list[str]) -> int:
            response = await http.post("/t/events", json=batch(program, ids), headers=auth)
            if response.status == 200:
                assert (await response.json())["accepted"] == len(ids)
                acknowledged.update(ids)
            else:
                assert response.status == 503, await response.text()
                assert response.headers["Retry-After"] == "3"
                assert response.content_type == "application/problem+json"
            return response.status

        assert {await send([f"before-{i}"]) for i in range(10)} == {200}
        pixel = await http.get("/t/p.gif", params={"program": program})
        assert pixel.status == 200

        os.kill(tansu.process.pid, signal.SIGSTOP)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            stalled = await asyncio.gather(*(send([f"stall-{i}"]) for i in range(60)))
            pixel = await http.get("/t/p.gif", params={"program": program})
            elapsed = loop.time() - started
            assert set(stalled) == {503}
            assert pixel.status == 503
            assert pixel.headers["Retry-After"] == "3"
            assert elapsed < 5, "answers come within the publish bound, not the broker's timeouts"
            sink = ingest.ctx.sink
            assert sink.refused >= 20  # beyond 40 buffered, refused at once
            assert sink.timed_out >= 1
            assert 0 < sink.buffered <= 40  # the in-process buffer stays within its bound
        finally:
            os.kill(tansu.process.pid, signal.SIGCONT)

        async with asyncio.timeout(60):  # the producer recovers by itself
            while await send([f"after-{len(acknowledged)}"]) != 200:
                await asyncio.sleep(0.5)
        assert {await send([f"after-more-{i}"]) for i in range(5)} == {200}
        assert ingest.ctx.sink.buffered == 0  # what the stall held went out once it ended

    stored: set[str] = set()
    reader = KafkaLogReader(platform, [TRACKING_EVENT.topic], "test-reader")
    await reader.start()
    try:
        async with asyncio.timeout(30):
            while not acknowledged <= stored:
                for record in await reader.fetch(500):
                    if record.key == program.encode():
                        stored.add(TRACKING_EVENT.decode(record).client_event_id)
    finally:
        await reader.stop()
    assert acknowledged <= stored  # every 2xx is on the topic
    assert len(acknowledged) >= 16
