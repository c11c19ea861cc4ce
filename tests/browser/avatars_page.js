// Drives the avatar page in headless Chromium for tests/e2e/test_avatars_edge.py.
// Usage: node avatars_page.js '<json config>'  (config: url, file, userDataDir, timeoutMs)
// Opens the page, waits for its socket, chooses the file, uploads, waits for "published", asks
// for Web Push, and prints one JSON line: what the page showed and how it got there.
"use strict";
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const config = JSON.parse(process.argv[2]);

(async () => {
  const context = await chromium.launchPersistentContext(config.userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const errors = [];
  let polls = 0;
  const result = { errors };
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(config.timeoutMs);
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => {
      if (r.method() === "GET" && /\/avatars\/uploads\/[a-f0-9]{32}$/.test(r.url())) polls += 1;
    });
    await page.goto(config.url);
    await page.waitForFunction(() => document.getElementById("connection").textContent === "connected");
    await page.setInputFiles("#file", config.file);
    await page.click("#send");
    await page.waitForFunction(() => ["published", "rejected", "failed", "upload refused"]
      .includes(document.getElementById("state").textContent));
    result.state = await page.textContent("#state");
    result.states = await page.evaluate(() => window.avatarPage.states);
    result.progress = String(await page.evaluate(() => document.getElementById("progress").value));
    await page.waitForFunction(() => {
      const img = document.getElementById("current");
      return img.src && img.complete && img.naturalWidth > 0;
    });
    result.current = await page.evaluate(() => document.getElementById("current").src);
    result.currentLoaded = await page.evaluate(() => document.getElementById("current").naturalWidth > 0);
    await page.click("#enable-push");
    await page.waitForFunction(() => window.avatarPage.pushes.length > 0);
    result.push = await page.textContent("#push");
    result.polls = polls;
  } catch (error) {
    errors.push(String(error));
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(result) + "\n");
})();
