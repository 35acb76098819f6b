// Strapi's own webhooks as a source of content events (SPEC §3, README "HTTP"):
// POST /webhooks/strapi, replayed from what a real Strapi 5.54 sent
// (tests/fixtures/strapi5-webhooks), each client receiving its events sanitized for its
// audience; entry.publish/unpublish mapped to update unless enabled as actions of their own;
// media events, unknown models and bad requests answered without reaching any client;
// the counts in GET /api/io/stats.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ack, closeAll, connect, marker, uniq } from "./helpers/clients.mjs";
import { rpc, stats, adminGet, assertApiError, webhook } from "./helpers/http.mjs";
import { startServer, startServerWith, startServerWithout, useServer } from "./helpers/server.mjs";
import {
  ARTICLE,
  COMMENT,
  COMMENTS_ONLY_TOKEN,
  DASHBOARD_TOKEN,
  FIXTURE_WEBHOOK_TOKEN,
  accessJwt,
  legacyJwt,
  webhookFixture,
} from "./helpers/strapi.mjs";
import { waitUntil } from "./helpers/wait.mjs";

after(() => closeAll());

const ENV = { STRAPI_IO_WEBHOOK_TOKEN: FIXTURE_WEBHOOK_TOKEN };

/**
 * What each action Strapi 5.54 performed (tests/fixtures/strapi5-webhooks/actions.json, the
 * REST call behind each captured request) must become with the default window: one event,
 * carrying the entry of the named request (the published row when there is one), and for
 * an unpublish sent as `update`, `publishedAt: null`. Written out by hand from the fixture
 * README, not computed by the rules under test.
 */
const ACTIONS = [
  { action: "article-create-draft", files: ["01"], event: "article:create", entryOf: "01" },
  { action: "article-update-draft", files: ["02"], event: "article:update", entryOf: "02" },
  { action: "article-publish-docservice", files: ["03"], event: "article:update", entryOf: "03", via: "publish" },
  { action: "article-unpublish-docservice", files: ["04"], event: "article:update", entryOf: "04", draftAgain: true, via: "unpublish" },
  { action: "article-update-rest-default-status-publishes", files: ["05", "06"], event: "article:update", entryOf: "06", via: "publish" },
  { action: "article-delete", files: ["07", "08"], event: "article:delete", entryOf: "08" },
  { action: "article-create-rest-default-status", files: ["09", "10"], event: "article:create", entryOf: "10" },
  { action: "article-delete-2", files: ["11", "12"], event: "article:delete", entryOf: "12" },
  { action: "comment-create", files: ["13"], event: "comment:create", entryOf: "13" },
  { action: "comment-update", files: ["14"], event: "comment:update", entryOf: "14" },
  { action: "comment-delete", files: ["15"], event: "comment:delete", entryOf: "15" },
];

/**
 * The demo's audiences as the clients below see them: which content events each is routed
 * (realtime permission, demo rolePermissions) and which keys of these entries it may not
 * read (relations to types it may not `find`).
 */
