// The README's dashboard screenshots (docs/dashboard/*.png), taken from a gateway with some
// traffic: `node tests/js/scripts/dashboard-screenshots.mjs [minutes=3]` (needs the release
// binary and Chromium, as tests/js/dashboard.test.mjs). It starts the demo gateway, connects
// 40 clients (readers and visitors), sends a few events a second, refuses some handshakes,
// waits for the trends to fill, and saves one screenshot per view. Stops by itself.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { closeAll, connect, connectError, idOf, uniq } from "../helpers/clients.mjs";
import { call } from "../helpers/http.mjs";
import { startServer } from "../helpers/server.mjs";
import { ADMIN_TOKEN, ARTICLE, REPO, legacyJwt } from "../helpers/strapi.mjs";

const minutes = Number(process.argv[2] ?? "3");
const OUT = join(REPO, "docs", "dashboard");
mkdirSync(OUT, { recursive: true });
const server = await startServer();
const url = server.url;
const clients = [];
for (let i = 0; i < 40; i++) {
  clients.push(await connect(url, i % 3 === 0 ? { auth: { token: legacyJwt(2) } } : {}));
}
const lobby = "lobby";
for (const c of clients.slice(0, 12)) await call(url, "joinRoom", { socketId: await idOf(c), roomName: lobby });
for (const c of clients.slice(0, 5)) await c.timeout(5000).emitWithAck("subscribe-entity", { uid: ARTICLE, id: 1 });
const until = Date.now() + minutes * 60_000;
let n = 0;
while (Date.now() < until) {
  n++;
  await call(url, "emit", { event: n % 5 ? "update" : "create", schema: ARTICLE, data: { id: 1 + (n % 3), documentId: `doc-${n % 3}`, title: `Post ${n}`, publishedAt: "2026-01-01T00:00:00.000Z" } });
  if (n % 4 === 0) await call(url, "raw", { event: "lobby-news", rooms: [lobby], data: { n } });
  if (n % 15 === 0) await connectError(url, { auth: { token: "not-a-jwt" } });
  if (n % 40 === 0) await connectError(url, { auth: { token: legacyJwt(3) } });
  await new Promise((r) => setTimeout(r, Math.random() < 0.5 ? 150 : 400));
}
const browser = await chromium.launch({ executablePath: process.env.STRAPI_IO_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--headless", "--disable-gpu"] });
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
await page.goto(`${url}/dashboard`);
await page.locator("#token").fill(ADMIN_TOKEN);
await page.locator("#login-form button[type=submit]").click();
await page.locator("#charts polyline").first().waitFor({ state: "attached" });
await page.screenshot({ path: join(OUT, "overview.png"), fullPage: true });
for (const view of ["sockets", "rooms", "events"]) {
  await page.locator(`nav button[data-view=${view}]`).click();
  await page.waitForTimeout(800);
  await page.screenshot({ path: join(OUT, `${view}.png`), fullPage: view !== "sockets" });
}
await page.locator("nav button[data-view=settings]").click();
await page.locator("#permissions").waitFor();
await page.locator(`#permissions input[data-perm="public|${ARTICLE}|update"]`).uncheck();
await page.locator('[data-path="connection.maxConnections"]').fill("5000");
await page.locator("#settings-review").click();
await page.locator("#settings-diff").waitFor({ state: "visible" });
await page.screenshot({ path: join(OUT, "settings-diff.png") });
await page.locator("#settings-cancel").click();
await page.locator('[data-path="connection.pingInterval"]').fill("-5");
await page.locator("#settings-review").click();
await page.locator("#settings-apply").click();
await page.locator('[data-error-for="connection.pingInterval"]').filter({ hasText: /\S/ }).waitFor();
await page.locator('[data-path="connection.pingInterval"]').scrollIntoViewIfNeeded();
await page.screenshot({ path: join(OUT, "settings-422.png") });
await browser.close();
closeAll();
await server.stop();
console.log(`screenshots in ${OUT} (${n} emits over ${minutes} min)`);
