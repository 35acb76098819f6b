// Live settings (SPEC §5, §7; README "HTTP"): GET/PUT /api/io/settings — validated as a
// whole document, saved in the gateway's SQLite database under its data dir, applied
// without restart (the next event follows new role permissions; connected sockets that
// would now be refused are told why and disconnected), and still there after a restart,
// winning over the config file. A corrupt database stops the start.

import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { closeAll, connect, connectError, marker, uniq } from "./helpers/clients.mjs";
import { adminGet, assertApiError, call, request } from "./helpers/http.mjs";
import { freshDataDir, runToExit, startServer, startServerWith } from "./helpers/server.mjs";
import { ARTICLE, accessJwt, legacyJwt } from "./helpers/strapi.mjs";
import { withTimeout, WAIT_MS } from "./helpers/wait.mjs";

after(() => closeAll());

const putSettings = (url, body, opts = {}) => request(url, "/api/io/settings", { method: "PUT", body, ...opts });
const clone = (v) => JSON.parse(JSON.stringify(v));

/** Resolves with [server-disconnect payload, disconnect reason, order of the two]. */
function disconnection(socket) {
  const order = [];
  const told = new Promise((res) => socket.once("server-disconnect", (p) => (order.push("server-disconnect"), res(p))));
  const gone = new Promise((res) => socket.once("disconnect", (r) => (order.push("disconnect"), res(r))));
  return Promise.all([
    withTimeout(told, WAIT_MS, "server-disconnect"),
    withTimeout(gone, WAIT_MS, "disconnect"),
  ]).then(([payload, reason]) => [payload, reason, order]);
}

