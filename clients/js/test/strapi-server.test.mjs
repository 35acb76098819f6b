// The Strapi 5 plugin entry, loaded the way Strapi's plugin loader loads it (package.json's
// exports["./strapi-server"] with the `require` condition, a CommonJS `.js` file, config
// defaults + validator), run with a minimal fake `strapi` that records what register and
// bootstrap do. Document actions are driven through the registered Document Service
// middleware against the real gateway, and official clients observe the events.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createRemoteIo, resolvePluginConfig } from "@strapi-io/client";
import { freePort, startServer } from "../../../tests/js/helpers/server.mjs";
import { closeAll, uniq } from "../../../tests/js/helpers/sockets.mjs";
import { ADMIN_TOKEN, ARTICLE, COMMENT, legacyJwt } from "../../../tests/js/helpers/strapi.mjs";
import { WAIT_MS, withTimeout } from "../../../tests/js/helpers/wait.mjs";
import { connect, marker, relay } from "./helpers.mjs";

const PACKAGE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

/**
 * What Strapi 5's loader does with an installed plugin package: the plugin name from
 * `strapi.name` (the package must say `strapi.kind: "plugin"`), the server entry from the
 * exports map (first of its conditions among default/require/node) or `./strapi-server.js`,
 * loaded only when it ends in `.js` (the loader ignores other extensions) with `require`,
 * `default` taken for ES-module interop, called with `{ env }` when it is a function.
 */
function loadLikeStrapi(env) {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_DIR, "package.json"), "utf8"));
  assert.equal(pkg.strapi?.kind, "plugin", "package.json strapi.kind");
  assert.match(pkg.strapi?.name, /^[a-z0-9]+(-[a-z0-9]+)*$/, "plugin name in kebab case");
  const entry = pkg.exports?.["./strapi-server"];
  const conditions = new Set(["default", "require", "node"]);
  let target = "./strapi-server.js";
  if (typeof entry === "string") target = entry;
  else if (entry) target = Object.entries(entry).find(([k]) => conditions.has(k))?.[1] ?? target;
  const file = join(PACKAGE_DIR, target);
  assert.equal(extname(file), ".js", "Strapi only loads a .js server entry");
  let mod = require(file);
  if (mod && mod.__esModule) mod = mod.default;
  if (typeof mod === "function") mod = mod({ env });
  return { name: pkg.strapi.name, plugin: mod };
}

/** Strapi's `env(name, default)`. */
const envOf = (vars) => (name, fallback) => vars[name] ?? fallback;

/** The plugin's config as Strapi computes it: the user's config/plugins.js over the defaults, validated. */
function pluginConfig(plugin, userConfig, vars = {}) {
  const defaults = typeof plugin.config.default === "function" ? plugin.config.default({ env: envOf(vars) }) : plugin.config.default;
  const config = { ...defaults, ...userConfig };
  try {
    plugin.config.validator(config);
  } catch (e) {
    throw new Error(`Error regarding strapi-io config: ${e.message}`);
  }
  return config;
}

/** A fake `strapi` recording logs, Document Service middlewares and transactions. */
function fakeStrapi(config, { documents = true } = {}) {
  const logs = [];
  const middlewares = [];
  let openTransaction = null; // commit callbacks of the open (outer) transaction
  const strapi = {
    config: { get: (path, fallback) => (path === "plugin::strapi-io" ? config : fallback) },
    log: Object.fromEntries(["info", "warn", "error", "debug"].map((level) => [level, (m) => logs.push({ level, message: m })])),
    db: {
      inTransaction: () => openTransaction !== null,
      // Strapi's semantics: a nested call joins the open transaction; commit callbacks run
      // after the outer commit and are dropped on rollback.
      async transaction(cb) {
        const onCommit = (f) => openTransaction.push(f);
        if (openTransaction) return cb({ onCommit });
        openTransaction = [];
        try {
          const result = await cb({ onCommit });
          const callbacks = openTransaction;
          openTransaction = null;
          for (const f of callbacks) f();
          return result;
        } catch (e) {
          openTransaction = null;
          throw e;
        }
      },
    },
  };
  if (documents) strapi.documents = { use: (mw) => (middlewares.push(mw), strapi.documents) };
  /** Runs a Document Service action through the middlewares, `repository` standing for Strapi's work. */
  const run = (uid, action, params, repository) => {
    const chain = (i) => (i < middlewares.length ? middlewares[i]({ uid, action, params, contentType: {} }, () => chain(i + 1)) : repository());
    return chain(0);
  };
  const logged = (level, re) => logs.filter((l) => l.level === level && re.test(l.message));
  const waitForLog = async (level, re) => {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      const found = logged(level, re);
      if (found.length) return found[0].message;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`no ${level} log matching ${re}; logs: ${JSON.stringify(logs)}`);
  };
  return { strapi, logs, middlewares, run, logged, waitForLog };
}

