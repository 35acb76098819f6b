// The conformance example (crates/strapi-io/examples/conformance.rs) as a process, for the
// official Socket.IO protocol suite. Node built-ins only.

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort, spawnProcess } from "./server.mjs";
import { REPO } from "./strapi.mjs";

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
  const { url, child, output, stop } = await spawnProcess({
    bin,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn", PORT: String(port) },
    listening: /conformance server listening on (http:\/\/[^\s]+)/,
    name: "conformance example",
    stopSignal: "SIGKILL",
  });
  return { url, child, output, stop };
}
