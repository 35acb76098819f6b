// Managed mode: the plugin entry runs the gateway as a child process of a (fake) Strapi,
// configured from Strapi's own config, and proxies its Socket.IO path on Strapi's HTTP
// server. Against the real gateway binary on a copy of the fixture Strapi database, and
// against stand-in binaries for what a real gateway would not do on cue (ignore SIGTERM,
// crash at once, refuse its config).

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createRemoteIo, resolvePluginConfig } from "@strapi-io/client";
import { io } from "socket.io-client";
import { binaryPath, freePort } from "../../../tests/js/helpers/server.mjs";
import { ack, closeAll, uniq } from "../../../tests/js/helpers/sockets.mjs";
import { ARTICLE } from "../../../tests/js/helpers/strapi.mjs";
import { WAIT_MS, withTimeout } from "../../../tests/js/helpers/wait.mjs";
import { connect, connectError } from "./helpers.mjs";
import {
  API_TOKEN_SALT,
  JWT_SECRET,
  PACKAGE_DIR,
  alive,
  fakeGateway as makeFakeGateway,
  fakeStrapi,
  fixtureApp,
  gone,
  lastPid,
  loadPlugin,
  pluginConfig,
} from "./fake-strapi.mjs";

const BIN = binaryPath();
const plugin = loadPlugin();
/** Where the stand-in gateways are written; removed at the end. */
const FAKES = mkdtempSync(join(tmpdir(), "strapi-io-fake-gateways-"));
after(() => rmSync(FAKES, { recursive: true, force: true }));
const fakeGateway = (mode) => makeFakeGateway(mode, FAKES);
const require = createRequire(import.meta.url);
const { databaseUrl } = require(join(PACKAGE_DIR, "dist/cjs/managed.js"));
const SQLITE = { client: "sqlite", connection: { filename: ".tmp/data.db" }, useNullAsDefault: true };

