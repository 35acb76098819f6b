// Monitoring (SPEC §5, README "HTTP"): the plugin's admin routes — stats, event-log,
// test-event, reset-stats, roles, content-types, monitoring/stats — behind the admin token,
// and the open /metrics (Prometheus text) and /health, checked against what the test's own
// clients did.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ack, closeAll, connect, connectError, idOf, marker, uniq } from "./helpers/clients.mjs";
import { adminGet, assertApiError, call, request } from "./helpers/http.mjs";
import { startServer } from "./helpers/server.mjs";
import {
  ARTICLE,
  AUTHOR,
  COMMENT,
  COMMENTS_ONLY_TOKEN,
  DASHBOARD_TOKEN,
  legacyJwt,
  signJwt,
} from "./helpers/strapi.mjs";
import { waitUntil } from "./helpers/wait.mjs";

let server;
let url;
/** The clients connected for the whole file. */
let base;

before(async () => {
  server = await startServer();
  url = server.url;
  base = {
    pub: await connect(url),
    reader: await connect(url, { auth: { token: legacyJwt(2) } }),
    editor: await connect(url, { auth: { token: legacyJwt(1) } }),
    dashboard: await connect(url, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } }),
  };
});

after(async () => {
  closeAll();
  await server?.stop();
});

const BASE_AUDIENCES = {
  "io-role-public": 1,
  "io-role-authenticated": 1,
  "io-role-editor": 1,
  "io-token-dashboard": 1,
};

/** Waits until the server counts `n` connections (after clients closed). */
const connectionsAre = (n) =>
  waitUntil(async () => (await adminGet(url, "/api/io/stats")).connections === n, { what: `${n} connections` });

