// connectWithSession and strapiRefresh (@strapi-io/client/session) with the official
// socket.io-client against the real gateway: a socket whose JWT is short-lived stays
// connected (refresh-token before exp), comes back after the gateway restarted once its token
// expired, renews after an expiry refusal or disconnection, reports what it must not retry,
// stays bounded when renewal keeps failing, and leaves nothing running after close().
// strapiRefresh is driven against a small stand-in for Strapi 5's POST /api/auth/refresh
// (the real one is exercised by scripts/strapi-e2e.sh). Also createRemoteIo's invalidate().
// Waits on time itself (a token's expiry) are sleeps; every other wait is an awaited event,
// and all of them are bounded.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import {
  RemoteIoGatewayError,
  StrapiRefreshError,
  StrapiSessionError,
  connectWithSession,
  createRemoteIo,
  jwtExpiresAt,
  strapiRefresh,
} from "@strapi-io/client";
import { freePort, startServer } from "../../../tests/js/helpers/server.mjs";
import { Recorder, ack, uniq } from "../../../tests/js/helpers/sockets.mjs";
import { ADMIN_TOKEN, accessJwt } from "../../../tests/js/helpers/strapi.mjs";
import { WAIT_MS, withTimeout } from "../../../tests/js/helpers/wait.mjs";
import { claimsOf, sleep } from "./helpers.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGE_DIR = resolve(HERE, "..");
const REPO = resolve(HERE, "../../..");

const unhandled = [];
process.on("unhandledRejection", (e) => unhandled.push(e));

const SOCKET_OPTIONS = { transports: ["websocket"], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 300 };

