"""The ingest's OpenAPI 3.1 document (`make openapi` writes docs/ingest-openapi.json; a test
fails when the checked-in file drifts from this code or misses a route).

Request and response bodies come from the pydantic models the handlers validate with, so the
document cannot disagree with what the service accepts.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel, Field

from services.ingest.collect.batch import BatchEvent
from shared.events.contracts.ingest import Program, ProgramSpec
from shared.http.problems import PROBLEM_CONTENT_TYPE

JSON = "application/json"
ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]


class Rejected(BaseModel):
    index: int = Field(description="position of the event in the batch")
    id: str | None = Field(description="the client's event id, when it had one")
    reason: str = Field(
        description="missing_program, unknown_program, inactive_program, not_started, ended, "
        "bad_type, type_not_allowed, too_many_params, bad_param, missing_params, "
        "invalid_event, duplicate_id"
    )
    detail: str
    errors: list[dict[str, str]] = Field(description="[{field, message}]")


class BatchAnswer(BaseModel):
    accepted: int = Field(description="events acknowledged by the broker (acks=all)")
    rejected: list[Rejected] = Field(description="events that are not events: bad rows")


class BatchBody(BaseModel):
    events: list[BatchEvent] = Field(min_length=1, max_length=500)


class ProgramList(BaseModel):
    programs: list[Program]


class CacheView(BaseModel):
    program: str
    cached: bool = Field(description="this replica has an entry (present or known-absent)")
    present: bool
    version: int | None
    applied_version: int | None = Field(description="last change applied from the push")
    applied_at: float | None = Field(description="when (Unix seconds) it was applied here")


class LiveInfo(BaseModel):
    program: str
    name: str
    advertiser: str
    channel: str = Field(description="the notifier channel to subscribe to on /ws")
    event: str = Field(description="the notification event carrying the figures")
    interval_seconds: float


MODELS: list[type[BaseModel]] = [
    ProgramSpec,
    Program,
    ProgramList,
    CacheView,
    BatchBody,
    BatchAnswer,
    LiveInfo,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(name)}}}


def _problem(description: str, retry: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": _ref("Problem")}},
    }
    if retry:
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
    return answer


UNAVAILABLE = _problem("the broker did not take the hit within the bound: retry later", True)
ADMIN_ERRORS = {"401": _problem("no or wrong ADMIN_TOKEN"), "503": _problem("ADMIN_TOKEN unset")}
PROGRAM_PARAM = {
    "name": "program",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
}


def _q(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def paths() -> dict[str, Any]:
    gif = {"description": "the 43-byte transparent GIF", "content": {"image/gif": {}}}
    return {
        "/t/p.gif": {
            "get": {
                "summary": "Tracking pixel",
                "description": "Any other query parameter is an event parameter. The GIF comes "
                "back once the hit is on the bus, as an event or, when it is not one (unknown "
                "or inactive program, type not allowed, parameters missing), as a bad row on "
                "`tracking.events.bad`. Sets the identifier cookie unless `Sec-GPC: 1`/`DNT: 1`.",
                "parameters": [
                    _q("program", "the program id", True),
                    _q("type", "event type (default `impression`)"),
                    _q("click_id", "for a conversion: the click it follows"),
                    _q("cb", "cache buster (ignored)"),
                ],
                "responses": {"200": gif, "503": UNAVAILABLE},
            }
        },
        "/t/r": {
            "get": {
                "summary": "Click redirect",
                "description": "302 to `to` when its host is one of the program's "
                "`redirect_domains`, with the click id appended as `click_id_param`.",
                "parameters": [
                    _q("program", "the program id", True),
                    _q("to", "absolute http(s) URL on an allowed host", True),
                ],
                "responses": {
                    "302": {
                        "description": "to the target",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "400": _problem("the target is not an allowed host (no open redirect)"),
                    "404": _problem("no such program"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/t/events": {
            "post": {
                "summary": "Batch of events (apps and servers)",
                "description": "Needs a user JWT or an API key (the gateway's `jwt_or_api_key`). "
                "Up to 500 events and 1 MiB. An event's `id` is the client's: retrying a batch "
                "never stores an event twice.",
                "security": [{"bearer": []}, {"apiKey": []}],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("BatchBody")}}},
                "responses": {
                    "200": _json("BatchAnswer", "accepted count and the rejected events"),
                    "400": _problem("not JSON, no events, more than 500 events"),
                    "401": _problem("no or invalid credentials"),
                    "413": _problem("body over 1 MiB"),
                    "415": _problem("not application/json"),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/t/live/{program}": {
            "get": {
                "summary": "Live campaign page (HTML)",
                "parameters": [PROGRAM_PARAM],
                "responses": {"200": {"description": "the page", "content": {"text/html": {}}}},
            }
        },
        "/t/live/live.js": {
            "get": {
                "summary": "The live page's script",
                "responses": {
                    "200": {"description": "JavaScript", "content": {"text/javascript": {}}}
                },
            }
        },
        "/t/live/{program}/info": {
            "get": {
                "summary": "What the live page listens to",
                "description": "Needs a user JWT whose `advertisers` claim "
                "(INGEST_ADVERTISER_CLAIM) names the program's advertiser.",
                "security": [{"bearer": []}],
                "parameters": [PROGRAM_PARAM],
                "responses": {
                    "200": _json("LiveInfo", "the channel and event of the pushed figures"),
                    "401": _problem("no user JWT"),
                    "403": _problem("not this advertiser's program"),
                },
            }
        },
        "/ingest/admin/programs": {
            "get": {
                "summary": "List programs",
                "security": ADMIN,
                "parameters": [
                    _q("advertiser", "only this advertiser's"),
                    _q("limit", "1-1000, default 100"),
                ],
                "responses": {"200": _json("ProgramList", "programs by id"), **ADMIN_ERRORS},
            },
            "post": {
                "summary": "Create a program (body: `id` plus the program)",
                "security": ADMIN,
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "allOf": [
                                    _ref("ProgramSpec"),
                                    {
                                        "type": "object",
                                        "required": ["id"],
                                        "properties": {"id": {"type": "string"}},
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("Program", "created and pushed to every replica"),
                    "409": _problem("exists"),
                    "422": _problem("invalid program (`errors` lists the fields)"),
                    **ADMIN_ERRORS,
                },
            },
        },
        "/ingest/admin/programs/{program}": {
            "parameters": [PROGRAM_PARAM],
            "get": {
                "summary": "One program",
                "security": ADMIN,
                "responses": {
                    "200": _json("Program", "the program"),
                    "404": _problem("none"),
                    **ADMIN_ERRORS,
                },
            },
            "put": {
                "summary": "Create or replace a program",
                "security": ADMIN,
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("ProgramSpec")}},
                },
                "responses": {
                    "200": _json("Program", "replaced; the new version is pushed"),
                    "201": _json("Program", "created"),
                    "422": _problem("invalid program (`errors` lists the fields)"),
                    **ADMIN_ERRORS,
                },
            },
            "delete": {
                "summary": "Delete a program",
                "security": ADMIN,
                "responses": {
                    "204": {"description": "deleted and pushed"},
                    "404": _problem("none"),
                    **ADMIN_ERRORS,
                },
            },
        },
        "/ingest/admin/programs/{program}/cache": {
            "get": {
                "summary": "This replica's cached view of a program",
                "security": ADMIN,
                "parameters": [PROGRAM_PARAM],
                "responses": {
                    "200": _json("CacheView", "entry and last applied change"),
                    **ADMIN_ERRORS,
                },
            }
        },
    }


def build() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem details (shared/http/problems.py).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "reason": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Surge tracking ingest",
            "version": "0.1.0",
            "description": "Collector (/t/ through the gateway), live page and the programs "
            "admin API (ADMIN_TOKEN, not routed by the gateway). See docs/ingest.md.",
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "make run, via the gateway"}],
        "paths": paths(),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN"},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
