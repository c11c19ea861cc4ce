"""Records for the bus: an accepted hit as a protobuf `TrackingEvent`, a rejected one as a
`BadRow` (JSON), each with its CloudEvents headers, ready for the `Sink`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from aiohttp import web

from services.ingest.collect.enrich import AgentInfo, new_event_id
from services.ingest.collect.sink import Out
from services.ingest.collect.validate import Rejection
from shared.bus.codec import encode
from shared.events.contracts.ingest import BAD_ROW, TRACKING_EVENT, BadRow, Program, RawRequest
from shared.events.proto.tracking_pb2 import Agent, Channel, Param, TrackingEvent

SOURCE = "ingest"
KEPT_HEADERS = ("User-Agent", "Referer", "Content-Type", "Origin", "Sec-GPC", "DNT")
CHANNELS = {"pixel": Channel.CHANNEL_PIXEL, "redirect": Channel.CHANNEL_REDIRECT}


def event_record(
    *,
    event_id: str,
    program: Program,
    event_type: str,
    channel: int,
    received_ms: int,
    params: Iterable[tuple[str, str]],
    user_agent: str,
    agent: AgentInfo,
    ip: str,
    ip_truncated: bool,
    identifier: str,
    private: bool,
    click_id: str = "",
    redirect_to: str = "",
    referrer: str = "",
    sender: str = "anonymous",
    client_time_ms: int = 0,
    client_event_id: str = "",
) -> Out:
    message = TrackingEvent(
        event_id=event_id,
        program_id=program.id,
        advertiser_id=program.advertiser,
        type=event_type,
        channel=channel,  # type: ignore[arg-type]
        received_at_ms=received_ms,
        client_time_ms=client_time_ms,
        client_event_id=client_event_id,
        params=[Param(k=k, v=v) for k, v in params],
        user_agent=user_agent,
        agent=Agent(
            browser=agent.browser,
            browser_version=agent.browser_version,
            os=agent.os,
            os_version=agent.os_version,
            device=agent.device,
        ),
        bot=agent.bot,
        ip=ip,
        ip_truncated=ip_truncated,
        identifier=identifier,
        opted_out=private,
        click_id=click_id,
        redirect_to=redirect_to,
        referrer=referrer,
        sender=sender,
    )
    key = program.id.encode()
    headers = tuple(TRACKING_EVENT.headers(event_id, SOURCE, received_ms, subject=event_type))
    return TRACKING_EVENT.topic, message.SerializeToString(), key, headers


def raw_request(
    request: web.Request, ip: str, body: str | None = None, limit: int = 8192
) -> RawRequest:
    headers = [
        {"k": name, "v": request.headers[name][:1024]}
        for name in KEPT_HEADERS
        if name in request.headers
    ]
    query = [{"k": k[:256], "v": v[:2048]} for k, v in list(request.query.items())[:200]]
    if body is not None and len(body) > limit:
        body = body[:limit] + "...(truncated)"
    return RawRequest(
        method=request.method,
        path=request.path[:2048],
        query=query,
        headers=headers,
        body=body,
        ip=ip,
    )


def bad_row_record(
    rejection: Rejection,
    *,
    program_id: str,
    channel: str,
    received_ms: int,
    request: RawRequest,
) -> Out:
    row = BadRow(
        id=new_event_id(),
        program=program_id[:64],
        reason=rejection.reason,
        detail=rejection.detail,
        errors=rejection.errors,
        channel=channel,  # type: ignore[arg-type]
        received_at=datetime.fromtimestamp(received_ms / 1000, UTC),
        request=request,
    )
    event = BAD_ROW.new(row, source=SOURCE, subject=rejection.reason)
    key, value, headers = encode(BAD_ROW, event)
    return BAD_ROW.topic, value, key, tuple(headers)


def params_of(pairs: Sequence[tuple[str, str]], reserved: frozenset[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k not in reserved]
