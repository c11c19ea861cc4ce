"""Admin API for usage plans, API keys and usage (mounted on the admin app, behind ADMIN_TOKEN).

POST   /admin/plans              create a plan (409 when the id exists)
GET    /admin/plans              list plans (the built-in `default` included)
GET    /admin/plans/{id}         one plan
PUT    /admin/plans/{id}         create or replace (200, or 201 when created)
DELETE /admin/plans/{id}         204; 409 while active keys use it
POST   /admin/keys               {name, plan_id, scopes?, roles?} -> 201 with the key, shown once
GET    /admin/keys               list (?plan_id=, ?include_revoked=false); never secrets or hashes
GET    /admin/keys/{id}          one key
DELETE /admin/keys/{id}          revoke -> 204
GET    /admin/usage/{key_id}     ?from=YYYY-MM-DD&to=YYYY-MM-DD: per day and route, totals per
                                 route, and the current quota periods
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.gateway.auth.apikeys import ApiKey
from services.gateway.components import COMPONENTS
from services.gateway.limits.plans import DEFAULT_PLAN_ID, PlanLimits, UsagePlan
from shared.http.problems import Problem, field_errors

routes = web.RouteTableDef()

MAX_USAGE_DAYS = 366
_COUNTS = ("requests", "throttled", "quota_used")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.:-]*$"


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=_NAME)
    plan_id: str = DEFAULT_PLAN_ID
    scopes: list[str] = Field(default=[], max_length=50)
    roles: list[str] = Field(default=[], max_length=50)


def _invalid(exc: ValidationError, what: str) -> Problem:
    errors = field_errors(exc, limit=None, root="body")
    fields = ", ".join(sorted({error["field"] for error in errors}))
    return Problem(400, f"Invalid {what}: {fields}.", extra={"errors": errors})


async def _parse(request: web.Request, model: type[Any], what: str) -> Any:
    try:
        return model.model_validate_json((await request.read()) or b"null")
    except ValidationError as exc:
        raise _invalid(exc, what) from None


def _key_json(key: ApiKey) -> dict[str, Any]:
    return key.model_dump(mode="json")


@routes.post("/admin/plans")
async def create_plan(request: web.Request) -> web.Response:
    plan: UsagePlan = await _parse(request, UsagePlan, "plan")
    if not await request.app[COMPONENTS].plans.create(plan):
        raise Problem(409, f"Plan {plan.id!r} exists; use PUT /admin/plans/{plan.id} to change it.")
    return web.json_response(plan.model_dump(mode="json"), status=201)


@routes.get("/admin/plans")
async def list_plans(request: web.Request) -> web.Response:
    plans = await request.app[COMPONENTS].plans.list()
    return web.json_response({"plans": [plan.model_dump(mode="json") for plan in plans]})


@routes.get("/admin/plans/{id}")
async def get_plan(request: web.Request) -> web.Response:
    plan_id = request.match_info["id"]
    plan = await request.app[COMPONENTS].plans.get(plan_id)
    if plan is None:
        raise Problem(404, f"No plan {plan_id!r}.")
    return web.json_response(plan.model_dump(mode="json"))


@routes.put("/admin/plans/{id}")
async def put_plan(request: web.Request) -> web.Response:
    limits: PlanLimits = await _parse(request, PlanLimits, "plan")
    try:
        plan = UsagePlan(id=request.match_info["id"], **limits.model_dump())
    except ValidationError as exc:
        raise _invalid(exc, "plan") from None
    created = await request.app[COMPONENTS].plans.put(plan)
    return web.json_response(plan.model_dump(mode="json"), status=201 if created else 200)


@routes.delete("/admin/plans/{id}")
async def delete_plan(request: web.Request) -> web.Response:
    plan_id = request.match_info["id"]
    in_use = await request.app[COMPONENTS].api_keys.count_active(plan_id)
    if in_use:
        raise Problem(409, f"Plan {plan_id!r} is used by {in_use} active key(s).")
    if not await request.app[COMPONENTS].plans.delete(plan_id):
        raise Problem(404, f"No stored plan {plan_id!r}.")
    return web.Response(status=204)


@routes.post("/admin/keys")
async def create_key(request: web.Request) -> web.Response:
    order: NewKey = await _parse(request, NewKey, "key")
    if await request.app[COMPONENTS].plans.get(order.plan_id) is None:
        errors = [{"field": "plan_id", "message": f"no plan {order.plan_id!r}"}]
        raise Problem(400, "Invalid key: plan_id.", extra={"errors": errors})
    key, plaintext = await request.app[COMPONENTS].api_keys.create(
        order.name, order.plan_id, scopes=order.scopes, roles=order.roles
    )
    body = {**_key_json(key), "key": plaintext}
    # The plaintext is shown this once: keep it out of every cache.
    return web.json_response(body, status=201, headers={"Cache-Control": "no-store"})


@routes.get("/admin/keys")
async def list_keys(request: web.Request) -> web.Response:
    include_revoked = request.query.get("include_revoked", "true").lower() not in {"false", "0"}
    found = await request.app[COMPONENTS].api_keys.list(
        plan_id=request.query.get("plan_id"), include_revoked=include_revoked
    )
    return web.json_response({"keys": [_key_json(key) for key in found]})


@routes.get("/admin/keys/{id}")
async def get_key(request: web.Request) -> web.Response:
    key = await request.app[COMPONENTS].api_keys.get(request.match_info["id"])
    if key is None:
        raise Problem(404, f"No API key {request.match_info['id'][:40]!r}.")
    return web.json_response(_key_json(key))


@routes.delete("/admin/keys/{id}")
async def revoke_key(request: web.Request) -> web.Response:
    if not await request.app[COMPONENTS].api_keys.revoke(request.match_info["id"]):
        raise Problem(404, f"No API key {request.match_info['id'][:40]!r}.")
    return web.Response(status=204)


def _day(request: web.Request, name: str, default: date) -> date:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors = [{"field": name, "message": "expected a date YYYY-MM-DD"}]
        raise Problem(400, f"Invalid query: {name}.", extra={"errors": errors}) from None


@routes.get("/admin/usage/{key_id}")
async def key_usage(request: web.Request) -> web.Response:
    key = await request.app[COMPONENTS].api_keys.get(request.match_info["key_id"])
    if key is None:
        raise Problem(404, f"No API key {request.match_info['key_id'][:40]!r}.")
    today = datetime.now(UTC).date()
    until = _day(request, "to", today)
    since = _day(request, "from", until - timedelta(days=30))
    if since > until or (until - since).days >= MAX_USAGE_DAYS:
        raise Problem(400, f"Invalid query: from..to must be 0 to {MAX_USAGE_DAYS - 1} days.")
    rows = await request.app[COMPONENTS].metering.usage(key.id, since=since, until=until)
    routes_total: dict[str, dict[str, int]] = {}
    for row in rows:
        total = routes_total.setdefault(row.route_id, dict.fromkeys(_COUNTS, 0))
        for name in _COUNTS:
            total[name] += getattr(row, name)
    plan = await request.app[COMPONENTS].plans.resolve(key.plan_id)
    limiter = request.app[COMPONENTS].limiter
    quotas = await limiter.quotas.current(key.id, plan.quotas())
    body = {
        "key_id": key.id,
        "plan_id": plan.id,
        "from": since.isoformat(),
        "to": until.isoformat(),
        "days": [
            {"day": row.day.isoformat(), "route_id": row.route_id}
            | {name: getattr(row, name) for name in _COUNTS}
            for row in rows
        ],
        "routes": routes_total,
        "quotas": {
            q.period: {
                "limit": q.limit,
                "used": q.used,
                "remaining": q.remaining,
                "resets_at": q.end.isoformat(),
            }
            for q in quotas
        },
    }
    return web.json_response(body)
