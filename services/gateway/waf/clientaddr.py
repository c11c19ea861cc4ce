"""The client address the WAF keys its IP rules on: the one `clientip.resolve` settled on."""

from __future__ import annotations

from aiohttp import web

from services.gateway.dataplane.clientip import client_info


def client_address(request: web.BaseRequest) -> str:
    return client_info(request).address
