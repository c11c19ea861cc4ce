"""The issue's "done when", in headless Chromium through the gateway: a new user opens a ticket
page protected by a waiting room, is sent to sign in, creates an account, confirms the email
with the mailed link, signs in, is back in the waiting room, is admitted by push, enters the
shop and buys: no hand-made token anywhere.

Chromium is driven by playwright-core from Node (tests/browser/accounts_journey.js); `make test`
installs both.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.edge_support import running_edge
from tests.waitingroom_support import ADMIN

pytestmark = pytest.mark.e2e
BROWSER = Path(__file__).resolve().parents[1] / "browser"
CHROMIUM = Path("/usr/bin/chromium")


def needs_browser() -> None:
    if not (CHROMIUM.exists() and (BROWSER / "node_modules" / "playwright-core").exists()):
        pytest.fail("needs /usr/bin/chromium and tests/browser/node_modules: run `make test`")


async def start_driver(script: str, config: dict[str, Any]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        str(BROWSER / script),
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )


async def answer(proc: asyncio.subprocess.Process, line: str | None = None) -> dict[str, Any]:
    """Send a command line (if any), then read the driver's next JSON line."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    if line is not None:
        proc.stdin.write(line.encode() + b"\n")
        await proc.stdin.drain()
    got: dict[str, Any] = json.loads(await proc.stdout.readline() or b"{}")
    assert got.get("phase") != "error", json.dumps(got, indent=1)
    return got


async def test_a_new_user_signs_up_queues_and_buys_from_the_browser(
    kafka_env: str, tmp_path: Path, unique: str
) -> None:
    needs_browser()
    email = f"ada.{unique}@example.com"
    async with running_edge(tmp_path) as edge:
        zone = f"shop{unique}"
        await edge.room.create(zone, admit_per_minute=60, max_active=5)
        await edge.room.tick()
        config = {
            "base": edge.base,
            "zone": zone,
            "email": email,
            "password": "copper-violin-harbour-91",
            "userDataDir": str(tmp_path / "chromium"),
            "timeoutMs": 25_000,
        }
        proc = await start_driver("accounts_journey.js", config)
        try:
            async with asyncio.timeout(90):
                signed_up = await answer(proc)
                assert signed_up["signinReturn"].startswith(f"/waitingroom/page/?zone={zone}")
                link = edge.accounts.mail.link_to(email)
                assert link.startswith(f"{edge.base}/accounts/verify?token=")
                waiting = await answer(proc, f"verify {link}")
                assert waiting["verified"] == "Your email address is confirmed."
                assert waiting["position"] == "1"
                account = await edge.accounts.ctx.accounts.lookup(
                    edge.accounts.ctx.accounts.email_key(email)
                )
                assert account is not None
                assert edge.room.zone(zone).places[account.id].state == "waiting"
                await edge.room.call(
                    "POST",
                    f"/waitingroom/admin/zones/{zone}/admit",
                    headers=ADMIN,
                    expect=202,
                    json={"n": 1},
                )
                await edge.room.tick()
                done = await answer(proc, "admit")
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert done["errors"] == []
    assert done["visitor"] == account.id, "the shop knows the visitor by the account's UUID"
    assert done["bought"] == f"Purchased: a ticket for {zone}"
    assert edge.room.zone(zone).places[account.id].state == "completed"
    assert "/accounts/signup" in done["visited"]
    assert "/accounts/verify" in done["visited"]
