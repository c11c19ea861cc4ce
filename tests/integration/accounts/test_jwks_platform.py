"""The platform trusts this issuer through its JWKS: the gateway authenticates the accounts
service's access tokens (AUTH_JWKS_URL) and the waiting room queues their subject; a token
signed by any other key is refused at the edge."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from tests.accounts_support import PASSWORD
from tests.edge_support import running_edge

pytestmark = pytest.mark.integration


async def test_gateway_and_waiting_room_accept_this_issuers_tokens(
    kafka_env: str, tmp_path: Path, unique: str
) -> None:
    async with running_edge(tmp_path) as edge, aiohttp.ClientSession() as http:
        zone = f"z{unique}"
        await edge.room.create(zone, admit_per_minute=60, max_active=5)
        await edge.room.tick()
        email = f"pat.{unique}@example.com"
        await edge.accounts.verified_account(email)
        async with http.post(
            f"{edge.base}/accounts/api/signin", json={"email": email, "password": PASSWORD}
        ) as response:
            assert response.status == 200, await response.text()
            tokens = await response.json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        join = f"{edge.base}/waitingroom/zones/{zone}/join"
        async with http.post(join, json={}, headers=bearer) as response:
            assert response.status == 201, await response.text()
            place = await response.json()
        assert place["position"] == 1
        assert tokens["account_id"] in edge.room.zone(zone).places
        async with http.get(f"{edge.base}/accounts/api/me", headers=bearer) as response:
            assert response.status == 200, "the gateway vouches for the caller, accounts agrees"
            assert (await response.json())["email"] == email

        # Same claims and kid, another key: refused by the gateway, never reaching a service.
        impostor = ECKey.generate_key("P-256")
        kid = edge.accounts.ctx.signing.current.kid
        now = int(time.time())
        forged = jwt.encode(
            {"alg": "ES256", "kid": kid},
            {"iss": edge.accounts.ctx.settings.issuer, "aud": "surge", "sub": tokens["account_id"],
             "iat": now, "exp": now + 600},
            impostor,
        )  # fmt: skip
        async with http.post(join, json={}, headers={"Authorization": f"Bearer {forged}"}) as r:
            assert r.status == 401
            assert (await r.json())["reason"] == "bad_signature"
