// Authorization code + PKCE in headless Chromium, for tests/e2e/test_oidc_browser.py: a browser
// app on another origin (config.app) sends the user to the issuer, who signs in on the
// accounts page and comes back with a code the app exchanges (its verifier proves it asked),
// then reads userinfo. Usage: node oidc_pkce.js '<json config>' (app, email, password,
// userDataDir, timeoutMs). Prints one JSON line: {"phase": "done", result, visited, errors}.
"use strict";
const path = require("path");
const { launch } = require(path.join(__dirname, "launch.js"));

const config = JSON.parse(process.argv[2]);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

(async () => {
  const context = await launch(config.userDataDir);
  const visited = [], errors = [];
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(config.timeoutMs);
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("response", (r) => {
      if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) errors.push(`${r.status()} ${r.url()}`);
    });
    page.on("framenavigated", (f) => {
      if (f === page.mainFrame()) { const u = new URL(f.url()); visited.push(u.origin + u.pathname); }
    });
    await page.goto(config.app);
    await page.waitForURL((u) => u.pathname === "/accounts/signin");
    await page.fill("#email", config.email);
    await page.fill("#password", config.password);
    await page.click("#submit");
    await page.locator("#result").waitFor({ state: "attached" });
    await page.waitForFunction(() => document.getElementById("result").textContent.length > 0);
    emit({ phase: "done", result: JSON.parse(await page.textContent("#result")), visited, errors });
  } catch (e) {
    emit({ phase: "error", error: String(e), visited, errors });
  } finally {
    await context.close();
  }
})();