describe("GET/PUT /api/io/settings, persisted across a restart", () => {
  const dataDir = freshDataDir();
  let server;
  let url;
  /** The settings as the config file seeds them. */
  let seeded;
  /** The document the blacklist PUT stored. */
  let stored;

  before(async () => {
    server = await startServerWith({}, { dataDir });
    url = server.url;
  });
  after(async () => {
    closeAll();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("GET → {data: settings}: the plugin's camelCase PluginSettings, seeded by the config file", async () => {
    const res = await request(url, "/api/io/settings");
    assert.equal(res.status, 200, res.text);
    seeded = res.body.data;
    for (const key of ["enabled", "cors", "connection", "security", "events", "rooms", "entitySubscriptions", "rolePermissions", "redis", "namespaces", "monitoring"]) {
      assert.ok(key in seeded, `settings.${key} present: ${Object.keys(seeded)}`);
    }
    assert.deepEqual(seeded.cors.origins, ["*"], "from the config file");
    assert.equal(seeded.connection.maxConnections, 20000, "from the config file");
    assert.equal(seeded.connection.pingTimeout, 20000, "the plugin's default");
    assert.deepEqual(seeded.security.ipBlacklist, []);
    assert.equal(seeded.rooms.enablePrivateRooms, true);
    assert.deepEqual(seeded.rolePermissions.public.contentTypes[ARTICLE], { create: true, update: true, delete: true });
    assert.equal(seeded.events.format, "v5");
  });

  test("PUT refusals: no token 401, malformed JSON 400, an invalid document 422 listing every problem with its path; nothing changes", async () => {
    assertApiError(await putSettings(url, seeded, { token: null }), 401, "no token");
    assertApiError(await putSettings(url, seeded, { token: "wrong" }), 401, "wrong token");
    assertApiError(await request(url, "/api/io/settings", { token: null }), 401, "GET without a token");
    assertApiError(await putSettings(url, undefined, { raw: '{"connection": {' }), 400, "malformed JSON");

    const res = await putSettings(url, { connection: { pingTimeout: "soon" }, bogus: 1, security: { ipBlacklist: [7] } });
    const err = assertApiError(res, 422, "invalid document");
    assert.equal(err.name, "ValidationError");
    const errors = err.details?.errors;
    assert.ok(Array.isArray(errors), `details.errors: ${res.text}`);
    for (const e of errors) {
      assert.equal(typeof e.path, "string", JSON.stringify(e));
      assert.equal(typeof e.message, "string", JSON.stringify(e));
      assert.ok(e.message.length > 0);
    }
    assert.deepEqual(
      errors.map((e) => e.path).sort(),
      ["settings.bogus", "settings.connection.pingTimeout", "settings.security.ipBlacklist[0]"],
      res.text,
    );
    assertApiError(await putSettings(url, [1, 2]), 422, "not an object");

    assert.deepEqual(await adminGet(url, "/api/io/settings"), seeded, "nothing changed");
    const s = await connect(url);
    assert.equal(s.connected, true);
    s.close();
  });

  test("invalid values (bad IPs and CIDR ranges) → 422 with each one's path; nothing changes", async () => {
    const res = await putSettings(url, {
      security: { ipBlacklist: ["not-an-ip", "10.0.0.0/33"], ipWhitelist: ["::1/129"], trustedProxies: ["300.1.1.1"] },
    });
    const err = assertApiError(res, 422, "invalid values");
    assert.deepEqual(
      err.details.errors.map((e) => e.path).sort(),
      [
        "settings.security.ipBlacklist[0]",
        "settings.security.ipBlacklist[1]",
        "settings.security.ipWhitelist[0]",
        "settings.security.trustedProxies[0]",
      ],
      res.text,
    );
    assert.deepEqual(await adminGet(url, "/api/io/settings"), seeded, "nothing changed");
  });

  test("a document with both wrong types and invalid values → 422 lists every problem at once", async () => {
    const res = await putSettings(url, { security: { ipBlacklist: ["not-an-ip"] }, events: { format: "v6" }, bogus: true });
    const err = assertApiError(res, 422, "mixed problems");
    const paths = err.details.errors.map((e) => e.path).sort();
    assert.deepEqual(
      paths,
      ["settings.bogus", "settings.events.format", "settings.security.ipBlacklist[0]"],
      `every problem, not only the first kind found: ${res.text}`,
    );
    assert.deepEqual(await adminGet(url, "/api/io/settings"), seeded, "nothing changed");
  });

  test("role permissions apply live: public create=false → the next article:create skips the public, still reaches the editor", async () => {
    const pub = await connect(url);
    const editor = await connect(url, { auth: { token: accessJwt(1) } });
    const doc = clone(seeded);
    doc.rolePermissions.public.contentTypes[ARTICLE].create = false;
    const res = await putSettings(url, doc);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.reloaded, true);
    assert.equal(res.body.disconnected, 0, "nobody is refused by this change");
    assert.deepEqual(res.body.data, doc);
    assert.deepEqual(await adminGet(url, "/api/io/settings"), doc);

    const documentId = uniq("article");
    const got = editor.rec.waitFor("article:create", (p) => p?.data?.documentId === documentId);
    await call(url, "emit", { event: "create", schema: ARTICLE, data: { id: 41, documentId, title: "live" } });
    assert.equal((await got).data.title, "live");
    // Updates are still routed to the public.
    const upd = pub.rec.waitFor("article:update", (p) => p?.data?.documentId === documentId);
    await call(url, "emit", { event: "update", schema: ARTICLE, data: { id: 41, documentId, title: "edited" } });
    await upd;
    await marker(url, [pub, editor]);
    assert.equal(pub.rec.count("article:create"), 0, "public: create no longer routed");
    assert.equal(pub.connected && editor.connected, true);

    // And back: the next event follows again.
    const back = await putSettings(url, seeded);
    assert.equal(back.status, 200, back.text);
    const again = pub.rec.waitFor("article:create");
    await call(url, "emit", { event: "create", schema: ARTICLE, data: { id: 42, documentId: uniq("article"), title: "again" } });
    assert.equal((await again).data.title, "again");
    pub.close();
    editor.close();
  });

  test("a partial document: the keys left out take the plugin's defaults, not the config file's", async () => {
    const res = await putSettings(url, { connection: { maxConnections: 777 } });
    assert.equal(res.status, 200, res.text);
    const d = res.body.data;
    assert.equal(d.connection.maxConnections, 777);
    assert.equal(d.connection.pingTimeout, 20000, "default");
    assert.deepEqual(d.cors.origins, ["http://localhost:3000"], "the plugin's default, not the file's *");
    assert.deepEqual(d.rolePermissions, {}, "no role entries");
    assert.equal(d.rooms.enablePrivateRooms, false, "default");
    assert.deepEqual(await adminGet(url, "/api/io/settings"), d);
  });

  test("ipBlacklist applies live: connected sockets get server-disconnect {reason: 'IP blacklisted'}, new handshakes are refused", async () => {
    const restore = await putSettings(url, seeded);
    assert.equal(restore.status, 200, restore.text);
    const pub = await connect(url);
    const editor = await connect(url, { auth: { token: legacyJwt(1) } });
    const pubGone = disconnection(pub);
    const editorGone = disconnection(editor);

    const doc = clone(seeded);
    doc.security.ipBlacklist = ["127.0.0.1"];
    doc.connection.maxConnections = 4321;
    const res = await putSettings(url, doc);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.reloaded, true);
    assert.ok(res.body.disconnected >= 2, `disconnected: ${res.body.disconnected}`);
    assert.deepEqual(res.body.data, doc);
    stored = res.body.data;

    for (const [name, gone] of [["public", pubGone], ["editor", editorGone]]) {
      const [payload, reason, order] = await gone;
      assert.deepEqual(payload, { reason: "IP blacklisted" }, name);
      assert.equal(reason, "io server disconnect", name);
      assert.deepEqual(order, ["server-disconnect", "disconnect"], name);
    }
    assert.equal(await connectError(url), "IP blacklisted");
    assert.equal(await connectError(url, { transports: ["polling"], auth: { token: legacyJwt(1) } }), "IP blacklisted");
    // The admin API is not behind the Socket.IO guards.
    assert.deepEqual(await adminGet(url, "/api/io/settings"), stored);
    assert.equal((await adminGet(url, "/api/io/stats")).connections, 0);
  });

  test("restart on the same data dir with a config that says otherwise: the stored settings win", async () => {
    await server.stop();
    server = await startServerWith(
      {
        "settings.security": { ipBlacklist: [] },
        "settings.connection": { maxConnections: 5 },
        "settings.cors": { origins: ["https://example.com"] },
      },
      { dataDir },
    );
    url = server.url;
    assert.deepEqual(await adminGet(url, "/api/io/settings"), stored, "the stored document, not the file's seed");
    assert.equal(await connectError(url), "IP blacklisted", "the stored blacklist applies");

    // Lifted live, and still lifted after one more restart.
    const res = await putSettings(url, seeded);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.disconnected, 0);
    (await connect(url)).close();
    await server.stop();
    server = await startServerWith({ "settings.security": { ipBlacklist: ["127.0.0.1"] } }, { dataDir });
    url = server.url;
    assert.deepEqual(await adminGet(url, "/api/io/settings"), seeded);
    const s = await connect(url);
    assert.equal(s.connected, true, "the file's blacklist lost to the stored settings");
  });
});

