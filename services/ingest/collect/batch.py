"""`POST /t/events`: a JSON batch of events from apps and servers.

    {"events": [{"id": "c-1", "program": "spring", "type": "conversion",
                 "params": {"order_id": "o-9", "value": 42.5}, "time": "2026-05-01T10:00:00Z",
                 "anonymous_id": "...", "click_id": "...", "context": {"user_agent": "...",
                 "ip": "..."}}]}

Up to INGEST_BATCH_MAX_EVENTS (500) events and INGEST_MAX_REQUEST_BYTES (1 MiB): 413 or 400
problem+json listing the failing fields otherwise. Each event's `id` is the client's: the event
id stored is derived from (program, id), so retrying a batch never stores an event twice. Every
valid event and every bad row of the batch is acknowledged by the broker before the answer:
`{"accepted": n, "rejected": [{"index", "id", "reason", "detail", "errors"}]}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.ingest.collect.enrich import batch_event_id, opted_out
from services.ingest.collect.lookup import program_for
from services.ingest.collect.pixel import PROBLEMS, unavailable
from services.ingest.collect.records import bad_row_record, event_record, raw_request
from services.ingest.collect.sink import Out, UnavailableError
from services.ingest.collect.validate import Rejection, check
from services.ingest.keys import CONTEXT, Context
from shared.events.contracts.ingest import Program
from shared.events.proto.tracking_pb2 import Channel
from shared.http.identity import Caller, caller_of
from shared.http.problems import Problem, field_errors

routes = web.RouteTableDef()
Scalar = str | int | float | bool


class EventContext(BaseModel):
    """What a server-side sender knows of the end user (else the request's own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_agent: str | None = Field(default=None, max_length=1024)
    ip: str | None = Field(default=None, max_length=64)


class BatchEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128, description="client event id (retry key)")
    program: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    params: dict[str, Scalar | None] = Field(default_factory=dict)
    time: AwareDatetime | None = Field(default=None, description="when it happened (client)")
    anonymous_id: str | None = Field(default=None, max_length=128)
    click_id: str | None = Field(default=None, max_length=64)
    context: EventContext = EventContext()


