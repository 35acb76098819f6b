// Strapi's own webhooks as a source of content events (SPEC §3, README "HTTP"):
// POST /webhooks/strapi, replayed from what a real Strapi 5.54 sent
// (tests/fixtures/strapi5-webhooks), each client receiving its events sanitized for its
// audience; entry.publish/unpublish mapped to update unless enabled as actions of their own;
// media events, unknown models and bad requests answered without reaching any client;
// the counts in GET /api/io/stats.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  startServerWithout,
  ARTICLE,
  COMMENT,
  COMMENTS_ONLY_TOKEN,
  DASHBOARD_TOKEN,
  FIXTURE_WEBHOOK_TOKEN,
  accessJwt,
  adminGet,
  assertApiError,
  closeAll,
  connect,
  legacyJwt,
  marker,
  startServer,
  startServerWith,
  uniq,
  webhook,
  webhookFixture,
} from "./helpers.mjs";

after(() => closeAll());

const ENV = { STRAPI_IO_WEBHOOK_TOKEN: FIXTURE_WEBHOOK_TOKEN };
const ENTRY_FIXTURES = ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15"];
/** What each Strapi entry event becomes when no content type enables publish/unpublish. */
const ACTION = {
  "entry.create": "create",
  "entry.update": "update",
  "entry.publish": "update",
  "entry.unpublish": "update",
  "entry.delete": "delete",
};

/**
 * The demo's audiences as the clients below see them: which content events each is routed
 * (realtime permission, demo rolePermissions) and which keys of these entries it may not
 * read (relations to types it may not `find`).
 */
const AUDIENCES = {
  public: { routed: (uid, action) => uid === ARTICLE || (uid === COMMENT && action === "create"), hidden: ["author"] },
  reader: { routed: () => true, hidden: [] },
  editor: { routed: () => true, hidden: [] },
  dashboard: { routed: () => true, hidden: [] },
  commentsOnly: { routed: (uid) => uid === COMMENT, hidden: ["article"] },
};

async function connectAudiences(url) {
  return {
    public: await connect(url),
    reader: await connect(url, { auth: { token: legacyJwt(2) } }),
    editor: await connect(url, { auth: { token: accessJwt(1) } }),
    dashboard: await connect(url, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } }),
    commentsOnly: await connect(url, { auth: { strategy: "api-token", token: COMMENTS_ONLY_TOKEN } }),
  };
}

const omit = (obj, keys) => Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));

/** The wire payload an audience gets for `entry` (Strapi 5 shape; deletes carry ids only). */
function expectedPayload(entry, action, hidden) {
  if (action === "delete") return { data: { id: entry.id, documentId: entry.documentId }, meta: {} };
  return { data: omit(entry, hidden), meta: {} };
}

/** Events a socket received, marker events left out. */
const received = (socket) =>
  socket.rec.events.filter((e) => e.event !== "test:marker").map((e) => [e.event, e.args[0]]);

/** Replays a fixture with the headers Strapi sent (its Authorization included). */
const replay = (url, fixture) => webhook(url, fixture.body, { token: null, headers: fixture.headers });

