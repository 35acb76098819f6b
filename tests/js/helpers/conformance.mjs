// The conformance example (crates/strapi-io/examples/conformance.rs) as a process, for the
// official Socket.IO protocol suite. Node built-ins only.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort } from "./server.mjs";
import { REPO } from "./strapi.mjs";
import { withTimeout } from "./wait.mjs";

/** The conformance example: $STRAPI_IO_CONFORMANCE_BIN, else target/release/examples. */
export function conformancePath() {
  if (process.env.STRAPI_IO_CONFORMANCE_BIN) return resolve(process.env.STRAPI_IO_CONFORMANCE_BIN);
  return join(REPO, "target/release/examples/conformance");
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
