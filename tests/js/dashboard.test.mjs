// The dashboard (SPEC §5, issue 19, README "Dashboard"): GET /dashboard in a real browser
// (Debian's Chromium driven by playwright-core): the admin-token login, the live connection
// count and the trends, the test-event form reaching a socket.io-client, the event log saying
// who an event reached, the settings editor (the role × content type × action matrix routing
// the next event, a 422 message next to its field, the diff before saving), the socket list
// (search, disconnect) and the rooms with their members. Saves a screenshot of each view to
// tests/js/output/dashboard-<view>.png (docs/dashboard/ holds the README's copies).

import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { closeAll, connect, idOf, marker, uniq } from "./helpers/clients.mjs";
import { call, request } from "./helpers/http.mjs";
import { startServer } from "./helpers/server.mjs";
import { ADMIN_TOKEN, ARTICLE, legacyJwt } from "./helpers/strapi.mjs";
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

/** A signed-in page. */
async function signedIn() {
  const { page, context } = await newPage();
  await page.goto(`${url}/dashboard`);
  await page.locator("#token").fill(ADMIN_TOKEN);
  await page.locator("#login-form button[type=submit]").click();
  await page.locator("#dashboard").waitFor({ state: "visible" });
  return { page, context };
}

/** Opens a view by its tab. */
async function tab(page, name) {
  await page.locator(`nav button[data-view=${name}]`).click();
  await page.locator(`#view-${name}`).waitFor({ state: "visible" });
}

