"""The collector on a real broker: pixel, click redirect and batch, validated against the
program, enriched, acknowledged by Kafka; invalid hits become bad rows with their reason."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from services.ingest.collect.pixel import GIF
from shared.events.proto.tracking_pb2 import Channel
from tests.ingest_support import CHROME, GOOGLEBOT, bad_rows_of, events_of, running_ingest, user

pytestmark = pytest.mark.integration


async def test_a_pixel_hit_is_an_enriched_event_on_kafka(kafka_env: str, unique: str) -> None:
    program = f"p{unique}"
    async with running_ingest() as ingest:
        await ingest.put_program(program)
        headers = {
            "User-Agent": CHROME,
            "X-Forwarded-For": "203.0.113.77",
            "Referer": "https://a.example/x",
        }
        response = await ingest.http.get(
            "/t/p.gif",
            params={"program": program, "campaign": "spring", "a.b": "1"},
            headers=headers,
        )
        assert response.status == 200, await response.text()
        assert await response.read() == GIF
        assert len(GIF) == 43
        assert response.headers["Content-Type"] == "image/gif"
        assert "no-store" in response.headers["Cache-Control"]
        cookie = response.cookies["surge_id"]
        assert cookie["httponly"]
        assert cookie["samesite"] == "Lax"
        bot = await ingest.http.get(
            "/t/p.gif", params={"program": program}, headers={"User-Agent": GOOGLEBOT}
        )
        assert bot.status == 200
    first, second = await events_of(program, 2)
    assert first.type == "impression"
    assert first.channel == Channel.CHANNEL_PIXEL
    assert [(p.k, p.v) for p in first.params] == [("campaign", "spring"), ("a.b", "1")]
    assert first.agent.browser == "Chrome"
    assert first.agent.os == "Windows"
    assert not first.bot
    assert first.ip == "203.0.113.0"
    assert first.ip_truncated
    assert first.identifier == cookie.value
    assert first.event_id[14] == "7"  # UUIDv7
    assert second.bot  # flagged, kept


async def test_gpc_means_no_cookie_and_no_identifier(kafka_env: str, unique: str) -> None:
    program = f"p{unique}"
    async with running_ingest() as ingest:
        await ingest.put_program(program)
        response = await ingest.http.get(
            "/t/p.gif", params={"program": program}, headers={"Sec-GPC": "1"}
        )
        assert response.status == 200
        assert "Set-Cookie" not in response.headers
        dnt = await ingest.http.get(
            "/t/p.gif",
            params={"program": program},
            headers={"DNT": "1", "Cookie": "surge_id=0190d7a2-3c4d-7e8f-9a0b-1c2d3e4f5a6b"},
        )
        assert "Set-Cookie" not in dnt.headers
    events = await events_of(program, 2)
    assert [(e.identifier, e.opted_out) for e in events] == [("", True), ("", True)]


async def test_unknown_and_inactive_programs_answer_the_gif_and_become_bad_rows(
    kafka_env: str, unique: str
) -> None:
    program = f"p{unique}"
    async with running_ingest() as ingest:
        await ingest.put_program(program, active=False)
        for params in (
            {"program": program},
            {"program": f"nope{unique}"},
            {"program": program, "type": "conversion"},
        ):
            response = await ingest.http.get("/t/p.gif", params=params)
            assert response.status == 200
            assert await response.read() == GIF
        await ingest.put_program(program)
        missing = await ingest.http.get(
            "/t/p.gif", params={"program": program, "type": "conversion"}
        )
        assert missing.status == 200
    rows = await bad_rows_of(program, 3)
    assert [r.reason for r in rows] == ["inactive_program", "inactive_program", "missing_params"]
    assert rows[2].errors == [{"field": "params.order_id", "message": "Field required"}]
    assert rows[0].request.path == "/t/p.gif"
    assert {"k": "program", "v": program} in rows[0].request.query
    unknown = await bad_rows_of(f"nope{unique}", 1)
    assert unknown[0].reason == "unknown_program"


async def test_the_redirect_refuses_hosts_the_program_does_not_allow(
    kafka_env: str, unique: str
) -> None:
    program = f"p{unique}"
    async with running_ingest() as ingest:
        await ingest.put_program(program, redirect_domains=["shop.example"])
        ok = await ingest.http.get(
            "/t/r",
            params={"program": program, "to": "https://www.shop.example/sale?x=1"},
            allow_redirects=False,
        )
        assert ok.status == 302
        location = urlsplit(ok.headers["Location"])
        assert location.hostname == "www.shop.example"
        click_id = parse_qs(location.query)["sclid"][0]
        for target in (
            "https://evil.example/",
            "https://shop.example.evil.example/",
            "https://shop.example@evil.example/",
            "//evil.example/",
            "javascript:alert(1)",
            "https://evil.example\\@shop.example/",
        ):
            refused = await ingest.http.get(
                "/t/r", params={"program": program, "to": target}, allow_redirects=False
            )
            assert refused.status == 400, target
            assert refused.content_type == "application/problem+json"
            assert "Location" not in refused.headers
        unknown = await ingest.http.get(
            "/t/r",
            params={"program": f"x{unique}", "to": "https://shop.example/"},
            allow_redirects=False,
        )
        assert unknown.status == 404
    (click,) = await events_of(program, 1)
    assert click.type == "click"
    assert click.click_id == click_id == click.event_id
    assert click.redirect_to == "https://www.shop.example/sale?x=1"
    rows = await bad_rows_of(program, 6)
    assert {r.reason for r in rows} == {"redirect_refused"}


async def test_batch_accepts_valid_events_and_lists_the_rejected_ones(
    kafka_env: str, unique: str
) -> None:
    program = f"p{unique}"
    batch: dict[str, Any] = {
        "events": [
            {
                "id": "e1",
                "program": program,
                "type": "conversion",
                "params": {"order_id": "o1", "value": 9.5},
            },
            {"id": "e2", "program": program, "type": "conversion"},
            {"id": "e3", "program": program, "type": "signup"},
            {"id": 4, "program": program, "type": "impression"},
            {"id": "e1", "program": program, "type": "impression"},
        ]
    }
    async with running_ingest() as ingest:
        await ingest.put_program(program)
        response = await ingest.http.post("/t/events", json=batch, headers=user("app-1"))
        assert response.status == 200, await response.text()
        body = await response.json()
        again = await ingest.http.post("/t/events", json=batch, headers=user("app-1"))
        assert await again.json() == body
    assert body["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (1, "missing_params"),
        (2, "type_not_allowed"),
        (3, "invalid_event"),
        (4, "duplicate_id"),
    ]
    assert body["rejected"][0]["errors"] == [
        {"field": "params.order_id", "message": "Field required"}
    ]
    assert body["rejected"][2]["errors"][0]["field"] == "events[3].id"
    first, retried = await events_of(program, 2)
    assert first.event_id == retried.event_id  # a retried batch names the same events
    assert first.client_event_id == "e1"
    assert first.sender == "jwt:app-1"
    assert [(p.k, p.v) for p in first.params] == [("order_id", "o1"), ("value", "9.5")]


async def test_batch_limits_and_bad_input_are_problems(kafka_env: str, unique: str) -> None:
    program = f"p{unique}"
    async with running_ingest() as ingest:
        await ingest.put_program(program)
        auth = user("app-1")
        too_many = {
            "events": [
                {"id": f"e{i}", "program": program, "type": "impression"} for i in range(501)
            ]
        }
        response = await ingest.http.post("/t/events", json=too_many, headers=auth)
        assert response.status == 400
        assert (await response.json())["errors"] == [
            {"field": "events", "message": "at most 500 items"}
        ]
        huge = b'{"events": [' + b'"' + b"x" * (1024 * 1024) + b'"]}'
        response = await ingest.http.post(
            "/t/events", data=io.BytesIO(huge), headers={**auth, "Content-Type": "application/json"}
        )
        assert response.status == 413
        assert response.content_type == "application/problem+json"
        for body, field in (
            (b"{", None),
            (b"[]", ""),
            (b'{"events": []}', "events"),
            (b'{"evts": [1]}', "events"),
        ):
            response = await ingest.http.post(
                "/t/events", data=body, headers={**auth, "Content-Type": "application/json"}
            )
            assert response.status == 400, body
            problem = await response.json()
            if field:
                assert any(e["field"] == field for e in problem["errors"]), problem
        anonymous = await ingest.http.post("/t/events", json={"events": [{}]})
        assert anonymous.status == 401
        forged = await ingest.http.post(
            "/t/events", json={"events": [{}]}, headers={"Authorization": "Bearer x.y.z"}
        )
        assert forged.status == 401