/** Polls `pred` every 20 ms until it holds, at most `ms`. */
async function until(pred, ms = WAIT_MS, what = "a condition") {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Sleeps until `jwt`'s exp has passed by `marginMs`. */
const pastExpiry = (jwt, marginMs = 700) => sleep(Math.max(0, jwtExpiresAt(jwt) + marginMs - Date.now()));

const sessions = new Set();

/**
 * A session with the official client, recording what it reports and what its socket lives
 * through; `refresh` is wrapped to count calls.
 */
function open(url, { refresh, ...options } = {}) {
  const state = { errors: [], tokens: [], refreshCalls: 0, connects: 0, disconnects: [] };
  const session = connectWithSession({
    io,
    url,
    socketOptions: SOCKET_OPTIONS,
    ...(refresh
      ? {
          refresh: async () => {
            state.refreshCalls += 1;
            return refresh(state.refreshCalls);
          },
        }
      : {}),
    onError: (e) => state.errors.push(e),
    onToken: (t) => state.tokens.push(t),
    ...options,
  });
  sessions.add(session);
  const socket = session.socket;
  socket.rec = new Recorder(socket);
  socket.on("connect", () => (state.connects += 1));
  socket.on("disconnect", (reason) => state.disconnects.push(reason));
  return { session, socket, state };
}

const connected = (s, n = 1, ms = WAIT_MS) => until(() => s.state.connects >= n && s.socket.connected, ms, `connection #${n}`);

/** Sends a unique raw event to every socket and waits until `socket` has it. */
async function hears(remote, socket) {
  const event = uniq("session-event");
  const got = socket.rec.waitFor(event);
  await remote.raw({ event, data: { ok: true } });
  assert.deepEqual(await got, { ok: true });
}

const codes = (state) => state.errors.map((e) => e.code);

after(() => {
  for (const s of sessions) s.close();
});

describe("connectWithSession against the gateway", () => {
  let gateway;
  let remote;

  before(async () => {
    gateway = await startServer();
    remote = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN, timeoutMs: WAIT_MS });
  });
  after(async () => {
    for (const s of sessions) s.close();
    await gateway?.stop();
  });

  test("refresh-token before exp: a socket signed in with a 3 s JWT stays on the same connection past exp", async () => {
    const jwt = accessJwt(2, { ttl: 3 });
    const s = open(gateway.url, { jwt, refresh: () => accessJwt(2, { ttl: 3 }) });
    await connected(s);
    const firstId = s.socket.id;

    await pastExpiry(jwt, 1500);
    assert.equal(s.socket.connected, true, `disconnected: ${JSON.stringify(s.state.disconnects)}`);
    assert.equal(s.state.connects, 1, "no reconnection: the open connection got the new token");
    assert.equal(s.socket.id, firstId);
    assert.deepEqual(s.state.disconnects, []);
    assert.equal(s.socket.rec.count("server-disconnect"), 0);
    assert.ok(s.state.refreshCalls >= 1, "renewed before exp");
    assert.notEqual(s.session.token(), jwt);
    assert.ok(jwtExpiresAt(s.session.token()) > jwtExpiresAt(jwt));
    assert.deepEqual(s.state.tokens.at(-1), s.session.token(), "onToken heard the newest token");
    assert.deepEqual(codes(s.state), []);
    const me = await ack(s.socket, "whoami");
    assert.equal(me.user?.id, 2);
    await hears(remote, s.socket);
  });

  test("the gateway finds the token expired at the handshake (a client clock behind): refresh, connect again", async () => {
    // Strapi's first renewed token is already expired too, as the gateway's clock sees it.
    const s = open(gateway.url, {
      jwt: accessJwt(2, { ttl: -30 }),
      refresh: (n) => accessJwt(2, { ttl: n === 1 ? -5 : 600 }),
    });
    await connected(s);
    assert.equal(s.state.refreshCalls, 2, "one renewal before the handshake, one after its refusal");
    assert.equal(claimsOf(s.session.token()).exp - claimsOf(s.session.token()).iat, 600);
    assert.deepEqual(codes(s.state), [], "a refusal the session recovered from is not an error");
    await hears(remote, s.socket);
  });

  test("refresh() throws until the gateway disconnects at exp: reported, then renewed and reconnected", async () => {
    let failing = true;
    const jwt = accessJwt(2, { ttl: 3 });
    const s = open(gateway.url, {
      jwt,
      retry: { attempts: 3, delayMs: 200, maxDelayMs: 400 },
      refresh: () => {
        if (failing) throw new Error("Strapi is restarting");
        return accessJwt(2, { ttl: 600 });
      },
    });
    // Strapi is back as soon as the gateway has ended the connection for the expiry.
    s.socket.on("server-disconnect", () => (failing = false));
    await connected(s);
    const reason = await s.socket.rec.waitFor("server-disconnect", () => true, 6000);
    assert.deepEqual(reason, { reason: "Token expired" });
    await connected(s, 2);
    assert.ok(s.state.errors.length >= 1);
    for (const e of s.state.errors) {
      assert.ok(e instanceof StrapiSessionError);
      assert.equal(e.code, "refresh-failed");
      assert.equal(e.final, false);
      assert.match(e.message, /Strapi is restarting/);
      assert.equal(e.cause?.message, "Strapi is restarting");
    }
    assert.equal(jwtExpiresAt(s.session.token()) - Date.now() > 500_000, true, "the new connection carries the renewed token");
    await hears(remote, s.socket);
  });

  test("refresh() that always throws: onError each time, no crash, a bounded number of tries, then gave-up", async () => {
    const s = open(gateway.url, {
      jwt: accessJwt(2, { ttl: 3 }),
      retry: { attempts: 2, delayMs: 100, maxDelayMs: 200 },
      refresh: () => {
        throw new Error("refresh endpoint down");
      },
    });
    await connected(s);
    await until(() => s.state.errors.some((e) => e.code === "gave-up"), 10_000, "the session to give up");
    const gaveUp = s.state.errors.find((e) => e.code === "gave-up");
    assert.equal(gaveUp.final, true);
    assert.equal(gaveUp.reason, "Token expired");
    assert.equal(s.socket.connected, false);
    assert.ok(codes(s.state).slice(0, -1).every((c) => c === "refresh-failed"), codes(s.state).join());
    const calls = s.state.refreshCalls;
    // While connected: from half the lifetime to exp, backing off (≤ 200 ms); after exp: 2 tries.
    assert.ok(calls >= 3 && calls <= 14, `refresh called ${calls} times`);
    await sleep(1000);
    assert.equal(s.state.refreshCalls, calls, "nothing more after giving up");
    assert.equal(s.socket.connected, false);
  });

  test("the handshake refused with Token expired and no refresh function: reported once, no retry", async () => {
    const s = open(gateway.url, { jwt: accessJwt(2, { ttl: -10 }) });
    await until(() => s.state.errors.length > 0, WAIT_MS, "the refusal");
    await sleep(300);
    assert.deepEqual(codes(s.state), ["connect-refused"]);
    assert.equal(s.state.errors[0].reason, "Token expired");
    assert.equal(s.state.errors[0].final, true);
    assert.equal(s.socket.connected, false);
    assert.equal(s.socket.active, false, "socket.io-client does not retry a refusal");
  });

  test("a bad token is refused with Invalid credentials: reported, never renewed", async () => {
    const s = open(gateway.url, { jwt: accessJwt(2, { ttl: 600, secret: "another-secret" }), refresh: () => accessJwt(2) });
    await until(() => s.state.errors.length > 0, WAIT_MS, "the refusal");
    assert.deepEqual(codes(s.state), ["connect-refused"]);
    assert.equal(s.state.errors[0].reason, "Invalid credentials");
    assert.equal(s.state.refreshCalls, 0);
  });

  test("server-disconnect for another reason: reported, not reconnected", async () => {
    const s = open(gateway.url, { jwt: accessJwt(2, { ttl: 600 }), refresh: () => accessJwt(2, { ttl: 600 }) });
    await connected(s);
    const { id } = await ack(s.socket, "whoami");
    assert.equal(await remote.disconnectSocket(id, "Violation of terms of service"), true);
    await until(() => s.state.errors.length > 0, WAIT_MS, "the report");
    await sleep(500);
    assert.deepEqual(codes(s.state), ["server-disconnect"]);
    assert.equal(s.state.errors[0].reason, "Violation of terms of service");
    assert.equal(s.state.errors[0].final, true);
    assert.equal(s.socket.connected, false);
    assert.equal(s.state.connects, 1);
    assert.equal(s.state.refreshCalls, 0);
  });

  test("a failing onError or onToken hook does not stop the session", async () => {
    const jwt = accessJwt(2, { ttl: -10 });
    const s = open(gateway.url, {
      jwt,
      refresh: () => accessJwt(2, { ttl: 600 }),
      onToken: () => {
        throw new Error("hook bug");
      },
    });
    await connected(s);
    assert.notEqual(s.session.token(), jwt);
  });
});

