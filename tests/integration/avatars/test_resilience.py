"""Steps retried with backoff, dead-lettered with their reason when they keep failing (the
player told), timed out when they hang (the stuck pool replaced)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.avatars.workflow.steps import Move, Stay, Step
from tests.avatars_images import photo_jpeg
from tests.avatars_moderator import STALL_FILE
from tests.avatars_support import header, read_topic, running_avatars, settings

pytestmark = pytest.mark.integration


def flaky(step: Step, failures: int, calls: list[int]) -> Step:
    async def wrapped(doc: dict[str, Any]) -> Move | Stay:
        calls.append(1)
        if len(calls) <= failures:
            raise ConnectionError(f"transient failure {len(calls)}")
        return await step(doc)

    return wrapped


async def test_a_step_that_fails_twice_then_succeeds(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    async with running_avatars(settings(tmp_path, unique, step_max_attempts=3)) as avatars:
        steps = avatars.ctx.workflow.steps
        calls: list[int] = []
        steps["inspected"] = flaky(steps["inspected"], 2, calls)
        upload_id = await avatars.upload(f"u{unique}", photo_jpeg(320, 240))
        doc = await avatars.until(upload_id, {"published", "failed"})
        assert doc["state"] == "published", doc.get("reason")
        assert len(calls) == 3
        assert doc["attempts"] == {"moderate": 2}
        assert "transient failure 2" in doc["last_error"]


async def test_a_step_that_always_fails_is_dead_lettered_and_the_player_told(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    user = f"u{unique}"
    async with running_avatars(settings(tmp_path, unique, step_max_attempts=3)) as avatars:
        steps = avatars.ctx.workflow.steps
        calls: list[int] = []
        steps["approved"] = flaky(steps["approved"], 99, calls)
        upload_id = await avatars.upload(user, photo_jpeg(320, 240))
        doc = await avatars.until(upload_id, {"failed"})
        assert len(calls) == 3
        assert doc["reason"] == (
            "step variants failed after 3 attempts: ConnectionError: transient failure 3"
        )
        assert not (tmp_path / "blobs" / "avatars" / user / upload_id).exists()
    dead = await read_topic("avatars.uploads.dlq", lambda r: r.key == upload_id.encode(), 1)
    assert header(dead[0], "dlq_error") == f"PermanentError: {doc['reason']}"
    assert header(dead[0], "ce_type") == "avatars.uploaded.v1"
    told = await read_topic(
        "notifications",
        lambda r: r.key == f"user:{user}".encode() and b'"failed"' in r.value,
        1,
    )
    note = json.loads(told[0].value)
    assert note["data"] == {"upload_id": upload_id, "state": "failed", "reason": doc["reason"]}
    assert note["webpush"]["urgency"] == "low"
    assert note["webpush"]["topic"] == "avatar"
    assert note["webpush"]["mode"] == "always"
    outcome = await read_topic("avatars.moderated", lambda r: r.key == user.encode(), 1)
    assert json.loads(outcome[0].value)["outcome"] == "failed"


async def test_a_hung_step_times_out_and_the_retry_succeeds(
    kafka_env: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stall = tmp_path / "stalled"
    monkeypatch.setenv(STALL_FILE, str(stall))  # read by the spawned pool workers
    config = settings(
        tmp_path,
        unique,
        moderator="tests.avatars_moderator:StallOnceModerator",
        step_timeout_seconds=5.0,
    )
    async with running_avatars(config) as avatars:
        upload_id = await avatars.upload(f"u{unique}", photo_jpeg(320, 240))
        doc = await avatars.until(upload_id, {"published", "failed"}, within=90)
        assert stall.exists()
        assert doc["state"] == "published", doc.get("reason")
        assert doc["attempts"] == {"moderate": 1}
        assert doc["last_error"] == "timed out"
        assert avatars.ctx.pool.restarts == 1
