// A stand-in for Strapi 5 for the managed-mode tests: the plugin entry loaded as Strapi's
// loader loads it, a `strapi` object with the config paths the plugin reads, a real Node
// HTTP server with a Koa-like middleware chain (`strapi.server.use`, `ctx.respond`), the
// Document Service middleware chain, and a log that tests can wait on. Also: a copy of the
// fixture Strapi app (schemas of examples/blog, the fixture SQLite database) and stand-in
// gateway binaries with scripted behaviour. Every wait is bounded.

import { cpSync, chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../../tests/js/helpers/server.mjs";
import { WAIT_MS, withTimeout } from "../../../tests/js/helpers/wait.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
export const PACKAGE_DIR = dirname(HERE);
export const REPO = resolve(PACKAGE_DIR, "../..");
export const FIXTURE_DB = join(REPO, "crates/strapi-io/tests/fixtures/strapi5.db");
export const FIXTURE_SRC = join(REPO, "examples/blog/src");
export const JWT_SECRET = "fixture-jwt-secret";
export const API_TOKEN_SALT = "fixture-api-token-salt";
const require = createRequire(import.meta.url);

/** The plugin object, as Strapi 5 loads it (`require` of the package's strapi-server.js). */
export function loadPlugin() {
  let mod = require(join(PACKAGE_DIR, "strapi-server.js"));
  if (mod && mod.__esModule) mod = mod.default;
  return mod;
}

/** The user's config merged into the plugin's defaults and validated, as Strapi does. */
export function pluginConfig(plugin, user, vars = {}) {
  const defaults = plugin.config.default({ env: (name, fallback) => vars[name] ?? fallback });
  const config = { ...defaults, ...user };
  plugin.config.validator(config);
  return config;
}

/** A Strapi app directory: `src/` with the fixture's schemas, `.tmp/data.db` a copy of the fixture database. */
export function fixtureApp() {
  const root = mkdtempSync(join(tmpdir(), "strapi-io-managed-app-"));
  cpSync(FIXTURE_SRC, join(root, "src"), { recursive: true });
  mkdirSync(join(root, ".tmp"));
  copyFileSync(FIXTURE_DB, join(root, ".tmp/data.db"));
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "fixture-app", private: true }));
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * A stand-in gateway binary (a Node script) with the behaviour `mode`. Each start writes what
 * it was given (args, environment, cwd, config file) to `$STRAPI_IO_DATA_DIR/record-<pid>.json`.
 * Modes: "serve" (listens on STRAPI_IO_HOST:STRAPI_IO_PORT, answers /health, prints the
 * listening line and a WARN, an ERROR and an INFO log record, stops on SIGTERM or stdin EOF),
 * The script is written into `dir` (the caller removes it).
 * "ignore-term" (as serve, but ignores SIGTERM and stdin), "ignore-stdin" (as serve, but
 * stops on SIGTERM only), "exit" (exits 1 at once), "config" (refuses its config: exit 2).
 */
export function fakeGateway(mode, dir) {
  const file = join(dir, `fake-strapi-io-${mode}`);
  writeFileSync(
    file,
    `#!${process.execPath}
const MODE = ${JSON.stringify(mode)};
const fs = require("fs"), http = require("http"), path = require("path");
const dir = process.env.STRAPI_IO_DATA_DIR;
const config = fs.readFileSync(process.argv[process.argv.indexOf("--config") + 1], "utf8");
fs.writeFileSync(path.join(dir, "record-" + process.pid + ".json"), JSON.stringify({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd(), config }));
if (MODE === "exit") { console.error("fake gateway: giving up"); process.exit(1); }
if (MODE === "config") { console.error("invalid config:"); console.error("settings.fake: refused by the fake gateway"); process.exit(2); }
const server = http.createServer((req, res) => { res.writeHead(200, { "content-type": "application/json" }); res.end(JSON.stringify({ status: "ok", ready: true })); });
server.listen(Number(process.env.STRAPI_IO_PORT), process.env.STRAPI_IO_HOST, () => {
  console.log("strapi-io listening on http://" + process.env.STRAPI_IO_HOST + ":" + server.address().port);
  console.error("2026-01-01T00:00:00.000000Z  WARN fake: a warning record");
  console.error("2026-01-01T00:00:00.000000Z ERROR fake: an error record");
  console.error("2026-01-01T00:00:00.000000Z  INFO fake: an info record");
});
if (MODE === "ignore-term") process.on("SIGTERM", () => console.log("fake gateway: SIGTERM ignored"));
else process.on("SIGTERM", () => process.exit(0));
if (MODE === "serve") process.stdin.on("end", () => process.exit(0)).resume();
`,
  );
  chmodSync(file, 0o755);
  return file;
}

