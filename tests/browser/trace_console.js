// Drives the trace console (`traces serve`) in headless Chromium for tests/e2e/test_journey_trace.py.
// Usage: node trace_console.js '<json config>' (url, filter, traceId, screenshot, timeoutMs).
// Waits for the service map, searches with the filter, opens the trace and prints one JSON line:
// {mapNodes, traceIds, timelineServices, timelineText, critical, errors}.
"use strict";
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const config = JSON.parse(process.argv[2]);

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1500 } });
    page.setDefaultTimeout(config.timeoutMs);
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()}`));
    page.on("request", (r) => { if (!r.url().startsWith(config.url)) errors.push(`off-site: ${r.url()}`); });
    await page.goto(config.url);
    await page.waitForFunction(() => document.body.dataset.ready === "yes");
    await page.fill("#filter", config.filter);
    await page.click("#search");
    await page.waitForFunction(() => document.body.dataset.ready === "yes" &&
      document.querySelectorAll("#traces tbody tr").length > 0);
    const mapNodes = await page.evaluate(() => window.cytoscapeNodes ? window.cytoscapeNodes() : -1);
    const traceIds = await page.$$eval("#traces tbody tr", (rows) => rows.map((r) => r.dataset.traceId));
    await page.click(`#traces tbody tr[data-trace-id="${config.traceId}"]`);
    await page.waitForFunction(() => document.querySelectorAll("#timeline .span-row").length > 0);
    const timelineServices = await page.$$eval("#timeline .span-row", (rows) => [...new Set(rows.map((r) => r.dataset.service))]);
    const timelineText = await page.textContent("#timeline");
    const critical = await page.$$eval("#timeline .span-row.critical", (rows) => rows.length);
    await page.evaluate(() => window.scrollTo(0, 0));
    if (config.screenshot) await page.screenshot({ path: config.screenshot, fullPage: true });
    process.stdout.write(JSON.stringify({ mapNodes, traceIds, timelineServices, timelineText, critical, errors }) + "\n");
  } finally {
    await browser.close();
  }
})().catch((e) => { process.stderr.write(String(e.stack || e) + "\n"); process.exit(1); });