const AUDIENCES = {
  public: { routed: (event) => event.startsWith("article:") || event === "comment:create", hidden: ["author"] },
  reader: { routed: () => true, hidden: [] },
  editor: { routed: () => true, hidden: [] },
  dashboard: { routed: () => true, hidden: [] },
  commentsOnly: { routed: (event) => event.startsWith("comment:"), hidden: ["article"] },
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
function expectedPayload(entry, event, hidden, via) {
  if (event.endsWith(":delete")) return { data: { id: entry.id, documentId: entry.documentId }, meta: {} };
  // An update that stands for a publish or an unpublish says so (not a draft save).
  return { data: omit(entry, hidden), meta: via ? { action: via } : {} };
}

/** The entry an action's event carries. */
function expectedEntry(a) {
  const entry = webhookFixture(a.entryOf).body.entry;
  return a.draftAgain ? { ...entry, publishedAt: null } : entry;
}

/** Events a socket received, marker events left out. */
const received = (socket) =>
  socket.rec.events.filter((e) => e.event !== "test:marker").map((e) => [e.event, e.args[0]]);

/** Replays a fixture with the headers Strapi sent (its Authorization included). */
const replay = (url, fixture) => webhook(url, fixture.body, { token: null, headers: fixture.headers });

/** Waits until the gateway has emitted `n` webhook events in all. */
const emittedReaches = (url, n) =>
  waitUntil(async () => (await stats(url)).webhooks.emitted >= n, { what: `${n} webhook events emitted` });

/** A fixed 300 ms window for every draft-and-publish request: replays one request at a time
 * and still merges each action, whatever the machine's speed. */
const FIXED_WINDOW = { server: { webhookSettleMs: 300 } };

/** Clears what the clients recorded so far (after a marker). */
async function settleAll(url, clients) {
  await marker(url, Object.values(clients));
  for (const s of Object.values(clients)) s.rec.events.length = 0;
}

/**
 * Sends every action of ACTIONS with `send(action)` (which returns once its one event has
 * gone out), then checks what each client received: one event per action for each audience
 * routed for it, its payload as the fixture says.
 */
async function sendActionsAndCheck(url, clients, send) {
  await settleAll(url, clients);
  const expected = Object.fromEntries(Object.keys(clients).map((k) => [k, []]));
  for (const a of ACTIONS) {
    await send(a);
    for (const [name, audience] of Object.entries(AUDIENCES)) {
      if (audience.routed(a.event)) expected[name].push([a.event, expectedPayload(expectedEntry(a), a.event, audience.hidden, a.via)]);
    }
  }
  await marker(url, Object.values(clients));
  for (const [name, socket] of Object.entries(clients)) {
    assert.deepEqual(received(socket), expected[name], `what the ${name} client received`);
  }
}

describe("webhooks: a fixed 300 ms window (webhookSettleMs = webhookCoalesceMs = 300)", () => {
  let clients;
  /** What this file sent, as GET /api/io/stats counts it. */
  const sent = { accepted: 0, emitted: 0, merged: 0, failed: 0, ignored: 0, rejected: 0 };
  const ctx = useServer(() => startServerWith(FIXED_WINDOW, { env: ENV }));
  before(async () => {
    clients = await connectAudiences(ctx.url);
  });

  /**
   * Replays every action's requests (`order` arranges each action's files), waiting for its
   * one event before the next action, and checks what each client received against ACTIONS.
   */
  function replayActions(order) {
    return sendActionsAndCheck(ctx.url, clients, async (a) => {
      for (const n of order(a.files)) {
        const f = webhookFixture(n);
        const res = await replay(ctx.url, f);
        assert.equal(res.status, 202, `${a.action} ${f.name}: ${res.text}`);
        assert.equal(res.body.data.queued, true, res.text);
        assert.equal(res.body.data.document, f.body.entry.documentId, res.text);
        sent.accepted++;
      }
      sent.emitted++;
      sent.merged += a.files.length - 1;
      await emittedReaches(ctx.url, sent.emitted);
    });
  }

  /** Clears what the clients recorded so far. */
  const settle = () => settleAll(ctx.url, clients);

  test("Strapi 5.54's entry webhooks, replayed action by action: one event per action, the published row, sanitized per audience", async () => {
    await replayActions((files) => files);
    // The shapes the plugin's clients rely on, spelled out once.
    const deletes = received(clients.public).filter(([e]) => e === "article:delete");
    assert.deepEqual(deletes[0][1], { data: { id: 8, documentId: "qn91iwaux3ccsi3l46gz4c7q" }, meta: {} }, "the published row's id");
    const creates = received(clients.reader).filter(([e]) => e === "article:create");
    assert.deepEqual(creates.map(([, p]) => p.data.id), [6, 10], "a draft create, then a REST create's published row");
    assert.ok(creates[1][1].data.publishedAt, "REST create: the event carries the published row");
    assert.ok(!received(clients.public).some(([e]) => e === "comment:update" || e === "comment:delete"), "public: comment create only");
    assert.ok(!received(clients.commentsOnly).some(([e]) => e.startsWith("article:")), "comments-only: no article events");
  });

  test("the same requests in the opposite order within each action (as the PostgreSQL run delivered them): the same events", async () => {
    await replayActions((files) => [...files].reverse());
  });

  test("all of an action's requests at once, concurrently, and one document's actions back to back: merged into the latest state", async () => {
    await settle();
    // Strapi's runner sends with concurrency 5: both requests of a REST create in flight together.
    const files = ["09", "10"].map(webhookFixture);
    const answers = await Promise.all(files.map((f) => replay(ctx.url, f)));
    for (const r of answers) assert.equal(r.status, 202, r.text);
    sent.accepted += 2;
    sent.emitted += 1;
    sent.merged += 1;
    assert.deepEqual(answers.map((r) => r.body.data.coalesced).sort(), [false, true], "one opened the window, one joined it");
    await emittedReaches(ctx.url, sent.emitted);
    // Create, then delete within one window: the clients hear only the delete.
    for (const n of ["01", "07", "08"]) {
      assert.equal((await replay(ctx.url, webhookFixture(n))).status, 202);
      sent.accepted++;
    }
    sent.emitted += 1;
    sent.merged += 2;
    await emittedReaches(ctx.url, sent.emitted);
    await marker(ctx.url, Object.values(clients));
    assert.deepEqual(
      received(clients.public).map(([e, p]) => [e, p.data.id]),
      [["article:create", 10], ["article:delete", 8]],
    );
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
    const res = await webhook(ctx.url, { ...f.body, entry });
    assert.equal(res.status, 202, res.text);
    sent.accepted++;
    sent.emitted++;
    const waits = ["public", "reader", "editor", "dashboard"].map((k) => clients[k].rec.waitFor("article:update"));
    const [pub, reader, editor, dashboard] = await Promise.all(waits);
    const visible = omit(entry, ["internalNotes", "createdBy", "updatedBy"]);
    assert.deepEqual(editor, { data: visible, meta: {} }, "editor: everything but private fields and createdBy/updatedBy");
    assert.deepEqual(reader, { data: visible, meta: {} }, "reader (Authenticated may find authors)");
    assert.deepEqual(dashboard, { data: visible, meta: {} }, "read-only token");
    assert.deepEqual(pub, { data: omit(visible, ["author"]), meta: {} }, "public may not find authors");
    await marker(ctx.url, Object.values(clients));
    assert.equal(clients.commentsOnly.rec.count("article:update"), 0);
  });

  test("media events (Strapi's 16, 17) → 202 ignored; no client hears of them", async () => {
    await settle();
    for (const n of ["16", "17"]) {
      const f = webhookFixture(n);
      const res = await replay(ctx.url, f);
      assert.equal(res.status, 202, `${f.name}: ${res.text}`);
      sent.ignored++;
      assert.equal(res.body.data?.ignored, true, `${f.name}: ${res.text}`);
      assert.equal(typeof res.body.data.reason, "string");
    }
    await marker(ctx.url, Object.values(clients));
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
      const res = await webhook(ctx.url, body);
      assert.equal(res.status, 202, `${JSON.stringify(body)}: ${res.text}`);
      sent.ignored++;
      assert.equal(res.body.data?.ignored, true, res.text);
    }
    await marker(ctx.url, Object.values(clients));
    for (const [name, s] of Object.entries(clients)) assert.deepEqual(received(s), [], `${name} got nothing`);

    const res = await webhook(ctx.url, { event: "entry.create", model: "article", entry });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.data.uid, ARTICLE, res.text);
    sent.accepted++;
    sent.emitted++;
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
      const res = await webhook(ctx.url, opts.body, { raw: opts.raw });
      assertApiError(res, 400, what);
      sent.rejected++;
    }
    const bad401 = [
      ["no Authorization", { token: null }],
      ["wrong token", { token: "wrong-token" }],
      ["the config file's token, overridden by STRAPI_IO_WEBHOOK_TOKEN", { token: "demo-webhook-token" }],
      ["the admin token", { token: "demo-admin-token" }],
      ["the right token without `Bearer `", { token: null, headers: { authorization: FIXTURE_WEBHOOK_TOKEN } }],
      ["the right token under another scheme", { token: null, headers: { authorization: `Basic ${FIXTURE_WEBHOOK_TOKEN}` } }],
      // what a client sees of two Authorization lines (fetch joins them)
      ["two tokens in one line", { token: null, headers: { authorization: `Bearer ${FIXTURE_WEBHOOK_TOKEN}, Bearer ${FIXTURE_WEBHOOK_TOKEN}` } }],
    ];
    for (const [what, opts] of bad401) {
      const res = await webhook(ctx.url, good, opts);
      assertApiError(res, 401, what);
      sent.rejected++;
    }
    await marker(ctx.url, Object.values(clients));
    for (const [name, s] of Object.entries(clients)) {
      assert.deepEqual(received(s), [], `${name} got nothing`);
      assert.equal(s.connected, true, `${name} still connected`);
    }
  });

  test("GET /api/io/stats → data.webhooks counts what this file sent", async () => {
    await emittedReaches(ctx.url, sent.emitted);
    const s = await adminGet(ctx.url, "/api/io/stats");
    assert.deepEqual(s.webhooks, sent);
    assert.equal(sent.accepted, sent.emitted + sent.merged + sent.failed);
    assert.equal(s.events.byType["article:create"] >= 3, true, JSON.stringify(s.events.byType));
  });
});

