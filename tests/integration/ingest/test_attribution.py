"""Attribution: a conversion is matched to the last click before it, by the click id the
landing page got or by the visitor's identifier, within the program's window."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.bus.codec import decode
from shared.events.catalog import CATALOG
from shared.events.contracts.ingest import ATTRIBUTED, Attribution
from tests.clock import ManualClock
from tests.ingest_support import read_topic, running_ingest

pytestmark = pytest.mark.integration


async def test_conversions_are_attributed_to_the_last_click_within_the_window(
    kafka_env: str, unique: str
) -> None:
    program = f"p{unique}"
    clock = ManualClock(time.time())
    async with running_ingest(
        clock=clock, consumers="attribute", consumer_group_prefix=f"t{unique}"
    ) as ingest:
        await ingest.put_program(program, attribution_window_seconds=3600, required_params={})
        http = ingest.http

        async def click(cookie: str = "") -> tuple[str, str]:
            headers = {"Cookie": f"surge_id={cookie}"} if cookie else {}
            response = await http.get(
                "/t/r",
                params={"program": program, "to": "https://shop.example/p"},
                headers=headers,
                allow_redirects=False,
            )
            assert response.status == 302
            click_id = parse_qs(urlsplit(response.headers["Location"]).query)["sclid"][0]
            return click_id, cookie or response.cookies["surge_id"].value

        async def convert(cookie: str, order: str, **extra: str) -> None:
            response = await http.get(
                "/t/p.gif",
                params={"program": program, "type": "conversion", "order_id": order, **extra},
                headers={"Cookie": f"surge_id={cookie}"},
            )
            assert response.status == 200

        first_click, visitor = await click()
        clock.advance(60)
        last_click, _ = await click(visitor)
        clock.advance(600)
        await convert(visitor, "o1")  # last click of the visitor
        clock.advance(10)
        other, _ = await click()  # someone else's click, named by id in a conversion
        await convert(visitor, "o2", click_id=other)
        clock.advance(7200)
        await convert(visitor, "o3")  # too late: outside the hour
        await convert(visitor, "o4", click_id=first_click)  # named click, also too old
        await click()  # a record after the conversions, so the wait below ends
        found = await read_topic(ATTRIBUTED.topic, lambda r: r.key == program.encode(), 2)
    attributions = [decode(r, CATALOG).data for r in found]
    assert all(isinstance(a, Attribution) for a in attributions)
    by_order = {a.matched_by: a for a in attributions if isinstance(a, Attribution)}
    assert by_order["identifier"].click_id == last_click
    assert by_order["identifier"].seconds_to_convert == pytest.approx(600, abs=1)
    assert by_order["click_id"].click_id == other
    assert [r.header("ce_id") for r in found] == [
        a.conversion_id.encode() for a in attributions if isinstance(a, Attribution)
    ]
