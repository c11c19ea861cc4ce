"""The waiting room page in headless Chromium, through the real gateway, accounts, notifier,
waiting room and sample shop (in this process, on a real broker): a signed-in visitor (an
accounts session cookie, no token in the URL) opens the page, which gets an access token from
the session, joins and shows its position,
reads the zone's state once (paused) when it subscribes to `zone:<id>`, hears the zone resumed,
paused and resumed again by push, admission reaches it by push, and it polled nothing while its
socket was up.

Chromium is driven by playwright-core from Node (tests/browser/waitingroom_page.js); `make test`
installs both (Debian `chromium`, `npm ci` in tests/browser).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.accounts.tokens.sessions import COOKIE
from tests.accounts_support import PASSWORD
from tests.edge_support import Edge, running_edge
from tests.waitingroom_support import ADMIN

pytestmark = pytest.mark.e2e
BROWSER = Path(__file__).resolve().parents[1] / "browser"
SCRIPT = BROWSER / "waitingroom_page.js"
CHROMIUM = Path("/usr/bin/chromium")


async def until(predicate: Any, within: float = 30.0) -> None:
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.05)


PAUSED, IN_LINE = "Admission is paused for a moment.", "You are in line."


async def command(proc: asyncio.subprocess.Process, line: str) -> dict[str, Any]:
    """One command to the page driver; its answer (a JSON line)."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(line.encode() + b"\n")
    await proc.stdin.drain()
    answer: dict[str, Any] = json.loads(await proc.stdout.readline() or b"{}")
    return answer


@pytest.fixture
async def edge(kafka_env: str, tmp_path: Path) -> AsyncIterator[Edge]:
    """The gateway in front of accounts, waiting room, notifier and shop (tests/edge_support)."""
    async with running_edge(tmp_path) as running:
        yield running


async def signed_in_cookie(edge: Edge, email: str) -> dict[str, Any]:
    """A verified account signed in through the gateway: its session cookie, for the browser."""
    await edge.accounts.verified_account(email)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{edge.base}/accounts/api/signin", json={"email": email, "password": PASSWORD}
        ) as response,
    ):
        assert response.status == 200, await response.text()
        cookie = response.cookies[COOKIE]
    return {"name": COOKIE, "value": cookie.value, "url": f"{edge.base}/accounts/"}


async def test_the_page_joins_and_is_admitted_by_push_without_polling(
    edge: Edge, unique: str, tmp_path: Path
) -> None:
    if not (CHROMIUM.exists() and (BROWSER / "node_modules" / "playwright-core").exists()):
        pytest.fail("needs /usr/bin/chromium and tests/browser/node_modules: run `make test`")
    base, room = edge.base, edge.room
    zone = f"page{unique}"
    await room.create(zone, admit_per_minute=60, max_active=5)
    await room.tick()  # opens the zone
    await until(lambda: room.zone(zone).partition in room.owned)  # the owner pushes zone notes
    await room.call("POST", f"/waitingroom/admin/zones/{zone}/pause", headers=ADMIN)
    cookie = await signed_in_cookie(edge, f"ann.{unique}@example.com")
    ann = await edge.accounts.ctx.accounts.lookup(
        edge.accounts.ctx.accounts.email_key(f"ann.{unique}@example.com")
    )
    assert ann is not None
    config = {
        "url": f"{base}/waitingroom/page/?zone={zone}&return=/tickets/{zone}/",
        "cookies": [cookie],
        "zone": zone,
        "userDataDir": str(tmp_path / "chromium"),
        "timeoutMs": 25_000,
    }
    node = shutil.which("node") or "node"
    proc = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        json.dumps(config),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            waiting = json.loads(await proc.stdout.readline() or b"{}")
            assert waiting.get("phase") == "waiting", waiting
            assert (waiting["position"], waiting["ahead"]) == ("1", "0")
            # Paused before the page opened: read once when it subscribed to zone:<id>.
            shown = [await command(proc, f"status {PAUSED}")]
            # Then every change arrives by push (the page reads nothing for it, see below).
            for action, text in (("resume", IN_LINE), ("pause", PAUSED), ("resume", IN_LINE)):
                await room.call("POST", f"/waitingroom/admin/zones/{zone}/{action}", headers=ADMIN)
                shown.append(await command(proc, f"status {text}"))
            assert [s.get("status") for s in shown] == [PAUSED, IN_LINE, PAUSED, IN_LINE], shown
            await room.call(
                "POST",
                f"/waitingroom/admin/zones/{zone}/admit",
                headers=ADMIN,
                expect=202,
                json={"n": 1},
            )
            await room.tick()
            done = await command(proc, "admit")
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert done.get("phase") == "done", done
    assert done["errors"] == []
    assert (done["turn"], done["shop"]) == ("It's your turn", f"Tickets for {zone}")
    welcome = next(f["t"] for f in done["frames"] if f.get("type") == "welcome")
    pushed = next(f["t"] for f in done["frames"] if f.get("event") == "waitingroom.admitted")
    channel = f"zone:{zone}"
    assert any(f["type"] == "subscribed" and f["channel"] == channel for f in done["frames"])
    heard = [
        (f["t"], f["event"])
        for f in done["frames"]
        if f["type"] == "publication" and f["channel"] == channel
    ]
    events = [event for _, event in heard]
    # The first pause may still be on its way through the notifier when the page subscribes.
    first = events.index("waitingroom.resumed")
    assert set(events[:first]) <= {"waitingroom.paused"}, events
    assert events[first:] == [
        "waitingroom.resumed",
        "waitingroom.paused",
        "waitingroom.resumed",
    ], events
    # Each change was shown after its push arrived (and before the next command).
    pushes = [t for t, _ in heard[first:]]
    assert all(p <= s["t"] for p, s in zip(pushes, shown[1:], strict=True)), (pushes, shown)
    assert heard[-1][0] < pushed
    zone_reads = [
        r for r in done["requests"] if r["method"] == "GET" and r["url"].endswith(f"/zones/{zone}")
    ]
    assert len(zone_reads) == 1, "the zone's state is read once, when the channel is subscribed"
    status_gets = [
        r["t"] for r in done["requests"] if r["method"] == "GET" and r["url"].endswith("/status")
    ]
    assert [t for t in status_gets if welcome <= t < pushed] == [], "polled while the socket was up"
    assert len([t for t in status_gets if t >= welcome]) <= 1, "only the token fetch after the push"
    joins = [r for r in done["requests"] if r["method"] == "POST" and r["url"].endswith("/join")]
    assert len(joins) == 1
    assert len(done["sockets"]) == 1, "one socket, never reconnected"
    assert room.zone(zone).places[ann.id].state == "admitted"
    assert not [r for r in done["requests"] if "token=" in r["url"]], "no token in any URL"