describe("the plugin entry's path: POST /api/io/entryEvents, each action's requests in one call", () => {
  let clients;
  const sent = { accepted: 0, emitted: 0, merged: 0, failed: 0, ignored: 0, rejected: 0 };
  // No webhook token, no window: this path needs neither.
  const ctx = useServer();
  before(async () => {
    clients = await connectAudiences(ctx.url);
  });

  test("Strapi 5.54's entry events, action by action (in either order): the same one event per action as the webhook route, sanitized per audience", async () => {
    for (const order of [(f) => f, (f) => [...f].reverse()]) {
      await sendActionsAndCheck(ctx.url, clients, async (a) => {
        const res = await rpc(ctx.url, "entryEvents", { events: order(a.files).map((n) => webhookFixture(n).body) });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.data.accepted, a.files.length);
        assert.equal(res.body.data.emitted, 1, JSON.stringify(res.body));
        assert.equal(res.body.data.events[0].documentId, webhookFixture(a.files[0]).body.entry.documentId);
        sent.accepted += a.files.length;
        sent.emitted += 1;
        sent.merged += a.files.length - 1;
      });
    }
  });

  test("one call about several documents: one event each, in the order each document first appears; media events ignored", async () => {
    await settleAll(ctx.url, clients);
    const events = ["13", "05", "16", "06", "14"].map((n) => webhookFixture(n).body);
    const res = await rpc(ctx.url, "entryEvents", { events });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(
      { accepted: res.body.data.accepted, ignored: res.body.data.ignored, emitted: res.body.data.emitted, failed: res.body.data.failed },
      { accepted: 4, ignored: 1, emitted: 2, failed: 0 },
    );
    sent.accepted += 4;
    sent.ignored += 1;
    sent.emitted += 2;
    sent.merged += 2;
    await marker(ctx.url, [clients.editor]);
    // The comment's create and update merge into one create (the strongest), carrying the later row.
    const [comment, published] = [webhookFixture("14").body.entry, webhookFixture("06").body.entry];
    assert.equal(comment.documentId, webhookFixture("13").body.entry.documentId, "13 and 14: one comment");
    assert.deepEqual(
      received(clients.editor).map(([e, p]) => [e, p.data.id, p.data.text ?? p.data.title]),
      [["comment:create", comment.id, comment.text], ["article:update", published.id, published.title]],
    );
  });

  test("bad calls → 400 naming the problem, nothing emitted; a retried call with the same Idempotency-Key is heard once", async () => {
    await settleAll(ctx.url, clients);
    const good = webhookFixture("02").body;
    for (const [body, message] of [
      [{}, /entryEvents takes \{events: \[\.\.\.\]\}: missing field `events`/],
      [{ events: good }, /entryEvents takes \{events: \[\.\.\.\]\}: invalid type/],
      [{ events: [good], extra: 1 }, /unknown field `extra`/],
      [{ events: [good, { event: "entry.update", uid: ARTICLE }] }, /^events\[1\]\.entry: missing or not an object$/],
      [{ events: [good, { uid: ARTICLE, entry: {} }] }, /^events\[1\]\.event: missing or not a string$/],
      [{ events: Array.from({ length: 10_001 }, () => 0) }, /^events: at most 10000 per call, got 10001$/],
    ]) {
      const res = await rpc(ctx.url, "entryEvents", body);
      assertApiError(res, 400, JSON.stringify(body).slice(0, 80));
      assert.match(res.body.error.message, message);
      sent.rejected += 1;
    }
    const unauthorized = await rpc(ctx.url, "entryEvents", { events: [good] }, { token: "wrong" });
    assertApiError(unauthorized, 401);
    const key = uniq("entries");
    const first = await rpc(ctx.url, "entryEvents", { events: [good] }, { headers: { "idempotency-key": key } });
    const again = await rpc(ctx.url, "entryEvents", { events: [good] }, { headers: { "idempotency-key": key } });
    assert.equal(first.status, 200);
    assert.deepEqual(again.body.meta, { duplicate: true });
    assert.deepEqual(again.body.data, first.body.data, "the first answer, replayed");
    sent.accepted += 1;
    sent.emitted += 1;
    await marker(ctx.url, Object.values(clients));
    assert.deepEqual(received(clients.editor).map(([e]) => e), ["article:update"], "heard once; the bad calls reached no one");
  });

  test("GET /api/io/stats → data.entryEvents counts what this file sent; data.webhooks is untouched", async () => {
    const s = await adminGet(ctx.url, "/api/io/stats");
    assert.deepEqual(s.entryEvents, sent);
    assert.equal(s.webhooks.accepted, 0);
  });
});