describe("the gateway restarted on the same port after the token expired", () => {
  test("the client is connected again with a renewed token and hears the next event", async () => {
    const port = await freePort();
    let gateway = await startServer({ port });
    try {
      const jwt = accessJwt(2, { ttl: 3 });
      // Renewal is due 0.5 s before exp: the gateway is gone by then.
      const s = open(gateway.url, { jwt, refreshBeforeMs: 500, refresh: () => accessJwt(2, { ttl: 600 }) });
      await connected(s);
      await gateway.stop();
      await until(() => !s.socket.connected, WAIT_MS, "the socket to see the gateway gone");
      await pastExpiry(jwt);
      assert.equal(s.state.refreshCalls, 0, "nothing was renewed while the gateway was down");

      gateway = await startServer({ port });
      await connected(s, 2, 10_000);
      assert.equal(s.state.refreshCalls, 1, "renewed once, at the handshake");
      assert.notEqual(s.session.token(), jwt);
      assert.equal(claimsOf(s.session.token()).userId, "2");
      assert.deepEqual(codes(s.state), [], "the outage itself is not reported: socket.io-client reconnects by itself");
      assert.equal((await ack(s.socket, "whoami")).user?.id, 2);
      await hears(createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN, timeoutMs: WAIT_MS }), s.socket);
    } finally {
      await gateway.stop();
    }
  });
});

