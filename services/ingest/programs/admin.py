"""The programs admin API under /ingest/admin/, behind ADMIN_TOKEN (`Authorization: Bearer`).

The gateway does not route this prefix. Every change is written to MongoDB, then published on
`programs.changes` (acks=all) before the answer, so when the admin call returns every replica
is about to apply it (`GET .../cache` shows when this one did).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from services.ingest.keys import CONTEXT
from services.ingest.programs.changes import publish_change
from shared.events.contracts.ingest import ID_PATTERN, Program, ProgramSpec
from shared.http.adminauth import check_admin_token
from shared.http.problems import Problem, field_errors

PREFIX = "/ingest/admin/"
PROBLEMS = "https://surge.dev/problems/ingest-"
routes = web.RouteTableDef()


def admin_only(handler: Handler) -> Handler:
    """ADMIN_TOKEN checked in the handler, not in a middleware every pixel hit would pass."""

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        check_admin_token(request)
        return await handler(request)

    return checked


def _view(program: Program) -> dict[str, Any]:
    return program.model_dump(mode="json")


def program_id(request: web.Request) -> str:
    return checked_id(request.match_info["program"])


def checked_id(value: str) -> str:
    if not re.match(ID_PATTERN, value):
        raise Problem(400, f"a program id matches {ID_PATTERN}", type_=PROBLEMS + "bad-id")
    return value


async def _spec(request: web.Request) -> tuple[ProgramSpec, dict[str, Any]]:
    try:
        raw = await request.json()
    except ValueError:
        raise Problem(400, "the body is not JSON") from None
    if not isinstance(raw, dict):
        raise Problem(422, "the body must be a JSON object")
    body = dict(raw)
    extra = {k: body.pop(k) for k in ("id", "version", "updated_at") if k in body}
    try:
        return ProgramSpec.model_validate(body), extra
    except ValidationError as exc:
        raise Problem(422, "invalid program", extra={"errors": field_errors(exc)}) from None


async def _save(request: web.Request, pid: str, spec: ProgramSpec) -> tuple[Program, bool]:
    ctx = request.app[CONTEXT]
    program, created = await ctx.programs.put(pid, spec)
    await _announce(request, pid, program.version, program)
    return program, created


async def _announce(request: web.Request, pid: str, version: int, program: Program | None) -> None:
    ctx = request.app[CONTEXT]
    try:
        await publish_change(ctx.bus, pid, version, program)
    except Exception:
        # Saved but not pushed: replicas see it when their entry expires. Retrying the same
        # call is safe (it saves and pushes again).
        raise Problem(
            503,
            "saved, but the change could not be pushed to the replicas; retry the call",
            headers={"Retry-After": "2"},
        ) from None
    # Read-your-writes on this replica; the others apply it when the push reaches them.
    ctx.cache.apply(pid, version, program)


@routes.get("/ingest/admin/programs")
@admin_only
async def list_programs(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        limit = min(1000, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise Problem(400, "limit must be an integer") from None
    advertiser = request.query.get("advertiser") or None
    programs = await ctx.programs.list(advertiser, limit)
    return web.json_response({"programs": [_view(p) for p in programs]})


@routes.post("/ingest/admin/programs")
@admin_only
async def create(request: web.Request) -> web.Response:
    spec, extra = await _spec(request)
    pid = extra.get("id")
    if not isinstance(pid, str):
        missing = [{"field": "id", "message": "Field required"}]
        raise Problem(422, "give the program's `id`", extra={"errors": missing})
    pid = checked_id(pid)
    if await request.app[CONTEXT].programs.get(pid) is not None:
        raise Problem(409, f"program {pid!r} exists; PUT to change it", type_=PROBLEMS + "exists")
    program, _ = await _save(request, pid, spec)
    return web.json_response(_view(program), status=201)


@routes.put("/ingest/admin/programs/{program}")
@admin_only
async def put(request: web.Request) -> web.Response:
    pid = program_id(request)
    spec, extra = await _spec(request)
    if extra.get("id", pid) != pid:
        raise Problem(422, "the body's id does not match the path")
    program, created = await _save(request, pid, spec)
    return web.json_response(_view(program), status=201 if created else 200)


@routes.get("/ingest/admin/programs/{program}")
@admin_only
async def get(request: web.Request) -> web.Response:
    pid = program_id(request)
    program = await request.app[CONTEXT].programs.get(pid)
    if program is None:
        raise Problem(404, f"no program {pid!r}", type_=PROBLEMS + "no-program")
    return web.json_response(_view(program))


@routes.delete("/ingest/admin/programs/{program}")
@admin_only
async def delete(request: web.Request) -> web.Response:
    pid = program_id(request)
    version = await request.app[CONTEXT].programs.delete(pid)
    if version is None:
        raise Problem(404, f"no program {pid!r}", type_=PROBLEMS + "no-program")
    await _announce(request, pid, version, None)
    return web.Response(status=204)


@routes.get("/ingest/admin/programs/{program}/cache")
@admin_only
async def cached(request: web.Request) -> web.Response:
    """This replica's view of a program: the cached version and when the push applied it."""
    ctx = request.app[CONTEXT]
    pid = program_id(request)
    entry = ctx.cache.cached(pid)
    applied = ctx.applied.get(pid)
    return web.json_response(
        {
            "program": pid,
            "cached": entry is not None,
            "present": entry is not None and entry.program is not None,
            "version": entry.version if entry is not None else None,
            "applied_version": applied[0] if applied else None,
            "applied_at": applied[1] if applied else None,
        }
    )
