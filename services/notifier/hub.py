"""This replica's live connections: who is subscribed to what, and the write path.

Deliveries write straight into each connection's transport, as `websockets.broadcast` does,
with no task or queue per connection: the transport's write buffer IS the send queue. When it
holds more than NOTIFIER_SEND_QUEUE_BYTES the client is not reading fast enough, and it is
disconnected with 4009 instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from opentelemetry.trace import SpanContext
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from services.notifier.protocol import Code

log = logging.getLogger("notifier.hub")


class Session:
    __slots__ = (
        "channels",
        "closing",
        "conn",
        "expiry",
        "ip",
        "last_seen",
        "sent",
        "span_context",
        "user",
    )

    def __init__(self, conn: ServerConnection, ip: str) -> None:
        self.conn = conn
        self.ip = ip
        self.user: str | None = None
        self.channels: set[str] = set()
        self.closing = False
        self.last_seen = time.monotonic()
        self.expiry: asyncio.TimerHandle | None = None
        self.sent = 0  # frames written (the session span reports it)
        self.span_context: SpanContext | None = None  # its sampled session span, for links

    def queued(self) -> int:
        transport = self.conn.transport
        return transport.get_write_buffer_size() if transport is not None else 0


class Hub:
    def __init__(
        self,
        *,
        send_queue_bytes: int,
        on_slow: Callable[[], None] = lambda: None,
        on_user_count: Callable[[str, int], None] = lambda user, count: None,
    ) -> None:
        self.limit = send_queue_bytes
        self.on_slow = on_slow
        self.on_user_count = on_user_count
        self.sessions: set[Session] = set()
        self.channels: dict[str, set[Session]] = {}
        self.users: Counter[str] = Counter()
        self.ips: Counter[str] = Counter()
        self._closing: set[asyncio.Task[None]] = set()

    # --- membership ---
    def add(self, session: Session) -> None:
        self.sessions.add(session)
        self.ips[session.ip] += 1

    def bind_user(self, session: Session, user: str) -> None:
        session.user = user
        self.users[user] += 1
        self.on_user_count(user, self.users[user])

    def remove(self, session: Session) -> None:
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        for channel in session.channels:
            self._leave(channel, session)
        session.channels.clear()
        _decrement(self.ips, session.ip)
        if session.user is not None:
            _decrement(self.users, session.user)
            self.on_user_count(session.user, self.users[session.user])
        if session.expiry is not None:
            session.expiry.cancel()

    def subscribe(self, session: Session, channel: str) -> None:
        session.channels.add(channel)
        self.channels.setdefault(channel, set()).add(session)

    def unsubscribe(self, session: Session, channel: str) -> None:
        if channel in session.channels:
            session.channels.discard(channel)
            self._leave(channel, session)

    def _leave(self, channel: str, session: Session) -> None:
        members = self.channels.get(channel)
        if members is not None:
            members.discard(session)
            if not members:
                del self.channels[channel]

    # --- writing ---
    def deliver(self, channel: str, frame: bytes) -> int:
        """Write one publication to every local subscriber; returns how many got it."""
        members = self.channels.get(channel)
        if not members:
            return 0
        sent = 0
        for session in tuple(members) if len(members) < 64 else list(members):
            sent += self.send(session, frame)
        return sent

    def send(self, session: Session, frame: bytes) -> bool:
        conn = session.conn
        if session.closing or conn.protocol.state is not State.OPEN:
            return False
        conn.protocol.send_text(frame)
        conn.send_data()
        session.sent += 1
        if self.queued_over_limit(session):
            self.on_slow()
            self.close(session, Code.SLOW_CONSUMER, "slow consumer")
        return True

    def queued_over_limit(self, session: Session) -> bool:
        return session.queued() > self.limit

    def close(self, session: Session, code: int, reason: str) -> None:
        """Start the closing handshake without waiting for it (it is bounded by close_timeout)."""
        if session.closing:
            return
        session.closing = True
        task = asyncio.ensure_future(session.conn.close(code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def queue_depth(self) -> tuple[int, int]:
        """Total and largest bytes waiting in send queues."""
        sizes = [session.queued() for session in self.sessions]
        return sum(sizes), max(sizes, default=0)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
