"""The notifier's last hops in the trace that caused them (the issue's "your turn" is felt here).

- A WebSocket connection is a `websocket.session` SERVER span, child of the gateway's tunnel
  (its `traceparent` comes with the handshake): messages each way, the close code.
- A publication read from `notifier.publications` continues the trace of the notification that
  asked for it (the record's `traceparent`): on this replica, one `websocket.deliver` span per
  socket when it reaches at most `PER_SOCKET_LIMIT` sockets, linked to the socket's session
  span; above that one `websocket.fanout` span with the socket count, the failures and the
  slowest write. The service map draws these as `notifier -> websocket`.
- A record of an unsampled trace (most of them under production sampling) makes no span: its
  `traceparent` flags are read and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

from services.notifier.hub import Hub, Session
from shared.bus.base import Record
from shared.telemetry import w3c

PER_SOCKET_LIMIT = 10
_tracer = trace.get_tracer("services.notifier")
_CHANNEL_KINDS = ("user", "zone", "job", "public", "private", "presence")


def channel_kind(channel: str) -> str:
    """The kind of a channel (`user:<id>` -> `user`): spans carry no user ids."""
    kind = channel.partition(":")[0]
    return kind if kind in _CHANNEL_KINDS else "other"


def record_parent(record: Record) -> SpanContext | None:
    """The sampled producer context a record carries; None when unsampled or absent."""
    parent = w3c.record_context(record.headers)
    return parent if parent is not None and parent.trace_flags.sampled else None


def deliver(hub: Hub, record: Record, channel: str, frame: bytes) -> int:
    """`hub.deliver`, with delivery spans when the publication's trace is sampled."""
    members = hub.channels.get(channel)
    if not members:
        return 0
    parent = record_parent(record)
    if parent is None:
        return hub.deliver(channel, frame)
    context = trace.set_span_in_context(NonRecordingSpan(parent), otel_context.Context())
    sessions = tuple(members)
    kind = channel_kind(channel)
    if len(sessions) <= PER_SOCKET_LIMIT:
        return sum(_one(hub, session, frame, context, kind) for session in sessions)
    return _fanout(hub, sessions, frame, context, kind)


def _one(hub: Hub, session: Session, frame: bytes, context: otel_context.Context, kind: str) -> int:
    links = [Link(session.span_context)] if session.span_context is not None else None
    span = _tracer.start_span(
        "websocket.deliver",
        context=context,
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={"surge.delivery": "websocket", "surge.channel.kind": kind},
    )
    sent = hub.send(session, frame)
    span.set_attribute("websocket.delivered", sent)
    if not sent:
        span.set_status(Status(StatusCode.ERROR, "the socket was closing"))
    span.end()
    return int(sent)


def _fanout(
    hub: Hub, sessions: Sequence[Session], frame: bytes, context: otel_context.Context, kind: str
) -> int:
    span = _tracer.start_span(
        "websocket.fanout",
        context=context,
        kind=SpanKind.PRODUCER,
        attributes={"surge.delivery": "websocket", "surge.channel.kind": kind},
    )
    sent, slowest = 0, 0.0
    for session in sessions:
        began = time.perf_counter()
        sent += hub.send(session, frame)
        slowest = max(slowest, time.perf_counter() - began)
    span.set_attributes(
        {
            "websocket.sockets": len(sessions),
            "websocket.failures": len(sessions) - sent,
            "websocket.slowest_ms": round(slowest * 1000, 3),
        }
    )
    span.end()
    return sent


class SessionSpan:
    """The `websocket.session` span of one connection (non-recording when unsampled)."""

    def __init__(self, headers: object) -> None:
        carrier = {}
        get = getattr(headers, "get", None)
        if get is not None:
            for name in ("traceparent", "tracestate"):
                if (value := get(name)) is not None:
                    carrier[name] = str(value)
        parent = propagate.extract(carrier) if carrier else otel_context.Context()
        self.span = _tracer.start_span("websocket.session", context=parent, kind=SpanKind.SERVER)
        self.received = 0

    @property
    def context(self) -> SpanContext | None:
        found = self.span.get_span_context()
        return found if found.is_valid and found.trace_flags.sampled else None

    def end(self, session: Session, close_code: int | None) -> None:
        if self.span.is_recording():
            attributes: dict[str, int | str] = {
                "websocket.messages.received": self.received,
                "websocket.messages.sent": session.sent,
            }
            if close_code is not None:
                attributes["websocket.close.code"] = close_code
            self.span.set_attributes(attributes)
        self.span.end()