/** A users-permissions JWT `{id}` signed with the fixture's secret. */
function fixtureJwt(id) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ id, iat: now, exp: now + 600 })}`;
  return `${head}.${createHmac("sha256", JWT_SECRET).update(head).digest("base64url")}`;
}

/** Runs `fn` with environment variables set (undefined: removed), restoring them after. */
async function withEnv(vars, fn) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** What each start of a stand-in gateway recorded, oldest first. */
function records(root) {
  const dir = join(root, ".strapi-io");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^record-\d+\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")));
}

/** Resolves with `records(root)` once there are `n`. */
async function waitForRecords(root, n = 1) {
  return withTimeout(
    (async () => {
      for (;;) {
        const r = records(root);
        if (r.length >= n) return r;
        await new Promise((res) => setTimeout(res, 20));
      }
    })(),
    WAIT_MS,
    `${n} gateway start(s) recorded`,
  );
}

/** An HTTP/1.1 exchange over a raw socket: what the server sent until it closed (bounded). */
function rawExchange(port, text, { closeAfterWrite = false } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = tcpConnect(port, "127.0.0.1");
      let answer = "";
      socket.on("data", (d) => (answer += d));
      socket.on("error", reject);
      socket.on("close", () => resolve(answer));
      socket.on("connect", () => {
        socket.write(text);
        if (closeAfterWrite) socket.destroy();
      });
    }),
    WAIT_MS,
    "the raw exchange",
  );
}

describe("managed mode: the config", () => {
  test("no url: the plugin runs the gateway, with every default; a url: a gateway run elsewhere, as before", () => {
    const managed = resolvePluginConfig(pluginConfig(plugin, {}));
    assert.equal(managed.managed, true);
    assert.equal(managed.url, "", "set at register from gateway.host/port");
    assert.equal(managed.adminToken, "", "made at register");
    assert.equal(managed.lifecycles.enabled, true, "content events flow without a webhook");
    assert.equal(managed.proxy, process.env.NODE_ENV !== "production");
    assert.deepEqual(managed.gateway, {
      binary: null,
      host: "127.0.0.1",
      port: null,
      logLevel: "info",
      restart: { firstDelayMs: 500, maxDelayMs: 10000 },
      stopGraceMs: 5000,
      populateToken: null,
    });
    assert.deepEqual(managed.gatewayConfig, {});

    const elsewhere = resolvePluginConfig(pluginConfig(plugin, {}, { STRAPI_IO_URL: "http://10.0.0.5:1338", STRAPI_IO_ADMIN_TOKEN: "t" }));
    assert.equal(elsewhere.managed, false);
    assert.equal(elsewhere.url, "http://10.0.0.5:1338");
    assert.equal(elsewhere.lifecycles.enabled, false);
    assert.equal(elsewhere.proxy, false);
    assert.equal(elsewhere.gateway, null);

    const carried = { contentTypes: ["api::article.article"], socket: { serverOptions: { path: "/rt" } }, sensitiveFields: ["pin"], events: [], settings: { events: { format: "v4" } } };
    assert.deepEqual(resolvePluginConfig(pluginConfig(plugin, carried)).gatewayConfig, carried, "passed through as given");
    assert.equal(resolvePluginConfig(pluginConfig(plugin, { lifecycles: false })).lifecycles.enabled, false);
    assert.equal(resolvePluginConfig(pluginConfig(plugin, { adminToken: "mine" })).adminToken, "mine");
  });

  test("proxy defaults to off in production", async () => {
    await withEnv({ NODE_ENV: "production" }, () => {
      assert.equal(resolvePluginConfig({}).proxy, false);
      assert.equal(resolvePluginConfig({ proxy: true }).proxy, true);
    });
    await withEnv({ NODE_ENV: "development" }, () => assert.equal(resolvePluginConfig({}).proxy, true));
  });

  test("every key is checked, and Strapi stops at start with a message naming it", () => {
    const cases = [
      [{ managed: "yes" }, /^managed must be a boolean$/],
      [{ managed: true, url: "http://127.0.0.1:1338" }, /^url \("http:\/\/127\.0\.0\.1:1338"\) is for a gateway run elsewhere/],
      [{ url: "http://x:1", adminToken: "t", gateway: {} }, /^gateway: only for the gateway the plugin runs \(managed: true\)/],
      [{ url: "http://x:1", adminToken: "t", proxy: true, settings: {} }, /^proxy, settings: only for the gateway the plugin runs/],
      [{ gatway: {} }, /^unknown key\(s\) gatway \(known: managed, url, adminToken, timeoutMs, retries, lifecycles, gateway, proxy, contentTypes, socket, sensitiveFields, events, settings\)$/],
      [{ gateway: "x" }, /^gateway must be an object/],
      [{ gateway: { prot: 1 } }, /^gateway: unknown key\(s\) prot \(known: binary, host, port, logLevel, restart, stopGraceMs, populateToken\)$/],
      [{ gateway: { binary: "" } }, /^gateway\.binary must be the path of the strapi-io binary$/],
      [{ gateway: { host: "a b" } }, /^gateway\.host must be a host name or an IP address/],
      [{ gateway: { port: 0 } }, /^gateway\.port must be an integer from 1 to 65535$/],
      [{ gateway: { port: "1338" } }, /^gateway\.port must be an integer from 1 to 65535$/],
      [{ gateway: { logLevel: "info; rm" } }, /^gateway\.logLevel must be a RUST_LOG filter/],
      [{ gateway: { stopGraceMs: -1 } }, /^gateway\.stopGraceMs must be an integer from 0 to 600000/],
      [{ gateway: { populateToken: "" } }, /^gateway\.populateToken must be a Strapi API token/],
      [{ gateway: { restart: 5 } }, /^gateway\.restart must be an object \{ firstDelayMs, maxDelayMs \}$/],
      [{ gateway: { restart: { first: 1 } } }, /^gateway\.restart: unknown key\(s\) first/],
      [{ gateway: { restart: { firstDelayMs: 0 } } }, /^gateway\.restart\.firstDelayMs must be an integer from 1 to 600000/],
      [{ gateway: { restart: { maxDelayMs: 1.5 } } }, /^gateway\.restart\.maxDelayMs must be an integer/],
      [{ gateway: { restart: { firstDelayMs: 900, maxDelayMs: 800 } } }, /^gateway\.restart\.maxDelayMs \(800\) must not be below firstDelayMs \(900\)$/],
      [{ proxy: "on" }, /^proxy must be a boolean$/],
      [{ contentTypes: "api::article.article" }, /^contentTypes must be a list/],
      [{ sensitiveFields: [1] }, /^sensitiveFields must be a list of field names$/],
      [{ events: {} }, /^events must be a list/],
      [{ settings: [] }, /^settings must be an object/],
      [{ socket: [] }, /^socket must be an object/],
      [{ socket: { serverOptions: 1 } }, /^socket\.serverOptions must be an object$/],
      [{ socket: { serverOptions: { path: "socket" } } }, /^socket\.serverOptions\.path must be a path such as "\/socket\.io"$/],
      [{ timeoutMs: 0 }, /`timeoutMs` must be a positive number/],
      [{ adminToken: 5 }, /^adminToken must be a non-empty string/],
    ];
    for (const [user, message] of cases) {
      assert.throws(() => pluginConfig(plugin, user), (e) => message.test(e.message), JSON.stringify(user));
    }
    // Strapi's loader prefixes the plugin's name; register does the same with its own reading.
    const fake = { config: { get: () => ({ gateway: { port: 70000 } }) }, log: console };
    assert.throws(() => plugin.register({ strapi: fake }), /^Error: Error regarding strapi-io config: gateway\.port must be an integer/);
  });

  test("the gateway's database from Strapi's database.connection", () => {
    const root = "/srv/app";
    const ok = (db) => {
      const r = databaseUrl(db, root);
      assert.equal(r.ok, true, JSON.stringify(r));
      return r.value;
    };
    const refused = (db) => {
      const r = databaseUrl(db, root);
      assert.equal(r.ok, false, JSON.stringify(db));
      return r.problem;
    };
    assert.deepEqual(ok({ client: "sqlite", connection: { filename: ".tmp/data.db" } }), { url: "sqlite:///srv/app/.tmp/data.db", label: "/srv/app/.tmp/data.db" });
    assert.equal(ok({ client: "better-sqlite3", connection: { filename: "/var/lib/strapi/data.db" } }).url, "sqlite:///var/lib/strapi/data.db");
    const pg = ok({ client: "postgres", connection: { host: "db.internal", port: 5433, database: "strapi", user: "str@pi", password: "p:ss/w%rd#1", ssl: false, schema: "public" } });
    assert.equal(pg.url, "postgres://str%40pi:p%3Ass%2Fw%25rd%231@db.internal:5433/strapi");
    assert.equal(pg.label, "postgres://str@pi@db.internal:5433/strapi", "no password in what is logged");
    assert.equal(new URL(pg.url).password, "p%3Ass%2Fw%25rd%231");
    assert.equal(decodeURIComponent(new URL(pg.url).password), "p:ss/w%rd#1");
    assert.equal(ok({ client: "postgres", connection: { database: "strapi", user: "u", password: "p" } }).url, "postgres://u:p@localhost:5432/strapi", "Strapi's defaults");
    assert.equal(ok({ client: "postgres", connection: { host: "h", database: "d", user: "u", schema: "cms" } }).url, "postgres://u@h:5432/d?options=-c+search_path%3Dcms");
    assert.equal(ok({ client: "postgres", connection: { connectionString: "postgres://a:b@h:1/d?sslmode=disable", host: "ignored" } }).url, "postgres://a:b@h:1/d?sslmode=disable");
    assert.equal(ok({ client: "postgres", connection: "postgresql://a@h/d" }).url, "postgresql://a@h/d");
    assert.equal(ok({ client: "pg", connection: { host: "/var/run/postgresql", database: "d", user: "u" } }).url, "postgres://u@localhost:5432/d?host=%2Fvar%2Frun%2Fpostgresql");
    const tls = /Strapi connects to PostgreSQL with TLS .* the gateway connects without TLS \(it refuses sslmode=require\)/;
    assert.match(refused({ client: "postgres", connection: { host: "h", database: "d", ssl: { rejectUnauthorized: true } } }), tls);
    assert.match(refused({ client: "postgres", connection: { host: "h", database: "d", ssl: true } }), tls);
    assert.match(refused({ client: "postgres", connection: { connectionString: "postgres://h/d?sslmode=require" } }), tls);
    assert.match(refused({ client: "mysql", connection: { host: "h" } }), /MySQL, which the gateway cannot read/);
    assert.match(refused({ client: "sqlite", connection: { filename: ":memory:" } }), /in-memory database/);
    assert.match(refused({ client: "postgres", connection: { host: "h" } }), /database\.connection\.connection\.database is missing/);
    assert.match(refused(undefined), /is not one the gateway reads/);
  });
});

describe("a managed gateway on a copy of the fixture database (the real binary)", () => {
  let app;
  let fake;
  let gatewayPort;

  before(async () => {
    app = fixtureApp();
    gatewayPort = await freePort();
    fake = await fakeStrapi(plugin, {
      config: pluginConfig(plugin, {
        gateway: { binary: BIN, port: gatewayPort, restart: { firstDelayMs: 300, maxDelayMs: 2000 } },
        // One attempt per call: a call made while the gateway is down fails at once, and the
        // outbox's own retries (what is under test) take over.
        retries: 0,
        settings: { security: { ipBlacklist: ["127.0.0.2"] } },
      }),
      root: app.root,
      database: SQLITE,
    });
    await fake.start();
    await fake.waitForLog("info", /strapi-io gateway ready on/, 15_000);
  });

  after(async () => {
    closeAll();
    await fake?.stop();
    app?.remove();
  });

  test("Strapi's start runs it, configured from Strapi; its lines are in Strapi's log; no secret in its config file", async () => {
    const pid = lastPid(fake);
    assert.ok(alive(pid));
    const configFile = join(app.root, ".strapi-io/gateway.json");
    assert.match(
      fake.logged("info", /starting the gateway/)[0],
      new RegExp(`^\\[strapi-io\\] starting the gateway \\(pid ${pid}\\): ${BIN.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} serve --config ${configFile}; database ${app.root}/\\.tmp/data\\.db; listening on http://127\\.0\\.0\\.1:${gatewayPort}$`),
    );
    assert.equal(fake.logged("info", new RegExp(`^\\[strapi-io\\] strapi-io listening on http://127\\.0\\.0\\.1:${gatewayPort}$`)).length, 1, "the child's stdout");
    assert.equal(
      fake.logged("info", /^\[strapi-io\] strapi-io gateway ready on/)[0],
      `[strapi-io] strapi-io gateway ready on http://127.0.0.1:${gatewayPort}; clients connect to Strapi's origin (${fake.origin}, /socket.io/ proxied to the gateway)`,
    );
    const text = readFileSync(configFile, "utf8");
    assert.deepEqual(JSON.parse(text), { settings: { security: { ipBlacklist: ["127.0.0.2"], trustedProxies: ["127.0.0.1", "::1"] } } });
    for (const secret of [JWT_SECRET, API_TOKEN_SALT]) assert.equal(text.includes(secret), false);
    if (existsSync(`/proc/${pid}/environ`)) {
      const env = Object.fromEntries(
        readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
      );
      assert.equal(env.STRAPI_IO_DIRECTORY, "strapi");
      assert.equal(env.STRAPI_IO_DATABASE_URL, `sqlite://${app.root}/.tmp/data.db`);
      assert.equal(env.STRAPI_IO_STRAPI_URL, fake.origin);
      assert.equal(env.STRAPI_IO_STOP_ON_STDIN_EOF, "1");
      assert.match(env.STRAPI_IO_ADMIN_TOKEN, /^[0-9a-f]{64}$/);
      assert.equal(text.includes(env.STRAPI_IO_ADMIN_TOKEN), false);
      assert.equal(env.STRAPI_IO_STRAPI_TOKEN, undefined, "no populate token unless given");
    }
  });

  test("strapi.$io works with the token the plugin made; users and API tokens are checked with Strapi's secrets", async () => {
    const gateway = `http://127.0.0.1:${gatewayPort}`;
    const editor = await connect(gateway, { auth: { strategy: "jwt", token: fixtureJwt(1) } });
    assert.equal((await ack(editor, "whoami")).role, "editor", "the fixture's JWT secret");
    const dashboard = await connect(gateway, { auth: { strategy: "api-token", token: "fixture-token-dashboard" } });
    assert.equal(await connectError(gateway, { auth: { strategy: "jwt", token: fixtureJwt(3) } }), "Invalid credentials", "user 3 is blocked in Strapi");
    // The gateway's own log records of these handshakes, prefixed, timestamp and level removed.
    await fake.waitForLog("info", /^\[strapi-io\] strapi_io::connection: connected socket=\S+ ns="\/" audience=io-role-editor$/);
    const event = uniq("managed");
    const heard = Promise.all([editor.rec.waitFor(event), dashboard.rec.waitFor(event)]);
    await fake.strapi.$io.raw({ event, data: { n: 1 } });
    assert.deepEqual(await heard, [{ n: 1 }, { n: 1 }]);
    await assert.rejects(createRemoteIo({ url: gateway, adminToken: "guessed" }).raw({ event, data: {} }), { status: 401 });
  });

  test("the proxy: socket.io-client on Strapi's origin hears events over WebSocket and over polling; other paths stay Strapi's", async () => {
    const ws = await connect(fake.origin);
    const polling = await connect(fake.origin, { transports: ["polling"], upgrade: false });
    assert.equal(ws.io.engine.transport.name, "websocket");
    assert.equal(polling.io.engine.transport.name, "polling");
    const event = uniq("proxied");
    const heard = Promise.all([ws.rec.waitFor(event), polling.rec.waitFor(event)]);
    await fake.strapi.$io.raw({ event, data: { via: "strapi" } });
    assert.deepEqual(await heard, [{ via: "strapi" }, { via: "strapi" }]);
    // A lifecycle forwarded by the plugin reaches a public socket on Strapi's origin, sanitized.
    const created = ws.rec.waitFor("article:create", (p) => p.data.documentId === "proxied-doc");
    await fake.run(ARTICLE, "create", {}, async () => ({ id: 9001, documentId: "proxied-doc", title: "t", internalNotes: "private", publishedAt: null }));
    assert.equal("internalNotes" in (await created).data, false);

    const handshake = await fetch(`${fake.origin}/socket.io/?EIO=4&transport=polling`);
    assert.equal(handshake.status, 200);
    assert.match(await handshake.text(), /^0\{"sid":/, "the gateway's Engine.IO handshake");
    for (const path of ["/api/articles", "/socket.iox/?EIO=4", "/admin/socket.io/", "/"]) {
      const res = await fetch(`${fake.origin}${path}`);
      assert.equal(await res.text(), `strapi: GET ${path}`, path);
    }
  });

  test("X-Forwarded-For carries the client's address through the proxy: the gateway's IP rules see it", async () => {
    // ipBlacklist ["127.0.0.2"]; the proxy is a trusted hop (127.0.0.1).
    assert.ok(await connect(fake.origin, { localAddress: "127.0.0.1" }));
    const refused = await connectError(fake.origin, { localAddress: "127.0.0.2" });
    assert.equal(typeof refused, "string");
    // A client that claims an address in its own X-Forwarded-For gets the proxy's append too.
    const claimed = await connectError(fake.origin, { localAddress: "127.0.0.2", extraHeaders: { "x-forwarded-for": "198.51.100.1" } });
    assert.equal(claimed, refused, "the hop the proxy appended decides");
  });

  test("client aborts on the proxied path hurt nothing", async () => {
    // A poll whose body never comes, an upgrade closed at once, a request cut mid-headers.
    await rawExchange(fake.port, "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789", { closeAfterWrite: true });
    await rawExchange(
      fake.port,
      "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      { closeAfterWrite: true },
    );
    await rawExchange(fake.port, "GET /socket.io/?EIO=4&transport=pol", { closeAfterWrite: true });
    const aborted = new AbortController();
    const poll = fetch(`${fake.origin}/socket.io/?EIO=4&transport=polling`, { signal: aborted.signal }).catch((e) => e);
    aborted.abort();
    assert.equal((await poll).name, "AbortError");
    const socket = await connect(fake.origin, { transports: ["polling"], upgrade: false });
    assert.ok(socket.connected, "the proxy still serves");
    assert.ok(alive(lastPid(fake)), "and the gateway is still the same");
  });

  test("killed (SIGKILL): back within 5 s, Strapi unaffected, and the outbox delivers what was written meanwhile", async () => {
    const pid = lastPid(fake);
    const mark = fake.logs.length;
    const killedAt = Date.now();
    process.kill(pid, "SIGKILL");
    await fake.waitForLog("error", /^\[strapi-io\] the gateway exited unexpectedly \(signal SIGKILL\) after \d+\.\d s: restarting in 300 ms$/, WAIT_MS, { after: mark });
    // Written while the gateway is down: Strapi's action is not held up.
    const entry = { id: 9100, documentId: uniq("meanwhile"), title: "written while the gateway was down", publishedAt: null };
    assert.equal(await fake.run(ARTICLE, "create", {}, async () => entry), entry);
    assert.equal(await (await fetch(`${fake.origin}/api/articles`)).text(), "strapi: GET /api/articles", "Strapi serves on");
    await fake.waitForLog("info", /strapi-io gateway ready on/, 5000, { after: mark });
    assert.ok(Date.now() - killedAt < 5000, "ready within 5 s of the kill");
    const newPid = lastPid(fake);
    assert.notEqual(newPid, pid);
    assert.ok(fake.logged("info", new RegExp(`starting the gateway \\(pid ${newPid}, start 2\\)`)).length === 1);
    // The outbox retried the call until the new gateway took it (a 2xx: SPEC, accepted = emitted).
    await fake.waitForLog("error", /^\[strapi-io\] could not forward create of api::article\.article .* retrying until it answers/, WAIT_MS, { after: mark });
    await fake.waitForLog("error", /^\[strapi-io\] the gateway answers again: sending the \d+ waiting call\(s\)$/, 10_000, { after: mark });
    // And the restarted gateway serves sockets on Strapi's origin with strapi.$io's token.
    const socket = await connect(fake.origin);
    const event = uniq("after-restart");
    const heard = socket.rec.waitFor(event);
    await fake.strapi.$io.raw({ event, data: {} });
    await heard;
  });

  test("Strapi stopping (destroy): SIGTERM, the gateway exits 0, and nothing starts it again", async () => {
    const pid = lastPid(fake);
    const starts = fake.logged("info", /starting the gateway/).length;
    await fake.stop();
    assert.equal(alive(pid), false, "gone when destroy resolves");
    assert.equal(fake.logged("info", new RegExp(`^\\[strapi-io\\] stopping the gateway \\(pid ${pid}\\)$`)).length, 1);
    assert.equal(fake.logged("info", /^\[strapi-io\] gateway stopped \(code 0\)$/).length, 1);
    assert.equal(fake.logged("warn", /SIGKILL/).length, 0);
    await new Promise((r) => setTimeout(r, 600)); // two restart delays
    assert.equal(fake.logged("info", /starting the gateway/).length, starts);
  });
});