async function screenshot(page, name) {
  mkdirSync(OUTPUT, { recursive: true });
  const shot = join(OUTPUT, `dashboard-${name}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(existsSync(shot));
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
      await tab(page, "events");
      const event = uniq("dashboard-event");
      const gotWatcher = watcher.rec.waitFor(event, () => true, POLL_MS);
      const gotAnother = another.rec.waitFor(event, () => true, POLL_MS);
      await page.locator("#test-event").fill(event);
      await page.locator("#test-data").fill('{"n": 42}');
      await page.locator("#test-form button[type=submit]").click();
      assert.deepEqual(await gotWatcher, { n: 42 });
      assert.deepEqual(await gotAnother, { n: 42 });
      await page.locator("#test-result").filter({ hasText: event }).waitFor({ timeout: POLL_MS });

      // …and shows up in the event log table, with whom it reached.
      await page.locator("#log tbody tr", { hasText: event }).first().waitFor({ timeout: POLL_MS });
      const row = await page.locator("#log tbody tr", { hasText: event }).first().textContent();
      assert.match(row, /raw/, row);
      assert.match(row, /everyone/, row);
      assert.match(row, /2 here/, row);

      // A content event: its audiences and recipients, never an empty targets column.
      await call(url, "emit", { event: "create", schema: ARTICLE, data: { id: 5, documentId: uniq("d"), title: "t", publishedAt: "2026-01-01T00:00:00.000Z" } });
      await page.locator("#log tbody tr", { hasText: "article:create" }).first().waitFor({ timeout: POLL_MS });
      const content = await page.locator("#log tbody tr", { hasText: "article:create" }).first().textContent();
      assert.match(content, /io-role-public/, content);
      assert.match(content, /2 here/, content);
      await screenshot(page, "events");

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

  test("the matrix changes where the next event goes; a 422 is shown next to its field", async () => {
    const visitor = await connect(url);
    const reader = await connect(url, { auth: { token: legacyJwt(2) } });
    const { page, context } = await signedIn();
    try {
      await tab(page, "settings");
      const box = page.locator(`#permissions input[data-perm="public|${ARTICLE}|create"]`);
      await box.waitFor();
      assert.equal(await box.isChecked(), true, "the demo lets Public see article creations");
      await box.uncheck();
      await page.locator("#settings-review").click();
      await page.locator("#settings-diff").waitFor({ state: "visible" });
      const diff = await page.locator("#settings-diff tbody").textContent();
      assert.match(diff, /rolePermissions\.public\.contentTypes\.api::article\.article\.create/, diff);
      assert.match(diff, /truefalse/, diff);
      await screenshot(page, "settings-diff");
      await page.locator("#settings-apply").click();
      await page.locator("#settings-result").filter({ hasText: /Saved and applied: 0 socket\(s\) disconnected/ }).waitFor();

      // The next article event reaches the reader, not the visitor.
      const title = uniq("after-matrix");
      await call(url, "emit", { event: "create", schema: ARTICLE, data: { id: 6, documentId: uniq("d"), title, publishedAt: "2026-01-01T00:00:00.000Z" } });
      await reader.rec.waitFor("article:create", (d) => d.data?.title === title || d.title === title);
      await marker(url, [visitor]);
      assert.equal(visitor.rec.all("article:create").filter((d) => JSON.stringify(d).includes(title)).length, 0, "Public no longer gets it");
      const stored = (await request(url, "/api/io/settings")).body.data;
      assert.equal(stored.rolePermissions.public.contentTypes[ARTICLE].create, false);

      // A value the server refuses: its message next to the field, nothing saved.
      await page.locator('[data-path="connection.pingInterval"]').fill("-5");
      await page.locator("#settings-review").click();
      await page.locator("#settings-apply").click();
      const error = page.locator('[data-error-for="connection.pingInterval"]');
      await error.filter({ hasText: /\S/ }).waitFor();
      assert.match(await error.textContent(), /whole number/, await error.textContent());
      assert.match(await page.locator("#settings-result").textContent(), /Invalid settings/);
      assert.equal((await request(url, "/api/io/settings")).body.data.connection.pingInterval, stored.connection.pingInterval);
      await screenshot(page, "settings-422");

      // Put the permission back for the other tests.
      await page.locator("#settings-reset").click();
      await page.locator(`#permissions input[data-perm="public|${ARTICLE}|create"]`).check();
      await page.locator("#settings-review").click();
      await page.locator("#settings-apply").click();
      await page.locator("#settings-result").filter({ hasText: /Saved and applied/ }).waitFor();
      assert.equal((await request(url, "/api/io/settings")).body.data.rolePermissions.public.contentTypes[ARTICLE].create, true);
    } finally {
      await context.close();
    }
  });

  test("the socket list finds a socket and disconnects it; a room shows its members", async () => {
    const target = await connect(url, { auth: { token: legacyJwt(2) } });
    const id = await idOf(target);
    const room = uniq("lobby");
    await call(url, "joinRoom", { socketId: id, roomName: room });
    const { page, context } = await signedIn();
    try {
      await tab(page, "rooms");
      await page.locator("#room-search").fill(room);
      const roomRow = page.locator("#rooms tbody tr", { hasText: room });
      await roomRow.waitFor();
      assert.match(await roomRow.textContent(), /room\/1/, await roomRow.textContent());
      await screenshot(page, "rooms");
      await roomRow.locator("a[data-room]").click();
      await page.locator("#view-sockets").waitFor({ state: "visible" });
      await page.locator(`#sockets tr[data-socket="${id}"]`).waitFor();
      assert.equal(await page.locator("#sockets tbody tr").count(), 1, "only the room's members");

      await page.locator("#socket-room-filter a").click();
      await page.locator("#socket-search").fill("reader@example");
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll("#sockets tbody tr")];
        return rows.length > 0 && rows.every((r) => r.textContent.includes("reader@example.com"));
      }, null, { timeout: POLL_MS });
      const row = page.locator(`#sockets tr[data-socket="${id}"]`);
      await row.waitFor();
      const text = await row.textContent();
      assert.match(text, /reader \(reader@example\.com, id 2\)/, text);
      assert.match(text, /io-role-authenticated/, text);
      assert.match(text, /websocket/, text);
      assert.match(text, /127\.0\.0\.1/, text);
      await screenshot(page, "sockets");
      const gone = new Promise((res) => target.once("disconnect", res));
      await row.locator("button[data-action=disconnect]").click();
      await gone;
      await page.locator("#socket-result").filter({ hasText: `disconnected ${id}` }).waitFor();
      await page.locator(`#sockets tr[data-socket="${id}"]`).waitFor({ state: "detached" });
    } finally {
      await context.close();
    }
  });

  test("the overview draws the trends of the last hour", async () => {
    await connect(url);
    const { page, context } = await signedIn();
    try {
      assert.equal(await page.locator("#charts section[data-chart]").count(), 5);
      // The first sample comes one interval (10 s) after the gateway started.
      await page.locator("#trends-note").filter({ hasText: /[1-9]\d* so far/ }).waitFor({ timeout: 20_000 });
      await page.locator("#charts svg polyline, #charts svg circle").first().waitFor({ state: "attached", timeout: POLL_MS });
      const legend = await page.locator('#charts section[data-chart="Connections"] .legend').textContent();
      assert.match(legend, /connections: \d+/, legend);
      await screenshot(page, "overview");
    } finally {
      await context.close();
    }
  });
});
