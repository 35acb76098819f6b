// The package as npm would install it: both module systems resolve every export with its
// type declarations, the CommonJS build works against the real gateway, no runtime
// dependency, and the protocol entry imports nothing (safe for browsers).

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { startServer } from "../../../tests/js/helpers/server.mjs";
import { closeAll, uniq } from "../../../tests/js/helpers/sockets.mjs";
import { ADMIN_TOKEN } from "../../../tests/js/helpers/strapi.mjs";
import { connect } from "./helpers.mjs";

const PACKAGE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8"));
const require = createRequire(import.meta.url);

let gateway;
before(async () => {
  gateway = await startServer();
});
after(async () => {
  closeAll();
  await gateway?.stop();
});

test("no runtime dependencies; Node 18+; not private", () => {
  assert.equal(pkg.dependencies, undefined);
  assert.equal(pkg.peerDependencies, undefined);
  assert.equal(pkg.engines.node, ">=18");
  assert.equal(pkg.private, false);
});

test("every export resolves in both module systems, with its declarations on disk", async () => {
  const esm = await import("@strapi-io/client");
  const cjs = require("@strapi-io/client");
  const names = ["createRemoteIo", "RemoteIoError", "RemoteIoGatewayError", "RemoteIoNetworkError", "RemoteIoTimeoutError", "RemoteIoArgumentError", "createLifecycleMiddleware", "isConnectErrorMessage", "CONNECT_ERROR_MESSAGES", "connectWithSession", "strapiRefresh", "StrapiSessionError", "StrapiRefreshError", "jwtExpiresAt"];
  for (const name of names) {
    assert.equal(typeof esm[name], typeof cjs[name], name);
    assert.notEqual(esm[name], undefined, name);
  }
  const protocolEsm = await import("@strapi-io/client/protocol");
  const protocolCjs = require("@strapi-io/client/protocol");
  assert.deepEqual([...protocolEsm.CONNECT_ERROR_MESSAGES], [...protocolCjs.CONNECT_ERROR_MESSAGES]);
  assert.equal((await import("@strapi-io/client/strapi-server")).default, require("@strapi-io/client/strapi-server"));
  const sessionEsm = await import("@strapi-io/client/session");
  const sessionCjs = require("@strapi-io/client/session");
  for (const name of ["connectWithSession", "strapiRefresh", "StrapiSessionError", "StrapiRefreshError", "jwtExpiresAt"]) {
    assert.equal(typeof sessionEsm[name], "function", name);
    assert.equal(typeof sessionCjs[name], "function", name);
    assert.equal(sessionEsm[name], esm[name], `${name} is the same function from the index`);
  }

  const files = [];
  const walk = (v) => (typeof v === "string" ? files.push(v) : Object.values(v).forEach(walk));
  walk(pkg.exports);
  for (const f of files) assert.ok(existsSync(join(PACKAGE_DIR, f)), `${f} (run npm run build)`);
  assert.ok(files.some((f) => f.endsWith("esm/index.d.ts")) && files.some((f) => f.endsWith("cjs/index.d.ts")));
});

test("the protocol and session entries import nothing: browsers can use them without the HTTP client", () => {
  for (const [file, name] of [["protocol.js", "isConnectErrorMessage"], ["session.js", "connectWithSession"]]) {
    for (const dir of ["esm", "cjs"]) {
      const code = readFileSync(join(PACKAGE_DIR, "dist", dir, file), "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, "");
      assert.match(code, new RegExp(name), "the code itself is left");
      assert.doesNotMatch(code, /\bimport\s|require\(/, `dist/${dir}/${file}`);
    }
  }
});

test("the CommonJS build talks to the gateway", async () => {
  const { createRemoteIo } = require("@strapi-io/client");
  const socket = await connect(gateway.url);
  const event = uniq("cjs");
  const got = socket.rec.waitFor(event);
  await createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN }).raw({ event, data: { from: "cjs" } });
  assert.deepEqual(await got, { from: "cjs" });
});
