// Shared helpers for the end-to-end tests: start the gateway binary (and the conformance
// example), write configs, sign JWTs, connect official socket.io-client sockets and raw
// Engine.IO websockets, record what they receive, call the HTTP RPC.
// Node built-ins, socket.io-client and ws only. Every wait is bounded.

import { spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before } from "node:test";
import { io } from "socket.io-client";
import WebSocket from "ws";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, "..", "..");
export const DEMO_DIR = join(REPO, "examples", "blog");
export const DEMO_TOML = join(DEMO_DIR, "strapi-io.toml");

/** Default bound for every wait, in milliseconds. */
export const WAIT_MS = 5000;

export const JWT_SECRET = "demo-jwt-secret";
export const API_TOKEN_SALT = "demo-api-token-salt";
export const ADMIN_TOKEN = "demo-admin-token";
export const DASHBOARD_TOKEN = "demo-token-dashboard";
export const COMMENTS_ONLY_TOKEN = "demo-token-comments-only";
export const ARTICLE = "api::article.article";
export const AUTHOR = "api::author.author";
export const COMMENT = "api::comment.comment";

/** The binary under test: $STRAPI_IO_BIN, else target/release, else target/debug. */
export function binaryPath() {
  if (process.env.STRAPI_IO_BIN) return resolve(process.env.STRAPI_IO_BIN);
  const release = resolve(HERE, "../../target/release/strapi-io");
  if (existsSync(release)) return release;
  return resolve(HERE, "../../target/debug/strapi-io");
}

/** Rejects with a clear message when `promise` does not settle within `ms`. */
export function withTimeout(promise, ms = WAIT_MS, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Writes a config file: the demo TOML with `projectDir` made absolute, passed through
 * `edit(text) => text`. Returns { path, cleanup }.
 */
export function writeConfig(edit = (t) => t) {
  const dir = mkdtempSync(join(tmpdir(), "strapi-io-e2e-"));
  let text = readFileSync(DEMO_TOML, "utf8");
  const before = text;
  text = text.replace(/^projectDir\s*=\s*".*"$/m, `projectDir = ${JSON.stringify(DEMO_DIR)}`);
  if (text === before) throw new Error("demo config has no projectDir line to rewrite");
  text = edit(text);
  const path = join(dir, "strapi-io.toml");
  writeFileSync(path, text);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A fresh, empty temp directory for the gateway's settings database (STRAPI_IO_DATA_DIR). */
export function freshDataDir() {
  return mkdtempSync(join(tmpdir(), "strapi-io-data-"));
}

/**
 * The data dir a run uses: the caller's (`dataDir`, or STRAPI_IO_DATA_DIR in `env`), kept
 * afterwards; else a fresh temp dir, removed by `cleanup()`. The gateway's stored settings
 * win over its config file, so runs must never share one by accident.
 */
/** The environment of a spawned gateway: quiet logs, a random port, its own data dir. */
function serverEnv(env, dataDirPath) {
  return {
    ...process.env,
    RUST_LOG: process.env.RUST_LOG ?? "warn",
    ...env,
    STRAPI_IO_DATA_DIR: dataDirPath,
    STRAPI_IO_PORT: "0",
  };
}

function dataDirFor(dataDir, env) {
  const given = dataDir ?? env.STRAPI_IO_DATA_DIR;
  if (given) return { dir: given, cleanup: () => {} };
  const dir = freshDataDir();
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts `strapi-io serve` on a random port (STRAPI_IO_PORT=0), waits for the
 * "strapi-io listening on http://…" line. Every server gets its own fresh data dir
 * (STRAPI_IO_DATA_DIR, removed at stop) unless `dataDir` (or env.STRAPI_IO_DATA_DIR) is
 * given, which is kept: a restart reuses it. Returns { url, child, dataDir, output(), stop() }.
 */
export async function startServer({ config, env = {}, dataDir } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`strapi-io binary not found at ${bin}: build it (cargo build --release -p strapi-io-server) or set STRAPI_IO_BIN`);
  }
  const args = ["serve"];
  if (config) args.push("--config", config);
  const data = dataDirFor(dataDir, env);
  const child = spawn(bin, args, {
    env: serverEnv(env, data.dir),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const output = () => `--- stdout ---\n${out}\n--- stderr ---\n${err.slice(-4000)}`;
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    err += d;
    if (err.length > 100_000) err = err.slice(-50_000);
  });
  child.stdout.setEncoding("utf8");
  const exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
  const listening = new Promise((res, rej) => {
    child.stdout.on("data", (d) => {
      if (out.length < 100_000) out += d;
      const m = out.match(/strapi-io listening on (http:\/\/[^\s]+)/);
      if (m) res(m[1]);
    });
    child.once("error", rej);
    exited.then(({ code, signal }) =>
      rej(new Error(`strapi-io exited early (code ${code}, signal ${signal})\n${output()}`)),
    );
  });
  let url;
  try {
    url = await withTimeout(listening, 15_000, `strapi-io to listen (${bin})`);
  } catch (e) {
    child.kill("SIGKILL");
    await withTimeout(exited, 2000, "strapi-io to exit after SIGKILL").catch(() => {});
    data.cleanup();
    throw e;
  }
  async function stop() {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      try {
        await withTimeout(exited, 5000, "strapi-io to exit after SIGTERM");
      } catch {
        child.kill("SIGKILL");
        await withTimeout(exited, 2000, "strapi-io to exit after SIGKILL").catch(() => {});
      }
    }
    data.cleanup();
  }
  return { url, child, dataDir: data.dir, output, stop, exited };
}

