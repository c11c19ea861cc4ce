"""JSON request bodies: bounded, validated by a pydantic model, 400/413/415 problems."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from shared.http.problems import Problem, field_errors

ModelT = TypeVar("ModelT", bound=BaseModel)
MAX_JSON_BYTES = 16 * 1024


async def read_json(request: web.Request, model: type[ModelT], *, empty_ok: bool = False) -> ModelT:
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise Problem(413, f"a JSON body is at most {MAX_JSON_BYTES} bytes")
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise Problem(413, f"a JSON body is at most {MAX_JSON_BYTES} bytes")
    if not raw.strip() and empty_ok:
        raw = b"{}"
    elif request.content_type != "application/json":
        raise Problem(415, "send the body as application/json")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = field_errors(exc, root="body")
        names = ", ".join(e["field"] for e in errors)
        raise Problem(400, f"invalid body: {names}", extra={"errors": errors}) from None