describe("webhooks: publish enabled as an action of its own", () => {
  let clients;
  const ctx = useServer(() =>
    startServerWith(
      // The editor role routes publish events too; the public's entry for articles lists
      // create/update/delete only, so it does not.
      { ...FIXED_WINDOW, 'settings.rolePermissions.editor.contentTypes."api::article.article"': { publish: true } },
      {
        env: ENV,
        prepend: `contentTypes = ["${COMMENT}", { uid = "${ARTICLE}", actions = ["create", "update", "delete", "publish"] }]`,
      },
    ),
  );
  before(async () => {
    clients = await connectAudiences(ctx.url);
  });

  test("entry.publish → article:publish to the audiences routed for publish", async () => {
    const f = webhookFixture("03");
    const res = await replay(ctx.url, f);
    assert.equal(res.status, 202, res.text);
    const payload = { data: f.body.entry, meta: {} };
    assert.deepEqual(await clients.editor.rec.waitFor("article:publish"), payload, "editor: publish=true");
    assert.deepEqual(await clients.dashboard.rec.waitFor("article:publish"), payload, "read-only token: every event");
    await marker(ctx.url, Object.values(clients));
    assert.equal(clients.public.rec.count("article:publish"), 0, "public: no publish in its rolePermissions entry");
    assert.equal(clients.public.rec.count("article:update"), 0, "…and no update in its place");
    assert.equal(clients.commentsOnly.rec.count("article:publish"), 0);
  });

  test("entry.unpublish (not enabled) still maps to article:update, the document a draft again; comments unchanged", async () => {
    const f = webhookFixture("04");
    const res = await replay(ctx.url, f);
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(await clients.public.rec.waitFor("article:update"), {
      data: { ...f.body.entry, publishedAt: null },
      meta: { action: "unpublish" },
    });
    const c = webhookFixture("13");
    const cres = await replay(ctx.url, c);
    assert.equal(cres.status, 202, cres.text);
    await clients.commentsOnly.rec.waitFor("comment:create");
  });

  test("a REST update that publishes, with publish enabled: one article:update (the stronger action), not an update and a publish", async () => {
    for (const n of ["05", "06"]) assert.equal((await replay(ctx.url, webhookFixture(n))).status, 202);
    const got = await clients.editor.rec.waitFor("article:update", (p) => p.data.id === 8);
    assert.equal(got.data.publishedAt, webhookFixture("06").body.entry.publishedAt);
    await waitUntil(async () => (await stats(ctx.url)).webhooks.merged >= 1, { what: "the publish merged" });
    await marker(ctx.url, Object.values(clients));
    assert.equal(clients.editor.rec.all("article:publish").filter((p) => p.data.id === 8).length, 0);
  });

  test("GET /api/io/content-types shows the enabled actions", async () => {
    const list = await adminGet(ctx.url, "/api/io/content-types");
    const byUid = Object.fromEntries(list.map((c) => [c.uid, c.actions]));
    assert.deepEqual(byUid[ARTICLE], ["create", "update", "delete", "publish"]);
    assert.deepEqual(byUid[COMMENT], ["create", "update", "delete"]);
    assert.deepEqual(byUid["api::author.author"], [], "not listed in contentTypes: nothing enabled");
  });

  test("a webhook for a content type left out of contentTypes reaches nobody", async () => {
    const entry = { id: 1, documentId: "author-1", name: "Ada" };
    const res = await webhook(ctx.url, { event: "entry.create", model: "author", uid: "api::author.author", entry });
    assert.ok([200, 202].includes(res.status), res.text);
    await marker(ctx.url, Object.values(clients));
    for (const [name, s] of Object.entries(clients)) assert.equal(s.rec.count("author:create"), 0, name);
  });
});