// ---------------------------------------------------------------------------------------
// Tokens

function b64url(input) {
  return Buffer.from(input).toString("base64url");
}

/** An HS256 (or other HMAC alg) JWT signed with node:crypto. */
export function signJwt(payload, secret = JWT_SECRET, { alg = "HS256" } = {}) {
  const header = b64url(JSON.stringify({ alg, typ: "JWT" }));
  const body = b64url(JSON.stringify(payload));
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg];
  const sig = createHmac(hash, secret).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${sig}`;
}

export const now = () => Math.floor(Date.now() / 1000);

/** users-permissions `legacy-support` form: { id, iat, exp }. */
export function legacyJwt(id, { secret, ttl = 3600 } = {}) {
  return signJwt({ id, iat: now(), exp: now() + ttl }, secret);
}

/** users-permissions `refresh` mode access token: { userId, sessionId, type: "access", iat, exp }. */
export function accessJwt(userId, { secret, ttl = 3600, type = "access" } = {}) {
  return signJwt(
    { userId: String(userId), sessionId: randomUUID(), type, iat: now(), exp: now() + ttl },
    secret,
  );
}

/** The hash Strapi 5 stores for an API token: HMAC-SHA512 keyed by the salt, hex. */
export function hashApiToken(token, salt = API_TOKEN_SALT) {
  return createHmac("sha512", salt).update(token).digest("hex");
}

// ---------------------------------------------------------------------------------------
// Sockets

const clients = new Set();

/**
 * Connects with the official client and resolves once connected; every event the socket
 * receives is recorded (see Recorder). Rejects on connect_error or timeout.
 */
export async function connect(url, opts = {}) {
  const socket = io(url, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
    ...opts,
  });
  clients.add(socket);
  const rec = new Recorder(socket);
  socket.rec = rec;
  try {
    await withTimeout(
      new Promise((res, rej) => {
        socket.once("connect", res);
        socket.once("connect_error", rej);
      }),
      WAIT_MS,
      "socket to connect",
    );
  } catch (e) {
    socket.close();
    throw e;
  }
  return socket;
}

/**
 * The socket's public id: what the server shows others (socket info, private-message
 * senders). The client's own `socket.id` is its transport id, which the server never shows.
 */
export async function idOf(socket) {
  if (!socket.publicId) {
    const r = await ack(socket, "whoami");
    if (!r?.success) throw new Error(`whoami failed: ${JSON.stringify(r)}`);
    socket.publicId = r.id;
  }
  return socket.publicId;
}

/** Attempts a connection that must be refused; resolves with the connect_error's message. */
export async function connectError(url, opts = {}) {
  const socket = io(url, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: WAIT_MS,
    ...opts,
  });
  clients.add(socket);
  try {
    return await withTimeout(
      new Promise((res, rej) => {
        socket.once("connect", () => rej(new Error("connection was accepted, expected a refusal")));
        socket.once("connect_error", (err) => res(err.message));
      }),
      WAIT_MS,
      "connect_error",
    );
  } finally {
    socket.close();
  }
}

/** Closes every socket opened through connect()/connectError(). */
export function closeAll() {
  for (const s of clients) s.close();
  clients.clear();
}

/** Emits with an ack and a bounded wait. */
export function ack(socket, event, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args);
}

/** Records every event a socket receives, in order, and lets tests await them. */
export class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.events = []; // { event, args }
    this.waiters = [];
    socket.onAny((event, ...args) => {
      const entry = { event, args };
      this.events.push(entry);
      this.waiters = this.waiters.filter((w) => {
        if (w.event === event && w.pred(...args)) {
          w.resolve(args[0]);
          return false;
        }
        return true;
      });
    });
  }

  /** Every payload (first argument) received for `event`. */
  all(event) {
    return this.events.filter((e) => e.event === event).map((e) => e.args[0]);
  }

  count(event) {
    return this.all(event).length;
  }

  /** Names of the events received, in order. */
  names() {
    return this.events.map((e) => e.event);
  }

  /** Resolves with the first payload of `event` matching `pred` (already received or not). */
  waitFor(event, pred = () => true, ms = WAIT_MS) {
    const seen = this.events.find((e) => e.event === event && pred(...e.args));
    if (seen) return Promise.resolve(seen.args[0]);
    let waiter;
    const p = new Promise((resolve) => {
      waiter = { event, pred, resolve };
      this.waiters.push(waiter);
    });
    return withTimeout(p, ms, `event "${event}" on socket ${this.socket.id}`).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }
}

// ---------------------------------------------------------------------------------------
// HTTP

/**
 * POST /api/io/<method>. `body` is JSON-encoded unless `raw` (a string) is given.
 * Resolves { status, body } (body parsed when JSON).
 */
export async function rpc(url, method, body = {}, { token = ADMIN_TOKEN, raw, headers = {} } = {}) {
  const h = { "content-type": "application/json", ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/api/io/${method}`, {
    method: "POST",
    headers: h,
    body: raw ?? JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON; keep the text
  }
  return { status: res.status, body: parsed };
}

