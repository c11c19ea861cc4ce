"""Authentication policies, JWT and API-key failures, scopes/roles, the forwarded identity."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pymongo.errors import PyMongoError

from services.gateway.auth.apikeys import ApiKeyStore
from services.gateway.auth.authenticator import Authenticator
from services.gateway.auth.identity import Identity
from services.gateway.dataplane.clientip import ClientInfo
from services.gateway.dataplane.headers import upstream_head
from shared.http.identity import IDENTITY_HEADER
from shared.http.problems import Problem
from shared.security import JwtVerifier, issue_hs256
from shared.security.identity import IdentitySigner, IdentityVerifier
from shared.store import Store
from tests.identity_support import KEYS
from tests.unit.gateway.g2_support import request, route

pytestmark = pytest.mark.unit

SECRET = "test-secret-that-is-long-enough-for-hs256!"
ISSUER = "https://auth.surge.test"
AUDIENCE = "surge-api"


def token(secret: str = SECRET, ttl: float = 300, **claims: Any) -> str:
    base: dict[str, Any] = {"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE}
    return issue_hs256({**base, **claims}, secret, ttl)


class Env:
    def __init__(self, auth: Authenticator, keys: ApiKeyStore, registry: CollectorRegistry):
        self.auth, self.keys, self.registry = auth, keys, registry

    async def key(self, plan: str = "default", **kw: Any) -> tuple[str, str]:
        made, plaintext = await self.keys.create("test", plan, **kw)
        return made.id, plaintext

    def failures(self, reason: str) -> float:
        value = self.registry.get_sample_value("gateway_auth_failures_total", {"reason": reason})
        return value or 0.0


@pytest.fixture
async def env(store: Store) -> Env:
    keys = ApiKeyStore(store.db["api_keys"])
    verifier = JwtVerifier(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, leeway=0)
    registry = CollectorRegistry()
    auth = Authenticator(None, verifier=verifier, api_keys=keys, registry=registry)
    return Env(auth, keys, registry)


async def refused(env: Env, headers: dict[str, str], **route_fields: Any) -> Problem:
    with pytest.raises(Problem) as caught:
        await env.auth.authenticate(request(headers), route(**route_fields))
    return caught.value


@pytest.mark.parametrize(
    ("policy", "credential", "outcome"),
    [
        ("none", None, "anonymous"),
        ("none", "jwt", "jwt"),
        ("none", "key", "api_key"),
        ("jwt", None, 401),
        ("jwt", "jwt", "jwt"),
        ("jwt", "key", 401),
        ("api_key", None, 401),
        ("api_key", "jwt", 401),
        ("api_key", "key", "api_key"),
        ("jwt_or_api_key", None, 401),
        ("jwt_or_api_key", "jwt", "jwt"),
        ("jwt_or_api_key", "key", "api_key"),
    ],
)
async def test_each_policy_allows_and_denies(
    env: Env, policy: str, credential: str | None, outcome: str | int
) -> None:
    headers: dict[str, str] = {}
    if credential == "jwt":
        headers["Authorization"] = f"Bearer {token()}"
    elif credential == "key":
        headers["X-API-Key"] = (await env.key())[1]
    if isinstance(outcome, int):
        problem = await refused(env, headers, auth=policy)
        assert problem.status == outcome
        assert "realm=" in problem.headers["WWW-Authenticate"]
        assert problem.content_type == "application/problem+json"
    else:
        identity = await env.auth.authenticate(request(headers), route(auth=policy))
        assert identity.kind == outcome


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: token(ttl=-60), "expired"),
        (lambda: token(secret="another-secret-that-is-long-enough-for-hs256"), "bad_signature"),
        (lambda: token(aud="someone-else"), "bad_audience"),
        (lambda: token(iss="https://evil.test"), "bad_issuer"),
        (lambda: token(nbf=int(time.time()) + 600), "not_yet_valid"),
        (lambda: "not.a.jwt", "malformed"),
    ],
)
async def test_a_bad_jwt_is_401_with_the_reason_but_never_the_token(
    env: Env, make: Any, reason: str
) -> None:
    bad = make()
    problem = await refused(env, {"Authorization": f"Bearer {bad}"}, auth="jwt")
    assert problem.status == 401
    challenge = problem.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="surge", error="invalid_token"')
    assert f'error_description="{reason}"' in challenge
    assert bad not in challenge
    assert bad not in (problem.text or "")
    assert json.loads(problem.text or "")["reason"] == reason
    assert env.failures(reason) == 1


async def test_a_bad_credential_is_refused_even_on_an_open_route(env: Env) -> None:
    problem = await refused(env, {"Authorization": f"Bearer {token(ttl=-60)}"}, auth="none")
    assert problem.status == 401
    problem = await refused(env, {"X-API-Key": "sk_0123456789ab_" + "x" * 43}, auth="none")
    assert problem.status == 401
    assert problem.headers["WWW-Authenticate"].startswith('ApiKey realm="surge"')
    # Other schemes (an upstream's own Basic auth) pass through as anonymous.
    identity = await env.auth.authenticate(
        request({"Authorization": "Basic dXNlcjpwYXNz"}), route(auth="none")
    )
    assert identity.anonymous


async def test_a_revoked_key_is_refused(env: Env) -> None:
    key_id, plaintext = await env.key()
    assert (await env.auth.authenticate(request({"X-API-Key": plaintext}), route())).key_id
    assert await env.keys.revoke(key_id)
    problem = await refused(env, {"X-API-Key": plaintext}, auth="api_key")
    assert problem.status == 401
    assert env.failures("invalid_key") == 1


async def test_the_apikey_authorization_scheme_works(env: Env) -> None:
    key_id, plaintext = await env.key(plan="gold")
    identity = await env.auth.authenticate(
        request({"Authorization": f"ApiKey {plaintext}"}), route(auth="api_key")
    )
    assert (identity.kind, identity.key_id, identity.plan_id) == ("api_key", key_id, "gold")


async def test_a_jwt_plus_key_is_the_user_with_the_keys_plan(env: Env) -> None:
    key_id, plaintext = await env.key(plan="gold", scopes=["admin"])
    headers = {"Authorization": f"Bearer {token(scope='orders:read')}", "X-API-Key": plaintext}
    identity = await env.auth.authenticate(request(headers), route(auth="jwt"))
    assert (identity.kind, identity.subject, identity.key_id) == ("jwt", "user-1", key_id)
    assert identity.scopes == {"orders:read"}  # the key's scopes never add to the user's


async def test_missing_scopes_are_403_naming_them(env: Env) -> None:
    jwt = token(scope="orders:read profile")
    identity = await env.auth.authenticate(
        request({"Authorization": f"Bearer {jwt}"}), route(auth="jwt", scopes=["orders:read"])
    )
    assert identity.scopes == {"orders:read", "profile"}
    problem = await refused(
        env,
        {"Authorization": f"Bearer {jwt}"},
        auth="jwt",
        scopes=["orders:read", "orders:write", "admin"],
    )
    assert problem.status == 403
    assert problem.detail == "Missing required scope(s): admin, orders:write."
    assert 'error="insufficient_scope"' in problem.headers["WWW-Authenticate"]


async def test_scp_list_claims_and_key_scopes_count(env: Env) -> None:
    jwt = token(scp=["a", "b"])
    identity = await env.auth.authenticate(
        request({"Authorization": f"Bearer {jwt}"}), route(auth="jwt", scopes=["a", "b"])
    )
    assert identity.scopes == {"a", "b"}
    _, plaintext = await env.key(scopes=["a"])
    await env.auth.authenticate(request({"X-API-Key": plaintext}), route(scopes=["a"]))
    assert (await refused(env, {"X-API-Key": plaintext}, scopes=["b"])).status == 403


async def test_roles_need_any_one_of_them(env: Env) -> None:
    jwt = token(roles=["editor"])
    fields: dict[str, Any] = {"auth": "jwt", "roles": ["admin", "editor"]}
    identity = await env.auth.authenticate(
        request({"Authorization": f"Bearer {jwt}"}), route(**fields)
    )
    assert identity.roles == {"editor"}
    problem = await refused(env, {"Authorization": f"Bearer {jwt}"}, auth="jwt", roles=["admin"])
    assert problem.status == 403
    assert "admin" in problem.detail


async def test_required_scopes_on_an_open_route_need_a_credential(env: Env) -> None:
    problem = await refused(env, {}, auth="none", scopes=["a"])
    assert problem.status == 401


def test_the_identity_is_forwarded_signed_and_client_copies_are_dropped() -> None:
    identity = Identity(
        kind="jwt",
        subject="user-1\r\nX-Evil: 1",
        scopes=frozenset({"b", "a"}),
        roles=frozenset({"admin"}),
        key_id="0123456789ab",
        plan_id="gold",
        claims={"sub": "user-1\r\nX-Evil: 1", "tier": "vip"},
    )
    signer = IdentitySigner(KEYS, "gateway")
    assertion = {IDENTITY_HEADER: signer.sign(identity, "orders")}
    value = assertion[IDENTITY_HEADER]
    assert value.isascii()  # base64url and dots: a claim can never start a header line
    assert value.isprintable()
    seen = IdentityVerifier(KEYS, "orders").verify(value)
    assert seen == identity  # kind, subject (intact), scopes, roles, key id, plan
    assert seen.claims == {"tier": "vip"}  # the other claims; sub travels as the subject
    forged = {
        "X-Surge-Identity": "forged",
        "X-Surge-User-Id": "admin",
        "x-surge-anything-added-later": "1",
        "X-Request-ID": "req-12345678",
    }
    head = upstream_head(
        request(forged),
        b"/x",
        b"upstream",
        ClientInfo("1.2.3.4", "http", "1.2.3.4"),
        [(IDENTITY_HEADER.encode(), value.encode())],
    )
    lines = [line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if line]
    surge = {k.lower(): v for k, v in lines if k.lower().startswith(b"x-surge-")}
    assert surge == {b"x-surge-identity": value.encode()}


async def test_an_unreachable_key_store_is_503_not_a_refusal() -> None:
    class Down(ApiKeyStore):
        async def authenticate(self, presented: str) -> None:
            raise PyMongoError("store down")

    auth = Authenticator(None, verifier=None, api_keys=Down(None))
    with pytest.raises(Problem) as caught:
        await auth.authenticate(request({"X-API-Key": "sk_x"}), route(auth="api_key"))
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "1"


async def test_without_a_verifier_bearer_tokens_are_refused(env: Env) -> None:
    auth = Authenticator(None, verifier=None, api_keys=env.keys)
    with pytest.raises(Problem) as caught:
        await auth.authenticate(request({"Authorization": f"Bearer {token()}"}), route())
    assert 'error_description="jwt_not_configured"' in caught.value.headers["WWW-Authenticate"]
