// Managed mode in a real Strapi 5 app (scripts/strapi-e2e.sh): the plugin entry runs the
// gateway from @strapi-io/gateway, configured from Strapi alone. PHASE=start checks how it
// was started and that clients reach it where they should (Strapi's origin through the
// proxy, or the gateway's port with the proxy off); PHASE=outage kills the gateway
// (SIGKILL) while REST traffic goes on and a content write lands while it is down.
// Prints "N passed, N failed"; exits 1 on any failure.
//
// Env: STRAPI_URL, CLIENT_URL (where clients connect), GATEWAY_URL (the gateway's own
// address), STRAPI_LOG (the app's log file), STRAPI_PID, APP (the app's directory), PROXY
// (1: Strapi's origin proxies /socket.io/; 0: it does not), LABEL, PHASE (start | outage).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { io } from "socket.io-client";
import { createChecks } from "./e2e-checks.mjs";

const STRAPI = process.env.STRAPI_URL ?? "http://127.0.0.1:1337";
const CLIENT = process.env.CLIENT_URL ?? STRAPI;
const GATEWAY = process.env.GATEWAY_URL ?? "http://127.0.0.1:1338";
const LOG = process.env.STRAPI_LOG;
const STRAPI_PID = Number(process.env.STRAPI_PID);
const APP = process.env.APP;
const PROXY = process.env.PROXY === "1";
const PHASE = process.env.PHASE ?? "start";
const OPS_TOKEN = "fixture-token-ops"; // full access: REST writes
const DASHBOARD_TOKEN = "fixture-token-dashboard"; // read-only: hears every event
const WAIT_MS = 10_000;

const { check, finish } = createChecks(`[${process.env.LABEL ?? "managed"}] `);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function bounded(promise, what, ms = WAIT_MS) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))]).finally(() =>
    clearTimeout(t),
  );
}

