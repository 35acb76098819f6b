// The checks of scripts/strapi-e2e.sh, run once a real Strapi 5 app (the fixture app, with
// this package installed as its `strapi-io` plugin, lifecycles on) and the gateway are up.
// Content changes go through Strapi's REST API and Document Service; official clients on
// the gateway observe the events; `strapi.$io` is called from the app's own code through
// the route /api/e2e/io/:method. Prints "N passed, N failed"; exits 1 on any failure.
//
// Env: STRAPI_URL, GATEWAY_URL (both http://127.0.0.1:…), STRAPI_LOG (the app's log file).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";
import { createChecks } from "./e2e-checks.mjs";

const STRAPI = process.env.STRAPI_URL ?? "http://127.0.0.1:1337";
const GATEWAY = process.env.GATEWAY_URL ?? "http://127.0.0.1:1338";
const OPS_TOKEN = "fixture-token-ops"; // full-access API token of the fixture (REST writes)
const DASHBOARD_TOKEN = "fixture-token-dashboard"; // read-only: hears every event
const WAIT_MS = 10_000;

const { check, finish } = createChecks("");

function bounded(promise, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), WAIT_MS))),
  ]).finally(() => clearTimeout(t));
}

async function connect(opts = {}) {
  const socket = io(GATEWAY, { transports: ["websocket"], reconnection: false, forceNew: true, ...opts });
  socket.events = [];
  socket.onAny((event, payload) => socket.events.push({ event, payload }));
  await bounded(new Promise((res, rej) => socket.once("connect", res).once("connect_error", rej)), "a socket to connect");
  return socket;
}

function waitFor(socket, event, pred = () => true) {
  const seen = socket.events.find((e) => e.event === event && pred(e.payload));
  if (seen) return Promise.resolve(seen.payload);
  return bounded(
    new Promise((res) => {
      const on = (p) => {
        if (pred(p)) {
          socket.off(event, on);
          res(p);
        }
      };
      socket.on(event, on);
    }),
    `${event} on the gateway`,
  );
}

/** Calls strapi.$io.<method>(...args) inside the Strapi app. */
async function appIo(method, ...args) {
  const res = await fetch(`${STRAPI}/api/e2e/io/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ args }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`strapi.$io.${method} answered ${res.status}: ${JSON.stringify(body)}`);
  return body.data;
}

async function rest(method, path, body) {
  const res = await fetch(`${STRAPI}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${OPS_TOKEN}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Everything sent to `socket` before now has arrived once this marker has (per-socket order). */
async function settle(socket) {
  const id = randomUUID();
  await appIo("raw", { event: "e2e:marker", data: { id } });
  await waitFor(socket, "e2e:marker", (p) => p?.id === id);
}

const count = (socket, event, pred = () => true) => socket.events.filter((e) => e.event === event && pred(e.payload)).length;

const watcher = await connect({ auth: { strategy: "api-token", token: DASHBOARD_TOKEN } });
const { id: watcherId } = await watcher.timeout(WAIT_MS).emitWithAck("whoami");

await check("the plugin's bootstrap found the gateway and forwards lifecycles", () => {
  const log = readFileSync(process.env.STRAPI_LOG, "utf8");
  assert.match(log, /\[strapi-io\] strapi\.\$io → http:\/\/127\.0\.0\.1:\d+ \(gateway ready\); forwarding document create\/update\/delete\/publish\/unpublish/);
});

await check("strapi.$io from app code: getSocketsInRoom, joinRoom, raw to the room", async () => {
  const sockets = await appIo("getSocketsInRoom", "io-token-dashboard");
  assert.ok(sockets.some((s) => s.id === watcherId), JSON.stringify(sockets));
  assert.equal(await appIo("joinRoom", watcherId, "e2e-room"), true);
  const got = waitFor(watcher, "e2e:room");
  await appIo("raw", { event: "e2e:room", rooms: ["e2e-room"], data: { ok: 1 } });
  assert.deepEqual(await got, { ok: 1 });
  assert.equal(await appIo("leaveRoom", watcherId, "e2e-room"), true);
});

let documentId;
await check("REST create → one article:create, sanitized", async () => {
  const title = `e2e ${randomUUID().slice(0, 8)}`;
  const got = waitFor(watcher, "article:create", (p) => p?.data?.title === title);
  const created = await rest("POST", "/api/articles", { data: { title, internalNotes: "must not leak" } });
  documentId = created.data.documentId;
  const p = await got;
  assert.equal(p.data.documentId, documentId);
  assert.equal("internalNotes" in p.data, false, "private attribute removed by the gateway");
  await settle(watcher);
  assert.equal(count(watcher, "article:create", (x) => x.data.documentId === documentId), 1, "exactly once");
});

await check("REST update → article:update", async () => {
  const got = waitFor(watcher, "article:update", (p) => p?.data?.documentId === documentId && p.data.title === "e2e edited");
  await rest("PUT", `/api/articles/${documentId}`, { data: { title: "e2e edited" } });
  await got;
});

await check("Document Service unpublish → article:update with publishedAt null; publish → publishedAt set", async () => {
  const rig = (action) =>
    fetch(`${STRAPI}/api/rig/document`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ uid: "api::article.article", action, documentId }),
      signal: AbortSignal.timeout(WAIT_MS),
    }).then((r) => assert.equal(r.status, 200));
  const unpublished = waitFor(watcher, "article:update", (p) => p?.data?.documentId === documentId && p.data.publishedAt === null);
  await rig("unpublish");
  await unpublished;
  const published = waitFor(watcher, "article:update", (p) => p?.data?.documentId === documentId && typeof p.data.publishedAt === "string" && p.data.title === "e2e edited");
  await rig("publish");
  await published;
});

await check("entity subscribers by documentId hear their document (subscribeToEntity from app code)", async () => {
  const sub = await appIo("subscribeToEntity", watcherId, "api::article.article", documentId);
  assert.equal(sub.success, true, JSON.stringify(sub));
  const subs = await appIo("getEntityRoomSockets", "api::article.article", documentId);
  assert.deepEqual(subs.map((s) => s.id), [watcherId]);
});

await check("REST delete → article:delete {id, documentId}", async () => {
  const got = waitFor(watcher, "article:delete", (p) => p?.data?.documentId === documentId);
  await rest("DELETE", `/api/articles/${documentId}`);
  const p = await got;
  assert.deepEqual(Object.keys(p.data).sort(), ["documentId", "id"]);
  await settle(watcher);
  assert.equal(count(watcher, "article:delete", (x) => x.data.documentId === documentId), 1, "exactly once");
});

watcher.close();
finish();
