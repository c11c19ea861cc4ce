"""The avatars OpenAPI document: checked in as generated, every reference resolves, and every
route the app serves is documented (and every documented operation is served)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.avatars.app import init_app
from services.avatars.openapi import build, render
from services.avatars.settings import AvatarsSettings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
UNDOCUMENTED = {"/avatars", "/avatars/", "/avatars/page.js", "/avatars/sw.js",
                "/avatars/openapi.json", "/healthz", "/readyz", "/metrics"}  # fmt: skip


def test_checked_in_document_matches_the_code() -> None:
    checked_in = (ROOT / "docs" / "avatars-openapi.json").read_text(encoding="utf-8")
    assert checked_in == render(), (
        "docs/avatars-openapi.json drifted: run "
        "`python -m services.avatars.openapi > docs/avatars-openapi.json`"
    )


def test_every_reference_resolves() -> None:
    doc = build()

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    for target in refs(doc):
        node: Any = doc
        for part in target.removeprefix("#/").split("/"):
            node = node[part]
        assert node, target
    json.dumps(doc)


async def test_every_route_is_documented_and_every_operation_served(tmp_path: Path) -> None:
    app = await init_app(AvatarsSettings(data_dir=tmp_path))
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path in UNDOCUMENTED:
            continue
        served.add((route.method.lower(), path))
    documented = {
        (method, re.sub(r"\{(\w+)\}", r"{\1}", path))
        for path, ops in build()["paths"].items()
        for method in ops
    }
    assert served == documented