const log = () => readFileSync(LOG, "utf8").split("\n");
/** The first log line at or after line `from` matching `re`, within `ms`. */
async function waitForLog(re, { from = 0, ms = WAIT_MS } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = log().slice(from).find((l) => re.test(l));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no line matching ${re} in ${LOG} within ${ms} ms`);
    await sleep(50);
  }
}
/** The pid of the latest gateway start in the log. */
function gatewayPid() {
  const starts = log().filter((l) => /\[strapi-io\] starting the gateway \(pid \d+/.test(l));
  assert.ok(starts.length, "a gateway start in Strapi's log");
  return Number(/\(pid (\d+)/.exec(starts.at(-1))[1]);
}
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** A process's environment (Linux /proc). */
function environ(pid) {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
}

async function connect(opts = {}) {
  const socket = io(CLIENT, { transports: ["websocket"], reconnection: false, forceNew: true, auth: { strategy: "api-token", token: DASHBOARD_TOKEN }, ...opts });
  socket.events = [];
  socket.onAny((event, payload) => socket.events.push({ event, payload }));
  await bounded(new Promise((res, rej) => socket.once("connect", res).once("connect_error", rej)), `a socket on ${CLIENT} to connect`);
  return socket;
}

function waitFor(socket, event, pred = () => true, ms = WAIT_MS) {
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
    `${event} on ${CLIENT}`,
    ms,
  );
}

async function rest(method, path, body) {
  const res = await fetch(`${STRAPI}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${OPS_TOKEN}` },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

const sockets = [];

if (PHASE === "start") {
  await check("Strapi's start ran the gateway from @strapi-io/gateway, as its child, configured from Strapi alone", async () => {
    const pid = gatewayPid();
    const start = log().find((l) => l.includes(`starting the gateway (pid ${pid}`));
    const m = /: (\S+) serve --config (\S+); database (\S+); listening on (\S+)$/.exec(start);
    assert.ok(m, start);
    assert.match(m[1], new RegExp(`^${APP}/node_modules/@strapi-io/gateway-linux-(x64|arm64)/bin/strapi-io$`), "the binary of the platform package");
    assert.equal(m[2], join(APP, ".strapi-io/gateway.json"));
    assert.equal(m[3], join(APP, ".tmp/data.db"), "Strapi's own database (config/database.js)");
    assert.equal(m[4], GATEWAY);
    const ppid = Number(readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]);
    assert.equal(ppid, STRAPI_PID, "a child of Strapi");
    const strapiEnv = environ(STRAPI_PID);
    assert.deepEqual(Object.keys(strapiEnv).filter((k) => k.startsWith("STRAPI_IO_")), [], "Strapi was given no STRAPI_IO_* variable");
    const env = environ(pid);
    assert.equal(env.STRAPI_IO_JWT_SECRET, "fixture-jwt-secret", "users-permissions' jwtSecret");
    assert.equal(env.STRAPI_IO_API_TOKEN_SALT, "fixture-api-token-salt", "admin.apiToken.salt");
    assert.equal(env.STRAPI_IO_DATABASE_URL, `sqlite://${APP}/.tmp/data.db`);
    assert.equal(env.STRAPI_IO_STRAPI_PROJECT_DIR, APP);
    assert.match(env.STRAPI_IO_ADMIN_TOKEN, /^[0-9a-f]{64}$/, "a random admin token");
    assert.equal(env.STRAPI_IO_STOP_ON_STDIN_EOF, "1");
    for (const strapiSecret of ["APP_KEYS", "ADMIN_JWT_SECRET", "JWT_SECRET", "API_TOKEN_SALT", "TRANSFER_TOKEN_SALT", "ENCRYPTION_KEY"]) {
      assert.equal(env[strapiSecret], undefined, `Strapi's ${strapiSecret} is not passed on`);
    }
    const file = readFileSync(join(APP, ".strapi-io/gateway.json"), "utf8");
    for (const secret of ["fixture-jwt-secret", "fixture-api-token-salt", env.STRAPI_IO_ADMIN_TOKEN]) assert.equal(file.includes(secret), false, "no secret in the config file");
    const config = JSON.parse(file);
    if (PROXY) assert.deepEqual(config.settings?.security?.trustedProxies, ["127.0.0.1", "::1"]);
    else assert.equal(config.settings?.security?.trustedProxies, undefined);
  });

  await check("its lines are in Strapi's log, prefixed [strapi-io]; the ready line says where clients connect", async () => {
    await waitForLog(new RegExp(`\\[strapi-io\\] strapi-io listening on ${GATEWAY}$`));
    const ready = await waitForLog(/\[strapi-io\] strapi-io gateway ready on/);
    if (PROXY) assert.match(ready, new RegExp(`ready on ${GATEWAY}; clients connect to Strapi's origin \\(${STRAPI}, /socket\\.io/ proxied to the gateway\\)$`));
    else assert.match(ready, new RegExp(`ready on ${GATEWAY}; clients connect to ${GATEWAY} \\(the proxy on Strapi's origin is off\\)$`));
  });

  await check(PROXY ? "Strapi's origin answers the Engine.IO handshake (proxied)" : "Strapi's origin does not proxy /socket.io/ (production)", async () => {
    const res = await fetch(`${STRAPI}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(WAIT_MS) });
    const text = await res.text();
    if (PROXY) {
      assert.equal(res.status, 200);
      assert.match(text, /^0\{"sid":/);
    } else {
      assert.equal(res.status, 404, text.slice(0, 200));
    }
    assert.equal((await fetch(`${STRAPI}/_health`)).status, 204, "Strapi's own routes");
  });

  await check(`a REST create is heard on ${CLIENT} over WebSocket and over polling`, async () => {
    const ws = await connect();
    const polling = await connect({ transports: ["polling"], upgrade: false });
    sockets.push(ws, polling);
    assert.equal(polling.io.engine.transport.name, "polling");
    const title = `managed ${randomUUID()}`;
    const heard = Promise.all([ws, polling].map((s) => waitFor(s, "article:create", (p) => p?.data?.title === title)));
    const created = await rest("POST", "/api/articles", { data: { title, internalNotes: "private" } });
    const [a, b] = await heard;
    assert.equal(a.data.documentId, created.data.documentId);
    assert.deepEqual(a, b);
    assert.equal("internalNotes" in a.data, false, "sanitized");
  });

  await check(`strapi.$io called from the app's code reaches a socket on ${CLIENT}`, async () => {
    const socket = sockets[0] ?? (await connect());
    const id = randomUUID();
    const heard = waitFor(socket, "e2e:managed", (p) => p?.id === id);
    const res = await fetch(`${STRAPI}/api/e2e/io/raw`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ args: [{ event: "e2e:managed", data: { id } }] }),
      signal: AbortSignal.timeout(WAIT_MS),
    });
    assert.equal(res.status, 200, await res.clone().text());
    await heard;
  });
}

