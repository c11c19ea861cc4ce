"""Who may subscribe to what: the public channel patterns (`NOTIFIER_PUBLIC_CHANNELS`) next to
the own `user:` channel, `broadcast`, job ownership and the token's `channels` claim."""

from __future__ import annotations

from typing import Any

import pytest

from services.notifier.channels import Access, public_patterns
from services.notifier.settings import NotifierSettings
from shared.bus.memory import MemoryBus
from tests.notifier_support import client, recv_json, running_notifier, send

pytestmark = pytest.mark.unit


async def owner_of(job: str) -> str | None:
    return {"j1": "bob"}.get(job)


@pytest.mark.parametrize(
    ("channel", "claims", "allowed"),
    [
        ("zone:z1", {}, True),  # public: no claim needed
        ("zone:eu-1", {"channels": "other:*"}, True),
        ("broadcast", {}, True),
        ("user:ann", {}, True),
        ("user:bob", {}, False),
        ("team:z1", {}, False),  # matches no public pattern and no claim
        ("team:z1", {"channels": ["team:*"]}, True),
        ("zones:z1", {}, False),
    ],
)
async def test_public_patterns_admit_any_authenticated_user(
    channel: str, claims: dict[str, Any], allowed: bool
) -> None:
    access = Access(owner_of, public=("zone:*",))
    assert await access.allowed(channel, "ann", claims) is allowed


async def test_public_patterns_never_open_user_or_job_channels() -> None:
    access = Access(owner_of, public=("*",))
    assert await access.allowed("anything:x", "ann", {})
    assert not await access.allowed("user:bob", "ann", {})
    assert not await access.allowed("job:j1", "ann", {})
    assert await access.allowed("job:j1", "bob", {})


async def test_without_public_patterns_zone_channels_need_the_claim() -> None:
    access = Access(owner_of)
    assert not await access.allowed("zone:z1", "ann", {})
    assert await access.allowed("zone:z1", "ann", {"channels": "zone:*"})
    assert await access.allowed("broadcast", "ann", {})


def test_the_setting_defaults_to_zone_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_PUBLIC_CHANNELS", raising=False)
    assert public_patterns(NotifierSettings().public_channels) == ("zone:*",)


@pytest.mark.parametrize(
    ("value", "patterns"),
    [
        ("zone:* news:eu-?", ("zone:*", "news:eu-?")),
        ("zone:*,news:*", ("zone:*", "news:*")),
        (" zone:* ,  news:* \n status ", ("zone:*", "news:*", "status")),
        ("", ()),
    ],
)
def test_the_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, patterns: tuple[str, ...]
) -> None:
    monkeypatch.setenv("NOTIFIER_PUBLIC_CHANNELS", value)
    assert public_patterns(NotifierSettings().public_channels) == patterns


async def test_the_replica_applies_the_setting() -> None:
    async with (
        running_notifier(MemoryBus(), public_channels="news:*") as replica,
        client(replica.ws_url, "ann") as ws,
    ):
        await send(ws, type="subscribe", channel="news:eu")
        assert (await recv_json(ws))["type"] == "subscribed"
        await send(ws, type="subscribe", channel="zone:z1")  # not public on this replica
        error = await recv_json(ws)
        assert (error["type"], error["code"], error["channel"]) == ("error", 4003, "zone:z1")
