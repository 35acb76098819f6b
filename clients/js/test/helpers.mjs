// Shared helpers of the package's tests: start the real strapi-io gateway binary, connect
// official socket.io-client sockets and record what they receive, and a TCP relay that can
// hold or cut the gateway's answers. Node built-ins and socket.io-client only; every wait is
// bounded.

import { spawn } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

const HERE = dirname(fileURLToPath(import.meta.url));

/** Bound of every wait, in milliseconds. */
export const WAIT_MS = 5000;

// The embedded demo's public secrets (README "The demo").
export const ADMIN_TOKEN = "demo-admin-token";
export const JWT_SECRET = "demo-jwt-secret";
export const DASHBOARD_TOKEN = "demo-token-dashboard";
export const ARTICLE = "api::article.article";
export const AUTHOR = "api::author.author";
export const COMMENT = "api::comment.comment";

/** The gateway binary: $STRAPI_IO_BIN, else the repository's release build. */
export function binaryPath() {
  return resolve(process.env.STRAPI_IO_BIN ?? resolve(HERE, "../../../target/release/strapi-io"));
}

/** Rejects with a message naming `what` when `promise` has not settled within `ms`. */
export function withTimeout(promise, ms = WAIT_MS, what = "operation") {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Writes the demo's config (examples/blog/strapi-io.toml, `projectDir` made absolute) passed
 * through `edit(text) => text` to a temp dir; returns its path.
 */
export function demoConfig(edit) {
  const demoDir = resolve(HERE, "../../../examples/blog");
  const original = readFileSync(resolve(demoDir, "strapi-io.toml"), "utf8");
  let text = original.replace(/^projectDir\s*=\s*".*"$/m, `projectDir = ${JSON.stringify(demoDir)}`);
  if (text === original) throw new Error("the demo config has no projectDir line to rewrite");
  const edited = edit(text);
  if (edited === text) throw new Error("the config edit changed nothing");
  const path = resolve(mkdtempSync(resolve(tmpdir(), "strapi-io-client-config-")), "strapi-io.toml");
  writeFileSync(path, edited);
  return path;
}

/**
 * Starts `strapi-io serve` (the embedded demo, or `config`) with STRAPI_IO_PORT (default 0:
 * a free port) and a fresh STRAPI_IO_DATA_DIR, and waits for "strapi-io listening on
 * http://…". Resolves { url, port, stop() }.
 */
export async function startGateway({ port = 0, env = {}, config } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`strapi-io binary not found at ${bin}: build it (cargo build --release -p strapi-io-server) or set STRAPI_IO_BIN`);
  }
  const dataDir = mkdtempSync(resolve(tmpdir(), "strapi-io-client-test-"));
  const child = spawn(bin, config ? ["serve", "--config", config] : ["serve"], {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", ...env, STRAPI_IO_PORT: String(port), STRAPI_IO_DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d) => {
    err = (err + d).slice(-20_000);
  });
  const exited = new Promise((res) => child.once("exit", (code, signal) => res({ code, signal })));
  const listening = new Promise((res, rej) => {
    child.stdout.setEncoding("utf8").on("data", (d) => {
      if (out.length < 50_000) out += d;
      const m = out.match(/strapi-io listening on (http:\/\/\S+)/);
      if (m) res(m[1]);
    });
    child.once("error", rej);
    exited.then(({ code, signal }) => rej(new Error(`strapi-io exited early (code ${code}, signal ${signal})\n${out}\n${err}`)));
  });
  const cleanup = () => rmSync(dataDir, { recursive: true, force: true });
  let url;
  try {
    url = await withTimeout(listening, 15_000, `strapi-io to listen (${bin})`);
  } catch (e) {
    child.kill("SIGKILL");
    await withTimeout(exited, 2000, "strapi-io to exit").catch(() => {});
    cleanup();
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
    cleanup();
  }
  return { url, port: Number(new URL(url).port), stop };
}

/** A TCP port that was free a moment ago (nothing listens on it). */
export async function freePort() {
  const server = createServer();
  await new Promise((res, rej) => server.listen(0, "127.0.0.1", res).once("error", rej));
  const { port } = server.address();
  await new Promise((res) => server.close(res));
  return port;
}

// ---------------------------------------------------------------------------------------
// Tokens