describe("webhooks: the demo config, STRAPI_IO_WEBHOOK_TOKEN=fixture-webhook-token", () => {
  let server;
  let url;
  let clients;
  /** What this file sent, by the answer it expects: emitted (200), ignored (202), rejected. */
  const sent = { emitted: 0, ignored: 0, rejected: 0 };

  before(async () => {
    server = await startServer({ env: ENV });
    url = server.url;
    clients = await connectAudiences(url);
  });
  after(async () => {
    closeAll();
    await server?.stop();
  });

  /** Clears what the clients recorded so far (after a marker). */
  async function settle() {
    await marker(url, Object.values(clients));
    for (const s of Object.values(clients)) s.rec.events.length = 0;
  }

  test("Strapi 5.54's entry webhooks, replayed: every client gets its events in order, sanitized for its audience", async () => {
    await settle();
    const expected = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
    for (const n of ENTRY_FIXTURES) {
      const f = webhookFixture(n);
      const { event: strapiEvent, uid, model, entry } = f.body;
      const action = ACTION[strapiEvent];
      const event = `${model}:${action}`;
      const res = await replay(url, f);
      assert.equal(res.status, 200, `${f.name}: ${res.text}`);
      sent.emitted++;
      assert.equal(res.body.data?.event, event, `${f.name}: ${res.text}`);
      assert.equal(res.body.data.skipped, null, f.name);
      assert.ok(Number.isInteger(res.body.data.audiences) && res.body.data.audiences > 0, `${f.name}: ${res.text}`);
      for (const [name, a] of Object.entries(AUDIENCES)) {
        if (a.routed(uid, action)) expected[name].push([event, expectedPayload(entry, action, a.hidden)]);
      }
    }
    await marker(url, Object.values(clients));
    for (const [name, socket] of Object.entries(clients)) {
      assert.deepEqual(received(socket), expected[name], `what the ${name} client received`);
    }
    // The shape the plugin's clients rely on, spelled out once.
    const [, firstDelete] = received(clients.public).find(([e]) => e === "article:delete");
    assert.deepEqual(firstDelete, { data: { id: 6, documentId: "qn91iwaux3ccsi3l46gz4c7q" }, meta: {} });
    assert.ok(!received(clients.public).some(([e]) => e === "comment:update" || e === "comment:delete"), "public: comment create only");
    assert.ok(!received(clients.commentsOnly).some(([e]) => e.startsWith("article:")), "comments-only: no article events");
  });

  test("an entry with an author and private fields: editor and reader see the author; the public and the comments-only token do not; private fields reach nobody", async () => {
    await settle();
    const f = webhookFixture("02");
    const author = { id: 1, documentId: "author-1", name: "Ada", email: "ada@example.com" };
    const entry = {
      ...f.body.entry,
      author,
      internalNotes: "embargoed until Monday",
      createdBy: { id: 1, firstname: "Admin", email: "admin@example.com" },
      updatedBy: { id: 1, firstname: "Admin", email: "admin@example.com" },
    };
    const res = await webhook(url, { ...f.body, entry });
    assert.equal(res.status, 200, res.text);
    sent.emitted++;
    assert.equal(res.body.data.event, "article:update");
    const waits = ["public", "reader", "editor", "dashboard"].map((k) => clients[k].rec.waitFor("article:update"));
    const [pub, reader, editor, dashboard] = await Promise.all(waits);
    const visible = omit(entry, ["internalNotes", "createdBy", "updatedBy"]);
    assert.deepEqual(editor, { data: visible, meta: {} }, "editor: everything but private fields and createdBy/updatedBy");
    assert.deepEqual(reader, { data: visible, meta: {} }, "reader (Authenticated may find authors)");
    assert.deepEqual(dashboard, { data: visible, meta: {} }, "read-only token");
    assert.deepEqual(pub, { data: omit(visible, ["author"]), meta: {} }, "public may not find authors");
    await marker(url, Object.values(clients));
    assert.equal(clients.commentsOnly.rec.count("article:update"), 0);
  });

  test("media events (Strapi's 16, 17) → 202 ignored; no client hears of them", async () => {
    await settle();
    for (const n of ["16", "17"]) {
      const f = webhookFixture(n);
      const res = await replay(url, f);
      assert.equal(res.status, 202, `${f.name}: ${res.text}`);
      sent.ignored++;
      assert.equal(res.body.data?.ignored, true, `${f.name}: ${res.text}`);
      assert.equal(typeof res.body.data.reason, "string");
    }
    await marker(url, Object.values(clients));
    for (const [name, s] of Object.entries(clients)) assert.deepEqual(received(s), [], `${name} got nothing`);
  });

  test("unknown models and other events → 202 ignored; a body with model only is resolved by its singular name", async () => {
    await settle();
    const entry = { id: 1, documentId: uniq("doc"), title: "t" };
    for (const body of [
      { event: "entry.create", model: "nope", uid: "api::nope.nope", entry },
      { event: "entry.create", model: "nope", entry },
      { event: "review-workflows.updateEntryStage", model: "article", uid: ARTICLE, entry },
      { event: "entry.create", model: "user", uid: "plugin::users-permissions.user", entry: { id: 1, username: "x" } },
    ]) {
      const res = await webhook(url, body);
      assert.equal(res.status, 202, `${JSON.stringify(body)}: ${res.text}`);
      sent.ignored++;
      assert.equal(res.body.data?.ignored, true, res.text);
    }
    await marker(url, Object.values(clients));
    for (const [name, s] of Object.entries(clients)) assert.deepEqual(received(s), [], `${name} got nothing`);

    const res = await webhook(url, { event: "entry.create", model: "article", entry });
    assert.equal(res.status, 200, res.text);
    sent.emitted++;
    assert.equal(res.body.data.event, "article:create");
    assert.deepEqual(await clients.public.rec.waitFor("article:create"), { data: entry, meta: {} });
  });

  test("bad requests: malformed JSON and missing fields → 400, bad tokens → 401, in Strapi's error shape; no client hears of them", async () => {
    await settle();
    const good = webhookFixture("01").body;
    const bad400 = [
      ["malformed JSON", { raw: '{"event": "entry.create", "entry": ' }],
      ["not JSON at all", { raw: "event=entry.create" }],
      ["missing entry", { body: omit(good, ["entry"]) }],
      ["entry not an object", { body: { ...good, entry: "6" } }],
      ["missing event", { body: omit(good, ["event"]) }],
      ["missing uid and model", { body: omit(good, ["uid", "model"]) }],
    ];
    for (const [what, opts] of bad400) {
      const res = await webhook(url, opts.body, { raw: opts.raw });
      assertApiError(res, 400, what);
      sent.rejected++;
    }
    const bad401 = [
      ["no Authorization", { token: null }],
      ["wrong token", { token: "wrong-token" }],
      ["the config file's token, overridden by STRAPI_IO_WEBHOOK_TOKEN", { token: "demo-webhook-token" }],
      ["the admin token", { token: "demo-admin-token" }],
    ];
    for (const [what, opts] of bad401) {
      const res = await webhook(url, good, opts);
      assertApiError(res, 401, what);
      sent.rejected++;
    }
    await marker(url, Object.values(clients));
    for (const [name, s] of Object.entries(clients)) {
      assert.deepEqual(received(s), [], `${name} got nothing`);
      assert.equal(s.connected, true, `${name} still connected`);
    }
  });

  test("GET /api/io/stats → data.webhooks counts what this file sent", async () => {
    const stats = await adminGet(url, "/api/io/stats");
    assert.deepEqual(stats.webhooks, sent);
    assert.equal(stats.events.byType["article:create"] >= 3, true, JSON.stringify(stats.events.byType));
  });
});