describe("webhooks: server.webhookCoalesceMs = 0 (every request emitted as it arrives)", () => {
  const ctx = useServer(() => startServerWith({ server: { webhookCoalesceMs: 0 } }, { env: ENV }));

  test("each request answers 200 with its emit report; a REST create that publishes is heard twice", async () => {
    const s = await connect(ctx.url);
    for (const [n, event] of [["09", "article:create"], ["10", "article:update"]]) {
      const res = await replay(ctx.url, webhookFixture(n));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.data.event, event, res.text);
      assert.ok(res.body.data.audiences > 0, res.text);
    }
    await marker(ctx.url, [s]);
    assert.deepEqual(received(s).map(([e, p]) => [e, p.data.id]), [["article:create", 9], ["article:update", 10]]);
  });
});

describe("webhooks: entity subscribers of either row of a document", () => {
  // The public is not routed article events here: it hears them only through its
  // entity subscriptions (no verification, so the fixture's row ids can be subscribed).
  const ctx = useServer(() =>
    startServerWith(
      {
        ...FIXED_WINDOW,
        'settings.rolePermissions.public.contentTypes."api::article.article"': { create: false, update: false, delete: false },
        "settings.entitySubscriptions": { requireVerification: false },
      },
      { env: ENV },
    ),
  );

  test("subscribed to the draft row, the published row or the documentId: each hears the merged update and delete once", async () => {
    const subscribers = {};
    for (const id of [6, 8, "qn91iwaux3ccsi3l46gz4c7q"]) {
      const s = await connect(ctx.url);
      const r = await ack(s, "subscribe-entity", { uid: ARTICLE, id });
      assert.equal(r.success, true, JSON.stringify(r));
      subscribers[id] = s;
    }
    const bystander = await connect(ctx.url);
    for (const n of ["05", "06"]) assert.equal((await replay(ctx.url, webhookFixture(n))).status, 202);
    await emittedReaches(ctx.url, 1);
    for (const n of ["08", "07"]) assert.equal((await replay(ctx.url, webhookFixture(n))).status, 202);
    await emittedReaches(ctx.url, 2);
    const all = [...Object.values(subscribers), bystander];
    await marker(ctx.url, all);
    const published = omit(webhookFixture("06").body.entry, ["author"]);
    for (const [id, s] of Object.entries(subscribers)) {
      assert.deepEqual(
        received(s),
        [
          ["article:update", { data: published, meta: { action: "publish" } }],
          ["article:delete", { data: { id: 8, documentId: "qn91iwaux3ccsi3l46gz4c7q" }, meta: {} }],
        ],
        `subscriber of ${id}`,
      );
    }
    assert.deepEqual(received(bystander), [], "not subscribed, not routed: nothing");
  });
});