/** Whether process `pid` is alive. */
export function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once `pid` is gone; rejects after `ms`. */
export async function gone(pid, ms = WAIT_MS) {
  await withTimeout(
    (async () => {
      while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
    })(),
    ms,
    `process ${pid} to exit`,
  );
}

/**
 * A fake Strapi for `plugin`: `values` are config paths (`plugin::strapi-io` is the plugin's
 * config, given as `config`); `root` is `strapi.dirs.app.root`. Its HTTP server answers
 * `strapi: <METHOD> <url>` to whatever the middlewares leave to it. `start()` runs register,
 * bootstrap and listen, as `strapi start` does; `stop()` runs destroy and closes the server.
 */
export async function fakeStrapi(plugin, { config, root, database, values = {}, port }) {
  const logs = [];
  const waiters = new Set();
  const log = Object.fromEntries(
    ["info", "warn", "error", "debug"].map((level) => [
      level,
      (message) => {
        logs.push({ level, message });
        for (const w of waiters) w();
      },
    ]),
  );
  const middlewares = [];
  const documentMiddlewares = [];
  const httpServer = createServer((req, res) => {
    const ctx = { req, res, respond: true };
    const chain = (i) =>
      i < middlewares.length
        ? Promise.resolve(middlewares[i](ctx, () => chain(i + 1)))
        : Promise.resolve().then(() => {
            if (ctx.respond === false) return;
            res.writeHead(200, { "content-type": "text/plain" });
            res.end(`strapi: ${req.method} ${req.url}`);
          });
    chain(0).catch((e) => {
      res.statusCode = 500;
      res.end(String(e));
    });
  });
  const connections = new Set();
  httpServer.on("connection", (c) => {
    connections.add(c);
    c.on("close", () => connections.delete(c));
  });
  const strapiPort = port ?? (await freePort());
  const all = {
    "plugin::strapi-io": config,
    "database.connection": database,
    "plugin::users-permissions.jwtSecret": JWT_SECRET,
    "admin.apiToken.salt": API_TOKEN_SALT,
    "server.port": strapiPort,
    "server.host": "127.0.0.1",
    ...values,
  };
  const strapi = {
    config: { get: (path, fallback) => (path in all && all[path] !== undefined ? all[path] : fallback) },
    log,
    dirs: { app: { root } },
    server: {
      use(mw) {
        middlewares.push(mw);
        return this;
      },
      httpServer,
    },
    documents: { use: (mw) => (documentMiddlewares.push(mw), strapi.documents) },
  };
  const logged = (level, re) => logs.filter((l) => (level === "*" || l.level === level) && re.test(l.message)).map((l) => l.message);
  /** The first log line of `level` matching `re`, already logged or within `ms`. */
  const waitForLog = (level, re, ms = WAIT_MS, { after = 0 } = {}) => {
    const find = () => logs.slice(after).find((l) => (level === "*" || l.level === level) && re.test(l.message))?.message;
    const found = find();
    if (found) return Promise.resolve(found);
    let waiter;
    return withTimeout(
      new Promise((res) => {
        waiter = () => {
          const m = find();
          if (m) res(m);
        };
        waiters.add(waiter);
      }),
      ms,
      `a ${level} log matching ${re}; logs:\n${logs.map((l) => `${l.level}: ${l.message}`).join("\n")}`,
    ).finally(() => waiters.delete(waiter));
  };
  /** Runs a Document Service action through the middlewares, `repository` standing for Strapi's work. */
  const run = (uid, action, params, repository) => {
    const chain = (i) =>
      i < documentMiddlewares.length ? documentMiddlewares[i]({ uid, action, params, contentType: {} }, () => chain(i + 1)) : repository();
    return chain(0);
  };
  let listening = false;
  return {
    strapi,
    logs,
    logged,
    waitForLog,
    run,
    port: strapiPort,
    origin: `http://127.0.0.1:${strapiPort}`,
    httpServer,
    async start({ listen = true } = {}) {
      await plugin.register({ strapi });
      await plugin.bootstrap({ strapi });
      if (listen) {
        await new Promise((res, rej) => httpServer.listen(strapiPort, "127.0.0.1", res).once("error", rej));
        listening = true;
      }
    },
    async stop() {
      await plugin.destroy({ strapi });
      for (const c of connections) c.destroy();
      if (listening) await new Promise((res) => httpServer.close(res));
      listening = false;
    },
  };
}

/** The pid in the latest "starting the gateway (pid N)" line. */
export function lastPid(fake) {
  const lines = fake.logged("info", /starting the gateway \(pid \d+/);
  const m = /\(pid (\d+)/.exec(lines.at(-1) ?? "");
  if (!m) throw new Error(`no gateway start logged:\n${fake.logs.map((l) => l.message).join("\n")}`);
  return Number(m[1]);
}
