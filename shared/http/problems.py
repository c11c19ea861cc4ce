"""RFC 9457 problem details: every error a client sees is `application/problem+json`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import ValidationError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://surge.dev/problems/"


def problem_body(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": type_ or PROBLEM_TYPE_BASE + phrase.lower().replace(" ", "-"),
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if extra:
        body.update(extra)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> web.Response:
    body = problem_body(status, detail, title=title, type_=type_, extra=extra)
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


class Problem(web.HTTPException):
    """Raise anywhere in a handler; the error middleware renders it as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.status_code = status
        super().__init__(
            headers=headers,
            text=json.dumps(problem_body(status, detail, title=title, type_=type_, extra=extra)),
            content_type=PROBLEM_CONTENT_TYPE,
        )
        self.detail = detail


def field_errors(
    exc: ValidationError, *, limit: int | None = 20, root: str = ""
) -> list[dict[str, str]]:
    """A pydantic failure as `[{"field": "a.b", "message": ...}]` for a problem's `errors`;
    `root` names the whole body when an error has no location."""
    details = exc.errors(include_url=False)
    return [
        {"field": ".".join(str(part) for part in error["loc"]) or root, "message": error["msg"]}
        for error in (details if limit is None else details[:limit])
    ]
