"""Per-route JSON Schema validation (Draft 2020-12 with formats): 400 problems list the failing
fields; malformed JSON is 400, a non-JSON body 415; a valid body reaches the upstream."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.waf.validation import (
    SchemaValidators,
    check_schema,
    field_path,
    parse_json,
    schema_errors,
)
from tests.unit.gateway.waf_support import make_waf, serve, table

pytestmark = pytest.mark.unit

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "email", "seats"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "email": {"type": "string", "format": "email"},
        "when": {"type": "string", "format": "date-time"},
        "seats": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["row"],
                "properties": {"row": {"type": "integer", "minimum": 1}},
            },
        },
    },
}
ROUTES = table({"id": "book", "prefix": "/book", "upstream": "up", "waf": {"body_schema": SCHEMA}})
VALID = {"name": "O'Brien", "email": "ob@example.com", "seats": [{"row": 3}]}


async def test_a_valid_body_passes_and_is_forwarded_whole() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/book", json=VALID)
        assert response.status == 200
        assert (response.json())["received"] > 0


async def test_failing_fields_are_listed() -> None:
    body = {
        "email": "not-an-email",
        "when": "yesterday",
        "seats": [{"row": 0}, {}],
        "extra": True,
    }
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/book", json=body)
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        problem = response.json()
    assert problem["rule_id"] == "body-schema"
    fields = {error["field"]: error["message"] for error in problem["errors"]}
    assert fields["name"] == "is required"
    assert fields["extra"] == "is not allowed"
    assert "email" in fields["email"]
    assert "date-time" in fields["when"]
    assert "minimum" in fields["seats[0].row"]
    assert fields["seats[1].row"] == "is required"
    assert "name is required" in problem["detail"]


@pytest.mark.parametrize(
    "payload", [b"{not json", b'{"name": NaN}', b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000]
)
async def test_malformed_json_on_a_schema_route_is_400(payload: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/book", data=payload, headers=headers)
        assert response.status == 400
        problem = response.json()
        assert problem["rule_id"] == "body-json"
        assert "not valid JSON" in problem["detail"]


async def test_a_missing_body_on_a_schema_route_is_400() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/book")
        assert response.status == 400
        assert "requires a JSON request body" in (response.json())["detail"]


async def test_a_non_json_body_on_a_schema_route_is_415() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/book", data={"name": "x"})
        assert response.status == 415
        assert (response.json())["rule_id"] == "body-media-type"


async def test_signatures_run_before_the_schema() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.post("/book", json={"name": "' or 1=1--"})
        assert response.status == 403
        assert (response.json())["rule_id"] == "sqli-001"


async def test_a_get_on_a_schema_route_needs_no_body() -> None:
    async with serve(make_waf(), ROUTES) as gw:
        response = await gw.get("/book")
        assert response.status == 200


def test_field_paths_use_dots_and_brackets() -> None:
    assert field_path(["a", "b", 0, "c"]) == "a.b[0].c"
    assert field_path([2, "x"]) == "[2].x"
    assert field_path([]) == ""


def test_errors_are_capped_and_messages_truncated() -> None:
    validator = SchemaValidators().get({"type": "array", "items": {"type": "integer"}})
    errors = schema_errors(validator, ["x" * 1000] * 50)
    assert len(errors) == 20
    assert all(len(error["message"]) <= 200 for error in errors)


def test_an_invalid_schema_is_reported_for_table_validation() -> None:
    with pytest.raises(ValueError, match="invalid body_schema"):
        check_schema({"type": "no-such-type"})


def test_parse_json_is_strict() -> None:
    assert parse_json(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    with pytest.raises(ValueError, match="Infinity"):
        parse_json(b"[Infinity]")