describe("webhooks: no webhook token configured", () => {
  const ctx = useServer(() => startServerWithout("webhookToken"));

  test("POST /webhooks/strapi → 503 naming STRAPI_IO_WEBHOOK_TOKEN, whatever the token; clients hear nothing", async () => {
    const s = await connect(ctx.url);
    for (const token of [FIXTURE_WEBHOOK_TOKEN, "demo-webhook-token", null]) {
      const res = await webhook(ctx.url, webhookFixture("01").body, { token });
      const err = assertApiError(res, 503, `token ${token}`);
      assert.match(err.message, /STRAPI_IO_WEBHOOK_TOKEN/);
    }
    await marker(ctx.url, [s]);
    assert.equal(s.rec.count("article:create"), 0);
  });
});

describe("webhooks: SIGTERM while a window is open", () => {
  test("a request accepted 10 ms before SIGTERM reaches the client before exit; the gateway exits 0", async () => {
    const server = await startServerWith(FIXED_WINDOW, { env: { ...ENV, RUST_LOG: "warn,strapi_io_server::webhook=info" } });
    try {
      const client = await connect(server.url);
      const order = [];
      client.onAny((event) => order.push(event));
      const heard = client.rec.waitFor("article:create");
      const res = await webhook(server.url, webhookFixture("01").body);
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.data.queued, true, "waiting in its 300 ms window");
      await new Promise((r) => setTimeout(r, 10));
      server.child.kill("SIGTERM");
      const payload = await heard;
      assert.equal(payload.data.documentId, webhookFixture("01").body.entry.documentId);
      const { code, signal } = await server.exited;
      assert.equal(code, 0, `exit code (signal ${signal})\n${server.output()}`);
      assert.equal(order[0], "article:create", `the event came first: ${JSON.stringify(order)}`);
      assert.ok(order.includes("server-disconnect"), JSON.stringify(order));
      assert.match(server.output(), /webhook windows flushed at shutdown/);
    } finally {
      await server.stop();
    }
  });
});

