// Shared helpers for the end-to-end tests: start the gateway binary, sign JWTs, connect
// official socket.io-client sockets, record what they receive, call the HTTP RPC.
// Node built-ins + socket.io-client only. Every wait is bounded.

import { spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

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

/**
 * Starts `strapi-io serve` on a random port (STRAPI_IO_PORT=0), waits for the
 * "strapi-io listening on http://…" line. Returns { url, child, output(), stop() }.
 */
export async function startServer({ config, env = {} } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`strapi-io binary not found at ${bin}: build it (cargo build --release -p strapi-io-server) or set STRAPI_IO_BIN`);
  }
  const args = ["serve"];
  if (config) args.push("--config", config);
  const child = spawn(bin, args, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", ...env, STRAPI_IO_PORT: "0" },
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
    throw e;
  }
  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    try {
      await withTimeout(exited, 5000, "strapi-io to exit after SIGTERM");
    } catch {
      child.kill("SIGKILL");
      await withTimeout(exited, 2000, "strapi-io to exit after SIGKILL").catch(() => {});
    }
  }
  return { url, child, output, stop, exited };
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
