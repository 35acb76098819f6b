// The npm packages of the gateway as a user gets them (scripts/package-npm builds them into
// target/npm/): installed into an empty Node project from the tarballs alone — the registry
// pointed at a closed port, no Rust toolchain on the PATH — then `npx strapi-io check` and
// `npx strapi-io serve` run the static linux-x64 binary. Run by scripts/test after
// scripts/package-npm; NPM_DIR overrides where the tarballs are.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";

const REPO = resolve(import.meta.dirname, "../..");
const NPM_DIR = process.env.NPM_DIR ?? join(REPO, "target/npm");
const VERSION = JSON.parse(execFileSync("node", ["-p", "JSON.stringify(require('./npm/gateway/package.json').version)"], { cwd: REPO, encoding: "utf8" }));
const WAIT_MS = 15_000;

/** A PATH with node and the system directories only: no cargo, no rustc. */
const PATH = [dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"].join(delimiter);
/** The environment of every npm/npx call: no registry to reach, no user config. */
const ENV = {
  PATH,
  HOME: mkdtempSync(join(tmpdir(), "strapi-io-npm-home-")),
  npm_config_registry: "http://127.0.0.1:9/",
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_update_notifier: "false",
  npm_config_cache: mkdtempSync(join(tmpdir(), "strapi-io-npm-cache-")),
};

const tarball = (name) => {
  const file = join(NPM_DIR, `${name}-${VERSION}.tgz`);
  assert.ok(existsSync(file), `${file} is missing: run scripts/package-npm first`);
  return file;
};

/** An empty Node project with `tarballs` installed (offline). */
function project(tarballs, extra = []) {
  const dir = mkdtempSync(join(tmpdir(), "strapi-io-npm-project-"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", ...extra, ...tarballs], {
    cwd: dir,
    env: ENV,
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 120_000,
  });
  return dir;
}

/** Runs `npx strapi-io …` in `dir`; resolves { code, stdout, stderr }. */
function npx(dir, args, env = {}) {
  return new Promise((res, rej) => {
    const child = spawn("npx", ["--offline", "--no-install", "strapi-io", ...args], { cwd: dir, env: { ...ENV, ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => (child.kill("SIGKILL"), rej(new Error(`npx strapi-io ${args.join(" ")} hung`))), WAIT_MS);
    child.on("exit", (code) => (clearTimeout(timer), res({ code, stdout, stderr })));
  });
}

/** Pids of gateway processes started with `data` as their data directory. */
function gatewaysUsing(data) {
  const pids = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, "utf8");
      const exe = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (environ.includes(`STRAPI_IO_DATA_DIR=${data}\0`) && exe.includes("gateway-linux-x64/bin/strapi-io")) pids.push(pid);
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return pids;
}

/** Resolves once no gateway process uses `data` (within WAIT_MS), else fails naming them. */
async function waitGone(data) {
  const deadline = Date.now() + WAIT_MS;
  while (gatewaysUsing(data).length > 0) {
    if (Date.now() > deadline) {
      const left = gatewaysUsing(data);
      for (const pid of left) process.kill(Number(pid), "SIGKILL");
      assert.fail(`gateway processes left running: ${left.join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dirs = [];
after(() => {
  for (const d of [...dirs, ENV.HOME, ENV.npm_config_cache]) rmSync(d, { recursive: true, force: true });
});

describe("@strapi-io/gateway from its tarballs", () => {
  let dir;

  before(() => {
    for (const tool of ["cargo", "rustc"]) {
      const found = PATH.split(delimiter).some((p) => existsSync(join(p, tool)));
      assert.equal(found, false, `${tool} must not be on the test's PATH`);
    }
    dir = project([tarball("strapi-io-gateway"), tarball("strapi-io-gateway-linux-x64")]);
    dirs.push(dir);
  });

  test("installs offline: the x64 binary, executable; the arm64 package skipped on this machine", () => {
    const bin = join(dir, "node_modules/@strapi-io/gateway-linux-x64/bin/strapi-io");
    assert.ok(statSync(bin).mode & 0o100, "executable");
    assert.ok(!existsSync(join(dir, "node_modules/@strapi-io/gateway-linux-arm64")));
    const require = createRequire(join(dir, "index.js"));
    assert.equal(require("@strapi-io/gateway").binaryPath(), bin);
    const installed = readdirSync(join(dir, "node_modules/@strapi-io")).sort();
    assert.deepEqual(installed, ["gateway", "gateway-linux-x64"]);
  });

  test("npx strapi-io --version and check", async () => {
    const version = await npx(dir, ["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `strapi-io ${VERSION}`);
    const check = await npx(dir, ["check"]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /config OK: \d+ content types/);
    const config = JSON.parse(check.stdout);
    assert.equal(config.settings.connection.pingInterval, 25000);
    assert.ok(!check.stdout.includes("demo-jwt-secret"), "secrets masked");
    const bad = await npx(dir, ["check", "--config", join(dir, "missing.toml")]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /missing\.toml/);
  });

  test("npx strapi-io serve: listens, answers /health and Socket.IO, stops on SIGTERM", async () => {
    const data = mkdtempSync(join(tmpdir(), "strapi-io-npm-data-"));
    dirs.push(data);
    // Its own process group, stopped as a terminal or a process manager stops it.
    const child = spawn("npx", ["--offline", "--no-install", "strapi-io", "serve"], {
      cwd: dir,
      env: { ...ENV, STRAPI_IO_PORT: "0", STRAPI_IO_DATA_DIR: data },
      detached: true,
    });
    const exited = new Promise((res) => child.on("exit", (code, signal) => res({ code, signal })));
    try {
      const url = await new Promise((res, rej) => {
        let out = "";
        const timer = setTimeout(() => rej(new Error(`not listening within ${WAIT_MS} ms: ${out}`)), WAIT_MS);
        child.stdout.on("data", (d) => {
          out += d;
          const m = out.match(/strapi-io listening on (http:\/\/\S+)/);
          if (m) (clearTimeout(timer), res(m[1]));
        });
      });
      const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(WAIT_MS) });
      assert.equal(health.status, 200);
      assert.equal((await health.json()).status, "ok");
      const open = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(WAIT_MS) });
      assert.equal(open.status, 200);
      const body = await open.text();
      assert.match(body, /^0\{"sid":"[^"]+","upgrades":\["websocket"\]/);
    } finally {
      process.kill(-child.pid, "SIGTERM");
    }
    const { code, signal } = await Promise.race([
      exited,
      new Promise((_, rej) => setTimeout(() => rej(new Error("did not stop on SIGTERM")), WAIT_MS)),
    ]);
    // npm itself dies of the signal; the gateway under it stops (cleanly: tests/cli.rs).
    assert.ok(code === 0 || signal === "SIGTERM", `npx exited with ${code} / ${signal}`);
    await waitGone(data);
  });

  test("the wrapper stops the gateway when its parent goes (npm exec stops only its shell on SIGTERM)", async () => {
    const data = mkdtempSync(join(tmpdir(), "strapi-io-npm-data-"));
    dirs.push(data);
    const child = spawn("npx", ["--offline", "--no-install", "strapi-io", "serve"], {
      cwd: dir,
      env: { ...ENV, STRAPI_IO_PORT: "0", STRAPI_IO_DATA_DIR: data },
    });
    await new Promise((res, rej) => {
      let out = "";
      const timer = setTimeout(() => rej(new Error(`not listening: ${out}`)), WAIT_MS);
      child.stdout.on("data", (d) => ((out += d), /listening on/.test(out) && (clearTimeout(timer), res())));
    });
    assert.ok(gatewaysUsing(data).length > 0, "the gateway runs");
    child.kill("SIGTERM");
    await waitGone(data);
  });
});

describe("without the platform package", () => {
  test("installed with --omit=optional: npx strapi-io says why and exits 1", async () => {
    const dir = project([tarball("strapi-io-gateway")], ["--omit=optional"]);
    dirs.push(dir);
    const r = await npx(dir, ["--version"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /@strapi-io\/gateway-linux-x64 is not installed/);
    const require = createRequire(join(dir, "index.js"));
    assert.throws(() => require("@strapi-io/gateway").binaryPath(), /--omit=optional/);
  });

  test("STRAPI_IO_BINARY_PATH points binaryPath() at another binary, and must exist", async () => {
    const dir = project([tarball("strapi-io-gateway")], ["--omit=optional"]);
    dirs.push(dir);
    const other = join(REPO, "target/x86_64-unknown-linux-musl/dist/strapi-io");
    const r = await npx(dir, ["--version"], { STRAPI_IO_BINARY_PATH: other });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `strapi-io ${VERSION}`);
    const missing = await npx(dir, ["--version"], { STRAPI_IO_BINARY_PATH: join(dir, "nope") });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /STRAPI_IO_BINARY_PATH=.*nope: no such file/);
  });
});