describe("webhooks: a wrong token is logged", () => {
  test("401 and one log line with the reason; repeated refusals within 10 s are counted, not logged", async () => {
    const server = await startServer({ env: ENV });
    try {
      const body = webhookFixture("01").body;
      assertApiError(await webhook(server.url, body, { token: "wrong-token" }), 401, "wrong token");
      for (let i = 0; i < 5; i++) assertApiError(await webhook(server.url, body, { token: "wrong-token" }), 401);
      await waitUntil(() => /webhook request refused \(401\)/.test(server.output()), { what: "the log line" });
      const lines = server.output().split("\n").filter((l) => l.includes("webhook request refused"));
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(lines[0], /wrong token/);
      assert.ok(!server.output().includes("wrong-token"), "the token itself is never logged");
    } finally {
      await server.stop();
    }
  });
});

describe("webhooks: the default window (none for complete requests, learnt for the rest)", () => {
  let client;
  const ctx = useServer({ env: ENV });
  before(async () => {
    client = await connect(ctx.url, { auth: { token: legacyJwt(1) } });
  });

  /** Sends an action's requests as Strapi does: all in flight together, `gapMs` apart. */
  async function action(files, gapMs = 0) {
    const answers = [];
    for (const [i, n] of files.entries()) {
      if (i > 0 && gapMs) await new Promise((r) => setTimeout(r, gapMs));
      answers.push(replay(ctx.url, webhookFixture(n)));
    }
    return Promise.all(answers);
  }

  const events = () => client.rec.events.filter((e) => e.event !== "test:marker").map((e) => [e.event, e.args[0].data.id]);
  /** The row id a fixture request carries. */
  const row = (n) => webhookFixture(n).body.entry.id;

  test("a comment (no draft & publish) and an unpublish go out at once; a REST create that publishes is one event", async () => {
    const [comment] = await action(["13"]);
    assert.equal(comment.body.data.windowMs, 0, comment.text);
    const [unpublish] = await action(["04"]);
    assert.equal(unpublish.body.data.windowMs, 0, unpublish.text);
    const pair = await action(["09", "10"]);
    assert.equal(pair[0].body.data.windowMs, 15, pair[0].text);
    await emittedReaches(ctx.url, 3);
    await marker(ctx.url, [client]);
    // the REST create's event carries the published row (request 10's)
    assert.deepEqual(events(), [["comment:create", row("13")], ["article:update", row("04")], ["article:create", row("10")]]);
  });

  test("the rest of an action arriving after its window: two events once, then the window has learnt the gap", async () => {
    client.rec.events.length = 0;
    const before = (await stats(ctx.url)).webhooks.emitted;
    await action(["05", "06"], 60);
    await emittedReaches(ctx.url, before + 2);
    await marker(ctx.url, [client]);
    assert.deepEqual(events(), [["article:update", row("05")], ["article:update", row("06")]], "too late: heard twice");
    client.rec.events.length = 0;
    const again = await action(["05", "06"], 60);
    assert.ok(again[0].body.data.windowMs >= 125, `the window grew: ${again[0].text}`);
    assert.equal(again[1].body.data.coalesced, true, again[1].text);
    await emittedReaches(ctx.url, before + 3);
    await marker(ctx.url, [client]);
    assert.deepEqual(events(), [["article:update", row("06")]], "now one event, the published row");
  });
});
