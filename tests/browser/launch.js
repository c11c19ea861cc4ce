// Headless Chromium (Debian's /usr/bin/chromium) with playwright-core, as every page test
// starts it: a persistent profile in the test's directory, no sandbox, nothing phoning home.
"use strict";
const path = require("path");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

function launch(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

module.exports = { launch };