if (PHASE === "outage") {
  await check("the gateway killed (SIGKILL) mid-traffic: Strapi serves on, the gateway is back within 5 s, the outbox delivers what was written meanwhile", async () => {
    const from = log().length;
    const socket = io(CLIENT, {
      transports: ["websocket"],
      forceNew: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
      auth: { strategy: "api-token", token: DASHBOARD_TOKEN },
    });
    sockets.push(socket);
    socket.events = [];
    socket.onAny((event, payload) => socket.events.push({ event, payload }));
    await bounded(new Promise((res, rej) => socket.once("connect", res).once("connect_error", rej)), "the socket to connect");
    // REST traffic all along: every read must be answered.
    let reads = 0;
    const failures = [];
    let traffic = true;
    const loop = (async () => {
      while (traffic) {
        try {
          await rest("GET", "/api/articles?pagination[pageSize]=1");
          reads += 1;
        } catch (e) {
          failures.push(e.message);
        }
        await sleep(100);
      }
    })();
    const pid = gatewayPid();
    const killedAt = Date.now();
    process.kill(pid, "SIGKILL");
    await waitForLog(/\[strapi-io\] the gateway exited unexpectedly \(signal SIGKILL\).*restarting in \d+ ms/, { from });
    const title = `written while the gateway was down ${randomUUID()}`;
    const created = await rest("POST", "/api/articles", { data: { title } });
    assert.ok(created.data.documentId, "Strapi takes the write");
    const ready = await waitForLog(/\[strapi-io\] strapi-io gateway ready on/, { from, ms: 5000 });
    const backMs = Date.now() - killedAt;
    assert.ok(backMs < 5000, `back after ${backMs} ms`);
    assert.ok(!alive(pid), "the killed process is gone");
    const newPid = gatewayPid();
    assert.notEqual(newPid, pid);
    // The forwarder's outbox: the call failed while the gateway was down, then went out.
    await waitForLog(new RegExp(`\\[strapi-io\\] could not forward create of api::article\\.article ${created.data.documentId} to the gateway, retrying until it answers`), { from });
    const sent = await waitForLog(/\[strapi-io\] the gateway answers again: sending the \d+ waiting call\(s\)/, { from, ms: 15_000 });
    // The socket came back by itself and hears what comes next.
    await bounded(new Promise((res) => (socket.connected ? res() : socket.once("connect", res))), "the socket to reconnect");
    const title2 = `after the outage ${randomUUID()}`;
    const heard = waitFor(socket, "article:create", (p) => p?.data?.title === title2);
    await rest("POST", "/api/articles", { data: { title: title2 } });
    await heard;
    traffic = false;
    await loop;
    assert.deepEqual(failures, [], "every REST read answered during the outage");
    assert.ok(reads >= 5, `${reads} REST reads during the outage`);
    console.log(`     (back ${backMs} ms after the kill; ${reads} REST reads, none failed; ${ready.replace(/^.*\[strapi-io\] /, "")}; ${sent.replace(/^.*\[strapi-io\] /, "")})`);
  });
}

for (const s of sockets) s.close();
if (!existsSync(LOG)) console.log(`(no log at ${LOG})`);
finish();
