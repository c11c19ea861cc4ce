"""Zone gatekeeping: route validation, zone from the path, offline token checks and refusals."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import ec
from yarl import URL

from services.gateway.auth.identity import ANONYMOUS, Identity
from services.gateway.auth.tokens import is_access_token
from services.gateway.auth.zones import Gatekeeper, verify_url, zone_of
from services.gateway.request import Request
from services.gateway.routing.live import RouteTableError, parse
from services.gateway.routing.table import Route
from services.waitingroom.places import Place
from services.waitingroom.tokens import SigningKey, Tokens
from shared.http.identity import IDENTITY_HEADER
from shared.http.problems import Problem
from shared.security import TokenError
from shared.security.identity import Caller, IdentityVerifier
from tests.identity_support import KEYS, as_service
from tests.unit.gateway.g2_support import request as make_request

pytestmark = pytest.mark.unit

KEY = SigningKey.generate()
TOKENS = Tokens(KEY, time.time)
AS_WAITINGROOM = IdentityVerifier(KEYS, "waitingroom")
TABLE = """
upstreams: {shop: {url: "http://127.0.0.1:9"}}
routes:
  - {id: t, prefix: /tickets/, upstream: shop, protected_zone: "%s"}
"""


def route(zone: str = "{zone}", prefix: str = "/tickets/") -> Route:
    return Route(id="t", prefix=prefix, upstream="shop", protected_zone=zone)


def token(zone: str = "show", user: str = "ann", ttl: float = 600, **extra: Any) -> str:
    now = time.time()
    place = Place(user, 1, "general", 0, now, now, jti="j-" + user)
    place.admitted_at, place.expires_at = now, now + ttl
    raw = TOKENS.issue(zone, place)
    if not extra:
        return raw
    claims = {**jwt.decode(raw, options={"verify_signature": False}), **extra}
    return jwt.encode(claims, KEY.private, algorithm="ES256", headers={"kid": KEY.kid})


def test_protected_zone_is_validated_when_the_table_loads() -> None:
    assert parse(TABLE % "{zone}").routes[0].protected_zone == "{zone}"
    assert parse(TABLE % "show-1").routes[0].protected_zone == "show-1"
    for bad in ("{user}", "Show", "a/b", ""):
        with pytest.raises(RouteTableError, match="protected_zone"):
            parse(TABLE % bad)


def test_zone_from_the_route_or_the_path() -> None:
    assert zone_of(route("show"), "/tickets/anything") == "show"
    assert zone_of(route(), "/tickets/show/purchase") == "show"
    assert zone_of(route(prefix="/tickets"), "/tickets/show") == "show"
    assert zone_of(route(), "/tickets/") is None
    assert zone_of(route(), "/tickets/..%2F/x") is None
    assert verify_url("http://h:1/waitingroom/.well-known/jwks.json") == (
        "http://h:1/waitingroom/verify"
    )


def test_access_tokens_are_recognised_by_their_issuer() -> None:
    assert is_access_token(token())
    assert not is_access_token(jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256"))
    assert not is_access_token("not-a-jwt")


@pytest.fixture
async def gate() -> AsyncIterator[Gatekeeper]:
    asked: list[dict[str, Any]] = []

    def from_gateway(request: web.Request) -> bool:
        """The waiting room's side: the gateway calls as itself (a signed service caller)."""
        try:
            caller = AS_WAITINGROOM.verify(request.headers.get(IDENTITY_HEADER))
        except TokenError:
            return False
        return caller == Caller(kind="service", subject="gateway")

    async def jwks(request: web.Request) -> web.Response:
        if not from_gateway(request):
            return web.Response(status=401)
        return web.json_response(TOKENS.jwks())

    async def verify(request: web.Request) -> web.Response:
        if not from_gateway(request):
            return web.Response(status=401)
        body = await request.json()
        asked.append(body)
        return web.json_response({"exempt": body["user"] == "boss"})

    app = web.Application()
    app.router.add_get("/waitingroom/.well-known/jwks.json", jwks)
    app.router.add_post("/waitingroom/verify", verify)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        url = str(server.make_url("/waitingroom/.well-known/jwks.json"))
        keeper = Gatekeeper(
            url, session=session, identity=lambda: as_service("waitingroom", "gateway")
        )
        keeper.asked = asked  # type: ignore[attr-defined]
        yield keeper
        await keeper.close()


def request(path: str = "/tickets/show/", **headers: str) -> Request:
    return make_request(headers, path=path)


def user(sub: str, **claims: Any) -> Identity:
    return Identity(kind="jwt", subject=sub, claims={"sub": sub, **claims})


async def refusal(gate: Gatekeeper, req: Request, who: Identity = ANONYMOUS) -> Any:
    with pytest.raises(web.HTTPException) as caught:
        await gate.guard(req, route(), who)
    exc = caught.value
    if isinstance(exc, Problem):
        return exc.status, json.loads(exc.text or "{}")
    return exc.status, exc.headers["Location"]


async def test_valid_tokens_pass_from_every_source(gate: Gatekeeper) -> None:
    await gate.guard(request(**{"X-Access-Token": token()}), route(), ANONYMOUS)
    await gate.guard(request(Cookie=f"surge_access_show={token()}"), route(), user("ann"))
    await gate.guard(request(**{"X-Access-Token": token()}), route(), user("ann"))


async def test_refusals_name_the_reason(gate: Gatekeeper) -> None:
    forged_key = ec.generate_private_key(ec.SECP256R1())
    claims = jwt.decode(token(), options={"verify_signature": False})
    forged = jwt.encode(claims, forged_key, algorithm="ES256", headers={"kid": KEY.kid})
    cases = {
        "missing": (request(), ANONYMOUS),
        "other_zone": (request(**{"X-Access-Token": token("other")}), ANONYMOUS),
        "expired": (request(**{"X-Access-Token": token(ttl=-60)}), ANONYMOUS),
        "bad_signature": (request(**{"X-Access-Token": forged}), ANONYMOUS),
        "other_user": (request(**{"X-Access-Token": token()}), user("bob")),
        "malformed": (request(**{"X-Access-Token": "abc"}), ANONYMOUS),
    }
    for reason, (req, who) in cases.items():
        status, body = await refusal(gate, req, who)
        assert (status, body["reason"]) == (403, reason)
        assert body["join_url"] == "/waitingroom/zones/show/join"


async def test_browsers_are_sent_to_the_waiting_room_page(gate: Gatekeeper) -> None:
    req = request("/tickets/show/?seat=1", Accept="text/html,application/xhtml+xml")
    status, location = await refusal(gate, req)
    assert status == 302
    target = URL(location)
    assert target.path == "/waitingroom/page/"
    assert dict(target.query) == {"zone": "show", "return": "/tickets/show/?seat=1"}


async def test_exempt_by_claim_or_by_the_zone_list(gate: Gatekeeper) -> None:
    await gate.guard(request(), route(), user("vip", waitingroom_exempt=True))
    await gate.guard(request(), route(), user("vip", waitingroom_exempt=["show"]))
    status, _ = await refusal(gate, request(), user("vip", waitingroom_exempt=["other"]))
    assert status == 403
    await gate.guard(request(), route(), user("boss"))
    await gate.guard(request(), route(), user("boss"))
    asked = gate.asked  # type: ignore[attr-defined]
    assert asked.count({"zone": "show", "user": "boss"}) == 1, "answers are cached"
    assert {"zone": "show", "user": "vip"} in asked, "only authenticated callers are asked"
    await refusal(gate, request(), ANONYMOUS)
    assert len(asked) == 2
