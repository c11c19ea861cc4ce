"""The notifier's HTTP API on one replica over an in-memory bus: publish, presence, jobs."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from shared.bus.memory import MemoryBus
from shared.events.contracts.notifier import NOTIFICATION_REQUESTED
from tests.notifier_support import (
    Replica,
    client,
    recv_until,
    running_notifier,
    service_headers,
    user_headers,
)

pytestmark = pytest.mark.unit


@pytest.fixture
async def replica() -> AsyncIterator[Replica]:
    async with running_notifier(MemoryBus()) as running:
        yield running


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic abc"])
async def test_publish_refuses_a_bad_service_token(replica: Replica, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    body = {"channel": "user:alice", "event": "x"}
    response = await replica.http.post("/notifier/publish", json=body, headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {"channel": "Not A Channel", "event": "x"},
        {"channel": "user:alice"},
        {"channel": "user:alice", "event": "x", "data": [1]},
        {"channel": "user:alice", "event": "x", "webpush": {"mode": "sometimes"}},
    ],
)
async def test_publish_refuses_bad_payloads(replica: Replica, body: dict[str, object]) -> None:
    response = await replica.http.post("/notifier/publish", json=body, headers=service_headers())
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"], problem


async def test_publish_accepts_once_the_event_is_on_the_bus(replica: Replica) -> None:
    bus = MemoryBus()
    async with running_notifier(bus) as running:
        result = await running.publish("zone:eu", "opened", seats=3)
        (record,) = bus.records(NOTIFICATION_REQUESTED.topic)
        assert (result["topic"], result["offset"]) == (record.topic, record.offset)
        assert record.key == b"zone:eu"


async def test_presence_follows_connections(replica: Replica) -> None:
    async def online() -> bool:
        response = await replica.http.get("/notifier/presence/alice", headers=service_headers())
        assert response.status == 200
        body = await response.json()
        return bool(body["online"])

    assert not await online()
    async with client(replica.ws_url, "alice"):
        assert await online()
    assert not await online()
    response = await replica.http.get("/notifier/presence/alice")
    assert response.status == 401


async def test_a_jobs_result_arrives_by_push_and_by_get(replica: Replica) -> None:
    headers = user_headers("alice")
    async with client(replica.ws_url, "alice") as ws:
        response = await replica.http.post(
            "/notifier/jobs", json={"kind": "digest", "params": {"text": "hello"}}, headers=headers
        )
        assert response.status == 202, await response.text()
        job = await response.json()
        assert job["channel"] == f"job:{job['job_id']}"
        assert job["status"] == "pending"
        await ws.send(f'{{"type":"subscribe","channel":"{job["channel"]}"}}')
        await recv_until(ws, "subscribed")
        pushed = await recv_until(ws, "publication")
    expected = hashlib.sha256(b"hello").hexdigest()
    assert pushed["event"] == "job.completed"
    assert pushed["data"]["result"]["sha256"] == expected
    status = await replica.http.get(job["status_url"], headers=headers)
    assert (await status.json())["result"]["sha256"] == expected
    other = user_headers("mallory")
    assert (await replica.http.get(job["status_url"], headers=other)).status == 404
    assert (await replica.http.get(job["status_url"])).status == 401


async def test_only_the_owner_may_listen_on_a_job_channel(replica: Replica) -> None:
    headers = user_headers("alice")
    response = await replica.http.post(
        "/notifier/jobs", json={"params": {"text": "x"}}, headers=headers
    )
    job = await response.json()
    async with client(replica.ws_url, "mallory") as ws:
        await ws.send(f'{{"type":"subscribe","channel":"{job["channel"]}"}}')
        error = await recv_until(ws, "error")
        assert error["code"] == 4003
    bad = await replica.http.post("/notifier/jobs", json={"kind": "mine"}, headers=headers)
    assert bad.status == 422