describe("close()", () => {
  let gateway;
  before(async () => {
    gateway = await startServer();
  });
  after(() => gateway?.stop());

  test("leaves no timer behind: a process whose sessions wait on a refresh and on a retry exits by itself", async () => {
    // Session A's refresh never settles (its 60 s bound is a pending timer); session B's
    // refresh throws and its retry waits 1.5 s. Both are closed mid-way.
    const script = `
      import { io } from "socket.io-client";
      import { connectWithSession } from "@strapi-io/client/session";
      const [url, jwtA, jwtB] = process.argv.slice(1);
      const opts = { io, url, socketOptions: { transports: ["websocket"], forceNew: true } };
      let started = false;
      let failed = false;
      const a = connectWithSession({ ...opts, jwt: jwtA, refreshTimeoutMs: 60000, refresh: () => { started = true; return new Promise(() => {}); } });
      const b = connectWithSession({ ...opts, jwt: jwtB, retry: { delayMs: 1500 }, onError: () => { failed = true; }, refresh: async () => { throw new Error("down"); } });
      await new Promise((res) => a.socket.once("connect", res));
      await new Promise((res) => (b.socket.connected ? res() : b.socket.once("connect", res)));
      while (!(started && failed)) await new Promise((res) => setTimeout(res, 20));
      a.close();
      b.close();
      console.log("closed", a.closed, b.closed, a.socket.connected, b.socket.connected);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, gateway.url, accessJwt(2, { ttl: 4 }), accessJwt(2, { ttl: 4 })], {
      cwd: PACKAGE_DIR,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
    const exited = new Promise((res) => child.once("exit", (code) => res(code)));
    try {
      const code = await withTimeout(exited, 10_000, "the process to exit after close()");
      assert.equal(code, 0, err);
      assert.equal(out.trim(), "closed true true false false");
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("close() twice is harmless; a closed session reports nothing more", async () => {
    const s = open(gateway.url, { jwt: accessJwt(2, { ttl: 600 }) });
    await connected(s);
    s.session.close();
    s.session.close();
    assert.equal(s.session.closed, true);
    assert.equal(s.socket.connected, false);
    await sleep(200);
    assert.deepEqual(codes(s.state), []);
  });
});

// ---------------------------------------------------------------------------------------
// strapiRefresh

/**
 * A stand-in for Strapi 5's `POST /api/auth/refresh` in refresh mode (users-permissions
 * 5.54, read in its source): the refresh token from the `strapi_up_refresh` cookie, else from
 * `{refreshToken}`; each use rotates it (the used one is spent); `{jwt, refreshToken}`, or
 * with `httpOnly` `{jwt}` and the new token in Set-Cookie; 400 without a token, 401 for a
 * spent or unknown one. Access tokens are signed with the demo secret, so the gateway
 * accepts them.
 */
async function fakeStrapi({ httpOnly = false, ttl = 600 } = {}) {
  const tokens = new Map();
  const seen = [];
  const issue = (userId) => {
    const token = `refresh-${randomUUID()}`;
    tokens.set(token, { userId, active: true });
    return token;
  };
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString();
    seen.push({ url: req.url, cookie: req.headers.cookie, body: raw });
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    const refuse = (status, name, message) => send(status, { data: null, error: { status, name, message, details: {} } });
    if (req.method !== "POST" || req.url !== "/api/auth/refresh") return refuse(404, "NotFoundError", "Not Found");
    let body = {};
    try {
      body = JSON.parse(raw || "{}");
    } catch {}
    const cookie = /(?:^|;\s*)strapi_up_refresh=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    const token = cookie ?? body.refreshToken;
    if (typeof token !== "string") return refuse(400, "BadRequestError", "Missing refresh token");
    const entry = tokens.get(token);
    if (!entry?.active) return refuse(401, "UnauthorizedError", "Invalid refresh token");
    entry.active = false;
    const next = issue(entry.userId);
    const jwt = accessJwt(entry.userId, { ttl });
    if (httpOnly) {
      return send(200, { jwt }, {
        "set-cookie": [`strapi_up_refresh=${next}; path=/; samesite=lax; httponly`, "strapi_up_refresh.sig=x; path=/; samesite=lax; httponly"],
      });
    }
    send(200, { jwt, refreshToken: next });
  });
  await new Promise((res) => server.listen(0, "127.0.0.1", res));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    issue,
    seen,
    close: () => new Promise((res) => server.close(res)),
  };
}

describe("strapiRefresh", () => {
  let strapi;
  let strapiHttpOnly;
  let gateway;
  before(async () => {
    [strapi, strapiHttpOnly, gateway] = await Promise.all([fakeStrapi(), fakeStrapi({ httpOnly: true }), startServer()]);
  });
  after(async () => {
    for (const s of sessions) s.close();
    await Promise.all([strapi?.close(), strapiHttpOnly?.close(), gateway?.stop()]);
  });

  test("{refreshToken} in the body; each answer's rotated token is used next and handed to onRefreshToken", async () => {
    const rotated = [];
    const refresh = strapiRefresh({ url: `${strapi.url}/`, refreshToken: strapi.issue(2), onRefreshToken: (t) => rotated.push(t) });
    const first = strapi.seen.length;
    const jwts = [await refresh(), await refresh(), await refresh()];
    assert.equal(new Set(jwts).size, 3);
    for (const jwt of jwts) assert.equal(claimsOf(jwt).userId, "2");
    assert.equal(rotated.length, 3);
    const sent = strapi.seen.slice(first).map((r) => JSON.parse(r.body).refreshToken);
    assert.deepEqual(sent.slice(1), rotated.slice(0, 2), "each call sent the token the previous one rotated to");
    assert.equal(strapi.seen.at(-1).url, "/api/auth/refresh");
  });

  test("Strapi's httpOnly mode answering a token sent in the body: the rotated token is read from Set-Cookie", async () => {
    const rotated = [];
    const refresh = strapiRefresh({ url: strapiHttpOnly.url, refreshToken: strapiHttpOnly.issue(2), onRefreshToken: (t) => rotated.push(t) });
    await refresh();
    await refresh();
    assert.equal(rotated.length, 2);
    assert.match(rotated[0], /^refresh-/);
  });

  test("concurrent calls share one request", async () => {
    const refresh = strapiRefresh({ url: strapi.url, refreshToken: strapi.issue(2) });
    const first = strapi.seen.length;
    const [a, b] = await Promise.all([refresh(), refresh()]);
    assert.equal(a, b);
    assert.equal(strapi.seen.length - first, 1);
  });

  test("without a refresh token: cookie mode, an empty body (Strapi answers 400 when no cookie comes)", async () => {
    const refresh = strapiRefresh({ url: strapi.url });
    const error = await refresh().then(() => assert.fail("resolved"), (e) => e);
    assert.equal(strapi.seen.at(-1).body, "{}");
    assert.ok(error instanceof StrapiRefreshError);
    assert.equal(error.status, 400);
    assert.match(error.message, /Missing refresh token/);
    assert.equal(error.retryable, false);
  });

  test("Strapi's refusals and unreachable Strapi: StrapiRefreshError with status, name, retryable", async () => {
    const spent = strapi.issue(2);
    await strapiRefresh({ url: strapi.url, refreshToken: spent })();
    const e401 = await strapiRefresh({ url: strapi.url, refreshToken: spent })().catch((e) => e);
    assert.ok(e401 instanceof StrapiRefreshError);
    assert.deepEqual([e401.status, e401.name, e401.retryable], [401, "UnauthorizedError", false]);
    assert.match(e401.message, /Invalid refresh token/);

    const e404 = await strapiRefresh({ url: `${strapi.url}/elsewhere`, refreshToken: "r" })().catch((e) => e);
    assert.equal(e404.status, 404);
    assert.match(e404.message, /jwtManagement 'refresh'/);

    const down = await strapiRefresh({ url: `http://127.0.0.1:${await freePort()}`, refreshToken: "r" })().catch((e) => e);
    assert.ok(down instanceof StrapiRefreshError);
    assert.deepEqual([down.status, down.name, down.retryable], [503, "NetworkError", true]);

    assert.throws(() => strapiRefresh({ refreshToken: "r" }), /strapiRefresh: `url` is required/);
  });

  test("with connectWithSession: an expired JWT is renewed through Strapi before the handshake", async () => {
    const s = open(gateway.url, { jwt: accessJwt(2, { ttl: -60 }), refresh: strapiRefresh({ url: strapi.url, refreshToken: strapi.issue(2) }) });
    await connected(s);
    assert.equal(claimsOf(s.session.token()).userId, "2");
    assert.ok(jwtExpiresAt(s.session.token()) > Date.now());
    assert.deepEqual(codes(s.state), []);
  });

  test("with connectWithSession: a session Strapi ended (401) gives up at once, without backing off", async () => {
    const spent = strapi.issue(2);
    await strapiRefresh({ url: strapi.url, refreshToken: spent })();
    const before = strapi.seen.length;
    const s = open(gateway.url, {
      jwt: accessJwt(2, { ttl: -60 }),
      retry: { attempts: 5, delayMs: 2000 },
      refresh: strapiRefresh({ url: strapi.url, refreshToken: spent }),
    });
    await until(() => s.state.errors.some((e) => e.final), WAIT_MS, "the session to give up");
    // One try before the handshake, one after its refusal; no backoff round (2 s) waited.
    assert.deepEqual(codes(s.state), ["refresh-failed", "refresh-failed", "gave-up"]);
    assert.equal(strapi.seen.length - before, 2);
    assert.equal(s.state.errors[0].cause.status, 401);
    assert.equal(s.socket.connected, false);
  });
});