/** Calls an RPC method that must succeed (200) and returns its `data`. */
export async function call(url, method, body = {}) {
  const { status, body: b } = await rpc(url, method, body);
  if (status !== 200) {
    throw new Error(`${method} answered ${status}: ${JSON.stringify(b)}`);
  }
  return b.data;
}

/**
 * Sends a unique `raw` marker event to every socket of `/` and waits until each given
 * socket has received it. Socket.IO keeps per-socket order, so once a socket has the
 * marker it has everything the server sent it before.
 */
export async function marker(url, sockets) {
  const id = randomUUID();
  await call(url, "raw", { event: "test:marker", data: { id } });
  await Promise.all(sockets.map((s) => s.rec.waitFor("test:marker", (d) => d?.id === id)));
  return id;
}

/** A unique name for rooms and events. */
export const uniq = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;

// ---------------------------------------------------------------------------------------
// Config editing

function tomlKey(k) {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

/** A JS value (string, number, boolean, array, plain object) as a TOML value. */
export function tomlValue(v) {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (v && typeof v === "object") {
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`)
      .join(", ")} }`;
  }
  throw new Error(`no TOML form for ${JSON.stringify(v)}`);
}

/**
 * Sets keys of the table `[table]` in a TOML text: replaces the keys already there, adds the
 * others, and appends the table when the text has none. Values go through tomlValue.
 */
export function tomlSet(text, table, entries) {
  const header = `[${table}]`;
  const lines = text.split("\n");
  const set = Object.entries(entries).map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v)}`);
  const start = lines.findIndex((l) => l.trim() === header);
  if (start < 0) return `${text.trimEnd()}\n\n${header}\n${set.join("\n")}\n`;
  let end = start + 1;
  while (end < lines.length && !lines[end].trim().startsWith("[")) end++;
  const keys = new Set(Object.keys(entries).map(tomlKey));
  const kept = lines.slice(start + 1, end).filter((l) => {
    const m = l.match(/^\s*([^=\s]+)\s*=/);
    return !(m && keys.has(m[1]));
  });
  return [...lines.slice(0, start + 1), ...set, ...kept, ...lines.slice(end)].join("\n");
}

/**
 * An edit for writeConfig: `{ "settings.security": { ipBlacklist: [...] }, ... }` applied
 * with tomlSet, then `extra` (raw TOML, e.g. `[[events]]` entries) appended.
 */
export function tomlEdit(tables = {}, extra = "") {
  return (text) => {
    let t = text;
    for (const [table, entries] of Object.entries(tables)) t = tomlSet(t, table, entries);
    return extra ? `${t.trimEnd()}\n\n${extra}\n` : t;
  };
}

/**
 * Writes a config (the demo with `tables` set, see tomlEdit; `prepend`: raw TOML put before
 * the first table, for top-level keys such as `contentTypes`) and starts a server on it.
 */
/**
 * A gateway on the demo config with the line setting `key` removed (e.g. `adminToken`), and
 * the temp config cleaned up when it stops.
 */
export async function startServerWithout(key) {
  const config = writeConfig((t) => {
    const out = t.replace(new RegExp(`^${key}\\s*=.*$`, "m"), "");
    if (out === t) throw new Error(`demo config has no ${key} line to remove`);
    return out;
  });
  try {
    const server = await startServer({ config: config.path });
    const stop = server.stop;
    return {
      ...server,
      stop: async () => {
        await stop();
        config.cleanup();
      },
    };
  } catch (e) {
    config.cleanup();
    throw e;
  }
}

/**
 * A server with `tables` (see startServerWith) for the tests of one describe block: started
 * before them, stopped (and every client closed) after. Returns `ctx` with `server`, `url`.
 */
export function serverFor(tables, opts) {
  const ctx = {};
  before(async () => {
    ctx.server = await startServerWith(tables, opts);
    ctx.url = ctx.server.url;
  });
  after(async () => {
    closeAll();
    await ctx.server?.stop();
  });
  return ctx;
}

export async function startServerWith(tables = {}, { extra = "", prepend = "", env, dataDir } = {}) {
  const edit = tomlEdit(tables, extra);
  const config = writeConfig((t) => edit(prepend ? `${prepend}\n${t}` : t));
  try {
    const server = await startServer({ config: config.path, env, dataDir });
    const stop = server.stop;
    return {
      ...server,
      config,
      stop: async () => {
        await stop();
        config.cleanup();
      },
    };
  } catch (e) {
    config.cleanup();
    throw e;
  }
}

/**
 * Runs the binary with `args` and waits (bounded) for it to exit, with a fresh data dir
 * unless `dataDir` (or env.STRAPI_IO_DATA_DIR) is given (see startServer).
 * Resolves { code, signal, stdout, stderr }; kills it and rejects when it keeps running.
 */
export async function runToExit(args, { ms = 10_000, env = {}, dataDir } = {}) {
  const data = dataDirFor(dataDir, env);
  const child = spawn(binaryPath(), args, {
    env: serverEnv(env, data.dir),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
  const exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
  try {
    const { code, signal } = await withTimeout(exited, ms, `strapi-io ${args.join(" ")} to exit`);
    return { code, signal, stdout, stderr };
  } catch (e) {
    child.kill("SIGKILL");
    await withTimeout(exited, 2000, "strapi-io to exit after SIGKILL").catch(() => {});
    throw new Error(`${e.message}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`);
  } finally {
    data.cleanup();
  }
}

// ---------------------------------------------------------------------------------------
// Conformance example, ports, polling

/** A TCP port that was free a moment ago (bound on 127.0.0.1 then released). */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** The conformance example: $STRAPI_IO_CONFORMANCE_BIN, else target/release/examples. */
export function conformancePath() {
  if (process.env.STRAPI_IO_CONFORMANCE_BIN) return resolve(process.env.STRAPI_IO_CONFORMANCE_BIN);
  return resolve(HERE, "../../target/release/examples/conformance");
}

/**
 * Starts the conformance example on a free port and waits for its "listening" line.
 * Returns { url, child, output(), stop() }.
 */
export async function startConformance() {
  const bin = conformancePath();
  if (!existsSync(bin)) {
    throw new Error(
      `conformance example not found at ${bin}: build it (cargo build --release --workspace --examples) or set STRAPI_IO_CONFORMANCE_BIN`,
    );
  }
  const port = await freePort();
  const child = spawn(bin, [], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", PORT: String(port) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const output = () => `--- stdout ---\n${out}\n--- stderr ---\n${err.slice(-4000)}`;
  child.stderr.setEncoding("utf8").on("data", (d) => {
    err += d;
    if (err.length > 100_000) err = err.slice(-50_000);
  });
  child.stdout.setEncoding("utf8");
  const exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
  const listening = new Promise((res, rej) => {
    child.stdout.on("data", (d) => {
      if (out.length < 100_000) out += d;
      const m = out.match(/conformance server listening on (http:\/\/[^\s]+)/);
      if (m) res(m[1]);
    });
    child.once("error", rej);
    exited.then(({ code, signal }) =>
      rej(new Error(`conformance exited early (code ${code}, signal ${signal})\n${output()}`)),
    );
  });
  let url;
  try {
    url = await withTimeout(listening, 15_000, `conformance example to listen (${bin})`);
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGKILL");
    await withTimeout(exited, 2000, "conformance example to exit").catch(() => {});
  }
  return { url, child, output, stop };
}

/** Polls `probe()` until it returns a truthy value (returned), bounded by `ms`. */
export async function waitUntil(probe, { ms = WAIT_MS, every = 50, what = "condition" } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** GET /api/io/stats → its `data`. */
export async function stats(url, token = ADMIN_TOKEN) {
  const res = await fetch(`${url}/api/io/stats`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`stats answered ${res.status}: ${JSON.stringify(body)}`);
  return body.data;
}

// ---------------------------------------------------------------------------------------
// Raw Engine.IO v4 websockets

/**
 * A websocket speaking raw Engine.IO/Socket.IO frames. Every frame received is queued
 * (text as string, binary as Buffer) except pings ("2"), which are answered with "3"
 * while `autoPong` is on. `next()` takes frames in order.
 */
export class RawSocket {
  static async open(url, { autoPong = true, path = "/socket.io/", eio = 4 } = {}) {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}${path}?EIO=${eio}&transport=websocket`);
    const raw = new RawSocket(ws, autoPong);
    await withTimeout(
      new Promise((res, rej) => {
        ws.once("open", res);
        ws.once("error", rej);
      }),
      WAIT_MS,
      "raw websocket to open",
    );
    return raw;
  }

  constructor(ws, autoPong) {
    this.ws = ws;
    this.autoPong = autoPong;
    this.queue = [];
    this.waiter = null;
    this.pings = 0;
    this.closed = new Promise((res) =>
      ws.once("close", (code, reason) => res({ code, reason: reason.toString() })),
    );
    ws.on("error", () => {}); // a refused or reset connection shows up as "close"
    ws.on("message", (data, isBinary) => {
      let frame;
      if (isBinary) {
        frame = Buffer.isBuffer(data) ? Buffer.from(data) : Buffer.concat(data);
      } else {
        frame = data.toString();
        if (frame === "2") {
          this.pings++;
          if (this.autoPong) ws.send("3");
          return;
        }
      }
      this.queue.push(frame);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(this.queue.shift());
      }
    });
  }

  /** The next frame (ping excluded), bounded. */
  next(ms = WAIT_MS) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.waiter) throw new Error("one next() at a time");
    const p = new Promise((res) => {
      this.waiter = res;
    });
    return withTimeout(p, ms, "a frame on the raw websocket").finally(() => {
      this.waiter = null;
    });
  }

  /** The next text frame, which must start with `prefix`; returns it. */
  async expectText(prefix, ms = WAIT_MS) {
    const f = await this.next(ms);
    if (typeof f !== "string" || !f.startsWith(prefix)) {
      throw new Error(`expected a text frame starting with ${JSON.stringify(prefix)}, got ${describeFrame(f)}`);
    }
    return f;
  }

  send(frame) {
    this.ws.send(frame);
  }

  /** Waits for the server's Engine.IO open packet ("0{...}") and returns it parsed. */
  async open() {
    const f = await this.expectText("0");
    return JSON.parse(f.slice(1));
  }

  close() {
    try {
      this.ws._socket?.resume();
    } catch {
      // already gone
    }
    this.ws.terminate();
  }
}

