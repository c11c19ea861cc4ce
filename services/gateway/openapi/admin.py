"""The admin port's OpenAPI 3.1 document, generated from the pydantic models the handlers use.

Request bodies are the handlers' own models (`UsagePlan`, `PlanLimits`, `NewKey`,
`ManualBlock`, `RouteTable`); responses reuse the stored models (`UsagePlan`, `ApiKey`,
`RouteTable`). The handlers that answer with hand-built dicts (lists, usage, WAF blocks and
rules) are described by the view models below, which schemathesis checks against the real
answers (tests/unit/gateway/test_openapi.py), so they cannot silently drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.gateway.admin.keys import NewKey
from services.gateway.auth.apikeys import ApiKey
from services.gateway.limits.plans import PLAN_ID_PATTERN, PlanLimits, UsagePlan
from services.gateway.openapi.parts import (
    DOC_VERSION,
    JSON,
    OPENAPI_VERSION,
    base_components,
    ok,
    operational_paths,
    problem,
    ref,
)
from services.gateway.routing.breaker import State
from services.gateway.routing.table import RouteTable
from services.gateway.waf.admin import ManualBlock

# --- views of the dict answers --------------------------------------------------------------


class View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RouteTableView(View):
    version: int = Field(description="Bumped by every successful reload.")
    table: RouteTable
    breakers: dict[str, State] = Field(description="Circuit-breaker state per upstream.")


class PlanList(View):
    plans: list[UsagePlan]


class KeyList(View):
    keys: list[ApiKey]


class CreatedKey(ApiKey):
    key: str = Field(description="The API key itself: shown in this answer only, never again.")


class UsageCounts(View):
    requests: int
    throttled: int
    quota_used: int


class UsageDay(UsageCounts):
    day: date
    route_id: str


class QuotaPeriod(View):
    limit: int
    used: int
    remaining: int
    resets_at: datetime


class UsageReport(View):
    key_id: str
    plan_id: str
    from_: date = Field(alias="from")
    to: date
    days: list[UsageDay] = Field(description="Per UTC day and route, oldest first.")
    routes: dict[str, UsageCounts] = Field(description="Totals over the range, per route id.")
    quotas: dict[Literal["day", "week", "month"], QuotaPeriod]


class BlockCreated(View):
    ip: str
    until: datetime
    reason: str


class Block(BlockCreated):
    remaining_seconds: float


class BlockList(View):
    blocks: list[Block]


class WafRule(View):
    id: str
    description: str
    # Detection rules only (null for the built-in access, size and body rules).
    category: str | None
    paranoia_level: int | None
    severity: Literal["critical", "error", "warning", "notice"] | None
    targets: list[str]  # the request parts looked at: path, query, headers, cookies, body
    places: list[str]  # the finer places (arg, arg_name, cookie_name, user_header, ...)
    mode: Literal["block", "count", "disabled"]
    hits: int


class RuleList(View):
    rules: list[WafRule]


# --- operations -------------------------------------------------------------------------------

Models = list[tuple[type[BaseModel], JsonSchemaMode]]
SHARED_RESPONSES = {
    "AdminUnauthorized": problem("Missing or wrong ADMIN_TOKEN.", ["WwwAuthenticate"]),
    "AdminDisabled": problem("The admin API is disabled: ADMIN_TOKEN is not set."),
    "AdminInvalid": problem("Invalid body or query; `errors` lists the fields when known."),
}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    body: type[BaseModel] | None = None
    answers: dict[str, tuple[str, type[BaseModel] | None]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    parameters: tuple[dict[str, Any], ...] = ()
    yaml_body: bool = False


def _path(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, **schema},
    }


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


PLAN_ID = _path("id", "Plan id.")
NEW_PLAN_ID = _path("id", "Plan id.", pattern=PLAN_ID_PATTERN)
KEY_ID = _path("id", "API key id (the public part of the key).")
ROUTE_TABLE = ("The live route table.", RouteTableView)

OPERATIONS: tuple[Op, ...] = (
    Op("get", "/admin/routes", "getRoutes", "routes", "The live route table, its version "
       "and the circuit-breaker state per upstream.", answers={"200": ROUTE_TABLE}),
    Op("post", "/admin/routes/reload", "reloadRoutes", "routes", "Re-read the route source "
       "(file or GATEWAY_ROUTES_YAML); with several workers every worker reloads.",
       answers={"200": ROUTE_TABLE}, errors={"422": "Invalid table; the running one stays."}),
    Op("put", "/admin/routes", "putRoutes", "routes", "Validate and apply a table sent as YAML "
       "or JSON (one worker only: refused with 409 when there are several).",
       body=RouteTable, yaml_body=True, answers={"200": ROUTE_TABLE},
       errors={"400": "Not UTF-8.", "409": "Several workers: edit the file and reload.",
               "413": "Over 1 MiB.", "422": "Invalid table; the running one stays."}),
    Op("post", "/admin/plans", "createPlan", "plans", "Create a usage plan.", body=UsagePlan,
       answers={"201": ("Created.", UsagePlan)},
       errors={"400": "", "409": "The id exists: use PUT to change it."}),
    Op("get", "/admin/plans", "listPlans", "plans", "Every plan, the built-in `default` "
       "included.", answers={"200": ("The plans, by id.", PlanList)}),
    Op("get", "/admin/plans/{id}", "getPlan", "plans", "One plan.", parameters=(PLAN_ID,),
       answers={"200": ("The plan.", UsagePlan)}, errors={"404": "No such plan."}),
    Op("put", "/admin/plans/{id}", "putPlan", "plans", "Create or replace a plan.",
       body=PlanLimits, parameters=(NEW_PLAN_ID,),
       answers={"200": ("Replaced.", UsagePlan), "201": ("Created.", UsagePlan)},
       errors={"400": ""}),
    Op("delete", "/admin/plans/{id}", "deletePlan", "plans", "Delete a stored plan.",
       parameters=(PLAN_ID,), answers={"204": ("Deleted.", None)},
       errors={"404": "No stored plan.", "409": "Active keys use the plan."}),
    Op("post", "/admin/keys", "createKey", "keys", "Create an API key bound to a plan; the "
       "key is in this answer only.", body=NewKey,
       answers={"201": ("Created (Cache-Control: no-store).", CreatedKey)}, errors={"400": ""}),
    Op("get", "/admin/keys", "listKeys", "keys", "API keys (never secrets or hashes).",
       parameters=(
           _query("plan_id", "Only the keys of this plan.", type="string"),
           _query("include_revoked", "Include revoked keys.", type="boolean", default=True),
       ),
       answers={"200": ("The keys.", KeyList)}),
    Op("get", "/admin/keys/{id}", "getKey", "keys", "One API key.", parameters=(KEY_ID,),
       answers={"200": ("The key.", ApiKey)}, errors={"404": "No such key."}),
    Op("delete", "/admin/keys/{id}", "revokeKey", "keys", "Revoke a key (effective at once "
       "on this gateway, within the key cache TTL on others).", parameters=(KEY_ID,),
       answers={"204": ("Revoked.", None)}, errors={"404": "No such key."}),
    Op("get", "/admin/usage/{key_id}", "getUsage", "usage", "Usage of one key per day and "
       "route, totals per route, and its current quota periods.",
       parameters=(
           _path("key_id", "API key id."),
           _query("from", "First UTC day (default: `to` - 30 days).", type="string",
                  format="date"),
           _query("to", "Last UTC day (default: today).", type="string", format="date"),
       ),
       answers={"200": ("The usage.", UsageReport)},
       errors={"400": "Bad dates or a range over 365 days.", "404": "No such key."}),
    Op("get", "/admin/waf/blocks", "listBlocks", "waf", "Blocked client addresses.",
       answers={"200": ("The blocks.", BlockList)}),
    Op("post", "/admin/waf/blocks", "addBlock", "waf", "Block an address for a while.",
       body=ManualBlock, answers={"201": ("Blocked.", BlockCreated)}, errors={"400": ""}),
    Op("delete", "/admin/waf/blocks/{ip}", "removeBlock", "waf", "Lift a block.",
       parameters=(_path("ip", "IPv4 or IPv6 address."),),
       answers={"204": ("Unblocked.", None)},
       errors={"400": "Not an IP address.", "404": "Not blocked."}),
    Op("get", "/admin/waf/rules", "listRules", "waf", "WAF rules with mode and hit counts.",
       answers={"200": ("The rules.", RuleList)}),
)  # fmt: skip

TAGS = [
    {"name": "routes", "description": "View and reload the route table."},
    {"name": "plans", "description": "Usage plans: rate, burst, quotas, queueing."},
    {"name": "keys", "description": "API keys: created, listed, revoked."},
    {"name": "usage", "description": "Metered usage per key."},
    {"name": "waf", "description": "WAF block list and rules."},
    {"name": "admin operations", "description": "Health, metrics and this document."},
]


def _schemas() -> tuple[dict[Any, Any], dict[str, Any]]:
    models: Models = []
    for op in OPERATIONS:
        if op.body is not None:
            models.append((op.body, "validation"))
        models += [(model, "serialization") for _, model in op.answers.values() if model]
    unique = list(dict.fromkeys(models))
    refs, defs = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    return refs, defs.get("$defs", {})


def _operation(op: Op, refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (description, model) in op.answers.items():
        responses[status] = ok(description, refs[(model, "serialization")] if model else None)
    for status, description in op.errors.items():
        shared = status == "400" and not description
        responses[status] = ref("responses", "AdminInvalid") if shared else problem(description)
    responses["401"] = ref("responses", "AdminUnauthorized")
    responses["503"] = ref("responses", "AdminDisabled")
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "responses": dict(sorted(responses.items())),
    }
    if op.parameters:
        operation["parameters"] = list(op.parameters)
    if op.body is not None:
        content = {JSON: {"schema": refs[(op.body, "validation")]}}
        if op.yaml_body:
            content["application/yaml"] = {"schema": {"type": "string"}}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


@cache
def build_admin() -> dict[str, Any]:
    refs, defs = _schemas()
    paths: dict[str, Any] = operational_paths(secured=True, tag="admin operations")
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    components = base_components()
    components["schemas"] = dict(sorted({**components["schemas"], **defs}.items()))
    components["responses"] = SHARED_RESPONSES
    components["securitySchemes"] = {
        "adminToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer <ADMIN_TOKEN>` (platform setting).",
        }
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Surge API gateway (admin port)",
            "version": DOC_VERSION,
            "description": "Operator API on its own port (GATEWAY_ADMIN_PORT), behind "
            "ADMIN_TOKEN: every path but /healthz and /readyz needs the token, this "
            "document included.",
        },
        "tags": TAGS,
        "security": [{"adminToken": []}],
        "paths": paths,
        "components": components,
    }
