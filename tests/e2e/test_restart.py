"""What `make run` acknowledged survives a stop and a start of the whole stack.

A new user's journey, as the README tells it: a zone created and paused, visitors queued in it
through the gateway with user tokens, an API key bound to a plan, a person signed up with the
accounts service (the mailed link from the run dir's mail folder) and queued with its token;
then Ctrl-C and `make run` again with the same run directory. The same token gets the same
place, the zone is still there and paused, the key still authenticates, the person signs in
again (the master keys, the blind-index key and the signing keys survived), their earlier token
and refresh token still work, and the generated secrets were reused.
"""

from __future__ import annotations

import email
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shared.security.jwt import issue_hs256
from shared.stack import secretsfile
from tests.stack_support import Stack, stack_environment, stack_ports

pytestmark = pytest.mark.e2e

ROUTES = """
upstreams:
  waitingroom: {url: "http://127.0.0.1:${WAITINGROOM_PORT}"}
  shop: {url: "http://127.0.0.1:${SHOP_PORT}"}
  accounts: {url: "http://127.0.0.1:${ACCOUNTS_PORT}"}
routes:
  - {id: accounts, prefix: /accounts/api/, upstream: accounts}
  - {id: waitingroom, prefix: /waitingroom/zones/, upstream: waitingroom, auth: jwt}
  - {id: keyed, prefix: /keyed/, upstream: shop, auth: api_key}
"""


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status: int = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def test_zone_places_and_api_key_survive_a_restart(tmp_path: Path) -> None:
    ports = stack_ports()
    env = {**stack_environment(tmp_path, ports), "GATEWAY_ROUTES_YAML": ROUTES}
    gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    gateway_admin = f"http://127.0.0.1:{ports['GATEWAY_ADMIN_PORT']}"
    room_admin = f"http://127.0.0.1:{ports['WAITINGROOM_PORT']}/waitingroom/admin"

    stack = Stack.start(env)
    try:
        secrets = secretsfile.read(tmp_path / "secrets.env")
        admin = {"Authorization": f"Bearer {secrets['ADMIN_TOKEN']}"}
        zone = {
            "id": "encore",
            "capacity": 100,
            "max_active": 5,
            "admit_per_minute": 60,
            "session_ttl": 300,
            "position_ttl": 3600,
        }
        assert call("POST", f"{room_admin}/zones", zone, admin)[0] == 201
        assert call("POST", f"{room_admin}/zones/encore/pause", None, admin)[0] == 200
        users = {
            f"fan-{n}": {
                "Authorization": "Bearer "
                + issue_hs256({"sub": f"fan-{n}"}, secrets["AUTH_JWT_SECRET"], 3600)
            }
            for n in range(5)
        }
        places = {}
        for name, headers in users.items():
            status, body = call("POST", f"{gateway}/waitingroom/zones/encore/join", {}, headers)
            assert status == 201, body
            places[name] = (body["queue_number"], body["position"])
        assert sorted(p for _, p in places.values()) == [1, 2, 3, 4, 5]

        assert call("POST", f"{gateway_admin}/admin/plans", _plan(), admin)[0] == 201
        status, created = call(
            "POST", f"{gateway_admin}/admin/keys", {"name": "ci", "plan_id": "starter"}, admin
        )
        assert status == 201, created
        key = {"X-API-Key": created["key"]}
        assert call("GET", f"{gateway}/keyed/anything", None, key)[0] != 401

        person = {"email": "robin@example.com", "password": "granite-pelican-sunrise-5"}
        assert call("POST", f"{gateway}/accounts/api/signup", person)[0] == 202
        token = _mailed_token(tmp_path / "mail", person["email"])
        assert call("POST", f"{gateway}/accounts/api/verify", {"token": token})[0] == 200
        status, signed_in = call("POST", f"{gateway}/accounts/api/signin", person)
        assert status == 200, signed_in
        robin = {"Authorization": f"Bearer {signed_in['access_token']}"}
        status, body = call("POST", f"{gateway}/waitingroom/zones/encore/join", {}, robin)
        assert status == 201, body
        robin_place = (body["queue_number"], body["position"])

        stack.stop()
        assert stack.process.returncode == 0, stack.banner[-3000:]
        stack = Stack.start(env)
        assert "generated once" not in stack.banner  # the stored secrets were reused

        for name, headers in users.items():
            status, body = call("GET", f"{gateway}/waitingroom/zones/encore/status", None, headers)
            assert status == 200, body
            assert (body["queue_number"], body["position"]) == places[name], name
            assert body["state"] == "waiting"
        status, summary = call("GET", f"{room_admin}/zones/encore", None, admin)
        assert status == 200, summary
        assert summary["summary"]["paused"] is True
        assert summary["summary"]["visitors"] == 6  # five fans and robin
        assert call("GET", f"{gateway}/keyed/anything", None, key)[0] != 401
        assert call("GET", f"{gateway}/keyed/anything")[0] == 401
        assert call("GET", f"{gateway_admin}/admin/keys/{created['id']}", None, admin)[0] == 200

        status, again = call("POST", f"{gateway}/accounts/api/signin", person)
        assert status == 200, again
        assert again["account_id"] == signed_in["account_id"]
        status, me = call("GET", f"{gateway}/accounts/api/me", None, robin)
        assert (status, me["email"]) == (200, person["email"]), "the earlier token still works"
        status, body = call("GET", f"{gateway}/waitingroom/zones/encore/status", None, robin)
        assert (status, (body["queue_number"], body["position"])) == (200, robin_place)
        refresh = {"refresh_token": signed_in["refresh_token"]}
        assert call("POST", f"{gateway}/accounts/api/token/refresh", refresh)[0] == 200
        stack.stop()
        assert stack.process.returncode == 0, stack.banner[-3000:]
    finally:
        stack.kill()


def _mailed_token(folder: Path, address: str) -> str:
    """The verification token in the newest mail to `address` (the stack's local mail sender
    writes each message to the run dir's mail folder)."""
    for path in sorted(folder.glob("*.eml"), reverse=True):
        message = email.message_from_bytes(path.read_bytes())
        if message["To"] == address:
            body = message.get_payload(decode=True)
            assert isinstance(body, bytes)
            found = re.search(r"token=([A-Za-z0-9_-]+)", body.decode())
            assert found is not None
            return found.group(1)
    raise AssertionError(f"no mail to {address} in {folder}")


def _plan() -> dict[str, Any]:
    return {"id": "starter", "name": "Starter", "rate": 50, "burst": 50, "quota_day": 1000}
