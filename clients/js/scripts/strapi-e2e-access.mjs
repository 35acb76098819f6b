// Access follows Strapi (issue 14), beside a real Strapi 5.54 (the fixture app) and the
// gateway reading its database with the default `directory.refreshSeconds` (2 s): each change
// is made the way an administrator makes it — through Strapi's own admin API, as the admin
// panel does — and the time from the admin request to the effect on a connected socket
// (official socket.io-client) is measured. Nobody calls the gateway's invalidate route.
//
// Changes: a user blocked (Content Manager, five times, unblocked in between), a user's role
// changed (Content Manager), read permissions removed from Public (users-permissions role
// editor), an API token regenerated and another deleted (admin API tokens). Users' sockets
// carry refresh-mode access tokens signed with the fixture's JWT secret, as Strapi signs them
// (signing in through /api/auth/local this often would trip Strapi's rate limit).
//
// Env: STRAPI_URL, GATEWAY_URL, GATEWAY_ADMIN_TOKEN, ADMIN_EMAIL / ADMIN_PASSWORD (the admin
// to register or log in as). Prints a line per measurement, then "N passed, N failed"; exits
// 1 on any failure. Run last: it blocks users and deletes tokens of the app's database.

import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { io } from "socket.io-client";
import { createChecks } from "./e2e-checks.mjs";

const STRAPI = process.env.STRAPI_URL ?? "http://127.0.0.1:1337";
const GATEWAY = process.env.GATEWAY_URL ?? "http://127.0.0.1:1338";
const GATEWAY_ADMIN = process.env.GATEWAY_ADMIN_TOKEN;
const WAIT_MS = 10_000;
/** The longest any change may take to reach a socket (refreshSeconds 2 s + work). */
const LIMIT_MS = 3_000;
const USERS = "/content-manager/collection-types/plugin::users-permissions.user";

const { check, finish } = createChecks("[access] ");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const timings = {};
const record = (what, ms) => {
  (timings[what] ??= []).push(ms);
  console.log(`     ${what}: ${ms} ms`);
};

async function connect(auth) {
  const socket = io(GATEWAY, { transports: ["websocket"], reconnection: false, forceNew: true, auth });
  socket.events = [];
  socket.onAny((event, payload) => socket.events.push({ event, payload, at: Date.now() }));
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error("connect timed out")), WAIT_MS);
    socket.once("connect", () => (clearTimeout(t), res())).once("connect_error", (e) => (clearTimeout(t), rej(e)));
  });
  return socket;
}

async function http(base, method, path, { token, body } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}
const strapi = (method, path, opts) => http(STRAPI, method, path, opts);

async function adminToken() {
  const who = { email: process.env.ADMIN_EMAIL ?? "e2e-admin@example.com", password: process.env.ADMIN_PASSWORD ?? "E2e-admin-password-1" };
  try {
    return (await strapi("POST", "/admin/register-admin", { body: { ...who, firstname: "E2E", lastname: "Admin" } })).data.token;
  } catch {
    return (await strapi("POST", "/admin/login", { body: who })).data.token;
  }
}

