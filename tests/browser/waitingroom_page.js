// Drives the waiting room page in headless Chromium for tests/e2e/test_waitingroom_page.py.
// Usage: node waitingroom_page.js '<json config>'  (config: url, zone, userDataDir, timeoutMs,
// cookies: the accounts session cookie to start with)
// Prints JSON lines: {"phase": "waiting", ...} once the page shows a position, is connected and
// has subscribed to zone:<zone>. Then reads commands on stdin, one a line:
//   "status <text>": wait until the page's status line reads <text>, print {"phase": "status"};
//   "admit" (the test admitted the visitor): go through the turn to the shop and print
//   {"phase": "done", ...} with every HTTP request and WebSocket frame the page made, timed in
//   ms since the page was opened.
"use strict";
const path = require("path");
const readline = require("readline");
const { launch } = require(path.join(__dirname, "launch.js"));

const config = JSON.parse(process.argv[2]);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

(async () => {
  const context = await launch(config.userDataDir);
  if (config.cookies) await context.addCookies(config.cookies); // a signed-in visitor
  const started = Date.now();
  const at = () => Date.now() - started;
  const requests = [], frames = [], sockets = [], errors = [];
  let zoneSubscribed;
  const subscribedToZone = new Promise((resolve) => { zoneSubscribed = resolve; });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(config.timeoutMs);
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => requests.push({ t: at(), method: r.method(), url: r.url() }));
    page.on("websocket", (ws) => {
      sockets.push({ t: at(), url: ws.url() });
      ws.on("framereceived", (f) => {
        let type = null, event = null, channel = null;
        try { ({ type, event, channel } = JSON.parse(f.payload)); } catch (e) { /* not JSON */ }
        frames.push({ t: at(), type: type ?? null, event: event ?? null, channel: channel ?? null });
        if (type === "subscribed" && channel === `zone:${config.zone}`) zoneSubscribed();
      });
      ws.on("close", () => frames.push({ t: at(), type: "closed", event: null, channel: null }));
    });
    await page.goto(config.url);
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById("position").textContent));
    await page.waitForFunction(() => document.getElementById("connection").textContent === "connected");
    await Promise.race([subscribedToZone, new Promise((_, reject) => setTimeout(
      () => reject(new Error("no zone subscription")), config.timeoutMs).unref())]);
    emit({ phase: "waiting", t: at(), position: await page.textContent("#position"),
      ahead: await page.textContent("#ahead"), eta: await page.textContent("#eta") });
    for (let line = await nextLine(); line !== "admit"; line = await nextLine()) {
      if (!line.startsWith("status ")) throw new Error(`unknown command ${line}`);
      const text = line.slice("status ".length);
      await page.waitForFunction((want) => document.getElementById("status").textContent === want, text);
      emit({ phase: "status", t: at(), status: await page.textContent("#status") });
    }
    await page.locator("#turn").waitFor({ state: "visible" });
    const turn = (await page.textContent("#turn h2")).trim();
    const turnAt = at();
    await page.click("#continue");
    await page.waitForURL((u) => u.pathname.startsWith("/tickets/"));
    const shop = (await page.textContent("h1")).trim();
    emit({ phase: "done", turn, turnAt, shop, requests, frames, sockets, errors });
  } catch (e) {
    emit({ phase: "error", error: String(e), requests, frames, sockets, errors });
  } finally {
    await context.close();
    lines.close();
  }
})();
