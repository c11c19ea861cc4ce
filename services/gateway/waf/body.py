"""Body reading for inspection (bounded) and JSON Schema checks.

Only the first `inspect_bytes` of a body are inspected (AWS WAF inspects the first 8-64 KiB);
what happens to a larger body is the oversize policy, as in AWS: `continue` scans the prefix as
text, `match` blocks, `no_match` lets it through uninspected. A body too large to inspect is
never buffered: the prefix read so far is handed back and the proxy streams the rest.
Routes with a `body_schema` always read (bounded) and parse the whole body. Only bodies the
detection engine takes apart or reads as text are read for it (forms, JSON, multipart, XML,
text); opaque uploads stream through untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.gateway.request import Request
from services.gateway.routing.table import Route
from services.gateway.waf import builtin
from services.gateway.waf.limits import BodyTooLargeError, read_bounded
from services.gateway.waf.validation import (
    MalformedJsonError,
    SchemaValidators,
    parse_json,
    schema_errors,
)

logger = logging.getLogger("surge.gateway.waf")


class Oversize(StrEnum):
    CONTINUE = "continue"
    MATCH = "match"
    NO_MATCH = "no_match"


@dataclass(frozen=True, slots=True)
class Rejection:
    rule_id: str
    status: int
    detail: str
    extra: Mapping[str, Any] | None = None


@dataclass(slots=True)
class BodyOutcome:
    body: bytes | None = None  # the whole body, when it was read
    prefix: bytes = b""  # what was read of a body left to stream
    inspected: bytes | None = None  # what the detection engine should look at
    rejection: Rejection | None = None  # answer this before scanning the parts
    schema_errors: list[dict[str, str]] = field(default_factory=list)  # answer after scanning


def _kind(content_type: str) -> str | None:
    if content_type == "application/json" or content_type.endswith("+json"):
        return "json"
    if content_type == "application/x-www-form-urlencoded":
        return "form"
    if content_type.startswith(("multipart/", "text/")) or content_type.endswith("xml"):
        return "text"
    return None


async def _read_prefix(request: Request, want: int, limit: int) -> tuple[bytes, bool]:
    """At least `want`+1 bytes of the body (or all of it); True when the body is complete."""
    chunks: list[bytes] = []
    total = 0
    while total <= want:
        chunk = await request.content.readany()
        if not chunk:
            return b"".join(chunks), True
        total += len(chunk)
        if total > limit:
            raise BodyTooLargeError(limit, total)
        chunks.append(chunk)
    return b"".join(chunks), request.content.at_eof()


class BodyInspector:
    def __init__(self, *, inspect_bytes: int, oversize: str) -> None:
        self.inspect_bytes = inspect_bytes
        self.oversize = Oversize(oversize)
        self._validators = SchemaValidators()

    async def inspect(
        self, request: Request, route: Route, limit: int, *, signatures: bool
    ) -> BodyOutcome:
        kind = _kind(request.content_type)
        if route.waf.body_schema is not None:
            return await self._validate(request, route.waf.body_schema, kind, limit, signatures)
        if not signatures or kind is None:
            return BodyOutcome()
        declared = request.content_length
        if declared is not None and declared > self.inspect_bytes:
            if self.oversize is Oversize.MATCH:
                return BodyOutcome(rejection=self._oversize_rejection())
            if self.oversize is Oversize.NO_MATCH:
                return BodyOutcome()  # streamed untouched, nothing buffered
        data, complete = await _read_prefix(request, self.inspect_bytes, limit)
        if complete and len(data) <= self.inspect_bytes:
            return BodyOutcome(body=data, inspected=data)
        outcome = BodyOutcome(body=data) if complete else BodyOutcome(prefix=data)
        if self.oversize is Oversize.MATCH:
            outcome.rejection = self._oversize_rejection()
        elif self.oversize is Oversize.CONTINUE:
            outcome.inspected = data[: self.inspect_bytes]
        return outcome

    async def _validate(
        self,
        request: Request,
        schema: Mapping[str, Any],
        kind: str | None,
        limit: int,
        signatures: bool,
    ) -> BodyOutcome:
        if request.body_exists and kind != "json":
            detail = "this route takes a JSON body (Content-Type: application/json)"
            return BodyOutcome(rejection=Rejection(builtin.BODY_MEDIA_TYPE, 415, detail))
        body = await read_bounded(request, limit)
        if not body.strip():
            detail = "this route requires a JSON request body"
            return BodyOutcome(body=body, rejection=Rejection(builtin.BODY_JSON, 400, detail))
        try:
            document = parse_json(body)
        except MalformedJsonError as exc:
            detail = f"the request body is not valid JSON: {exc}"[:300]
            return BodyOutcome(body=body, rejection=Rejection(builtin.BODY_JSON, 400, detail))
        try:
            validator = self._validators.get(schema)
        except ValueError:
            logger.exception("route body_schema is invalid; requests to it are refused")
            detail = "the route's body_schema is invalid (gateway configuration error)"
            return BodyOutcome(body=body, rejection=Rejection(builtin.BODY_SCHEMA, 500, detail))
        outcome = BodyOutcome(body=body, schema_errors=schema_errors(validator, document))
        if not signatures:
            return outcome
        if len(body) <= self.inspect_bytes or self.oversize is Oversize.CONTINUE:
            outcome.inspected = body[: self.inspect_bytes]
        elif self.oversize is Oversize.MATCH:
            outcome.rejection = self._oversize_rejection()
        return outcome

    def _oversize_rejection(self) -> Rejection:
        detail = f"the request body is larger than the {self.inspect_bytes} bytes the WAF inspects"
        return Rejection(builtin.BODY_OVERSIZE, 403, detail)
