"""One authenticated connection's conversation: subscribe (with recovery), unsubscribe, ping,
token refresh. Every reply goes through the hub's write path, so replies and publications share
one ordered, bounded send queue.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from pydantic import ValidationError

from services.notifier import channels, protocol
from services.notifier.auth import AuthError, Principal, authenticate
from services.notifier.channels import Access
from services.notifier.fanout import Fanout
from services.notifier.history import History
from services.notifier.hub import Hub, Session
from services.notifier.metrics import NotifierMetrics
from services.notifier.protocol import Code
from services.notifier.settings import NotifierSettings
from shared.security import JwtVerifier


class ProtocolError(Exception):
    pass


@dataclass
class Context:
    settings: NotifierSettings
    verifier: JwtVerifier
    access: Access
    hub: Hub
    history: History
    fanout: Fanout
    metrics: NotifierMetrics


def parse(raw: str | bytes) -> protocol.ClientMessage:
    try:
        return protocol.CLIENT_MESSAGE.validate_json(raw)
    except ValidationError:
        raise ProtocolError("not a valid message (see docs/notifier-protocol.md)") from None


async def subscribe(
    ctx: Context, session: Session, principal: Principal, msg: protocol.Subscribe
) -> None:
    channel = msg.channel
    if not channels.valid(channel):
        ctx.hub.send(session, protocol.error(Code.BAD_CHANNEL, "invalid channel", channel))
        return
    if channel in session.channels:
        if msg.recover is not None:
            reason = "already_subscribed"
            partition = ctx.fanout.partition_for(channel)
            top, epoch = ctx.history.top(channel, partition), ctx.history.epoch(partition)
            ctx.hub.send(session, protocol.recover_failed(channel, reason, top, epoch))
        return
    if len(session.channels) >= ctx.settings.max_subscriptions:
        message = f"at most {ctx.settings.max_subscriptions} subscriptions per connection"
        ctx.hub.send(session, protocol.error(Code.TOO_MANY_SUBSCRIPTIONS, message, channel))
        return
    if not await ctx.access.allowed(channel, principal.subject, principal.claims):
        ctx.hub.send(session, protocol.error(Code.FORBIDDEN_CHANNEL, "forbidden channel", channel))
        return
    await join(ctx, session, channel, msg.recover)


async def join(
    ctx: Context, session: Session, channel: str, recover: protocol.Position | None
) -> None:
    partition = ctx.fanout.partition_for(channel)
    epoch = ctx.history.epoch(partition)
    # Another replica may have delivered offsets this one has not read yet: wait a little.
    behind = recover is not None and ctx.history.position(partition) <= recover.offset
    if recover is not None and recover.epoch == epoch and behind:
        await ctx.fanout.wait_position(partition, recover.offset, ctx.settings.recover_wait_seconds)
    # From here to the end no await: no publication can slip between replay and live.
    if session.closing or channel in session.channels:
        return
    hub = ctx.hub
    hub.send(session, protocol.subscribed(channel, ctx.history.top(channel, partition), epoch))
    if recover is not None:
        frames = None
        reason = "epoch_changed"
        if recover.epoch == epoch:
            frames = ctx.history.missed(channel, partition, recover.offset)
            reason = "history_gap"
        top = ctx.history.top(channel, partition)
        if frames is None:
            ctx.metrics.miss()
            hub.send(session, protocol.recover_failed(channel, reason, top, epoch))
        else:
            ctx.metrics.hit()
            for frame in frames:
                hub.send(session, frame)
            hub.send(session, protocol.recovered(channel, len(frames), top, epoch))
    hub.subscribe(session, channel)


def unsubscribe(ctx: Context, session: Session, msg: protocol.Unsubscribe) -> None:
    ctx.hub.unsubscribe(session, msg.channel)
    ctx.hub.send(session, protocol.unsubscribed(msg.channel))


async def refresh(ctx: Context, session: Session, principal: Principal, token: str) -> Principal:
    """A new token for the same user, sent before the old one expires, keeps the socket open."""
    fresh = await authenticate(ctx.verifier, token)
    if fresh.subject != principal.subject:
        raise AuthError(Code.UNAUTHORIZED, "token of another user")
    schedule_expiry(ctx.hub, session, fresh)
    return fresh


def schedule_expiry(hub: Hub, session: Session, principal: Principal) -> None:
    if session.expiry is not None:
        session.expiry.cancel()
        session.expiry = None
    if principal.expires_at is None:
        return
    loop = asyncio.get_running_loop()
    delay = max(0.0, principal.expires_at - time.time())
    session.expiry = loop.call_later(
        delay, hub.close, session, int(Code.TOKEN_EXPIRED), "token expired"
    )


async def handle(
    ctx: Context, session: Session, principal: Principal, raw: str | bytes
) -> Principal:
    """Handle one client message; returns the (possibly refreshed) principal."""
    session.last_seen = time.monotonic()
    msg = parse(raw)
    if isinstance(msg, protocol.Subscribe):
        await subscribe(ctx, session, principal, msg)
    elif isinstance(msg, protocol.Unsubscribe):
        unsubscribe(ctx, session, msg)
    elif isinstance(msg, protocol.Ping):
        ctx.hub.send(session, protocol.pong(msg.id))
    else:
        principal = await refresh(ctx, session, principal, msg.token)
    return principal
