// Drives the live campaign page in headless Chromium for tests/e2e/test_ingest_live_page.py.
// Usage: node ingest_live_page.js '<json config>'  (config: url, channel, userDataDir, timeoutMs)
// Prints {"phase": "live"} once the page has subscribed to the campaign channel, then waits for
// one line on stdin: "<hits> <clicks> <conversions> <bad>", the totals the test caused; prints
// {"phase": "done", ...} once the page shows them, with every HTTP request and WebSocket frame
// it made (ms since opened) and the figures shown.
"use strict";
const path = require("path");
const readline = require("readline");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const config = JSON.parse(process.argv[2]);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

(async () => {
  const context = await chromium.launchPersistentContext(config.userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const started = Date.now();
  const at = () => Date.now() - started;
  const requests = [], frames = [], sockets = [], errors = [];
  let page = null;
  try {
    page = await context.newPage();
    page.setDefaultTimeout(config.timeoutMs);
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => requests.push({ t: at(), method: r.method(), url: r.url() }));
    page.on("websocket", (ws) => {
      sockets.push({ t: at(), url: ws.url() });
      ws.on("framereceived", (f) => {
        let type = null, event = null, channel = null;
        try { ({ type, event, channel } = JSON.parse(f.payload)); } catch (e) { /* not JSON */ }
        frames.push({ t: at(), type: type ?? null, event: event ?? null, channel: channel ?? null });
      });
    });
    await page.goto(config.url);
    await page.waitForFunction(() => document.getElementById("connection").textContent === "live");
    emit({ phase: "live", t: at(), title: await page.textContent("#title") });
    const [hits, clicks, conversions, bad] = (await nextLine()).split(" ").map(Number);
    const want = `${hits} hits, ${clicks} clicks, ${conversions} conversions, ${bad} bad rows`;
    await page.waitForFunction((w) => document.getElementById("totals").textContent === w, want);
    const shown = {};
    for (const id of ["hits", "clicks", "conversions", "bots", "bad", "totals", "updated"]) {
      shown[id] = await page.textContent(`#${id}`);
    }
    emit({ phase: "done", t: at(), shown, requests, frames, sockets, errors,
      location: page.url() });
  } catch (e) {
    const status = page ? await page.textContent("#status").catch(() => null) : null;
    emit({ phase: "error", error: String(e), status, requests, frames, sockets, errors });
  } finally {
    await context.close();
    lines.close();
  }
})();
