"""The client address the WAF keys its IP rules on: the one the data plane settled on."""

from __future__ import annotations

from services.gateway.request import Request


def client_address(request: Request) -> str:
    return request.client.address