describe("options", () => {
  test("invalid options throw a TypeError naming the option", () => {
    const base = { io, url: "http://127.0.0.1:1", jwt: "a.b.c", socketOptions: { autoConnect: false } };
    assert.throws(() => connectWithSession({ ...base, io: undefined }), /`io` is required/);
    assert.throws(() => connectWithSession({ ...base, jwt: "" }), /`jwt` is required/);
    assert.throws(() => connectWithSession({ ...base, socketOptions: { auth: { token: "x" } } }), /socketOptions\.auth/);
    assert.throws(() => connectWithSession({ ...base, refresh: "yes" }), /`refresh` must be a function/);
    assert.throws(() => connectWithSession({ ...base, retry: { attempts: 0 } }), /retry\.attempts/);
    assert.throws(() => connectWithSession({ ...base, refreshBeforeMs: -1 }), /refreshBeforeMs/);
  });

  test("jwtExpiresAt reads exp (ms) without verifying; undefined for what is not a JWT", () => {
    const jwt = accessJwt(2, { ttl: 60 });
    assert.equal(jwtExpiresAt(jwt), claimsOf(jwt).exp * 1000);
    assert.equal(jwtExpiresAt("not-a-jwt"), undefined);
    assert.equal(jwtExpiresAt(`x.${Buffer.from('{"sub":1}').toString("base64url")}.y`), undefined);
  });
});

