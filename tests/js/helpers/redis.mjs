// A throwaway redis-server for the cluster tests (Debian's; scripts/test installs it).
// Node built-ins only.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./server.mjs";
import { waitUntil, withTimeout } from "./wait.mjs";

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
