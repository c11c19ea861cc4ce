// A new user's whole journey in headless Chromium, for tests/e2e/test_accounts_journey.py:
// open a protected ticket page, get sent to the waiting room and on to sign-in, create an
// account, confirm the email (the test hands over the mailed link), sign in, come back to the
// waiting room, wait for the turn, enter the shop and buy.
// Usage: node accounts_journey.js '<json config>' (base, zone, email, password, userDataDir,
// timeoutMs). Prints JSON lines: {"phase": "signed_up"}, then reads "verify <link>" on stdin and
// prints {"phase": "waiting", ...}; then reads "admit" and prints {"phase": "done", ...}.
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
  const visited = [], errors = [];
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(config.timeoutMs);
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) visited.push(new URL(f.url()).pathname); });
    await page.goto(`${config.base}/tickets/${config.zone}/`);
    await page.waitForURL((u) => u.pathname === "/accounts/signin");
    const signinReturn = new URL(page.url()).searchParams.get("return");
    await page.click("#to-signup");
    await page.waitForURL((u) => u.pathname === "/accounts/signup");
    await page.fill("#name", "Ada Lovelace");
    await page.fill("#email", config.email);
    await page.fill("#password", config.password);
    await page.click("#submit");
    await page.locator("#sent").waitFor({ state: "visible" });
    emit({ phase: "signed_up", signinReturn });
    const command = await nextLine();
    if (!command.startsWith("verify ")) throw new Error(`unexpected ${command}`);
    await page.goto(command.slice("verify ".length));
    await page.locator("#continue").waitFor({ state: "visible" });
    const verified = (await page.textContent("#verify-state")).trim();
    await page.click("#continue");
    await page.waitForURL((u) => u.pathname === "/accounts/signin");
    await page.fill("#email", config.email);
    await page.fill("#password", config.password);
    await page.click("#submit");
    await page.waitForURL((u) => u.pathname === "/waitingroom/page/");
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById("position").textContent));
    await page.waitForFunction(() => document.getElementById("connection").textContent === "connected");
    emit({ phase: "waiting", verified, position: await page.textContent("#position") });
    if ((await nextLine()) !== "admit") throw new Error("expected admit");
    await page.locator("#turn").waitFor({ state: "visible" });
    await page.click("#continue");
    await page.waitForURL((u) => u.pathname.startsWith("/tickets/"));
    const visitor = (await page.textContent("#visitor")).trim();
    await page.click("#buy");
    await page.locator("#done").waitFor({ state: "visible" });
    const bought = (await page.textContent("#done")).trim();
    emit({ phase: "done", visitor, bought, visited, errors });
  } catch (e) {
    emit({ phase: "error", error: String(e), url: context.pages()[0]?.url(), visited, errors });
  } finally {
    await context.close();
    lines.close();
  }
})();