// ---------------------------------------------------------------------------------------
// createRemoteIo(...).invalidate()

describe("invalidate()", () => {
  test("the static directory (the demo) has no cache: 400 ValidationError; a wrong admin token: 401", async () => {
    const gateway = await startServer();
    try {
      const error = await createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN }).invalidate().catch((e) => e);
      assert.ok(error instanceof RemoteIoGatewayError, String(error));
      assert.deepEqual([error.status, error.name, error.httpStatus, error.method], [400, "ValidationError", 400, "invalidate"]);
      assert.equal(error.message, "The static directory has no cache: it reads the config file");
      const wrong = await createRemoteIo({ url: gateway.url, adminToken: "wrong" }).invalidate().catch((e) => e);
      assert.deepEqual([wrong.status, wrong.name], [401, "UnauthorizedError"]);
    } finally {
      await gateway.stop();
    }
  });

  test("the strapi directory (a copy of a Strapi 5.54 database): { invalidated: true }", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strapi-io-client-db-"));
    const db = join(dir, "data.db");
    copyFileSync(join(REPO, "crates/strapi-io/tests/fixtures/strapi5.db"), db);
    const gateway = await startServer({
      env: {
        STRAPI_IO_DIRECTORY: "strapi",
        STRAPI_IO_DATABASE_URL: `sqlite://${db}`,
        STRAPI_IO_STRAPI_PROJECT_DIR: join(REPO, "examples/blog"),
        STRAPI_IO_JWT_SECRET: "fixture-jwt-secret",
        STRAPI_IO_API_TOKEN_SALT: "fixture-api-token-salt",
        STRAPI_IO_ADMIN_TOKEN: ADMIN_TOKEN,
      },
    });
    try {
      assert.deepEqual(await createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN }).invalidate(), { invalidated: true });
    } finally {
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("no unhandled rejection in this file", () => {
  assert.deepEqual(unhandled.map(String), []);
});
