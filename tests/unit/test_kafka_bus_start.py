"""`KafkaBus.start()` against a broker that is not there: it fails and leaks nothing."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from shared.bus.kafka import KafkaBus
from shared.settings import PlatformSettings
from shared.stack.servers import free_port

pytestmark = pytest.mark.unit


async def test_start_against_an_unreachable_broker_closes_its_producer() -> None:
    # A free port nobody listens on: the connection is refused at once.
    platform = PlatformSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bus = KafkaBus(platform, client_id="unreachable")
            with pytest.raises(KafkaConnectionError):
                await bus.start()
            assert not await bus.ping()
            await bus.stop()  # nothing started: a no-op
            del bus
            gc.collect()  # an unclosed producer warns from __del__
    finally:
        loop.set_exception_handler(None)
    leaks = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    leaks += [str(c.get("message")) for c in reported]
    assert leaks == []
