"""`GET /t/p.gif` (the pixel) and `GET /t/r` (the click redirect).

The pixel always answers the 43-byte transparent GIF once the hit is on the bus, as an event or,
when it is not one, as a bad row with the reason (browsers ignore a pixel's errors, so the
reason lives in `tracking.events.bad` and the metrics). Only when the bus cannot take the hit is
the answer 503 with Retry-After: never a 2xx for data that is not durable.

The redirect sends the visitor on only to a host the program allows (no open redirect): an
unknown program or a refused target is a 4xx problem and a bad row; a known program that is
paused still sends the visitor to its allowed target, and the click becomes a bad row.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from services.ingest.collect.enrich import new_event_id, opted_out
from services.ingest.collect.lookup import program_for
from services.ingest.collect.records import bad_row_record, event_record, params_of, raw_request
from services.ingest.collect.sink import Out, UnavailableError
from services.ingest.collect.validate import Rejection, check
from services.ingest.keys import CONTEXT, Context
from shared.events.contracts.ingest import Program
from shared.events.proto.tracking_pb2 import Channel
from shared.http.problems import Problem, problem_response

# GIF89a, 1x1, one transparent colour: 43 bytes.
GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
PIXEL_HEADERS = {"Cache-Control": "no-store, max-age=0", "X-Content-Type-Options": "nosniff"}
PIXEL_RESERVED = frozenset({"program", "type", "click_id", "cb"})
REDIRECT_RESERVED = frozenset({"program", "to"})
PROBLEMS = "https://surge.dev/problems/ingest-"
ANONYMOUS_PATHS = ("/t/p.gif", "/t/r")
routes = web.RouteTableDef()


def unavailable(ctx: Context, exc: UnavailableError) -> web.Response:
    retry = str(ctx.settings.retry_after_seconds)
    return problem_response(
        503,
        f"the hit was not recorded: {exc.reason}; retry later",
        headers={"Retry-After": retry, "Cache-Control": "no-store"},
        type_=PROBLEMS + "unavailable",
    )


def set_identifier(ctx: Context, response: web.StreamResponse, identifier: str) -> None:
    settings = ctx.settings
    response.set_cookie(
        settings.cookie_name,
        identifier,
        max_age=settings.cookie_max_age_seconds,
        path="/",
        domain=settings.cookie_domain,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Lax",
    )


@routes.get("/t/p.gif")
async def pixel(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    query = request.query
    program_id = query.get("program", "")
    event_type = query.get("type", "impression")
    now = ctx.clock()
    received_ms = int(now * 1000)
    pairs = list(query.items())
    params = params_of(pairs, PIXEL_RESERVED)
    private = opted_out(request)
    address = ctx.enricher.client_ip(request)
    cookie = ""
    try:
        program = await program_for(ctx, program_id)
        rejection = check(program, program_id, event_type, params, now, ctx.settings.max_params)
        if rejection is None and program is not None:
            hit = Hit(ctx, request, program, params, received_ms, address, private)
            out = hit.record(
                new_event_id(), event_type, Channel.CHANNEL_PIXEL, query.get("click_id", "")[:64]
            )
            cookie = hit.cookie
        else:
            assert rejection is not None
            out = _bad(ctx, request, rejection, program_id, "pixel", received_ms, address)
        await ctx.sink.send(*out)
    except UnavailableError as exc:
        ctx.metrics.hit(program_id if program_id else "-", event_type, "unavailable")
        return unavailable(ctx, exc)
    ctx.metrics.hit(program_id, event_type, "accepted" if rejection is None else "bad")
    response = web.Response(body=GIF, content_type="image/gif", headers=PIXEL_HEADERS)
    if cookie:
        set_identifier(ctx, response, cookie)
    return response


@dataclass
class Hit:
    """A browser's hit (pixel or click) that is an event: enriched from its request."""

    ctx: Context
    request: web.Request
    program: Program
    params: list[tuple[str, str]]
    received_ms: int
    address: str
    private: bool
    cookie: str = ""  # a new identifier to set, if any

    def record(
        self, event_id: str, event_type: str, channel: int, click_id: str, redirect_to: str = ""
    ) -> Out:
        enricher, request, program = self.ctx.enricher, self.request, self.program
        ip, truncated = enricher.ip_for(program, self.address, self.private)
        identifier, fresh = enricher.identifier(request, program, self.private)
        self.cookie = identifier if fresh else ""
        user_agent = request.headers.get("User-Agent", "")
        return event_record(
            event_id=event_id,
            program=program,
            event_type=event_type,
            channel=channel,
            received_ms=self.received_ms,
            params=self.params,
            user_agent=user_agent,
            agent=enricher.agent(user_agent),
            ip=ip,
            ip_truncated=truncated,
            identifier=identifier,
            private=self.private,
            click_id=click_id,
            redirect_to=redirect_to,
            referrer=request.headers.get("Referer", "")[:2048],
        )