function describeFrame(f) {
  return typeof f === "string" ? JSON.stringify(f) : `<binary ${f.toString("hex")}>`;
}

// ---------------------------------------------------------------------------------------
// Admin routes, webhooks

/**
 * An HTTP request to the gateway: `path` like "/api/io/settings". `body` is JSON-encoded
 * unless `raw` (a string) is given; no body → no content-type. `token` null sends no
 * Authorization. Resolves { status, body (parsed when JSON), text, headers }.
 */
export async function request(url, path, { method = "GET", token = ADMIN_TOKEN, body, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === "content-type")) {
    h["content-type"] = "application/json";
  }
  const res = await fetch(`${url}${path}`, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON; keep the text
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

/** A GET of an admin route that must answer 200; returns its `data`. */
export async function adminGet(url, path) {
  const res = await request(url, path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${res.text}`);
  return res.body.data;
}

/** The webhook token of the Strapi 5 fixtures (tests/fixtures/strapi5-webhooks). */
export const FIXTURE_WEBHOOK_TOKEN = "fixture-webhook-token";
export const WEBHOOK_FIXTURES = join(REPO, "tests", "fixtures", "strapi5-webhooks");

/** A webhook fixture by its number prefix ("01"): { name, headers, body }. */
export function webhookFixture(prefix) {
  const name = readdirSync(WEBHOOK_FIXTURES).find((f) => f.startsWith(`${prefix}-`) && f.endsWith(".json"));
  if (!name) throw new Error(`no webhook fixture ${prefix}-*.json in ${WEBHOOK_FIXTURES}`);
  return { name, ...JSON.parse(readFileSync(join(WEBHOOK_FIXTURES, name), "utf8")) };
}

/**
 * POST /webhooks/strapi with `body` (JSON) or `raw`, and the fixture's headers by default
 * (Authorization: Bearer fixture-webhook-token). `token` null sends no Authorization.
 */
export function webhook(url, body, { token = FIXTURE_WEBHOOK_TOKEN, raw, headers = {} } = {}) {
  return request(url, "/webhooks/strapi", {
    method: "POST",
    token,
    body,
    raw,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Asserts Strapi's error shape (SPEC §5): HTTP `status`, a JSON body
 * `{data: null, error: {status, name, message}}` with a non-empty message. Returns the error.
 */
export function assertApiError(res, status, what = "") {
  const ctx = `${what ? `${what}: ` : ""}body ${typeof res.body === "string" ? res.body : JSON.stringify(res.body)}`;
  if (res.status !== status) throw new Error(`expected HTTP ${status}, got ${res.status} (${ctx})`);
  const b = res.body;
  if (typeof b !== "object" || b === null) throw new Error(`expected a JSON error body (${ctx})`);
  if (b.data !== null) throw new Error(`expected data: null (${ctx})`);
  if (b.error?.status !== status) throw new Error(`expected error.status ${status} (${ctx})`);
  if (typeof b.error?.name !== "string" || !b.error.name) throw new Error(`expected error.name (${ctx})`);
  if (typeof b.error?.message !== "string" || !b.error.message) throw new Error(`expected error.message (${ctx})`);
  return b.error;
}

// ---------------------------------------------------------------------------------------
// Redis (cluster tests)

/** Answers true when a Redis at 127.0.0.1:`port` answers PING. */
function redisPing(port) {
  return new Promise((res) => {
    const sock = tcpConnect({ host: "127.0.0.1", port });
    const done = (ok) => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("error", () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.once("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

/**
 * Starts a throwaway `redis-server` (Debian's; the test command installs it) on 127.0.0.1
 * and a free port (or `port`, to bring one back), with nothing saved to disk. Returns
 * { url, port, stop(), kill() }; both stop it and wait for the process to exit.
 */
export async function startRedis({ port } = {}) {
  const bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((b) => existsSync(b));
  if (!bin) throw new Error("redis-server not found: scripts/test installs it (apt-get install redis-server)");
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), "strapi-io-redis-"));
  const child = spawn(
    bin,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const exited = new Promise((res) => child.once("exit", res));
  await waitUntil(() => redisPing(port), { ms: 10_000, every: 50, what: `redis-server on port ${port}` });
  async function end(signal) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      await withTimeout(exited, 5000, "redis-server to exit");
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop: () => end("SIGTERM"), kill: () => end("SIGKILL") };
}
