// The session checks of scripts/strapi-e2e.sh, against the real Strapi 5 fixture app in
// users-permissions refresh mode (httpOnly refresh cookie; access tokens shortened to
// ACCESS_TOKEN_LIFESPAN seconds through sessions.accessTokenLifespan) and the gateway on its
// database: the fixture's reader logs in, connects through connectWithSession with
// strapiRefresh, and stays connected past its access token's expiry (refresh-token with a
// token Strapi renewed); it hears a content event afterwards; after a disconnection that
// outlives the token, the next handshake renews it first. Prints "N passed, N failed".
//
// Env: STRAPI_URL, GATEWAY_URL, ACCESS_TOKEN_LIFESPAN (seconds, as Strapi was started with).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import { connectWithSession, jwtExpiresAt, strapiRefresh } from "@strapi-io/client/session";
import { createChecks } from "./e2e-checks.mjs";

const STRAPI = process.env.STRAPI_URL ?? "http://127.0.0.1:1337";
const GATEWAY = process.env.GATEWAY_URL ?? "http://127.0.0.1:1338";
const LIFESPAN = Number(process.env.ACCESS_TOKEN_LIFESPAN ?? 20);
const OPS_TOKEN = "fixture-token-ops";
const WAIT_MS = 10_000;

const { check, finish } = createChecks("[session] ");

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

async function until(pred, ms, what) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
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

let login;
await check(`the reader logs in: a ${LIFESPAN} s access token, the refresh token in the httpOnly cookie only`, async () => {
  const res = await fetch(`${STRAPI}/api/auth/local`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ identifier: "reader", password: "ReaderPass1!" }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  const c = claims(body.jwt);
  assert.deepEqual([c.type, c.userId, c.exp - c.iat], ["access", "2", LIFESPAN]);
  assert.equal(body.refreshToken, undefined, "httpOnly mode: not in the body");
  const cookie = res.headers.getSetCookie().find((line) => line.startsWith("strapi_up_refresh="));
  assert.ok(cookie, `no strapi_up_refresh cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  assert.match(cookie, /httponly/i);
  login = { jwt: body.jwt, refreshToken: cookie.slice("strapi_up_refresh=".length).split(";")[0] };
});
if (!login) finish();

const state = { errors: [], tokens: [], rotated: [], connects: 0, events: [] };
const session = connectWithSession({
  io,
  url: GATEWAY,
  jwt: login.jwt,
  refresh: strapiRefresh({ url: STRAPI, refreshToken: login.refreshToken, onRefreshToken: (t) => state.rotated.push(t) }),
  socketOptions: { transports: ["websocket"], reconnectionDelay: 200, reconnectionDelayMax: 1000 },
  onError: (e) => state.errors.push(e),
  onToken: (t) => state.tokens.push(t),
});
const socket = session.socket;
socket.on("connect", () => (state.connects += 1));
socket.onAny((event, payload) => state.events.push({ event, payload }));
const errors = () => state.errors.map((e) => `${e.code}: ${e.message}`);

await check("connectWithSession + strapiRefresh: connected as the reader", async () => {
  await until(() => socket.connected, WAIT_MS, "the socket to connect");
  const me = await socket.timeout(WAIT_MS).emitWithAck("whoami");
  assert.deepEqual([me.success, me.user?.id, me.role], [true, 2, "authenticated"]);
});

await check("past the first access token's exp: the same connection, on a token Strapi renewed (refresh-token)", async () => {
  const exp = jwtExpiresAt(login.jwt);
  await sleep(Math.max(0, exp + 3000 - Date.now()));
  assert.equal(socket.connected, true, `disconnected; errors: ${JSON.stringify(errors())}`);
  assert.equal(state.connects, 1, "no reconnection");
  assert.deepEqual(errors(), []);
  assert.ok(state.tokens.length >= 1, "Strapi renewed the token");
  const current = session.token();
  assert.notEqual(current, login.jwt);
  assert.equal(claims(current).userId, "2");
  assert.ok(jwtExpiresAt(current) > exp, "a later exp");
  assert.ok(state.rotated.length >= 1, "each refresh rotated the refresh token (read from Set-Cookie)");
  assert.notEqual(state.rotated.at(-1), login.refreshToken);
  assert.equal(state.events.filter((e) => e.event === "server-disconnect").length, 0);
});

await check("the renewed session hears a content event (REST create → article:create)", async () => {
  const title = `session ${randomUUID().slice(0, 8)}`;
  const created = await rest("POST", "/api/articles", { data: { title } });
  try {
    await until(() => state.events.some((e) => e.event === "article:create" && e.payload?.data?.title === title), WAIT_MS, "article:create");
    assert.equal(socket.connected, true);
    assert.equal(state.connects, 1);
  } finally {
    await rest("DELETE", `/api/articles/${created.data.documentId}`);
  }
});

await check("disconnected past the token's exp: the next handshake renews it first", async () => {
  socket.disconnect();
  const held = session.token();
  await sleep(Math.max(0, jwtExpiresAt(held) + 1000 - Date.now()));
  const renewals = state.tokens.length;
  socket.connect();
  await until(() => socket.connected, WAIT_MS, "the socket to connect again");
  assert.equal(state.tokens.length, renewals + 1, "one renewal, before the handshake");
  assert.notEqual(session.token(), held);
  const me = await socket.timeout(WAIT_MS).emitWithAck("whoami");
  assert.equal(me.user?.id, 2);
  assert.deepEqual(errors(), []);
});

session.close();
finish();