/** One value of the Prometheus text, or undefined. */
function metric(text, nameAndLabels) {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${nameAndLabels} `)) return Number(line.slice(nameAndLabels.length + 1));
  }
  return undefined;
}

const metricsText = async () => {
  const res = await request(url, "/metrics", { token: null });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return res.text;
};

describe("GET /api/io/stats", () => {
  test("connections, sockets with their public ids, user, role and rooms; audiences", async () => {
    const s = await adminGet(url, "/api/io/stats");
    assert.equal(s.connections, 4);
    assert.deepEqual(s.audiences, BASE_AUDIENCES);
    assert.equal(s.sockets.length, 4);
    const byId = Object.fromEntries(s.sockets.map((x) => [x.id, x]));
    const expect = {
      pub: { user: null, role: "public", room: "io-role-public" },
      reader: { user: { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" }, role: "authenticated", room: "io-role-authenticated" },
      editor: { user: { id: 1, username: "editor", email: "editor@example.com", role: "editor" }, role: "editor", room: "io-role-editor" },
      dashboard: { user: null, role: "dashboard", room: "io-token-dashboard" },
    };
    for (const [name, e] of Object.entries(expect)) {
      const socket = base[name];
      const info = byId[await idOf(socket)];
      assert.ok(info, `${name}: its public id is listed (${Object.keys(byId)})`);
      assert.deepEqual(Object.keys(info).sort(), ["id", "role", "rooms", "user"], name);
      assert.deepEqual(info.user, e.user, name);
      assert.equal(info.role, e.role, name);
      assert.ok(info.rooms.includes(e.room), `${name} rooms: ${info.rooms}`);
      assert.equal(info.id, socket.id, `${name}: listed under its own socket.id`);
      assert.ok(!info.rooms.includes(socket.io.engine.id), `${name}: the Engine.IO session id is never shown`);
      assert.ok(!info.rooms.includes(info.id), `${name}: its own id is not a room`);
    }
    assert.ok(!s.sockets.some((x) => Object.values(base).some((c) => c.io.engine.id === x.id)), "no Engine.IO session id is shown");
    for (const key of ["bufferFull", "rateLimited", "floodDisconnects", "heartbeatDisconnects", "slowConsumerDisconnects", "refusedHandshakes"]) {
      assert.equal(s[key], 0, `${key}`);
    }
  });

  test("entity subscriptions by content type follow subscribe/unsubscribe", async () => {
    assert.deepEqual((await adminGet(url, "/api/io/stats")).entitySubscriptions, { total: 0, byContentType: {} });
    assert.equal((await ack(base.editor, "subscribe-entity", { uid: ARTICLE, id: 1 })).success, true);
    assert.equal((await ack(base.reader, "subscribe-entity", { uid: ARTICLE, id: "article-2" })).success, true);
    assert.equal((await ack(base.reader, "subscribe-entity", { uid: COMMENT, id: 1 })).success, true);
    assert.deepEqual((await adminGet(url, "/api/io/stats")).entitySubscriptions, {
      total: 3,
      byContentType: { [ARTICLE]: 2, [COMMENT]: 1 },
    });
    assert.equal((await ack(base.reader, "unsubscribe-entity", { uid: COMMENT, id: 1 })).success, true);
    assert.deepEqual((await adminGet(url, "/api/io/stats")).entitySubscriptions, { total: 2, byContentType: { [ARTICLE]: 2 } });
    // A subscriber's socket closing takes its subscriptions along.
    const extra = await connect(url, { auth: { token: legacyJwt(2) } });
    assert.equal((await ack(extra, "subscribe-entity", { uid: AUTHOR, id: 1 })).success, true);
    assert.equal((await adminGet(url, "/api/io/stats")).entitySubscriptions.byContentType[AUTHOR], 1);
    extra.close();
    await connectionsAre(4);
    assert.deepEqual((await adminGet(url, "/api/io/stats")).entitySubscriptions, { total: 2, byContentType: { [ARTICLE]: 2 } });
  });

  test("events: total, byType, perSecond, lastMinute — from zero after reset-stats", async () => {
    const reset = await request(url, "/api/io/reset-stats", { method: "POST" });
    assert.equal(reset.status, 200, reset.text);
    const zero = (await adminGet(url, "/api/io/stats")).events;
    assert.equal(zero.total, 0);
    assert.deepEqual(zero.byType, {});
    assert.equal(zero.lastMinute, 0);
    assert.equal(zero.perSecond, 0);

    const raw = uniq("raw");
    const waits = [
      base.pub.rec.waitFor("article:create", (p) => p?.data?.title === "stats-2"),
      base.pub.rec.waitFor(raw),
    ];
    await call(url, "emit", { event: "create", schema: ARTICLE, data: { id: 1, documentId: "article-1", title: "stats-1" } });
    await call(url, "emit", { event: "create", schema: ARTICLE, data: { id: 1, documentId: "article-1", title: "stats-2" } });
    await call(url, "raw", { event: raw, data: { n: 1 } });
    await Promise.all(waits);

    const e = (await adminGet(url, "/api/io/stats")).events;
    assert.equal(e.total, 3);
    assert.deepEqual(e.byType, { "article:create": 2, [raw]: 1 });
    assert.equal(e.lastMinute, 3);
    assert.ok(e.perSecond > 0 && e.perSecond <= 3, `perSecond ${e.perSecond}`);
    const m = await adminGet(url, "/api/io/monitoring/stats");
    assert.equal(m.eventsTotal, 3);
    assert.equal(m.eventsLastMinute, 3);
    assert.equal(m.eventsPerSecond, e.perSecond);
  });
});

describe("GET /api/io/event-log", () => {
  test("?limit=2 → the two newest entries, newest first, {timestamp, event, kind, audiences, targets, recipients, otherNodes}", async () => {
    assert.equal((await request(url, "/api/io/reset-stats", { method: "POST" })).status, 200);
    assert.deepEqual(await adminGet(url, "/api/io/event-log"), [], "empty after reset-stats");
    const t0 = Date.now();
    const room = uniq("room");
    const first = uniq("first");
    const third = uniq("third");
    await call(url, "raw", { event: first, data: {} });
    await call(url, "emit", { event: "update", schema: ARTICLE, data: { id: 2, documentId: "article-2", title: "x" } });
    await call(url, "raw", { event: third, rooms: [room], data: {} });

    const log = await adminGet(url, "/api/io/event-log?limit=2");
    assert.equal(log.length, 2, JSON.stringify(log));
    const [newest, older] = log;
    assert.equal(newest.event, third);
    assert.equal(newest.kind, "raw");
    assert.equal(newest.audiences, 1);
    assert.deepEqual(newest.targets, [room]);
    assert.equal(newest.recipients, 0, "nobody is in the room");
    assert.equal(newest.otherNodes, false);
    assert.equal(older.event, "article:update");
    assert.equal(older.kind, "emit");
    assert.equal(older.audiences, 4, "Public, Authenticated, Editor, dashboard: routed article updates");
    assert.deepEqual([...older.targets].sort(), Object.keys(BASE_AUDIENCES).sort(), "a content event names its audiences");
    assert.ok(older.recipients >= 4, `the four base clients at least: ${JSON.stringify(older)}`);
    assert.equal(older.otherNodes, false);
    for (const entry of log) {
      assert.ok(entry.timestamp >= t0 - 1000 && entry.timestamp <= Date.now() + 1000, `timestamp ${entry.timestamp}`);
    }
    assert.ok(newest.timestamp >= older.timestamp);

    const all = await adminGet(url, "/api/io/event-log");
    assert.deepEqual(all.map((x) => x.event), [third, "article:update", first]);
    assert.equal((await adminGet(url, "/api/io/event-log?limit=1")).length, 1);
    assert.deepEqual(await adminGet(url, "/api/io/event-log?limit=0"), []);
  });

  test("?limit that is not a number → 400 in Strapi's error shape", async () => {
    assertApiError(await request(url, "/api/io/event-log?limit=lots"), 400, "limit=lots");
    assertApiError(await request(url, "/api/io/event-log?limit=-1"), 400, "limit=-1");
  });
});

describe("POST /api/io/test-event and /api/io/reset-stats", () => {
  test("{event, data} reaches every client as is", async () => {
    const event = uniq("hello");
    const waits = Object.values(base).map((s) => s.rec.waitFor(event));
    const res = await request(url, "/api/io/test-event", { method: "POST", body: { event, data: { x: 1 } } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.data, { success: true, event, data: { x: 1 } });
    for (const p of await Promise.all(waits)) assert.deepEqual(p, { x: 1 });

    const hello = Object.values(base).map((s) => s.rec.waitFor("hello"));
    assert.equal((await request(url, "/api/io/test-event", { method: "POST", body: { event: "hello", data: { x: 1 } } })).status, 200);
    for (const p of await Promise.all(hello)) assert.deepEqual(p, { x: 1 });
  });

  test("no body → a test-event {message, timestamp} to every client", async () => {
    const waits = Object.values(base).map((s) => s.rec.waitFor("test-event"));
    const t0 = Date.now();
    const res = await request(url, "/api/io/test-event", { method: "POST" });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.data.event, "test-event");
    for (const p of await Promise.all(waits)) {
      assert.equal(typeof p.message, "string");
      assert.ok(p.message.length > 0);
      assert.equal(typeof p.timestamp, "number");
      assert.ok(Math.abs(p.timestamp - t0) < 60_000, `timestamp ${p.timestamp}`);
    }
    assert.deepEqual(res.body.data.data, (await waits[0]));
  });

  test("sensitive keys are stripped from test events too; a non-string event → 400", async () => {
    const event = uniq("sensitive");
    const got = base.pub.rec.waitFor(event);
    await request(url, "/api/io/test-event", { method: "POST", body: { event, data: { ok: 1, password: "p", token: "t" } } });
    assert.deepEqual(await got, { ok: 1 });
    assertApiError(await request(url, "/api/io/test-event", { method: "POST", body: { event: 5 } }), 400);
    await marker(url, [base.pub]);
  });

  test("a malformed test-event body → 400 in Strapi's error shape; clients keep receiving", async () => {
    assertApiError(await request(url, "/api/io/test-event", { method: "POST", raw: '{"event": "x", ' }), 400, "malformed JSON");
    const event = uniq("after-bad");
    const got = base.pub.rec.waitFor(event);
    await request(url, "/api/io/test-event", { method: "POST", body: { event, data: { ok: true } } });
    assert.deepEqual(await got, { ok: true });
  });

  test("reset-stats: events total 0, byType empty, log empty, counters 0; connections untouched", async () => {
    await connectError(url, { auth: { token: "not-a-jwt" } });
    assert.ok((await adminGet(url, "/api/io/stats")).refusedHandshakes >= 1);
    assert.ok((await adminGet(url, "/api/io/stats")).events.total > 0);
    const res = await request(url, "/api/io/reset-stats", { method: "POST" });
    assert.equal(res.status, 200, res.text);
    const s = await adminGet(url, "/api/io/stats");
    assert.equal(s.events.total, 0);
    assert.deepEqual(s.events.byType, {});
    assert.equal(s.events.lastMinute, 0);
    assert.equal(s.refusedHandshakes, 0);
    assert.equal(s.connections, 4, "sockets are not stats");
    assert.deepEqual(await adminGet(url, "/api/io/event-log"), []);
    assert.equal((await adminGet(url, "/api/io/monitoring/stats")).eventsTotal, 0);
  });
});

describe("GET /api/io/roles, /api/io/content-types, /api/io/monitoring/stats", () => {
  const rolesByName = async () => Object.fromEntries((await adminGet(url, "/api/io/roles")).map((r) => [r.name, r]));

  test("roles: the five audiences with their live connection counts", async () => {
    const roles = await adminGet(url, "/api/io/roles");
    assert.deepEqual(roles.map((r) => r.name).sort(), ["Authenticated", "Editor", "Public", "comments-only", "dashboard"]);
    const by = await rolesByName();
    assert.deepEqual(by.Public, { name: "Public", type: "public", kind: "role", room: "io-role-public", connections: 1 });
    assert.deepEqual(by.Authenticated, { name: "Authenticated", type: "authenticated", kind: "role", room: "io-role-authenticated", connections: 1 });
    assert.deepEqual(by.Editor, { name: "Editor", type: "editor", kind: "role", room: "io-role-editor", connections: 1 });
    assert.deepEqual(by.dashboard, { name: "dashboard", type: "read-only", kind: "api-token", room: "io-token-dashboard", connections: 1 });
    assert.deepEqual(by["comments-only"], { name: "comments-only", type: "custom", kind: "api-token", room: "io-token-comments-only", connections: 0 });

    const more = [await connect(url), await connect(url, { auth: { strategy: "api-token", token: COMMENTS_ONLY_TOKEN } })];
    const now = await rolesByName();
    assert.equal(now.Public.connections, 2);
    assert.equal(now["comments-only"].connections, 1);
    assert.deepEqual((await adminGet(url, "/api/io/stats")).audiences, { ...BASE_AUDIENCES, "io-role-public": 2, "io-token-comments-only": 1 });
    for (const s of more) s.close();
    await waitUntil(async () => {
      const r = await rolesByName();
      return r.Public.connections === 1 && r["comments-only"].connections === 0;
    }, { what: "role connection counts to drop back" });
  });

  test("content-types: the three demo types with their actions", async () => {
    const list = await adminGet(url, "/api/io/content-types");
    const by = Object.fromEntries(list.map((c) => [c.uid, c]));
    assert.deepEqual(Object.keys(by).sort(), [ARTICLE, AUTHOR, COMMENT]);
    for (const uid of [ARTICLE, AUTHOR, COMMENT]) assert.deepEqual(by[uid].actions, ["create", "update", "delete"], uid);
    assert.equal(by[ARTICLE].singularName, "article");
    assert.equal(by[ARTICLE].pluralName, "articles");
    assert.equal(by[ARTICLE].draftAndPublish, true);
    assert.equal(by[COMMENT].draftAndPublish, false);
  });

  test("monitoring/stats: the numbers the dashboard polls", async () => {
    const m = await adminGet(url, "/api/io/monitoring/stats");
    assert.deepEqual(
      Object.keys(m).sort(),
      ["audiences", "connections", "eventsLastMinute", "eventsPerSecond", "eventsTotal", "memoryBytes", "uptimeSeconds"],
    );
    assert.equal(m.connections, 4);
    assert.deepEqual(m.audiences, BASE_AUDIENCES);
    for (const k of ["eventsLastMinute", "eventsPerSecond", "eventsTotal", "uptimeSeconds"]) assert.equal(typeof m[k], "number", k);
    assert.ok(Number.isInteger(m.memoryBytes) && m.memoryBytes > 1024 * 1024, `memoryBytes ${m.memoryBytes}`);
  });
});

describe("GET /metrics and /health (no token)", () => {
  test("Prometheus text: events by type and kind, connections per audience, handshake rejections, the emit histogram", async () => {
    const before = await metricsText();
    const creates = metric(before, 'strapi_io_events_total{event="article:create",kind="emit"}') ?? 0;
    const rejectedBefore = metric(before, 'strapi_io_handshake_rejections_total{reason="Invalid credentials"}') ?? 0;
    const queuedBefore = metric(before, "strapi_io_socket_deliveries_total") ?? 0;

    await call(url, "emit", { event: "create", schema: ARTICLE, data: { id: 3, documentId: "article-3", title: "m" } });
    const forged = signJwt({ id: 1, exp: Math.floor(Date.now() / 1000) + 60 }, "not-the-secret");
    assert.equal(await connectError(url, { auth: { token: forged } }), "Invalid credentials");
    const text = await metricsText();
    assert.equal(metric(text, 'strapi_io_events_total{event="article:create",kind="emit"}'), creates + 1);
    assert.equal(metric(text, 'strapi_io_handshake_rejections_total{reason="Invalid credentials"}'), rejectedBefore + 1);
    assert.equal(metric(text, 'strapi_io_connections{audience="io-role-public"}'), 1);
    assert.equal(metric(text, 'strapi_io_connections{audience="io-role-editor"}'), 1);
    assert.equal(metric(text, "strapi_io_connected_sockets"), 4);
    assert.match(text, /^strapi_io_emit_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} \d+/m);
    assert.match(text, /^strapi_io_emit_seconds_count\{kind="emit"\} \d+/m);
    assert.ok(metric(text, 'strapi_io_deliveries_total{event="article:create"}') >= 4, "audience payloads counted");
    assert.equal(metric(text, "strapi_io_socket_deliveries_total"), queuedBefore + 4, "one packet queued per connected socket");
    assert.ok(metric(text, "strapi_io_resident_memory_bytes") > 0);
    assert.match(text, /^# TYPE strapi_io_events_total counter$/m);

    // The connections gauge follows disconnects.
    const extra = await connect(url);
    await waitUntil(async () => metric(await metricsText(), 'strapi_io_connections{audience="io-role-public"}') === 2, { what: "gauge 2" });
    extra.close();
    await waitUntil(async () => metric(await metricsText(), 'strapi_io_connections{audience="io-role-public"}') === 1, { what: "gauge back to 1" });
  });

  test("/health → {status: ok, ready: true, connections, uptimeSeconds}", async () => {
    const res = await request(url, "/health", { token: null });
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "ok");
    assert.equal(res.body.ready, true);
    assert.equal(res.body.connections, 4);
    assert.equal(typeof res.body.uptimeSeconds, "number");
  });
});