describe("webhooks: publish enabled as an action of its own", () => {
  let server;
  let url;
  let clients;
  before(async () => {
    server = await startServerWith(
      // The editor role routes publish events too; the public's entry for articles lists
      // create/update/delete only, so it does not.
      { 'settings.rolePermissions.editor.contentTypes."api::article.article"': { publish: true } },
      {
        env: ENV,
        prepend: `contentTypes = ["${COMMENT}", { uid = "${ARTICLE}", actions = ["create", "update", "delete", "publish"] }]`,
      },
    );
    url = server.url;
    clients = await connectAudiences(url);
  });
  after(async () => {
    closeAll();
    await server?.stop();
  });

  test("entry.publish → article:publish to the audiences routed for publish", async () => {
    const f = webhookFixture("03");
    const res = await replay(url, f);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.data.event, "article:publish");
    const payload = { data: f.body.entry, meta: {} };
    assert.deepEqual(await clients.editor.rec.waitFor("article:publish"), payload, "editor: publish=true");
    assert.deepEqual(await clients.dashboard.rec.waitFor("article:publish"), payload, "read-only token: every event");
    await marker(url, Object.values(clients));
    assert.equal(clients.public.rec.count("article:publish"), 0, "public: no publish in its rolePermissions entry");
    assert.equal(clients.public.rec.count("article:update"), 0, "…and no update in its place");
    assert.equal(clients.commentsOnly.rec.count("article:publish"), 0);
  });

  test("entry.unpublish (not enabled) still maps to article:update; comments unchanged", async () => {
    const f = webhookFixture("04");
    const res = await replay(url, f);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.data.event, "article:update");
    assert.deepEqual(await clients.public.rec.waitFor("article:update"), { data: f.body.entry, meta: {} });
    const c = webhookFixture("13");
    const cres = await replay(url, c);
    assert.equal(cres.body.data.event, "comment:create", cres.text);
    await clients.commentsOnly.rec.waitFor("comment:create");
  });

  test("GET /api/io/content-types shows the enabled actions", async () => {
    const list = await adminGet(url, "/api/io/content-types");
    const byUid = Object.fromEntries(list.map((c) => [c.uid, c.actions]));
    assert.deepEqual(byUid[ARTICLE], ["create", "update", "delete", "publish"]);
    assert.deepEqual(byUid[COMMENT], ["create", "update", "delete"]);
    assert.deepEqual(byUid["api::author.author"], [], "not listed in contentTypes: nothing enabled");
  });

  test("a webhook for a content type left out of contentTypes reaches nobody", async () => {
    const entry = { id: 1, documentId: "author-1", name: "Ada" };
    const res = await webhook(url, { event: "entry.create", model: "author", uid: "api::author.author", entry });
    assert.ok([200, 202].includes(res.status), res.text);
    await marker(url, Object.values(clients));
    for (const [name, s] of Object.entries(clients)) assert.equal(s.rec.count("author:create"), 0, name);
  });
});

describe("webhooks: no webhook token configured", () => {
  let server;
  let url;
  before(async () => {
    server = await startServerWithout("webhookToken");
    url = server.url;
  });
  after(async () => {
    closeAll();
    await server?.stop();
  });

  test("POST /webhooks/strapi → 503 naming STRAPI_IO_WEBHOOK_TOKEN, whatever the token; clients hear nothing", async () => {
    const s = await connect(url);
    for (const token of [FIXTURE_WEBHOOK_TOKEN, "demo-webhook-token", null]) {
      const res = await webhook(url, webhookFixture("01").body, { token });
      const err = assertApiError(res, 503, `token ${token}`);
      assert.match(err.message, /STRAPI_IO_WEBHOOK_TOKEN/);
    }
    await marker(url, [s]);
    assert.equal(s.rec.count("article:create"), 0);
  });
});
