"""The platform's own traffic, route by route of services/gateway/routes.yaml.

What browsers, apps and services send to each route, from the services' handlers and OpenAPI
documents (docs/*-openapi.json) and protocol notes: the notifier's WebSocket upgrade, publish,
jobs and Web Push subscriptions (with the push double's http://127.0.0.1 endpoint as well as
the browsers' push services); the waiting room's joins, polls and page; the shop's tickets;
accounts' sign-up and sign-in (with password managers' passwords), account API, OpenID
Connect endpoints and pages; tracking pixels, click redirects, event batches and the live
page; avatar uploads (real JPEG, PNG, WebP and GIF bytes to the signed URL) and published
media. `ROUTE_TRAFFIC` maps each route id to a generator;
tests/unit/gateway/test_waf_platform_routes.py replays them through the WAF with each route's
own policy and fails on a route that has none.
"""

from __future__ import annotations

import random

from services.gateway.waf.view import RequestView
from tests.waftraffic.platform.accounts import (
    accounts_api,
    accounts_authorize,
    accounts_oidc,
    accounts_page,
    accounts_signin,
    accounts_signup,
    accounts_static,
    accounts_token,
    accounts_userinfo,
)
from tests.waftraffic.platform.avatars import (
    avatars_api,
    avatars_blobs,
    avatars_me,
    avatars_page,
    avatars_upload,
    media,
)
from tests.waftraffic.platform.ingest import (
    tracking_batch,
    tracking_live,
    tracking_pixel,
    tracking_redirect,
)
from tests.waftraffic.platform.notifier import notifier, notifier_ws
from tests.waftraffic.platform.requests import Traffic
from tests.waftraffic.platform.waitingroom import (
    tickets,
    waitingroom,
    waitingroom_jwks,
    waitingroom_page,
)

ROUTE_TRAFFIC: dict[str, Traffic] = {
    "notifier-ws": notifier_ws,
    "notifier": notifier,
    "waitingroom": waitingroom,
    "waitingroom-jwks": waitingroom_jwks,
    "waitingroom-page": waitingroom_page,
    "tickets": tickets,
    "accounts-api": accounts_api,
    "accounts-signin": accounts_signin,
    "accounts-signup": accounts_signup,
    "accounts-oidc": accounts_oidc,
    "accounts-authorize": accounts_authorize,
    "accounts-token": accounts_token,
    "accounts-userinfo": accounts_userinfo,
    "accounts-signin-page": accounts_page("signin"),
    "accounts-signup-page": accounts_page("signup"),
    "accounts-verify-page": accounts_page("verify"),
    "accounts-account-page": accounts_page("account"),
    "accounts-static": accounts_static,
    "tracking-pixel": tracking_pixel,
    "tracking-redirect": tracking_redirect,
    "tracking-batch": tracking_batch,
    "tracking-live": tracking_live,
    "avatars-upload": avatars_upload,
    "avatars-api": avatars_api,
    "avatars-me": avatars_me,
    "avatars-blobs": avatars_blobs,
    "avatars-page": avatars_page,
    "media": media,
}


def platform_request(rng: random.Random) -> RequestView:
    """A request to any of the platform's routes."""
    return rng.choice(tuple(ROUTE_TRAFFIC.values()))(rng)
