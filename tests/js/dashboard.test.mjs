// The monitoring page (SPEC §5, README "HTTP"): GET /dashboard in a real browser (Debian's
// Chromium driven by playwright-core): the admin-token login, the live connection count,
// the test-event form reaching a socket.io-client, the event log. Saves a screenshot to
// tests/js/output/dashboard.png.

import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { closeAll, connect, marker, uniq } from "./helpers/clients.mjs";
import { startServer } from "./helpers/server.mjs";
import { ADMIN_TOKEN } from "./helpers/strapi.mjs";
import { WAIT_MS } from "./helpers/wait.mjs";

const CHROMIUM = process.env.STRAPI_IO_CHROMIUM ?? "/usr/bin/chromium";
const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), "output");
/** The page polls every second; allow a few polls. */
const POLL_MS = 8000;

let server;
let url;
/** Playwright gives the browser a fresh temporary profile and removes it at close. */
let browser;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it (apt-get install chromium; .ci/run does) or set STRAPI_IO_CHROMIUM`,
    );
  }
  server = await startServer();
  url = server.url;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  closeAll();
  await browser?.close().catch(() => {});
  await server?.stop();
});

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  return { page, context };
}

/** The integer shown in #connections (NaN while it shows "–"). */
const shownConnections = async (page) => Number.parseInt(await page.locator("#connections").textContent(), 10);

describe("GET /dashboard in Chromium", () => {
  test("a wrong admin token shows an error and keeps the dashboard hidden", async () => {
    const { page, context } = await newPage();
    try {
      const res = await page.goto(`${url}/dashboard`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()["content-type"] ?? "", /text\/html/);
      await page.locator("#token").fill("not-the-admin-token");
      await page.locator("#login-form button[type=submit]").click();
      await page.locator("#login-error").filter({ hasText: /\S/ }).waitFor();
      const error = await page.locator("#login-error").textContent();
      assert.match(error, /invalid|credentials|unauthorized/i, error);
      assert.equal(await page.locator("#login").isVisible(), true);
      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, "dashboard-login-error.png"), fullPage: true });
      // `<main id="dashboard" hidden>` must stay hidden until a good token is given.
      assert.equal(await page.locator("#dashboard").isVisible(), false, "the dashboard is visible before a successful login");
    } finally {
      await context.close();
    }
  });

  test("log in, watch a connection arrive, send a test event to a socket.io client, see it in the log", async () => {
    const watcher = await connect(url);
    const { page, context } = await newPage();
    try {
      await page.goto(`${url}/dashboard`);
      await page.locator("#token").fill(ADMIN_TOKEN);
      await page.locator("#login-form button[type=submit]").click();
      await page.locator("#dashboard").waitFor({ state: "visible" });
      assert.equal(await page.locator("#login").isVisible(), false);

      // The count shows the connected client, then follows one more.
      await page.waitForFunction(() => /^\d+$/.test(document.getElementById("connections").textContent.trim()), null, { timeout: POLL_MS });
      const before = await shownConnections(page);
      assert.equal(before, 1, "the watcher");
      const another = await connect(url);
      await page.waitForFunction(
        (n) => Number.parseInt(document.getElementById("connections").textContent, 10) === n,
        before + 1,
        { timeout: POLL_MS },
      );
      assert.equal(await shownConnections(page), before + 1);
      assert.match(await page.locator("#audiences").textContent(), /io-role-public\s*2/);

      // The test-event form reaches every socket.io client.
      const event = uniq("dashboard-event");
      const gotWatcher = watcher.rec.waitFor(event, () => true, POLL_MS);
      const gotAnother = another.rec.waitFor(event, () => true, POLL_MS);
      await page.locator("#test-event").fill(event);
      await page.locator("#test-data").fill('{"n": 42}');
      await page.locator("#test-form button[type=submit]").click();
      assert.deepEqual(await gotWatcher, { n: 42 });
      assert.deepEqual(await gotAnother, { n: 42 });
      await page.locator("#test-result").filter({ hasText: event }).waitFor({ timeout: POLL_MS });

      // …and shows up in the event log table.
      await page.locator("#log tbody tr", { hasText: event }).first().waitFor({ timeout: POLL_MS });
      const row = await page.locator("#log tbody tr", { hasText: event }).first().textContent();
      assert.match(row, /raw/, row);

      mkdirSync(OUTPUT, { recursive: true });
      const shot = join(OUTPUT, "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok(existsSync(shot));
      console.log(`dashboard screenshot: ${shot}`);

      // Invalid JSON in the data field is refused in the page, nothing is sent.
      await page.locator("#test-data").fill("{not json");
      await page.locator("#test-form button[type=submit]").click();
      await page.locator("#test-result").filter({ hasText: /not JSON/ }).waitFor();
      await marker(url, [watcher]);
      assert.equal(watcher.rec.count(event), 1, "the invalid form sent nothing");
    } finally {
      await context.close();
    }
  });
});
