// The gateway binary as a process: start `strapi-io serve` on a random port (or a given one)
// with its own data dir and wait until it listens (spawnProcess, shared with conformance.mjs),
// stop it, give a describe block its server (useServer), run its other commands to exit, and
// find a free port. Node built-ins only.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before } from "node:test";
import { tomlEdit, writeConfig } from "./config.mjs";
import { closeAll } from "./sockets.mjs";
import { REPO } from "./strapi.mjs";
import { withTimeout } from "./wait.mjs";

/** The binary under test: $STRAPI_IO_BIN, else target/release, else target/debug. */
export function binaryPath() {
  if (process.env.STRAPI_IO_BIN) return resolve(process.env.STRAPI_IO_BIN);
  const release = join(REPO, "target/release/strapi-io");
  if (existsSync(release)) return release;
  return join(REPO, "target/debug/strapi-io");
}

/** A fresh, empty temp directory for the gateway's settings database (STRAPI_IO_DATA_DIR). */
export function freshDataDir() {
  return mkdtempSync(join(tmpdir(), "strapi-io-data-"));
}

/** The environment of a spawned gateway: quiet logs, port `port` (0: random), its own data dir. */
function serverEnv(env, dataDirPath, port = 0) {
  return {
    ...process.env,
    RUST_LOG: process.env.RUST_LOG ?? "warn",
    ...env,
    STRAPI_IO_DATA_DIR: dataDirPath,
    STRAPI_IO_PORT: String(port),
  };
}

/**
 * The data dir a run uses: the caller's (`dataDir`, or STRAPI_IO_DATA_DIR in `env`), kept
 * afterwards; else a fresh temp dir, removed by `cleanup()`. The gateway's stored settings
 * win over its config file, so runs must never share one by accident.
 */
function dataDirFor(dataDir, env) {
  const given = dataDir ?? env.STRAPI_IO_DATA_DIR;
  if (given) return { dir: given, cleanup: () => {} };
  const dir = freshDataDir();
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Spawns `bin` with `args` and `env`, keeps its output (bounded) and waits up to 15 s for a
 * stdout line matching `listening` (its first group: the URL); `name` labels the errors. On
 * failure the process is killed and the error thrown. Returns { url, child, output(),
 * exited, stop() }: stop() sends `stopSignal` (a SIGTERM unanswered in 5 s becomes a
 * SIGKILL) and waits (bounded) for the exit.
 */
export async function spawnProcess({ bin, args = [], env, listening, name, stopSignal = "SIGTERM" }) {
  const child = spawn(bin, args, { env, stdio: ["ignore", "pipe", "pipe"] });
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
  const listened = new Promise((res, rej) => {
    child.stdout.on("data", (d) => {
      if (out.length < 100_000) out += d;
      const m = out.match(listening);
      if (m) res(m[1]);
    });
    child.once("error", rej);
    exited.then(({ code, signal }) =>
      rej(new Error(`${name} exited early (code ${code}, signal ${signal})\n${output()}`)),
    );
  });
  const kill = async () => {
    child.kill("SIGKILL");
    await withTimeout(exited, 2000, `${name} to exit after SIGKILL`).catch(() => {});
  };
  let url;
  try {
    url = await withTimeout(listened, 15_000, `${name} to listen (${bin})`);
  } catch (e) {
    await kill();
    throw e;
  }
  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (stopSignal === "SIGKILL") return kill();
    child.kill(stopSignal);
    try {
      await withTimeout(exited, 5000, `${name} to exit after ${stopSignal}`);
    } catch {
      await kill();
    }
  }
  return { url, child, output, exited, stop };
}

/**
 * Starts `strapi-io serve` on `port` (default 0: a random one, STRAPI_IO_PORT=0), waits for
 * the "strapi-io listening on http://…" line. Every server gets its own fresh data dir
 * (STRAPI_IO_DATA_DIR, removed at stop) unless `dataDir` (or env.STRAPI_IO_DATA_DIR) is
 * given, which is kept: a restart reuses it. Returns { url, port, child, dataDir, output(),
 * stop(), exited }.
 */
export async function startServer({ config, env = {}, dataDir, port = 0 } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`strapi-io binary not found at ${bin}: build it (cargo build --release -p strapi-io-server) or set STRAPI_IO_BIN`);
  }
  const args = ["serve"];
  if (config) args.push("--config", config);
  const data = dataDirFor(dataDir, env);
  let proc;
  try {
    proc = await spawnProcess({
      bin,
      args,
      env: serverEnv(env, data.dir, port),
      listening: /strapi-io listening on (http:\/\/[^\s]+)/,
      name: "strapi-io",
    });
  } catch (e) {
    data.cleanup();
    throw e;
  }
  const { url, child, output, exited } = proc;
  async function stop() {
    await proc.stop();
    data.cleanup();
  }
  return { url, port: Number(new URL(url).port), child, dataDir: data.dir, output, stop, exited };
}

/** `server` with the fields of `extra`, whose stop() also runs `cleanup()` once it has stopped. */
export function withCleanup(server, cleanup, extra = {}) {
  const stop = server.stop;
  return {
    ...server,
    ...extra,
    stop: async () => {
      await stop();
      cleanup();
    },
  };
}

/** `server` whose stop() also removes its temp `config`. */
function withConfig(server, config) {
  return withCleanup(server, config.cleanup, { config });
}

/**
 * Writes the demo config changed by `edit` (text → text, see writeConfig) and starts a server
 * on it (`env`, `dataDir`: see startServer); the temp config is removed when it stops.
 */
export async function startServerEdited(edit, { env, dataDir } = {}) {
  const config = writeConfig(edit);
  try {
    return withConfig(await startServer({ config: config.path, env, dataDir }), config);
  } catch (e) {
    config.cleanup();
    throw e;
  }
}

/**
 * A gateway on the demo config with the line setting `key` removed (e.g. `adminToken`), and
 * the temp config cleaned up when it stops.
 */
export async function startServerWithout(key) {
  return startServerEdited((t) => {
    const out = t.replace(new RegExp(`^${key}\\s*=.*$`, "m"), "");
    if (out === t) throw new Error(`demo config has no ${key} line to remove`);
    return out;
  });
}

/**
 * Writes a config (the demo with `tables` set, see tomlEdit; `prepend`: raw TOML put before
 * the first table, for top-level keys such as `contentTypes`) and starts a server on it.
 */
export async function startServerWith(tables = {}, { extra = "", prepend = "", env, dataDir } = {}) {
  const edit = tomlEdit(tables, extra);
  return startServerEdited((t) => edit(prepend ? `${prepend}\n${t}` : t), { env, dataDir });
}

/**
 * A server for the tests of the enclosing describe block (or of the file, at top level):
 * started before them by `start` — startServer's options, or a function returning a started
 * server (e.g. `() => startServerWith(tables)`) — and stopped, every client closed, after
 * them. Returns an object whose `server` and `url` read the started server. At top level,
 * Node 20 does not wait for one root before() to end before starting the next: a root hook
 * that needs the server must not come after this one (inside a describe, hooks run in order).
 */
export function useServer(start = {}) {
  const launch = typeof start === "function" ? start : () => startServer(start);
  let server;
  before(async () => {
    server = await launch();
  });
  after(async () => {
    closeAll();
    await server?.stop();
  });
  return {
    get server() {
      return server;
    },
    get url() {
      return server?.url;
    },
  };
}

/** useServer on startServerWith(`tables`, `opts`): returns `ctx` with `server`, `url`. */
export function serverFor(tables, opts) {
  return useServer(() => startServerWith(tables, opts));
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