describe("the settings database", () => {
  test("each server gets its own data dir: a PUT on one does not reach the next", async () => {
    const a = await startServerWith();
    try {
      const res = await putSettings(a.url, { security: { ipBlacklist: ["127.0.0.1"] } });
      assert.equal(res.status, 200, res.text);
    } finally {
      await a.stop();
    }
    const b = await startServerWith();
    try {
      assert.deepEqual((await adminGet(b.url, "/api/io/settings")).security.ipBlacklist, []);
      (await connect(b.url)).close();
    } finally {
      await b.stop();
    }
  });

  const corrupt = () => {
    const dir = freshDataDir();
    writeFileSync(join(dir, "strapi-io.db"), Buffer.alloc(8192, "this is not a SQLite database. "));
    return dir;
  };

  test("a corrupt strapi-io.db stops the start with a message naming the file", async () => {
    const dir = corrupt();
    try {
      const run = await runToExit(["serve"], { dataDir: dir });
      assert.notEqual(run.code, 0, `exit code ${run.code}\n${run.stderr}`);
      assert.equal(run.signal, null);
      assert.match(run.stderr, /strapi-io\.db/, run.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a corrupt strapi-io.db: the start fails before announcing 'listening'", async () => {
    const dir = corrupt();
    try {
      const run = await runToExit(["serve"], { dataDir: dir });
      assert.notEqual(run.code, 0);
      assert.doesNotMatch(
        run.stdout,
        /strapi-io listening on/,
        "the readiness line must not be printed when the start fails",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a data dir that cannot be created stops the start", async () => {
    const dir = freshDataDir();
    const blocker = join(dir, "file");
    writeFileSync(blocker, "in the way");
    try {
      const run = await runToExit(["serve"], { dataDir: join(blocker, "data") });
      assert.notEqual(run.code, 0, run.stderr);
      assert.match(run.stderr, /data directory|strapi-io\.db/, run.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("settings from the environment", () => {
  test("STRAPI_IO_CORS_ORIGINS and STRAPI_IO_ONLY_PUBLISHED win over the file and over stored settings", async () => {
    const dataDir = freshDataDir();
    try {
      const first = await startServer({ dataDir });
      const stored = (await request(first.url, "/api/io/settings")).body.data;
      const put = await putSettings(first.url, { ...stored, cors: { origins: ["https://stored.example"], credentials: true } });
      assert.equal(put.status, 200, put.text);
      await first.stop();
      const env = { STRAPI_IO_CORS_ORIGINS: "https://a.example,https://b.example", STRAPI_IO_ONLY_PUBLISHED: "true" };
      const second = await startServer({ dataDir, env });
      try {
        const live = (await request(second.url, "/api/io/settings")).body.data;
        assert.deepEqual(live.cors.origins, ["https://a.example", "https://b.example"]);
        assert.equal(live.events.onlyPublished, true);
      } finally {
        await second.stop();
      }
      const bad = await runToExit(["serve"], { env: { STRAPI_IO_ONLY_PUBLISHED: "yes" } });
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /STRAPI_IO_ONLY_PUBLISHED: `yes`/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