def _bad(
    ctx: Context,
    request: web.Request,
    rejection: Rejection,
    program_id: str,
    channel: str,
    received_ms: int,
    address: str,
) -> Out:
    ctx.metrics.bad_row(rejection.reason)
    raw = raw_request(request, ctx.enricher.ip_for(None, address, True)[0])
    return bad_row_record(
        rejection, program_id=program_id, channel=channel, received_ms=received_ms, request=raw
    )


def allowed_target(program: Program, target: str) -> str | None:
    """The normalised target URL when the program allows its host, else None."""
    if not target or len(target) > 4096 or "\\" in target or any(c < " " for c in target):
        return None
    try:
        parts = urlsplit(target)
        host = (parts.hostname or "").rstrip(".")
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    if not host.isascii():
        return None
    for domain in program.redirect_domains:
        if domain.startswith("*."):
            if host.endswith(domain[1:]):
                return urlunsplit(parts)
        elif host == domain or host.endswith("." + domain):
            return urlunsplit(parts)
    return None


def with_click_id(target: str, name: str, click_id: str) -> str:
    if not name:
        return target
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    query.append((name, click_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


@routes.get("/t/r")
async def redirect(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    query = request.query
    program_id = query.get("program", "")
    now = ctx.clock()
    received_ms = int(now * 1000)
    address = ctx.enricher.client_ip(request)
    try:
        program = await program_for(ctx, program_id)
        target = allowed_target(program, query.get("to", "")) if program is not None else None
        if program is None or target is None:
            rejection = (
                check(program, program_id, "click", [], now, ctx.settings.max_params)
                if program is None
                else Rejection(
                    "redirect_refused",
                    "the target is not an allowed host of the program",
                    [{"field": "to", "message": "not an allowed redirect target"}],
                )
            )
            assert rejection is not None
            await ctx.sink.send(
                *_bad(ctx, request, rejection, program_id, "redirect", received_ms, address)
            )
            ctx.metrics.hit(program_id or "-", "click", "bad")
            status = 404 if rejection.reason == "unknown_program" else 400
            raise Problem(
                status,
                rejection.detail,
                type_=PROBLEMS + rejection.reason.replace("_", "-"),
                extra={"reason": rejection.reason, "errors": rejection.errors},
            )
        params = params_of(list(query.items()), REDIRECT_RESERVED)
        private = opted_out(request)
        rejection = check(program, program_id, "click", params, now, ctx.settings.max_params)
        cookie = ""
        location = target
        if rejection is None:
            event_id = new_event_id()
            location = with_click_id(target, program.click_id_param, event_id)
            hit = Hit(ctx, request, program, params, received_ms, address, private)
            out = hit.record(event_id, "click", Channel.CHANNEL_REDIRECT, event_id, target)
            cookie = hit.cookie
        else:
            out = _bad(ctx, request, rejection, program_id, "redirect", received_ms, address)
        await ctx.sink.send(*out)
    except UnavailableError as exc:
        ctx.metrics.hit(program_id or "-", "click", "unavailable")
        return unavailable(ctx, exc)
    ctx.metrics.hit(program_id, "click", "accepted" if rejection is None else "bad")
    response = web.Response(
        status=302,
        headers={
            "Location": location,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer-when-downgrade",
        },
    )
    if cookie:
        set_identifier(ctx, response, cookie)
    return response