let gateway;
let pub; // public role: hears article create/update/delete
let editor; // hears everything

before(async () => {
  gateway = await startServer();
  pub = await connect(gateway.url);
  editor = await connect(gateway.url, { auth: { token: legacyJwt(1) } });
});

after(async () => {
  closeAll();
  await gateway?.stop();
});

describe("loading and configuring the plugin", () => {
  test("Strapi finds it: plugin `strapi-io`, a CommonJS strapi-server.js with config, register, bootstrap, destroy", () => {
    const { name, plugin } = loadLikeStrapi(envOf({}));
    assert.equal(name, "strapi-io");
    for (const key of ["register", "bootstrap", "destroy"]) assert.equal(typeof plugin[key], "function", key);
    assert.equal(typeof plugin.config.validator, "function");
    // The ES-module side sees the same object.
    return import("@strapi-io/client/strapi-server").then((m) => assert.equal(m.default, plugin));
  });

  test("url and adminToken default to STRAPI_IO_URL and STRAPI_IO_ADMIN_TOKEN", () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const config = pluginConfig(plugin, {}, { STRAPI_IO_URL: gateway.url, STRAPI_IO_ADMIN_TOKEN: ADMIN_TOKEN });
    assert.equal(config.url, gateway.url);
    assert.equal(config.adminToken, ADMIN_TOKEN);
    const resolved = resolvePluginConfig(config);
    assert.equal(resolved.managed, false, "a url means a gateway run elsewhere");
    assert.equal(resolved.lifecycles.enabled, false, "lifecycles off unless asked for");
  });

  test("an invalid config stops Strapi with a message naming the key", () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const ok = { url: gateway.url, adminToken: ADMIN_TOKEN };
    const cases = [
      [{ managed: false }, /url is required with managed: false: the strapi-io gateway's base URL/],
      [{ url: gateway.url }, /adminToken is required/],
      [{ ...ok, url: "ftp://x" }, /`url` must be http:\/\/ or https:\/\//],
      [{ ...ok, retries: -1 }, /`retries` must be an integer/],
      [{ ...ok, timeoutMs: "fast" }, /`timeoutMs` must be a positive number/],
      [{ ...ok, sockets: {} }, /unknown key\(s\) sockets/],
      [{ ...ok, socket: {} }, /socket: only for the gateway the plugin runs \(managed: true\)/],
      [{ ...ok, lifecycles: "yes" }, /lifecycles must be true, false or an object/],
      [{ ...ok, lifecycles: { enabled: "yes" } }, /lifecycles\.enabled must be a boolean/],
      [{ ...ok, lifecycles: { actions: ["findMany"] } }, /lifecycles\.actions must be a list of create, update, delete, publish, unpublish/],
      [{ ...ok, lifecycles: { contentTypes: ["article"] } }, /lifecycles\.contentTypes must be a list of content type uids/],
      [{ ...ok, lifecycles: { publishEvent: "published" } }, /lifecycles\.publishEvent must be "update" or "publish"/],
      [{ ...ok, lifecycles: { unpublishEvent: "x" } }, /lifecycles\.unpublishEvent must be "update" or "unpublish"/],
      [{ ...ok, lifecycles: { enable: true } }, /lifecycles: unknown key\(s\) enable/],
      [{ ...ok, lifecycles: { outboxSize: 0 } }, /lifecycles\.outboxSize must be an integer from 1 to 1000000/],
      [{ ...ok, lifecycles: { outboxSize: 2.5 } }, /lifecycles\.outboxSize must be an integer from 1 to 1000000/],
    ];
    for (const [user, message] of cases) {
      assert.throws(() => pluginConfig(plugin, user), (e) => /^Error regarding strapi-io config: /.test(e.message) && message.test(e.message), JSON.stringify(user));
    }
  });
});