/** A users-permissions JWT (`legacy-support` form `{id, iat, exp}`) signed with the demo secret. */
export function legacyJwt(id, { ttl = 3600 } = {}) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ id, iat: now, exp: now + ttl })}`;
  return `${head}.${createHmac("sha256", JWT_SECRET).update(head).digest("base64url")}`;
}

/**
 * A users-permissions `refresh`-mode access token (`{userId, sessionId, type: "access", iat,
 * exp}`, as Strapi 5 issues them) signed with the demo secret; `ttl` in seconds (negative:
 * already expired).
 */
export function accessJwt(userId, { ttl = 3600, secret = JWT_SECRET } = {}) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const claims = { userId: String(userId), sessionId: randomUUID().replace(/-/g, ""), type: "access", iat: now, exp: now + ttl };
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

/** A JWT's claims, unverified. */
export const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

/** Resolves after `ms` (for waits that are about time itself, such as a token's expiry). */
export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// ---------------------------------------------------------------------------------------
// Sockets

const sockets = new Set();

/** Connects an official client (WebSocket only), records every event it receives. */
export async function connect(url, opts = {}) {
  const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true, timeout: WAIT_MS, ...opts });
  sockets.add(socket);
  socket.rec = new Recorder(socket);
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

/** A refused handshake's connect_error message. */
export async function connectError(url, opts = {}) {
  const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true, timeout: WAIT_MS, ...opts });
  sockets.add(socket);
  try {
    return await withTimeout(
      new Promise((res, rej) => {
        socket.once("connect", () => rej(new Error("the connection was accepted, a refusal was expected")));
        socket.once("connect_error", (e) => res(e.message));
      }),
      WAIT_MS,
      "connect_error",
    );
  } finally {
    socket.close();
  }
}

/** Closes every socket opened here. */
export function closeAll() {
  for (const s of sockets) s.close();
  sockets.clear();
}

/** Emits with an ack, bounded. */
export function ack(socket, event, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args);
}

/** The public id of a socket (what the gateway shows others), through `whoami`. */
export async function publicId(socket) {
  const r = await ack(socket, "whoami");
  if (!r?.success) throw new Error(`whoami failed: ${JSON.stringify(r)}`);
  return r.id;
}

/** Records every event a socket receives, in order, and lets tests await them. */
export class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.events = [];
    this.waiters = [];
    socket.onAny((event, ...args) => {
      this.events.push({ event, args });
      this.waiters = this.waiters.filter((w) => {
        if (w.event === event && w.pred(args[0])) {
          w.resolve(args[0]);
          return false;
        }
        return true;
      });
    });
  }

  all(event) {
    return this.events.filter((e) => e.event === event).map((e) => e.args[0]);
  }

  count(event) {
    return this.all(event).length;
  }

  /** The first payload of `event` matching `pred`, received already or within `ms`. */
  waitFor(event, pred = () => true, ms = WAIT_MS) {
    const seen = this.events.find((e) => e.event === event && pred(e.args[0]));
    if (seen) return Promise.resolve(seen.args[0]);
    let waiter;
    const p = new Promise((resolve) => {
      waiter = { event, pred, resolve };
      this.waiters.push(waiter);
    });
    return withTimeout(p, ms, `event "${event}"`).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }
}

/**
 * Sends a unique raw event to everyone through `io` and waits until each socket has it:
 * Socket.IO keeps per-socket order, so each has everything sent to it before.
 */
export async function marker(io, list) {
  const id = randomUUID();
  await io.raw({ event: "test:marker", data: { id } });
  await Promise.all(list.map((s) => s.rec.waitFor("test:marker", (d) => d?.id === id)));
}

/** A unique name. */
export const uniq = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;

// ---------------------------------------------------------------------------------------
// A relay in front of the gateway

/**
 * A TCP relay to `target` (a port on 127.0.0.1). `mode` decides what happens to the
 * gateway's answer: "pass" relays it, "hold" never relays it (the client times out),
 * "cut" closes the client's connection as soon as the answer starts (the request did reach
 * the gateway); "truncate" relays the answer's headers, then closes; "stall-body" relays the
 * headers and nothing more. Counts the requests it relayed. Listens on `port` (default: a free one).
 * Resolves { url, requests(), setMode(), close() }.
 */
export async function relay(target, mode = "pass", { port = 0 } = {}) {
  let current = mode;
  let requests = 0;
  const conns = new Set();
  const server = createServer((client) => {
    const upstream = tcpConnect(target, "127.0.0.1");
    conns.add(client).add(upstream);
    client.on("data", (d) => {
      if (d.includes("POST ") || d.includes("GET ")) requests += 1;
      upstream.write(d);
    });
    let answer = Buffer.alloc(0);
    upstream.on("data", (d) => {
      if (current === "pass") client.write(d);
      else if (current === "cut") {
        client.destroy();
        upstream.destroy();
      } else if (current === "truncate" || current === "stall-body") {
        // Relay the status line and headers only; then close ("truncate") or go silent.
        answer = Buffer.concat([answer, d]);
        const end = answer.indexOf("\r\n\r\n");
        if (end >= 0 && !client.headersSent) {
          client.headersSent = true;
          client.write(answer.subarray(0, end + 4));
          if (current === "truncate") setTimeout(() => client.destroy(), 20);
        }
      }
      // "hold": dropped
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", () => {
      if (current !== "hold") end();
    });
  });
  await new Promise((res, rej) => server.listen(port, "127.0.0.1", res).once("error", rej));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests: () => requests,
    setMode: (m) => {
      current = m;
    },
    close: () => {
      for (const c of conns) c.destroy();
      return new Promise((res) => server.close(res));
    },
  };
}