describe("supervising stand-in gateways", () => {
  const apps = [];
  const fakes = [];
  const newApp = () => {
    const a = fixtureApp();
    apps.push(a);
    return a;
  };
  const start = async (user, { database = SQLITE, values, listen = true, app = newApp() } = {}) => {
    const fake = await fakeStrapi(plugin, { config: pluginConfig(plugin, user), root: app.root, database, values });
    fakes.push(fake);
    await fake.start({ listen });
    return { fake, app };
  };
  after(async () => {
    for (const f of fakes) await f.stop().catch(() => {});
    for (const a of apps) a.remove();
  });

  test("what the gateway is given: secrets in its environment only, the settings in its config file, Strapi's other variables kept out", async () => {
    const bin = fakeGateway("serve");
    const port = await freePort();
    const carried = {
      contentTypes: ["api::article.article", { uid: "api::comment.comment", actions: ["create"] }],
      socket: { serverOptions: { path: "/rt", maxHttpBufferSize: 2000000 } },
      sensitiveFields: ["pin"],
      events: [{ name: "vote", url: "http://127.0.0.1:9/vote" }],
      settings: { cors: { origins: ["https://app.example"] } },
    };
    const { fake, app } = await withEnv(
      { STRAPI_IO_CORS_ORIGINS: "https://env.example", DATABASE_PASSWORD: "strapi-db-password", STRAPI_IO_URL: undefined },
      () => start({ gateway: { binary: bin, port, logLevel: "debug", populateToken: "populate-token" }, proxy: false, ...carried }),
    );
    const [record] = await waitForRecords(app.root);
    const dataDir = join(app.root, ".strapi-io");
    assert.deepEqual(record.argv, ["serve", "--config", join(dataDir, "gateway.json")]);
    assert.equal(record.cwd, dataDir);
    const env = record.env;
    assert.equal(env.STRAPI_IO_DIRECTORY, "strapi");
    assert.equal(env.STRAPI_IO_DATABASE_URL, `sqlite://${app.root}/.tmp/data.db`);
    assert.equal(env.STRAPI_IO_STRAPI_PROJECT_DIR, app.root);
    assert.equal(env.STRAPI_IO_JWT_SECRET, JWT_SECRET);
    assert.equal(env.STRAPI_IO_API_TOKEN_SALT, API_TOKEN_SALT);
    assert.match(env.STRAPI_IO_ADMIN_TOKEN, /^[0-9a-f]{64}$/);
    assert.equal(env.STRAPI_IO_HOST, "127.0.0.1");
    assert.equal(env.STRAPI_IO_PORT, String(port));
    assert.equal(env.STRAPI_IO_DATA_DIR, dataDir);
    assert.equal(env.STRAPI_IO_STRAPI_URL, fake.origin);
    assert.equal(env.STRAPI_IO_STRAPI_TOKEN, "populate-token");
    assert.equal(env.STRAPI_IO_STOP_ON_STDIN_EOF, "1");
    assert.equal(env.RUST_LOG, "debug");
    assert.equal(env.NO_COLOR, "1");
    assert.equal(env.STRAPI_IO_CORS_ORIGINS, "https://env.example", "the gateway's own variables pass");
    assert.equal(env.DATABASE_PASSWORD, undefined, "Strapi's do not");
    assert.equal(env.PATH, process.env.PATH);
    assert.deepEqual(JSON.parse(record.config), carried, "exactly the settings given (the proxy is off: no trusted proxy added)");
    for (const secret of [JWT_SECRET, API_TOKEN_SALT, "populate-token", env.STRAPI_IO_ADMIN_TOKEN]) {
      assert.equal(record.config.includes(secret), false);
    }
    // Its stderr records at their own level, prefixed, timestamp and level removed.
    assert.equal(await fake.waitForLog("warn", /a warning record/), "[strapi-io] fake: a warning record");
    assert.equal(await fake.waitForLog("error", /an error record/), "[strapi-io] fake: an error record");
    assert.equal(await fake.waitForLog("info", /an info record/), "[strapi-io] fake: an info record");
    assert.equal(
      await fake.waitForLog("info", /gateway ready/),
      `[strapi-io] strapi-io gateway ready on http://127.0.0.1:${port}; clients connect to http://127.0.0.1:${port} (the proxy on Strapi's origin is off)`,
    );
    // A second Strapi start makes a new admin token.
    await fake.stop();
    const again = await start({ gateway: { binary: bin, port }, proxy: false }, { app });
    const both = await waitForRecords(app.root, 2);
    const second = both.find((r) => r.env.STRAPI_IO_ADMIN_TOKEN !== env.STRAPI_IO_ADMIN_TOKEN);
    assert.ok(second, "a new admin token at each Strapi start");
    assert.match(second.env.STRAPI_IO_ADMIN_TOKEN, /^[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(second.config), {}, "the config file is rewritten at each start");
    await again.fake.stop();
  });

  test("the binary: gateway.binary, else STRAPI_IO_BIN, else @strapi-io/gateway's binaryPath()", async () => {
    const first = fakeGateway("serve");
    const second = fakeGateway("serve");
    const third = fakeGateway("serve");
    const started = async (user, env, app) => {
      const { fake } = await withEnv(env, () => start(user, app ? { app } : {}));
      const line = await fake.waitForLog("*", /starting the gateway|the gateway is not started/);
      await fake.stop();
      return line;
    };
    const port = await freePort();
    assert.match(await started({ gateway: { binary: first, port } }, { STRAPI_IO_BIN: second }), new RegExp(`\\): ${first} serve`));
    assert.match(await started({ gateway: { port } }, { STRAPI_IO_BIN: second }), new RegExp(`\\): ${second} serve`));
    // The package, found from the app's root.
    const withPackage = newApp();
    const pkg = join(withPackage.root, "node_modules/@strapi-io/gateway");
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "@strapi-io/gateway", version: "0.0.0", main: "index.js" }));
    writeFileSync(join(pkg, "index.js"), `exports.binaryPath = () => ${JSON.stringify(third)};`);
    assert.match(await started({ gateway: { port } }, { STRAPI_IO_BIN: undefined }, withPackage), new RegExp(`\\): ${third} serve`));
    // (Another app: require's cache keeps the package loaded above.)
    const throwing = newApp();
    const pkg2 = join(throwing.root, "node_modules/@strapi-io/gateway");
    mkdirSync(pkg2, { recursive: true });
    writeFileSync(join(pkg2, "package.json"), JSON.stringify({ name: "@strapi-io/gateway", version: "0.0.0", main: "index.js" }));
    writeFileSync(join(pkg2, "index.js"), `exports.binaryPath = () => { throw new Error("no prebuilt strapi-io binary for sunos x64"); };`);
    assert.match(
      await started({ gateway: { port } }, { STRAPI_IO_BIN: undefined }, throwing),
      /the gateway is not started: @strapi-io\/gateway: no prebuilt strapi-io binary for sunos x64\. Strapi goes on/,
    );
    // A path where there is no binary: said once, not retried.
    const missing = join(FAKES, "no-such-strapi-io");
    const { fake: noBinary } = await start({ gateway: { binary: missing, port } });
    assert.equal(
      await noBinary.waitForLog("error", /could not be started/),
      `[strapi-io] the gateway could not be started (${missing}): spawn ${missing} ENOENT; not retried`,
    );
    await new Promise((r) => setTimeout(r, 700)); // past the first restart delay
    assert.equal(noBinary.logged("error", /could not be started|restarting/).length, 1);
    await noBinary.stop();
    // Neither: how to install it.
    assert.match(
      await started({ gateway: { port } }, { STRAPI_IO_BIN: undefined }),
      /the gateway is not started: the gateway binary is not installed: npm install @strapi-io\/gateway .*or set gateway\.binary in config\/plugins\.js or STRAPI_IO_BIN/,
    );
  });

  test("not started, the reason logged, Strapi goes on: TLS to PostgreSQL, MySQL, in-memory SQLite, a missing secret", async () => {
    const bin = fakeGateway("serve");
    const cases = [
      [{ database: { client: "postgres", connection: { host: "h", database: "d", user: "u", password: "pw", ssl: { rejectUnauthorized: false } } } }, /the gateway connects without TLS \(it refuses sslmode=require\)/],
      [{ database: { client: "mysql", connection: { host: "h", database: "d" } } }, /Strapi's database is MySQL, which the gateway cannot read/],
      [{ database: { client: "sqlite", connection: { filename: ":memory:" } } }, /an in-memory database cannot be shared/],
      [{ values: { "plugin::users-permissions.jwtSecret": undefined } }, /users-permissions' JWT secret is missing \(plugin::users-permissions\.jwtSecret, JWT_SECRET in \.env\)/],
      [{ values: { "admin.apiToken.salt": "" } }, /the API token salt is missing \(admin\.apiToken\.salt, API_TOKEN_SALT in \.env\)/],
    ];
    for (const [options, reason] of cases) {
      const { fake, app } = await start({ gateway: { binary: bin, port: await freePort() }, retries: 0 }, options);
      const line = await fake.waitForLog("error", /the gateway is not started/);
      assert.match(line, /^\[strapi-io\] the gateway is not started: /);
      assert.match(line, reason);
      assert.match(line, /Strapi goes on; strapi\.\$io calls fail \(and forwarded events wait\) until a gateway answers at http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(line.includes("pw"), false, "no password in the log");
      assert.equal(fake.logged("info", /starting the gateway/).length, 0);
      assert.deepEqual(records(app.root), [], "nothing spawned");
      assert.equal(await (await fetch(`${fake.origin}/api/articles`)).text(), "strapi: GET /api/articles");
      await assert.rejects(fake.strapi.$io.raw({ event: "x", data: {} }), { name: "NetworkError" });
      await fake.stop();
    }
  });

  test("Strapi loaded without serving (strapi console, export): no gateway", async () => {
    const bin = fakeGateway("serve");
    const { fake, app } = await start({ gateway: { binary: bin, port: await freePort() } }, { listen: false });
    assert.equal(typeof fake.strapi.$io.emit, "function", "strapi.$io is set all the same");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(records(app.root), []);
    assert.equal(fake.logged("info", /starting the gateway/).length, 0);
    await fake.stop();
  });

  test("destroy: SIGKILL after stopGraceMs when the gateway ignores SIGTERM", async () => {
    const { fake } = await start({ gateway: { binary: fakeGateway("ignore-term"), port: await freePort(), stopGraceMs: 300 } });
    await fake.waitForLog("info", /gateway ready/);
    const pid = lastPid(fake);
    const t = Date.now();
    await fake.stop();
    const took = Date.now() - t;
    assert.ok(took >= 300 && took < 300 + 5000, `destroy took ${took} ms`);
    assert.equal(alive(pid), false);
    assert.equal(await fake.waitForLog("info", /SIGTERM ignored/), "[strapi-io] fake gateway: SIGTERM ignored");
    assert.equal(fake.logged("warn", /^\[strapi-io\] the gateway did not stop within 300 ms of SIGTERM: SIGKILL$/).length, 1);
    assert.equal(fake.logged("info", /^\[strapi-io\] gateway stopped \(signal SIGKILL\)$/).length, 1);
  });

  test("a crash loop backs off: the delay doubles from firstDelayMs up to maxDelayMs, each restart logged", async () => {
    const { fake } = await start({ gateway: { binary: fakeGateway("exit"), port: await freePort(), restart: { firstDelayMs: 50, maxDelayMs: 400 } } });
    const delays = () => fake.logged("error", /restarting in/).map((m) => Number(/restarting in (\d+) ms$/.exec(m)[1]));
    await withTimeout(
      (async () => {
        while (delays().length < 6) await new Promise((r) => setTimeout(r, 20));
      })(),
      WAIT_MS,
      "six restarts",
    );
    await fake.stop();
    assert.deepEqual(delays().slice(0, 6), [50, 100, 200, 400, 400, 400]);
    for (const m of fake.logged("error", /restarting in/)) assert.match(m, /^\[strapi-io\] the gateway exited unexpectedly \(code 1\) after \d+\.\d s: restarting in \d+ ms$/);
    assert.ok(fake.logged("error", /^\[strapi-io\] fake gateway: giving up$/).length >= 6, "its last words, at error level");
    const starts = fake.logged("info", /starting the gateway/).length;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(fake.logged("info", /starting the gateway/).length, starts, "no start after destroy");
  });

  test("a config the gateway refuses: the gateway's message in Strapi's log, not restarted, Strapi goes on", async () => {
    const { fake } = await start({ gateway: { binary: BIN, port: await freePort() }, settings: { connection: { pingTimeout: "soon" } } });
    const refusal = await fake.waitForLog("error", /settings\.connection\.pingTimeout/, 15_000);
    assert.match(refusal, /^\[strapi-io\] settings\.connection\.pingTimeout: invalid type: string "soon", expected a number/);
    await fake.waitForLog("error", /^\[strapi-io\] the gateway refused its configuration \(see the lines above; .*gateway\.json comes from config\/plugins\.js "strapi-io"\.config\): not restarted\. Strapi goes on/);
    assert.equal(fake.logged("error", /^\[strapi-io\] invalid config:$/).length, 1);
    assert.equal(await (await fetch(`${fake.origin}/api/x`)).text(), "strapi: GET /api/x");
    await new Promise((r) => setTimeout(r, 700)); // past the first restart delay
    assert.equal(fake.logged("info", /starting the gateway/).length, 1);
    assert.equal(fake.logged("error", /restarting in/).length, 0);
  });

  test("the proxy with the gateway down: polling answers 502, an upgrade gets 502 and is closed, Strapi's paths unaffected", async () => {
    const { fake } = await start(
      { gateway: { binary: fakeGateway("serve"), port: await freePort() }, proxy: true },
      { values: { "admin.apiToken.salt": undefined } },
    );
    await fake.waitForLog("error", /the gateway is not started/);
    const poll = await fetch(`${fake.origin}/socket.io/?EIO=4&transport=polling`);
    assert.equal(poll.status, 502);
    assert.deepEqual(await poll.json(), { data: null, error: { status: 502, name: "BadGatewayError", message: "The strapi-io gateway cannot be reached", details: {} } });
    const answer = await rawExchange(
      fake.port,
      "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(answer, /BadGatewayError/);
    const error = await connectError(fake.origin);
    assert.equal(typeof error, "string");
    // An upgrade elsewhere, with nobody else listening for upgrades: refused, closed.
    assert.match(await rawExchange(fake.port, "GET /other HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"), /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.equal(await (await fetch(`${fake.origin}/api/articles`)).text(), "strapi: GET /api/articles");
  });

  test("a custom Socket.IO path (socket.serverOptions.path) is the one proxied", async () => {
    const { fake } = await start({ gateway: { binary: BIN, port: await freePort() }, socket: { serverOptions: { path: "/rt" } }, proxy: true });
    await fake.waitForLog("info", /gateway ready/, 15_000);
    const socket = await connect(fake.origin, { path: "/rt" });
    const event = uniq("rt");
    const heard = socket.rec.waitFor(event);
    await fake.strapi.$io.raw({ event, data: {} });
    await heard;
    assert.equal(await (await fetch(`${fake.origin}/socket.io/?EIO=4&transport=polling`)).text(), "strapi: GET /socket.io/?EIO=4&transport=polling");
    assert.match(fake.logged("info", /gateway ready/)[0], /\/rt\/ proxied to the gateway/);
    closeAll();
    await fake.stop();
  });
});

describe("the gateway never outlives Strapi", () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "strapi-io-outlive-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * A Strapi process of its own (a fake Strapi in a child Node process) running `binary`;
   * resolves { strapi (the child), gatewayPid } once the gateway is ready.
   */
  async function strapiProcess(binary, app) {
    const script = join(dir, `strapi-${uniq("p")}.mjs`);
    writeFileSync(
      script,
      `import { fakeStrapi, loadPlugin, pluginConfig, lastPid } from ${JSON.stringify(join(PACKAGE_DIR, "test/fake-strapi.mjs"))};
const plugin = loadPlugin();
const fake = await fakeStrapi(plugin, { config: pluginConfig(plugin, { gateway: { binary: ${JSON.stringify(binary)}, port: ${await freePort()} } }), root: ${JSON.stringify(app.root)}, database: { client: "sqlite", connection: { filename: ".tmp/data.db" } } });
await fake.start();
await fake.waitForLog("info", /gateway ready/, 15000);
console.log("gateway " + lastPid(fake));
process.stdin.on("data", (d) => { if (String(d).includes("exit")) process.exit(0); });
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ["pipe", "pipe", "inherit"] });
    const exited = new Promise((r) => child.once("exit", r));
    let out = "";
    const pid = await withTimeout(
      new Promise((res, rej) => {
        child.stdout.setEncoding("utf8").on("data", (d) => {
          out += d;
          const m = /gateway (\d+)/.exec(out);
          if (m) res(Number(m[1]));
        });
        child.once("exit", (code) => rej(new Error(`the Strapi process exited (${code}): ${out}`)));
      }),
      20_000,
      "the Strapi process's gateway",
    );
    return { child, exited, gatewayPid: pid };
  }

  test("Strapi killed with SIGKILL: the gateway sees its stdin close and stops", async () => {
    const app = fixtureApp();
    try {
      const { child, exited, gatewayPid } = await strapiProcess(BIN, app);
      assert.ok(alive(gatewayPid));
      child.kill("SIGKILL");
      await exited;
      await gone(gatewayPid, 5000);
    } finally {
      app.remove();
    }
  });

  test("Strapi exiting without destroy (process.exit): the exit handler stops the gateway", async () => {
    const app = fixtureApp();
    try {
      // A stand-in that ignores the end of its stdin: only SIGTERM stops it.
      const { child, exited, gatewayPid } = await strapiProcess(fakeGateway("ignore-stdin"), app);
      assert.ok(alive(gatewayPid));
      child.stdin.write("exit\n");
      await withTimeout(exited, WAIT_MS, "the Strapi process to exit");
      await gone(gatewayPid, 5000);
    } finally {
      app.remove();
    }
  });
});