/** A refresh-mode access token for user `id`, as Strapi issues it (fixture secret, 10 min). */
function accessToken(id) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ userId: String(id), sessionId: randomBytes(16).toString("hex"), type: "access", iat: now, exp: now + 600 })}`;
  return `${head}.${createHmac("sha256", "fixture-jwt-secret").update(head).digest("base64url")}`;
}

/** The `server-disconnect` payload and the ms from `since`, within `ms`. */
async function told(socket, since, ms = LIMIT_MS + 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const e = socket.events.find((x) => x.event === "server-disconnect" && x.at >= since);
    if (e) return { payload: e.payload, after: e.at - since };
    if (Date.now() > deadline) throw new Error(`no server-disconnect within ${ms} ms`);
    await sleep(20);
  }
}

/** Polls `probe` every 50 ms until true; the ms from `since`. */
async function until(probe, since, what, ms = LIMIT_MS + 3000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return Date.now() - since;
    if (Date.now() > deadline) throw new Error(`${what} not seen within ${ms} ms`);
    await sleep(50);
  }
}

const admin = await adminToken();
const users = (await strapi("GET", `${USERS}?page=1&pageSize=50`, { token: admin })).results;
const docOf = (username) => users.find((u) => u.username === username)?.documentId;

await check("a user blocked in the admin: their socket is told `Invalid credentials` and disconnected, 5 times", async () => {
  const reader = docOf("reader");
  assert.ok(reader, "the fixture's reader");
  for (let i = 0; i < 5; i++) {
    const socket = await connect({ token: accessToken(2) });
    const gone = new Promise((r) => socket.once("disconnect", r));
    const since = Date.now();
    await strapi("PUT", `${USERS}/${reader}`, { token: admin, body: { blocked: true } });
    const { payload, after } = await told(socket, since);
    assert.deepEqual(payload, { reason: "Invalid credentials" });
    assert.equal(await gone, "io server disconnect");
    record("user blocked → server-disconnect", after);
    assert.ok(after < LIMIT_MS, `${after} ms`);
    // Unblocked: the user may connect again as soon as the gateway sees it.
    const unblocked = Date.now();
    await strapi("PUT", `${USERS}/${reader}`, { token: admin, body: { blocked: false } });
    const back = await until(async () => {
      try {
        (await connect({ token: accessToken(2) })).close();
        return true;
      } catch {
        return false;
      }
    }, unblocked, "the unblocked reader connecting again");
    record("user unblocked → may connect again", back);
  }
});

await check("a user's role changed in the admin: the socket moves to the new audience, still connected", async () => {
  const roles = (await strapi("GET", "/users-permissions/roles", { token: admin })).roles;
  const authenticated = roles.find((r) => r.type === "authenticated");
  const socket = await connect({ token: accessToken(1) });
  const whoami = () => socket.timeout(WAIT_MS).emitWithAck("whoami");
  assert.equal((await whoami()).role, "editor");
  const since = Date.now();
  await strapi("PUT", `${USERS}/${docOf("editor")}`, {
    token: admin,
    body: { role: { connect: [{ id: authenticated.id }] } },
  });
  const after = await until(async () => (await whoami()).role === "authenticated", since, "the move");
  record("role changed → moved", after);
  assert.ok(after < LIMIT_MS, `${after} ms`);
  const rooms = (await socket.timeout(WAIT_MS).emitWithAck("get-rooms")).rooms;
  assert.ok(rooms.includes("io-role-authenticated") && !rooms.includes("io-role-editor"), rooms.join());
  assert.equal(socket.connected, true);
  socket.close();
});

await check("read access to articles removed from Public in the role editor: Public sockets stop receiving them", async () => {
  assert.ok(GATEWAY_ADMIN, "GATEWAY_ADMIN_TOKEN");
  const pub = await connect(undefined);
  const reader = await connect({ token: accessToken(2) });
  const emit = (title) =>
    http(GATEWAY, "POST", "/api/io/emit", {
      token: GATEWAY_ADMIN,
      body: { event: "create", schema: "api::article.article", data: { id: 9000, documentId: "e2eaccess", title, publishedAt: new Date().toISOString() } },
    });
  await emit("before");
  await until(() => pub.events.some((e) => e.event === "article:create" && e.payload.data.title === "before"), Date.now(), "Public's article");
  const roles = (await strapi("GET", "/users-permissions/roles", { token: admin })).roles;
  const publicRole = roles.find((r) => r.type === "public");
  const { role } = await strapi("GET", `/users-permissions/roles/${publicRole.id}`, { token: admin });
  const article = role.permissions["api::article"].controllers.article;
  assert.equal(article.find.enabled, true, "Public may find articles in the fixture");
  article.find.enabled = false;
  article.findOne.enabled = false;
  const since = Date.now();
  await strapi("PUT", `/users-permissions/roles/${publicRole.id}`, {
    token: admin,
    body: { name: role.name, description: role.description, type: role.type, permissions: role.permissions },
  });
  let n = 0;
  const after = await until(
    async () => {
      const title = `probe ${++n}`;
      await emit(title);
      await until(() => reader.events.some((e) => e.event === "article:create" && e.payload.data.title === title), Date.now(), "the reader's article", 3000);
      await sleep(100);
      return !pub.events.some((e) => e.event === "article:create" && e.payload.data.title === title);
    },
    since,
    "Public no longer receiving",
  );
  record("permission removed → routing", after);
  assert.ok(after < LIMIT_MS + 500, `${after} ms`);
  assert.equal(pub.connected, true);
  pub.close();
  reader.close();
});

await check("API tokens regenerated and deleted in the admin: their sockets are told `Invalid credentials`", async () => {
  const tokens = (await strapi("GET", "/admin/api-tokens", { token: admin })).data;
  const ops = tokens.find((t) => t.name === "ops");
  const comments = tokens.find((t) => t.name === "comments-only");
  for (const [label, token, change] of [
    ["API token regenerated", "fixture-token-ops", () => strapi("POST", `/admin/api-tokens/${ops.id}/regenerate`, { token: admin })],
    ["API token deleted", "fixture-token-comments", () => strapi("DELETE", `/admin/api-tokens/${comments.id}`, { token: admin })],
  ]) {
    const socket = await connect({ strategy: "api-token", token });
    const since = Date.now();
    await change();
    const { payload, after } = await told(socket, since);
    assert.deepEqual(payload, { reason: "Invalid credentials" });
    record(`${label} → server-disconnect`, after);
    assert.ok(after < LIMIT_MS, `${after} ms`);
  }
});

console.log(`     timings (ms): ${JSON.stringify(timings)}`);
finish();