describe("register and bootstrap", () => {
  test("register sets strapi.$io to the remote client, with every method; no middleware without lifecycles", async () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const fake = fakeStrapi(pluginConfig(plugin, { url: gateway.url, adminToken: ADMIN_TOKEN }));
    await plugin.register({ strapi: fake.strapi });
    const io = fake.strapi.$io;
    for (const m of ["emit", "raw", "joinRoom", "leaveRoom", "getSocketsInRoom", "sendPrivateMessage", "broadcast", "emitToNamespace", "disconnectSocket", "subscribeToEntity", "unsubscribeFromEntity", "getEntitySubscriptions", "emitToEntity", "getEntityRoomSockets", "invalidate"]) {
      assert.equal(typeof io[m], "function", m);
    }
    assert.equal(fake.middlewares.length, 0);

    // Existing Strapi code, unchanged: strapi.$io.emit(...) reaches the clients.
    const got = pub.rec.waitFor("article:create", (p) => p.data.id === 501);
    await io.emit({ event: "create", schema: ARTICLE, data: { id: 501, documentId: "d-501", title: "from a controller", internalNotes: "x" } });
    assert.deepEqual((await got).data, { id: 501, documentId: "d-501", title: "from a controller" });

    await plugin.bootstrap({ strapi: fake.strapi });
    assert.equal(fake.logged("info", /^\[strapi-io\] strapi\.\$io → http:\/\/127\.0\.0\.1:\d+ \(gateway ready\)$/).length, 1, JSON.stringify(fake.logs));
  });

  test("a failed $io call is logged as a warning (and still rejects for the caller)", async () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const fake = fakeStrapi(pluginConfig(plugin, { url: gateway.url, adminToken: "wrong" }));
    await plugin.register({ strapi: fake.strapi });
    await assert.rejects(fake.strapi.$io.raw({ event: "x", data: {} }), { name: "UnauthorizedError", status: 401 });
    assert.equal(fake.logged("warn", /^\[strapi-io\] strapi\.\$io\.raw failed: UnauthorizedError \(401\): Missing or invalid credentials$/).length, 1);
  });

  test("bootstrap with the gateway down warns and does not fail; register warns when $io was already set", async () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const url = `http://127.0.0.1:${await freePort()}`;
    const fake = fakeStrapi(pluginConfig(plugin, { url, adminToken: ADMIN_TOKEN, lifecycles: true }));
    fake.strapi.$io = { emit() {} }; // what @strapi-community/plugin-io would have left
    await plugin.register({ strapi: fake.strapi });
    assert.equal(fake.logged("warn", /strapi\.\$io was already set .*replacing it/).length, 1);
    assert.equal(typeof fake.strapi.$io.getEntityRoomSockets, "function");
    await plugin.bootstrap({ strapi: fake.strapi });
    const warning = fake.logged("warn", /the gateway is not reachable \(.*ECONNREFUSED.*\); \$io calls fail until it is; forwarding document create\/update\/delete\/publish\/unpublish of every api:: content type$/);
    assert.equal(warning.length, 1, JSON.stringify(fake.logs));
  });

  test("lifecycles without Strapi 5's Document Service: a clear error", async () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const fake = fakeStrapi(pluginConfig(plugin, { url: gateway.url, adminToken: ADMIN_TOKEN, lifecycles: true }), { documents: false });
    assert.throws(() => plugin.register({ strapi: fake.strapi }), /lifecycles need Strapi 5's Document Service \(strapi\.documents\.use\)/);
  });
});

