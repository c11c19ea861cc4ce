"""Authorization code + PKCE end to end in headless Chromium: a browser app on its own origin
(served by this test) sends the user to the issuer through the gateway; the user signs in on the
accounts page; the app gets the code back, exchanges it with its PKCE verifier at the token
endpoint (CORS), checks the ID token's nonce and reads userinfo."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shared.stack.servers import free_port
from tests.accounts_support import ADMIN, PASSWORD
from tests.edge_support import running_edge

pytestmark = pytest.mark.e2e
BROWSER = Path(__file__).resolve().parents[1] / "browser"

APP_PAGE = """<!doctype html><meta charset="utf-8"><title>RP</title><pre id="result"></pre>
<script>
const ISSUER = "%(issuer)s", CLIENT = "%(client)s", BACK = location.origin + "/callback";
const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
async function start() {
  const verifier = b64(crypto.getRandomValues(new Uint8Array(48)));
  const challenge = b64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = b64(crypto.getRandomValues(new Uint8Array(12)));
  const nonce = b64(crypto.getRandomValues(new Uint8Array(12)));
  sessionStorage.setItem("pkce", JSON.stringify({ verifier, state, nonce }));
  const query = new URLSearchParams({ response_type: "code", client_id: CLIENT,
    redirect_uri: BACK, scope: "openid email profile", state, nonce,
    code_challenge: challenge, code_challenge_method: "S256" });
  location.assign(`${ISSUER}/authorize?${query}`);
}
async function callback() {
  const saved = JSON.parse(sessionStorage.getItem("pkce"));
  const params = new URLSearchParams(location.search);
  if (params.get("state") !== saved.state) throw new Error("state mismatch");
  const response = await fetch(`${ISSUER}/token`, { method: "POST", body: new URLSearchParams({
    grant_type: "authorization_code", code: params.get("code"), redirect_uri: BACK,
    client_id: CLIENT, code_verifier: saved.verifier }) });
  const tokens = await response.json();
  const part = tokens.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const idToken = JSON.parse(atob(part));
  const info = await (await fetch(`${ISSUER}/userinfo`,
    { headers: { Authorization: `Bearer ${tokens.access_token}` } })).json();
  document.getElementById("result").textContent = JSON.stringify({
    status: response.status, nonceMatches: idToken.nonce === saved.nonce, aud: idToken.aud,
    sub: idToken.sub, userinfo: info, refresh: Boolean(tokens.refresh_token) });
}
(location.pathname === "/callback" ? callback() : start()).catch((e) => {
  document.getElementById("result").textContent = JSON.stringify({ error: String(e) });
});
</script>
"""


async def test_authorization_code_with_pkce_in_the_browser(
    kafka_env: str, tmp_path: Path, unique: str
) -> None:
    if not (Path("/usr/bin/chromium").exists() and (BROWSER / "node_modules").exists()):
        pytest.fail("needs /usr/bin/chromium and tests/browser/node_modules: run `make test`")
    app_port = free_port()
    app_origin = f"http://127.0.0.1:{app_port}"
    async with running_edge(tmp_path) as edge:
        accounts = edge.accounts
        await accounts.call(
            "POST",
            "/accounts/admin/tenants",
            headers=ADMIN,
            json={"id": "rp", "name": "RP"},
            expect=201,
        )
        _, client = await accounts.call(
            "POST",
            "/accounts/admin/tenants/rp/applications",
            headers=ADMIN,
            json={"name": "RP web", "redirect_uris": [f"{app_origin}/callback"], "public": True},
            expect=201,
        )
        email = f"rae.{unique}@example.com"
        await accounts.verified_account(email, profile={"name": "Rae Park"})
        page = APP_PAGE % {"issuer": f"{edge.base}/accounts", "client": client["client_id"]}

        async def serve_page(_: web.Request) -> web.Response:
            return web.Response(text=page, content_type="text/html")

        relying = web.Application()
        relying.router.add_get("/", serve_page)
        relying.router.add_get("/callback", serve_page)
        async with TestServer(relying, port=app_port):
            config = {
                "app": f"{app_origin}/",
                "email": email,
                "password": PASSWORD,
                "userDataDir": str(tmp_path / "chromium"),
                "timeoutMs": 25_000,
            }
            proc = await asyncio.create_subprocess_exec(
                shutil.which("node") or "node",
                str(BROWSER / "oidc_pkce.js"),
                json.dumps(config),
                stdout=asyncio.subprocess.PIPE,
            )
            assert proc.stdout is not None
            async with asyncio.timeout(60):
                done: dict[str, Any] = json.loads(await proc.stdout.readline() or b"{}")
                await proc.wait()
    assert done.get("phase") == "done", json.dumps(done, indent=1)
    result = done["result"]
    assert result.get("error") is None, result
    assert (result["status"], result["nonceMatches"], result["refresh"]) == (200, True, True)
    assert result["aud"] == [client["client_id"]]
    assert result["userinfo"]["email"] == email
    assert result["userinfo"]["name"] == "Rae Park"
    assert result["userinfo"]["sub"] == result["sub"]
    assert f"{edge.base}/accounts/signin" in done["visited"]
    assert f"{app_origin}/callback" in done["visited"]
    assert done["errors"] == []
