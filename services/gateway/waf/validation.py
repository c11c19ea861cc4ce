"""Per-route request body validation against a JSON Schema (Draft 2020-12, formats checked).

Failures become a list of `{field, message}` with fields written as `a.b[0]` (the body root
is the empty string), so a client can point at the offending input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

MAX_ERRORS = 20
MAX_MESSAGE_CHARS = 200
_CACHE_SIZE = 256


class MalformedJsonError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise MalformedJsonError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON: NaN/Infinity and invalid UTF-8 are refused, as is absurd nesting."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedJsonError(
            str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        ) from exc


def check_schema(schema: Mapping[str, Any]) -> None:
    """Raise ValueError when `schema` is not a valid Draft 2020-12 schema (use at table load)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValueError(f"invalid body_schema: {exc.message}") from exc


class SchemaValidators:
    """Compiled validators, keyed by the schema's canonical JSON (route tables are reloaded)."""

    def __init__(self) -> None:
        self._compiled: dict[str, Draft202012Validator] = {}

    def get(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        validator = self._compiled.get(key)
        if validator is None:
            check_schema(schema)
            if len(self._compiled) >= _CACHE_SIZE:
                self._compiled.pop(next(iter(self._compiled)))
            validator = Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            self._compiled[key] = validator
        return validator


def field_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _truncate(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."


def _describe(error: ValidationError) -> list[dict[str, str]]:
    base = list(error.absolute_path)
    instance = error.instance
    # Name the missing or unexpected property itself rather than its parent object.
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in schema.get("required", []) if name not in instance]
        return [{"field": field_path([*base, name]), "message": "is required"} for name in missing]
    if (
        error.validator == "additionalProperties"
        and isinstance(instance, dict)
        and not schema.get("patternProperties")
    ):
        known = set(schema.get("properties", {}))
        extra = [name for name in instance if name not in known]
        return [{"field": field_path([*base, name]), "message": "is not allowed"} for name in extra]
    return [{"field": field_path(base), "message": _truncate(error.message)}]


def schema_errors(validator: Draft202012Validator, instance: Any) -> list[dict[str, str]]:
    """Every failing field (at most MAX_ERRORS), ordered by field, empty when valid."""
    found: list[dict[str, str]] = []
    for error in validator.iter_errors(instance):
        found.extend(_describe(error))
        if len(found) >= MAX_ERRORS:
            break
    return sorted(found[:MAX_ERRORS], key=lambda item: item["field"])
