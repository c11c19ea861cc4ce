"""The JSON protocol on the WebSocket (docs/notifier-protocol.md).

Client -> server messages are validated with pydantic (a discriminated union on `type`);
server -> client messages are built here as compact JSON bytes. A publication's frame is
encoded once and the same bytes go to every subscriber and into the channel's history.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.events.contracts.notifier import CHANNEL_PATTERN

SUBPROTOCOL = "surge.v1"
BEARER_PREFIX = "bearer."


class Code(IntEnum):
    """Close codes (and the `code` of `error` messages). 4xxx are ours (RFC 6455 7.4.2)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # replica shutting down: reconnect (to another replica) and recover
    MESSAGE_TOO_BIG = 1009
    PROTOCOL_ERROR = 4000  # unparseable or unknown message
    UNAUTHORIZED = 4001  # missing, malformed or invalid token, or another user's token
    TOKEN_EXPIRED = 4002  # the token expired (also while connected, unless refreshed)
    FORBIDDEN_CHANNEL = 4003  # `error` only: the subscription is refused, the socket stays
    BAD_CHANNEL = 4004  # `error` only: not a valid channel name
    AUTH_TIMEOUT = 4008  # no credentials within NOTIFIER_AUTH_TIMEOUT_SECONDS
    SLOW_CONSUMER = 4009  # the send queue overflowed
    IDLE_TIMEOUT = 4010  # nothing from the client within NOTIFIER_IDLE_TIMEOUT_SECONDS
    TOO_MANY_SUBSCRIPTIONS = 4013  # `error` only
    TOO_MANY_CONNECTIONS = 4029  # per user, per IP or per replica


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Position(_Message):
    offset: int = Field(ge=-1)
    epoch: str = Field(min_length=1, max_length=64)


class Auth(_Message):
    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=8192)
    # Recovery for the user's own channel, which is subscribed as part of authentication.
    recover: Position | None = None


class Subscribe(_Message):
    type: Literal["subscribe"]
    channel: str = Field(max_length=200)
    recover: Position | None = None


class Unsubscribe(_Message):
    type: Literal["unsubscribe"]
    channel: str = Field(max_length=200)


class Ping(_Message):
    type: Literal["ping"]
    id: str | int | None = None


ClientMessage = Annotated[Auth | Subscribe | Unsubscribe | Ping, Field(discriminator="type")]
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
CHANNEL_RE = CHANNEL_PATTERN


def _dump(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def welcome(user: str, replica: str, channel: str) -> bytes:
    return _dump({"type": "welcome", "user": user, "replica": replica, "channel": channel})


def subscribed(channel: str, offset: int, epoch: str) -> bytes:
    return _dump({"type": "subscribed", "channel": channel, "offset": offset, "epoch": epoch})


def unsubscribed(channel: str) -> bytes:
    return _dump({"type": "unsubscribed", "channel": channel})


def recovered(channel: str, missed: int, offset: int, epoch: str) -> bytes:
    return _dump(
        {
            "type": "recovered",
            "channel": channel,
            "missed": missed,
            "offset": offset,
            "epoch": epoch,
        }
    )


def recover_failed(channel: str, reason: str, offset: int, epoch: str) -> bytes:
    return _dump(
        {
            "type": "recover_failed",
            "channel": channel,
            "reason": reason,
            "message": "cannot recover, reload",
            "offset": offset,
            "epoch": epoch,
        }
    )


def publication(
    channel: str, offset: int, epoch: str, event: str, data: dict[str, Any], event_id: str
) -> bytes:
    return _dump(
        {
            "type": "publication",
            "channel": channel,
            "offset": offset,
            "epoch": epoch,
            "event": event,
            "data": data,
            "id": event_id,
        }
    )


def error(code: Code, message: str, channel: str | None = None) -> bytes:
    body: dict[str, Any] = {"type": "error", "code": int(code), "message": message}
    if channel is not None:
        body["channel"] = channel
    return _dump(body)


def pong(ping_id: str | int | None) -> bytes:
    return _dump({"type": "pong", "id": ping_id})
