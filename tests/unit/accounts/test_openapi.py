"""docs/accounts-openapi.json is generated from the code, and documents exactly the routes the
accounts app serves."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from services.accounts import pages
from services.accounts.admin import routes as admin
from services.accounts.api import me, signin, signup
from services.accounts.oidc import endpoints
from services.accounts.openapi import build, render

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def test_the_checked_in_document_is_the_generated_one() -> None:
    checked_in = (ROOT / "docs" / "accounts-openapi.json").read_text(encoding="utf-8")
    assert checked_in == render(), "run `make openapi`: docs/accounts-openapi.json drifted"


def test_every_api_route_is_documented_and_nothing_else() -> None:
    served = {
        (route.method.lower(), route.path)
        for table in (signup.routes, signin.routes, me.routes, endpoints.routes, admin.routes)
        for route in table
        if isinstance(route, web.RouteDef)
    }
    documented = {(method, path) for path, ops in build()["paths"].items() for method in ops}
    assert served == documented


def test_pages_are_not_in_the_api_document() -> None:
    pages_paths = {route.path for route in pages.routes if isinstance(route, web.RouteDef)}
    assert not pages_paths & set(build()["paths"])


def test_request_bodies_point_at_generated_schemas() -> None:
    document = build()
    schemas = document["components"]["schemas"]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody")
            if body:
                ref = body["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in schemas, (method, path)
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    assert answer == {"$ref": "#/components/responses/Problem"}