class Batch(BaseModel):
    """The envelope; events are validated one by one (a bad one is rejected, not the batch)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: list[Any] = Field(min_length=1)


def _params(event: BatchEvent) -> list[tuple[str, str]]:
    out = []
    for name, value in event.params.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        out.append((name, text))
    return out


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment is not None else 0


async def _envelope(request: web.Request, limit: int) -> list[Any]:
    if request.content_type not in ("application/json", "text/plain"):
        raise Problem(415, "send the batch as application/json")
    body = await request.read()
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, f"the body is not JSON: {exc}", type_=PROBLEMS + "bad-json") from None
    try:
        batch = Batch.model_validate(raw)
    except ValidationError as exc:
        raise Problem(
            400, "invalid batch", type_=PROBLEMS + "bad-batch", extra={"errors": field_errors(exc)}
        ) from None
    if len(batch.events) > limit:
        raise Problem(
            400,
            f"at most {limit} events per batch ({len(batch.events)} sent)",
            type_=PROBLEMS + "bad-batch",
            extra={"errors": [{"field": "events", "message": f"at most {limit} items"}]},
        )
    return batch.events


@routes.post("/t/events")
async def collect(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    caller = caller_of(request)
    if caller.kind not in ("jwt", "api_key", "service"):
        raise Problem(
            401,
            "the batch endpoint needs a user JWT or an API key (the gateway checks them)",
            headers={"WWW-Authenticate": 'Bearer realm="surge"'},
        )
    items = await _envelope(request, ctx.settings.batch_max_events)
    now = ctx.clock()
    received_ms = int(now * 1000)
    private = opted_out(request)
    address = ctx.enricher.client_ip(request)
    events: list[tuple[int, BatchEvent]] = []
    rejected: list[dict[str, Any]] = []
    outs: list[Out] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        try:
            event = BatchEvent.model_validate(item)
        except ValidationError as exc:
            errors = field_errors(exc, root=f"events[{index}]")
            for error in errors:
                error["field"] = f"events[{index}].{error['field']}"
            client_id = item.get("id") if isinstance(item, dict) else None
            rejection = Rejection("invalid_event", "the event does not match the schema", errors)
            _reject(
                ctx,
                request,
                rejected,
                outs,
                index,
                client_id,
                rejection,
                item,
                received_ms,
                address,
            )
            continue
        if (event.program, event.id) in seen:
            rejection = Rejection(
                "duplicate_id",
                f"id {event.id!r} appears twice in the batch",
                [{"field": f"events[{index}].id", "message": "duplicate"}],
            )
            _reject(
                ctx, request, rejected, outs, index, event.id, rejection, item, received_ms, address
            )
            continue
        seen.add((event.program, event.id))
        events.append((index, event))
    try:
        programs = {
            pid: await program_for(ctx, pid) for pid in sorted({e.program for _, e in events})
        }
        accepted = 0
        counts: dict[tuple[str, str], int] = {}
        for index, event in events:
            program = programs[event.program]
            params = _params(event)
            verdict = check(
                program, event.program, event.type, params, now, ctx.settings.max_params
            )
            if verdict is not None or program is None:
                assert verdict is not None
                _reject(
                    ctx,
                    request,
                    rejected,
                    outs,
                    index,
                    event.id,
                    verdict,
                    items[index],
                    received_ms,
                    address,
                )
                continue
            outs.append(
                _accepted(
                    ctx,
                    request,
                    event,
                    program,
                    params,
                    received_ms,
                    address,
                    private,
                    sender_of(caller),
                )
            )
            accepted += 1
            counts[(program.id, event.type)] = counts.get((program.id, event.type), 0) + 1
        if outs:
            await ctx.sink.send_all(outs)
    except UnavailableError as exc:
        ctx.metrics.hit("-", "batch", "unavailable", len(items))
        return unavailable(ctx, exc)
    for (pid, event_type), count in counts.items():
        ctx.metrics.hit(pid, event_type, "accepted", count)
    return web.json_response(
        {"accepted": accepted, "rejected": sorted(rejected, key=lambda r: r["index"])},
        headers={"Cache-Control": "no-store"},
    )


def sender_of(caller: Caller) -> str:
    """Who sent the events, as stored with them: `api_key:<id>`, `jwt:<sub>`, `service:<name>`."""
    if caller.kind == "api_key":
        return f"api_key:{caller.key_id or caller.subject or ''}"
    return f"{caller.kind}:{caller.subject or ''}"


def _accepted(
    ctx: Context,
    request: web.Request,
    event: BatchEvent,
    program: Program,
    params: list[tuple[str, str]],
    received_ms: int,
    address: str,
    private: bool,
    sender: str,
) -> Out:
    user_agent: str = event.context.user_agent or request.headers.get("User-Agent") or ""
    ip, truncated = ctx.enricher.ip_for(program, event.context.ip or address, private)
    keep_identifier = not private and program.privacy.identifier
    return event_record(
        event_id=batch_event_id(program.id, event.id),
        program=program,
        event_type=event.type,
        channel=Channel.CHANNEL_BATCH,
        received_ms=received_ms,
        params=params,
        user_agent=user_agent,
        agent=ctx.enricher.agent(user_agent),
        ip=ip,
        ip_truncated=truncated,
        identifier=(event.anonymous_id or "") if keep_identifier else "",
        private=private,
        click_id=event.click_id or "",
        sender=sender,
        client_time_ms=_ms(event.time),
        client_event_id=event.id,
    )


def _reject(
    ctx: Context,
    request: web.Request,
    rejected: list[dict[str, Any]],
    outs: list[Out],
    index: int,
    client_id: object,
    rejection: Rejection,
    item: object,
    received_ms: int,
    address: str,
) -> None:
    rejected.append(
        {
            "index": index,
            "id": client_id if isinstance(client_id, str) else None,
            "reason": rejection.reason,
            "detail": rejection.detail,
            "errors": rejection.errors,
        }
    )
    ctx.metrics.bad_row(rejection.reason)
    body = orjson.dumps(item).decode()
    raw = raw_request(
        request, ctx.enricher.ip_for(None, address, True)[0], body, ctx.settings.bad_row_body_bytes
    )
    program_id = item.get("program") if isinstance(item, dict) else None
    outs.append(
        bad_row_record(
            rejection,
            program_id=program_id if isinstance(program_id, str) else "",
            channel="batch",
            received_ms=received_ms,
            request=raw,
        )
    )
