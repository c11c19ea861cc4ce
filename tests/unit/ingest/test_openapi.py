"""docs/ingest-openapi.json is generated from the code and documents every route."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.ingest import live
from services.ingest.collect import batch, pixel
from services.ingest.openapi import build, render
from services.ingest.programs import admin

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def test_checked_in_document_matches_the_code() -> None:
    checked_in = (ROOT / "docs" / "ingest-openapi.json").read_text(encoding="utf-8")
    assert checked_in == render(), "docs/ingest-openapi.json drifted: run `make openapi`"


def test_every_route_is_documented_with_its_method() -> None:
    documented = {
        (method.upper(), path)
        for path, item in build()["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = set()
    for table in (pixel.routes, batch.routes, admin.routes, live.routes):
        for route in table:
            path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.path)  # type: ignore[attr-defined]
            served.add((route.method, path))  # type: ignore[attr-defined]
    assert served == documented