describe("forwarding document lifecycles", () => {
  let plugin;
  let fake;
  before(async () => {
    ({ plugin } = loadLikeStrapi(envOf({})));
    fake = fakeStrapi(pluginConfig(plugin, { url: gateway.url, adminToken: ADMIN_TOKEN, lifecycles: true }));
    await plugin.register({ strapi: fake.strapi });
    assert.equal(fake.middlewares.length, 1, "one Document Service middleware");
  });

  const article = (id, extra = {}) => ({
    id,
    documentId: `doc-${id}`,
    title: `Article ${id}`,
    internalNotes: "private",
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
    publishedAt: null,
    locale: null,
    ...extra,
  });

  test("create and update: the action's result goes out sanitized; Strapi gets its result untouched", async () => {
    const created = article(601);
    const got = pub.rec.waitFor("article:create", (p) => p.data.id === 601);
    const result = await fake.run(ARTICLE, "create", { data: { title: "Article 601" } }, async () => created);
    assert.equal(result, created, "the same object");
    const p = await got;
    assert.equal(p.data.documentId, "doc-601");
    assert.equal("internalNotes" in p.data, false, "private field removed by the gateway");

    const updated = article(601, { title: "edited" });
    const gotUpdate = pub.rec.waitFor("article:update", (x) => x.data.id === 601);
    await fake.run(ARTICLE, "update", { documentId: "doc-601", data: { title: "edited" } }, async () => updated);
    assert.equal((await gotUpdate).data.title, "edited");
  });

  test("publish and unpublish become update (entry published, then with publishedAt null)", async () => {
    const published = article(602, { publishedAt: "2026-02-02T00:00:00.000Z" });
    const gotPublish = pub.rec.waitFor("article:update", (p) => p.data.id === 602 && p.data.publishedAt !== null);
    await fake.run(ARTICLE, "publish", { documentId: "doc-602" }, async () => ({ documentId: "doc-602", entries: [published] }));
    const publishEvent = await gotPublish;
    assert.equal(publishEvent.data.publishedAt, "2026-02-02T00:00:00.000Z");
    assert.deepEqual(publishEvent.meta, { action: "publish" }, "an update that stands for a publish says so");

    const gotUnpublish = pub.rec.waitFor("article:update", (p) => p.data.id === 602 && p.data.publishedAt === null);
    await fake.run(ARTICLE, "unpublish", { documentId: "doc-602" }, async () => ({ documentId: "doc-602", entries: [published] }));
    const unpublishEvent = await gotUnpublish;
    assert.equal(unpublishEvent.data.title, "Article 602");
    assert.deepEqual(unpublishEvent.meta, { action: "unpublish" }, "not a draft save");
    // a plain update has no action
    const saved = pub.rec.waitFor("article:update", (p) => p.data.id === 602 && p.data.title === "saved");
    await fake.run(ARTICLE, "update", { documentId: "doc-602" }, async () => article(602, { title: "saved" }));
    assert.deepEqual((await saved).meta, {});
  });

  test("delete sends the published row's {id, documentId}; nothing when nothing was deleted", async () => {
    const draft = article(603);
    const live = article(604, { documentId: "doc-603", publishedAt: "2026-01-01T00:00:00.000Z" });
    const got = pub.rec.waitFor("article:delete", (p) => p.data.documentId === "doc-603");
    await fake.run(ARTICLE, "delete", { documentId: "doc-603" }, async () => ({ documentId: "doc-603", entries: [draft, live] }));
    assert.deepEqual(await got, { data: { id: 604, documentId: "doc-603" }, meta: {} });

    await fake.run(ARTICLE, "delete", { documentId: "doc-none" }, async () => ({ documentId: "doc-none", entries: [] }));
    await marker(createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN }), [pub]);
    assert.equal(pub.rec.all("article:delete").filter((p) => p.data.documentId === "doc-none").length, 0);
  });

  test("reads, failed actions and plugin:: types are not forwarded; a failed action's error reaches Strapi", async () => {
    const io = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN });
    // Earlier tests' events may still be on their way to this socket: let them arrive first.
    await marker(io, [editor]);
    const before = editor.rec.events.length;
    await fake.run(ARTICLE, "findMany", {}, async () => [article(605)]);
    await fake.run(ARTICLE, "findOne", { documentId: "doc-605" }, async () => article(605));
    await fake.run("plugin::users-permissions.user", "update", { documentId: "u" }, async () => ({ id: 1, documentId: "u", username: "x" }));
    await assert.rejects(
      fake.run(ARTICLE, "create", {}, async () => {
        throw new Error("unique constraint");
      }),
      /unique constraint/,
    );
    await marker(io, [editor]);
    const names = editor.rec.events.slice(before).map((e) => e.event).filter((n) => n !== "test:marker");
    assert.deepEqual(names, [], "nothing but markers");
    assert.deepEqual(fake.logged("error", /./), [], "nothing to log either");
  });

  test("inside an outer transaction: sent after the commit, never after a rollback", async () => {
    const io = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN });
    const got = pub.rec.waitFor("article:create", (p) => p.data.id === 606);
    await fake.strapi.db.transaction(async () => {
      await fake.run(ARTICLE, "create", {}, async () => article(606));
      await marker(io, [pub]);
      assert.equal(pub.rec.all("article:create").filter((p) => p.data.id === 606).length, 0, "not before the commit");
    });
    await got;

    await assert.rejects(
      fake.strapi.db.transaction(async () => {
        await fake.run(ARTICLE, "create", {}, async () => article(607));
        throw new Error("rolled back");
      }),
      /rolled back/,
    );
    await marker(io, [pub]);
    await new Promise((r) => setTimeout(r, 50));
    await marker(io, [pub]);
    assert.equal(pub.rec.all("article:create").filter((p) => p.data.id === 607).length, 0, "never after a rollback");
  });

  test("a Content Manager publish (save and publish in one transaction) is one update carrying the published row", async () => {
    const io = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN });
    const draft = article(611, { documentId: "doc-cm", title: "saved then published", updatedAt: "2026-03-03T00:00:00.000Z" });
    const published = article(612, { documentId: "doc-cm", title: "saved then published", updatedAt: "2026-03-03T00:00:00.000Z", publishedAt: "2026-03-03T00:00:00.001Z" });
    const got = pub.rec.waitFor("article:update", (p) => p.data.documentId === "doc-cm");
    await fake.strapi.db.transaction(async () => {
      await fake.run(ARTICLE, "update", { documentId: "doc-cm" }, async () => draft);
      await fake.run(ARTICLE, "publish", { documentId: "doc-cm" }, async () => ({ documentId: "doc-cm", entries: [published] }));
    });
    const p = await got;
    assert.equal(p.data.id, 612, "the published row");
    assert.deepEqual(p.meta, { action: "publish" });
    assert.equal("internalNotes" in p.data, false);
    await marker(io, [pub]);
    assert.equal(pub.rec.all("article:update").filter((x) => x.data.documentId === "doc-cm").length, 1, "once");
  });

  test("actions on several documents committed together: one event each, in commit order", async () => {
    const io = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN });
    await fake.strapi.db.transaction(async () => {
      await fake.run(ARTICLE, "update", { documentId: "doc-621" }, async () => article(621, { title: "first" }));
      await fake.run(COMMENT, "create", {}, async () => ({ id: 622, documentId: "c-622", text: "second" }));
      await fake.run(ARTICLE, "update", { documentId: "doc-623" }, async () => article(623, { title: "third" }));
    });
    await editor.rec.waitFor("article:update", (p) => p.data.id === 623);
    await marker(io, [editor]);
    const order = editor.rec.events
      .filter((e) => [621, 622, 623].includes(e.args[0]?.data?.id))
      .map((e) => `${e.event} ${e.args[0].data.id}`);
    assert.deepEqual(order, ["article:update 621", "comment:create 622", "article:update 623"]);
  });

  test("updates of one document arrive in order", async () => {
    const io = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN });
    for (let i = 0; i < 10; i++) {
      await fake.run(ARTICLE, "update", { documentId: "doc-608" }, async () => article(608, { title: `v${i}` }));
    }
    await pub.rec.waitFor("article:update", (p) => p.data.id === 608 && p.data.title === "v9");
    await marker(io, [pub]);
    const titles = pub.rec.all("article:update").filter((p) => p.data.id === 608).map((p) => p.data.title);
    assert.deepEqual(titles, Array.from({ length: 10 }, (_, i) => `v${i}`));
  });
});

