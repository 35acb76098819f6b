// socket.serverOptions.serveClient (issue 16, point 5): the socket.io-client bundles served
// under the Socket.IO path as Node's serveClient serves them, from a dist directory the user
// points to — here the official client's own, from this suite's node_modules.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { connect } from "./helpers/clients.mjs";
import { tomlEdit, writeConfig } from "./helpers/config.mjs";
import { runToExit, startServer, startServerWith, useServer } from "./helpers/server.mjs";

const DIST = resolve(import.meta.dirname, "node_modules/socket.io-client/dist");

describe("serveClient pointed at socket.io-client's dist", () => {
  const ctx = useServer(() => startServerWith({ "socket.serverOptions": { serveClient: DIST } }));

  test("every bundle and map, byte for byte, with its type and an ETag; 304 when unchanged; HEAD", async () => {
    for (const name of ["socket.io.js", "socket.io.min.js", "socket.io.esm.min.js", "socket.io.msgpack.min.js", "socket.io.js.map"]) {
      const res = await fetch(`${ctx.url}/socket.io/${name}`);
      assert.equal(res.status, 200, name);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(readFileSync(join(DIST, name))), `${name} byte for byte`);
      assert.match(res.headers.get("content-type"), name.endsWith(".map") ? /^application\/json/ : /^application\/javascript/);
      const etag = res.headers.get("etag");
      assert.match(etag, /^"[0-9a-f]{24}"$/);
      const again = await fetch(`${ctx.url}/socket.io/${name}`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304, name);
      assert.equal((await again.text()).length, 0);
    }
    const stale = await fetch(`${ctx.url}/socket.io/socket.io.js`, { headers: { "if-none-match": '"0000"' } });
    assert.equal(stale.status, 200);
    const head = await fetch(`${ctx.url}/socket.io/socket.io.js`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal((await head.text()).length, 0);
  });

  test("only those names: other files and paths are not served from the directory; Socket.IO still works", async () => {
    for (const path of ["/socket.io/package.json", "/socket.io/../dist/socket.io.js", "/socket.io/socket.io.js/x", "/socket.io.js"]) {
      const res = await fetch(`${ctx.url}${path}`);
      assert.notEqual(res.status, 200, path);
    }
    const post = await fetch(`${ctx.url}/socket.io/socket.io.js`, { method: "POST", body: "x" });
    assert.notEqual(post.status, 200, "POST is not served");
    const s = await connect(ctx.url);
    assert.equal(s.connected, true);
  });
});

describe("serveClient off (the default) and misconfigured", () => {
  test("without serveClient, /socket.io/socket.io.js is not served", async () => {
    const server = await startServer();
    try {
      const res = await fetch(`${server.url}/socket.io/socket.io.js`);
      assert.notEqual(res.status, 200);
    } finally {
      await server.stop();
    }
  });

  test("a directory without any bundle stops the start, naming the directory", async () => {
    const empty = mkdtempSync(join(tmpdir(), "strapi-io-no-bundle-"));
    const config = writeConfig(tomlEdit({ "socket.serverOptions": { serveClient: empty } }));
    try {
      const run = await runToExit(["serve", "--config", config.path]);
      assert.notEqual(run.code, 0);
      assert.ok(run.code !== null, "exited by itself");
      assert.match(run.stdout + run.stderr, /socket\.serverOptions\.serveClient: no socket\.io-client bundle/);
      assert.ok((run.stdout + run.stderr).includes(empty), "names the directory");
    } finally {
      config.cleanup();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