describe("forwarding when things go wrong, and its options", () => {
  test("the gateway down: the action succeeds, the failure is logged with strapi.log.error", async () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const url = `http://127.0.0.1:${await freePort()}`;
    const fake = fakeStrapi(pluginConfig(plugin, { url, adminToken: ADMIN_TOKEN, retries: 0, lifecycles: true }));
    await plugin.register({ strapi: fake.strapi });
    const entry = { id: 701, documentId: "doc-701", title: "t" };
    assert.equal(await fake.run(ARTICLE, "create", {}, async () => entry), entry);
    const message = await fake.waitForLog("error", /could not forward/);
    assert.match(
      message,
      /^\[strapi-io\] could not forward create of api::article\.article doc-701 to the gateway, retrying until it answers: NetworkError \(503\): entryEvents: strapi-io gateway unreachable .*ECONNREFUSED/,
    );
  });

  test("the gateway unreachable for 3 s during 20 actions: all 20 events arrive once, in order, when it is back", async () => {
    // The plugin reaches the gateway through a relay that is not listening for 3 s.
    const port = await freePort();
    const { plugin } = loadLikeStrapi(envOf({}));
    const fake = fakeStrapi(pluginConfig(plugin, { url: `http://127.0.0.1:${port}`, adminToken: ADMIN_TOKEN, retries: 0, lifecycles: true }));
    await plugin.register({ strapi: fake.strapi });
    const doc = uniq("outbox");
    const ids = Array.from({ length: 20 }, (_, i) => 900 + i);
    const started = Date.now();
    for (const id of ids) {
      const entry = { id, documentId: `${doc}-${id}`, title: `t${id}` };
      assert.equal(await fake.run(ARTICLE, "update", {}, async () => entry), entry, "the action is not held up");
      await new Promise((r) => setTimeout(r, 100));
    }
    await fake.waitForLog("error", /retrying until it answers/);
    await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - started))));
    const ours = () => editor.rec.all("article:update").filter((p) => p.data.documentId.startsWith(doc));
    assert.equal(ours().length, 0, "nothing could arrive while the gateway was unreachable");
    const back = await relay(Number(new URL(gateway.url).port), "pass", { port });
    try {
      await withTimeout(
        (async () => {
          while (ours().length < ids.length) await new Promise((r) => setTimeout(r, 50));
        })(),
        15_000,
        "the 20 events after the gateway came back",
      );
      await marker(createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN }), [editor]);
      assert.deepEqual(ours().map((p) => p.data.id), ids, "each once, in order");
      await fake.waitForLog("error", /the gateway answers again/);
    } finally {
      await back.close();
    }
  });

  test("a full outbox drops its oldest emits, says how many, and sends the rest once the gateway is back", async () => {
    const port = await freePort();
    const { plugin } = loadLikeStrapi(envOf({}));
    const fake = fakeStrapi(
      pluginConfig(plugin, { url: `http://127.0.0.1:${port}`, adminToken: ADMIN_TOKEN, retries: 0, lifecycles: { outboxSize: 2 } }),
    );
    await plugin.register({ strapi: fake.strapi });
    const doc = uniq("full");
    const ids = [951, 952, 953, 954, 955];
    for (const id of ids) await fake.run(ARTICLE, "update", {}, async () => ({ id, documentId: `${doc}-${id}`, title: "t" }));
    // The first emit is the one being retried; the next ones wait, two at most.
    const dropped = await fake.waitForLog("error", /outbox full \(2\)/);
    assert.match(dropped, /1 oldest call\(s\) dropped so far/);
    const back = await relay(Number(new URL(gateway.url).port), "pass", { port });
    try {
      const ours = () => editor.rec.all("article:update").filter((p) => p.data.documentId.startsWith(doc));
      await withTimeout(
        (async () => {
          while (ours().length < 2) await new Promise((r) => setTimeout(r, 50));
        })(),
        15_000,
        "the events the outbox kept",
      );
      await marker(createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN }), [editor]);
      assert.deepEqual(ours().map((p) => p.data.id), [954, 955], "the two newest; the older ones were dropped, as logged");
      assert.equal(fake.logged("error", /outbox full/).length, 1, "one line for the first drop, then one per thousand");
    } finally {
      await back.close();
    }
  });

  test("a retried emit with the same idempotency key is heard once", async () => {
    const res = async () => {
      const r = await fetch(`${gateway.url}/api/io/emit`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ event: "update", schema: ARTICLE, data: { id: 990, documentId: key, title: "once" } }),
      });
      return { status: r.status, body: await r.json() };
    };
    const key = uniq("idem");
    const first = await res();
    const second = await res();
    assert.deepEqual(first, { status: 200, body: { data: null } });
    assert.deepEqual(second, { status: 200, body: { data: null, meta: { duplicate: true } } });
    await marker(createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN }), [editor]);
    assert.equal(editor.rec.all("article:update").filter((p) => p.data.documentId === key).length, 1);
    const bad = await fetch(`${gateway.url}/api/io/emit`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", "idempotency-key": "a b" },
      body: "{}",
    });
    assert.equal(bad.status, 400);
  });

  test("the gateway refuses (wrong token): logged, the action unaffected", async () => {
    const { plugin } = loadLikeStrapi(envOf({}));
    const fake = fakeStrapi(pluginConfig(plugin, { url: gateway.url, adminToken: "wrong", lifecycles: true }));
    await plugin.register({ strapi: fake.strapi });
    const entry = { id: 702, documentId: "doc-702" };
    assert.equal(await fake.run(ARTICLE, "update", {}, async () => entry), entry);
    const message = await fake.waitForLog("error", /could not forward/);
    assert.match(message, /UnauthorizedError \(401\): Missing or invalid credentials$/);
  });

  test("an emit the full outbox dropped while it was in flight does not take the next one with it", async () => {
    const { createLifecycleMiddleware } = await import("@strapi-io/client");
    const sent = [];
    let finishFirst;
    const io = {
      entryEvents: (events) => {
        sent.push(events[0].entry.id);
        // the first emit stays in flight until the test lets it succeed
        return sent.length === 1 ? new Promise((r) => (finishFirst = r)) : Promise.resolve();
      },
    };
    const fake = fakeStrapi(null);
    fake.strapi.documents.use(createLifecycleMiddleware({ strapi: fake.strapi, io, lifecycles: { outboxSize: 1 } }));
    const entry = (id) => ({ id, documentId: `d-${id}`, title: "t" });
    await fake.run(ARTICLE, "update", {}, async () => entry(811)); // in flight
    await fake.run(ARTICLE, "update", {}, async () => entry(812)); // the outbox is full: 811 is dropped
    await fake.waitForLog("error", /outbox full \(1\): 1 oldest call\(s\) dropped/);
    finishFirst();
    await withTimeout(
      (async () => {
        while (sent.length < 2) await new Promise((r) => setTimeout(r, 10));
      })(),
      WAIT_MS,
      "the emit behind the dropped one",
    );
    assert.deepEqual(sent, [811, 812]);
  });

  test("contentTypes and actions choose what is sent, as Strapi's entry events; publishEvent is warned about, not used", async () => {
    const { createLifecycleMiddleware } = await import("@strapi-io/client");
    const { createEntrySender } = await import("@strapi-io/client");
    const real = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN });
    const sender = createEntrySender({ url: gateway.url, adminToken: ADMIN_TOKEN });
    const sent = [];
    const io = {
      entryEvents: (events, call) => {
        for (const e of events) sent.push({ event: e.event, uid: e.uid, id: e.entry.id });
        return sender.entryEvents(events, call);
      },
    };
    const fake = fakeStrapi(null);
    fake.strapi.documents.use(
      createLifecycleMiddleware({
        strapi: fake.strapi,
        io,
        lifecycles: { contentTypes: [COMMENT], actions: ["create", "publish", "unpublish"], publishEvent: "publish" },
      }),
    );
    assert.equal(fake.logged("error", /lifecycles\.publishEvent is no longer used/).length, 1);
    const comment = (id) => ({ id, documentId: `c-${id}`, text: "t", publishedAt: null });
    await fake.run(ARTICLE, "create", {}, async () => ({ id: 801, documentId: "a-801" })); // not listed
    await fake.run(COMMENT, "update", {}, async () => comment(802)); // action not listed
    const got = editor.rec.waitFor("comment:create", (p) => p.data.id === 803);
    await fake.run(COMMENT, "create", {}, async () => comment(803));
    await fake.run(COMMENT, "publish", {}, async () => ({ documentId: "c-804", entries: [comment(804)] }));
    await fake.run(COMMENT, "unpublish", {}, async () => ({ documentId: "c-805", entries: [comment(805)] }));
    await got;
    const deadline = Date.now() + WAIT_MS;
    while (sent.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(sent, [
      { event: "entry.create", uid: COMMENT, id: 803 },
      { event: "entry.publish", uid: COMMENT, id: 804 },
      { event: "entry.unpublish", uid: COMMENT, id: 805 },
    ]);
    await marker(real, [editor]);
    assert.equal(editor.rec.count("comment:publish"), 0, "the gateway enables no publish action: sent as update");
    assert.equal(editor.rec.all("comment:update").filter((p) => p.data.id === 804 && p.meta.action === "publish").length, 1);
    assert.equal(fake.logged("error", /could not forward/).length, 0);
  });

  test("a commit of 250 actions goes out as calls of at most 100 actions, in order, each with a key of its own", async () => {
    const { createLifecycleMiddleware } = await import("@strapi-io/client");
    const calls = [];
    const io = { entryEvents: async (events, call) => void calls.push({ ids: events.map((e) => e.entry.id), key: call.idempotencyKey }) };
    const fake = fakeStrapi(null);
    fake.strapi.documents.use(createLifecycleMiddleware({ strapi: fake.strapi, io }));
    await fake.strapi.db.transaction(async () => {
      for (let id = 1; id <= 250; id++) await fake.run(ARTICLE, "create", {}, async () => ({ id, documentId: `bulk-${id}` }));
    });
    const deadline = Date.now() + WAIT_MS;
    while (calls.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(calls.map((c) => c.ids.length), [100, 100, 50]);
    assert.deepEqual(calls.flatMap((c) => c.ids), Array.from({ length: 250 }, (_, i) => i + 1));
    assert.equal(new Set(calls.map((c) => c.key)).size, 3);
  });

  test("a middleware error of our own is logged, never thrown into Strapi", async () => {
    const { createLifecycleMiddleware } = await import("@strapi-io/client");
    const fake = fakeStrapi(null);
    fake.strapi.db.inTransaction = () => {
      throw new Error("db gone");
    };
    fake.strapi.documents.use(createLifecycleMiddleware({ strapi: fake.strapi, io: { entryEvents: async () => {} } }));
    const entry = { id: 901, documentId: "d-901" };
    assert.equal(await fake.run(ARTICLE, "create", {}, async () => entry), entry);
    assert.equal(fake.logged("error", /^\[strapi-io\] could not forward create of api::article\.article: db gone$/).length, 1);
  });
});
