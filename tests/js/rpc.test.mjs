// The $io API over HTTP: POST /api/io/<method> (SPEC §5). Every method once, its return
// value and its effect as a client sees it; then the error answers, each followed by proof
// that the server keeps serving its clients.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { idOf, connect, marker, uniq } from "./helpers/clients.mjs";
import { call, rpc } from "./helpers/http.mjs";
import { useServer } from "./helpers/server.mjs";
import { ARTICLE, DASHBOARD_TOKEN, accessJwt, legacyJwt } from "./helpers/strapi.mjs";
import { WAIT_MS, withTimeout } from "./helpers/wait.mjs";

const ctx = useServer();

const READER_USER = { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" };

/** The error shape of SPEC §5. */
function assertError(res, status) {
  assert.equal(res.status, status, `HTTP status (body: ${JSON.stringify(res.body)})`);
  assert.equal(typeof res.body, "object", "JSON error body");
  assert.equal(res.body.data, null, "data is null");
  assert.equal(res.body.error?.status, status, "error.status");
  assert.equal(typeof res.body.error?.name, "string", "error.name");
  assert.equal(typeof res.body.error?.message, "string", "error.message");
  assert.ok(res.body.error.message.length > 0, "error.message not empty");
}

/** Proves the server still delivers to `sockets` with a fresh raw event. */
async function stillServing(sockets) {
  const event = uniq("alive");
  const waits = sockets.map((s) => s.rec.waitFor(event));
  assert.equal(await call(ctx.url, "raw", { event, data: { ok: true } }), null);
  for (const p of await Promise.all(waits)) assert.deepEqual(p, { ok: true });
}

describe("HTTP RPC", () => {
  let reader;
  let pub;
  let editor;

  before(async () => {
    reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    pub = await connect(ctx.url);
    editor = await connect(ctx.url, { auth: { token: accessJwt(1) } });
  });

  test("GET /health counts connections", async () => {
    const res = await fetch(`${ctx.url}/health`, { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(body.connections, 3);
  });

  test("emit: routed and sanitized content event", async () => {
    const waits = [reader, pub, editor].map((s) => s.rec.waitFor("comment:create"));
    const data = await call(ctx.url, "emit", {
      event: "create",
      schema: "api::comment.comment",
      data: { id: 9, documentId: "comment-9", text: "hi", secret: "x" },
    });
    assert.equal(data, null);
    for (const p of await Promise.all(waits)) {
      assert.deepEqual(p, { data: { id: 9, documentId: "comment-9", text: "hi" }, meta: {} });
    }
  });

  test("raw: to listed rooms only, sensitive keys stripped; without rooms to everyone", async () => {
    const event = uniq("raw");
    const got = pub.rec.waitFor(event);
    assert.equal(
      await call(ctx.url, "raw", { event, rooms: ["io-role-public"], data: { hello: "world", apiKey: "k" } }),
      null,
    );
    assert.deepEqual(await got, { hello: "world" });
    await marker(ctx.url, [reader, pub, editor]);
    assert.equal(reader.rec.count(event), 0, "reader is not in io-role-public");
    assert.equal(editor.rec.count(event), 0, "editor is not in io-role-public");

    // Sensitive keys are stripped at every depth.
    const nested = uniq("raw-nested");
    const gotNested = pub.rec.waitFor(nested);
    await call(ctx.url, "raw", {
      event: nested,
      rooms: ["io-role-public"],
      data: { password: "a", list: [{ api_key: "b", keep: 1 }], inner: { secretKey: "c", refreshToken: "d", ok: true } },
    });
    assert.deepEqual(await gotNested, { list: [{ keep: 1 }], inner: { ok: true } });

    const all = uniq("raw-all");
    const waits = [reader, pub, editor].map((s) => s.rec.waitFor(all));
    await call(ctx.url, "raw", { event: all, data: [1, 2, 3] });
    for (const p of await Promise.all(waits)) assert.deepEqual(p, [1, 2, 3]);
  });

  // SPEC §3: sensitive-field matching "is case-insensitive and applies to emit and raw alike".
  // Each key below equals a default sensitive name up to letter case.
  const CASE_VARIANTS = ["PASSWORD", "PassWord", "Token", "SECRET", "secretkey", "apikey", "APIKEY", "refreshtoken", "AccessToken", "privatekey"];

  test("raw: sensitive-key matching is case-insensitive", async () => {
    const event = uniq("raw-case");
    const got = pub.rec.waitFor(event);
    const data = Object.fromEntries(CASE_VARIANTS.map((k) => [k, "leak"]));
    data.kept = 1;
    await call(ctx.url, "raw", { event, rooms: ["io-role-public"], data });
    const p = await got;
    const leaked = CASE_VARIANTS.filter((k) => k in p);
    assert.deepEqual(leaked, [], `keys that reached the client: ${JSON.stringify(p)}`);
    assert.equal(p.kept, 1);
  });

  test("emit: sensitive-key matching is case-insensitive", async () => {
    const got = pub.rec.waitFor("comment:create", (p) => p?.data?.id === 77);
    const data = Object.fromEntries(CASE_VARIANTS.map((k) => [k, "leak"]));
    Object.assign(data, { id: 77, documentId: "comment-77", text: "t" });
    await call(ctx.url, "emit", { event: "create", schema: "api::comment.comment", data });
    const p = await got;
    const leaked = CASE_VARIANTS.filter((k) => k in p.data);
    assert.deepEqual(leaked, [], `keys that reached the client: ${JSON.stringify(p.data)}`);
    assert.equal(p.data.text, "t");
  });

  test("joinRoom / getSocketsInRoom / leaveRoom", async () => {
    const room = uniq("rpc-room");
    assert.equal(await call(ctx.url, "joinRoom", { socketId: reader.id, roomName: room }), true);

    const inRoom = await call(ctx.url, "getSocketsInRoom", { roomName: room });
    assert.equal(inRoom.length, 1);
    assert.equal(inRoom[0].id, await idOf(reader));
    assert.deepEqual(inRoom[0].user, READER_USER);
    assert.equal(inRoom[0].role, "authenticated");
    assert.ok(inRoom[0].rooms.includes(room), `rooms: ${inRoom[0].rooms}`);
    assert.ok(inRoom[0].rooms.includes("io-role-authenticated"), `rooms: ${inRoom[0].rooms}`);
    assert.ok(!inRoom[0].rooms.includes(reader.id), "own id excluded");

    // The client sees the new room too, and room-targeted raw events reach it.
    const rooms = await reader.timeout(WAIT_MS).emitWithAck("get-rooms");
    assert.ok(rooms.rooms.includes(room));
    const event = uniq("room-event");
    const got = reader.rec.waitFor(event);
    await call(ctx.url, "raw", { event, rooms: [room], data: { n: 1 } });
    assert.deepEqual(await got, { n: 1 });
    await marker(ctx.url, [pub, editor]);
    assert.equal(pub.rec.count(event), 0);
    assert.equal(editor.rec.count(event), 0);

    const publics = await call(ctx.url, "getSocketsInRoom", { roomName: "io-role-public" });
    assert.deepEqual(
      publics.map((s) => [s.id, s.user, s.role]),
      [[await idOf(pub), null, "public"]],
      "public socket: user null, role public",
    );

    assert.equal(await call(ctx.url, "leaveRoom", { socketId: reader.id, roomName: room }), true);
    assert.deepEqual(await call(ctx.url, "getSocketsInRoom", { roomName: room }), []);
    const event2 = uniq("room-event");
    await call(ctx.url, "raw", { event: event2, rooms: [room], data: {} });
    await marker(ctx.url, [reader]);
    assert.equal(reader.rec.count(event2), 0, "left the room: nothing more");

    assert.equal(await call(ctx.url, "joinRoom", { socketId: "no-such-socket", roomName: room }), false);
    assert.equal(await call(ctx.url, "leaveRoom", { socketId: "no-such-socket", roomName: room }), false);
  });

  test("sendPrivateMessage reaches only the target", async () => {
    const event = uniq("pm");
    const got = reader.rec.waitFor(event);
    assert.equal(
      await call(ctx.url, "sendPrivateMessage", { socketId: reader.id, event, data: { text: "psst", token: "t" } }),
      null,
    );
    assert.deepEqual(await got, { text: "psst" });
    await marker(ctx.url, [reader, pub, editor]);
    assert.equal(reader.rec.count(event), 1);
    assert.equal(pub.rec.count(event), 0);
    assert.equal(editor.rec.count(event), 0);
  });

  test("broadcast reaches everyone but the sender", async () => {
    const event = uniq("bc");
    const waits = [pub, editor].map((s) => s.rec.waitFor(event));
    assert.equal(await call(ctx.url, "broadcast", { socketId: reader.id, event, data: { from: "reader" } }), null);
    for (const p of await Promise.all(waits)) assert.deepEqual(p, { from: "reader" });
    await marker(ctx.url, [reader, pub, editor]);
    assert.equal(reader.rec.count(event), 0, "sender excluded");
    assert.equal(pub.rec.count(event), 1);
    assert.equal(editor.rec.count(event), 1);
  });

  test("emitToNamespace: / reaches everyone; unknown namespace → 400", async () => {
    const event = uniq("ns");
    const waits = [reader, pub, editor].map((s) => s.rec.waitFor(event));
    assert.equal(await call(ctx.url, "emitToNamespace", { namespace: "/", event, data: { ns: true } }), null);
    for (const p of await Promise.all(waits)) assert.deepEqual(p, { ns: true });

    const res = await rpc(ctx.url, "emitToNamespace", { namespace: "nowhere", event: "x", data: {} });
    assertError(res, 400);
    await stillServing([reader, pub, editor]);
  });

  test("entity subscriptions from the server side", async () => {
    const sub = await call(ctx.url, "subscribeToEntity", { socketId: reader.id, uid: ARTICLE, id: 2 });
    assert.deepEqual(sub, { success: true, room: `${ARTICLE}:2`, uid: ARTICLE, id: 2 });

    const subs = await call(ctx.url, "getEntitySubscriptions", { socketId: reader.id });
    assert.deepEqual(subs, { success: true, subscriptions: [{ uid: ARTICLE, id: 2, room: `${ARTICLE}:2` }] });
    // The client sees the same subscription.
    const own = await reader.timeout(WAIT_MS).emitWithAck("get-entity-subscriptions");
    assert.deepEqual(own, subs);

    const roomSockets = await call(ctx.url, "getEntityRoomSockets", { uid: ARTICLE, id: 2 });
    assert.deepEqual(roomSockets, [{ id: await idOf(reader), user: READER_USER }]);

    const event = uniq("entity-ping");
    const got = reader.rec.waitFor(event);
    assert.equal(
      await call(ctx.url, "emitToEntity", { uid: ARTICLE, id: 2, event, data: { pinged: 2, password: "p" } }),
      null,
    );
    assert.deepEqual(await got, { pinged: 2 });
    await marker(ctx.url, [reader, pub, editor]);
    assert.equal(pub.rec.count(event), 0);
    assert.equal(editor.rec.count(event), 0);

    const missing = await call(ctx.url, "subscribeToEntity", { socketId: reader.id, uid: ARTICLE, id: 99 });
    assert.deepEqual(missing, { success: false, error: "Entity not found" });
    const denied = await call(ctx.url, "subscribeToEntity", { socketId: pub.id, uid: "api::author.author", id: 1 });
    assert.deepEqual(denied, { success: false, error: "Permission denied: no access to this content type" });
    const nobody = await call(ctx.url, "subscribeToEntity", { socketId: "nope", uid: ARTICLE, id: 1 });
    assert.equal(nobody.success, false);
    assert.equal(typeof nobody.error, "string");

    const unsub = await call(ctx.url, "unsubscribeFromEntity", { socketId: reader.id, uid: ARTICLE, id: 2 });
    assert.deepEqual(unsub, { success: true, room: `${ARTICLE}:2`, uid: ARTICLE, id: 2 });
    assert.deepEqual(await call(ctx.url, "getEntityRoomSockets", { uid: ARTICLE, id: 2 }), []);
    assert.deepEqual(await call(ctx.url, "getEntitySubscriptions", { socketId: reader.id }), {
      success: true,
      subscriptions: [],
    });
    const event2 = uniq("entity-ping");
    await call(ctx.url, "emitToEntity", { uid: ARTICLE, id: 2, event: event2, data: {} });
    await marker(ctx.url, [reader]);
    assert.equal(reader.rec.count(event2), 0, "unsubscribed: nothing more");
  });

  test("disconnectSocket: server-disconnect {reason}, then disconnect", async () => {
    const victim = await connect(ctx.url, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } });
    const victimId = victim.id;
    const order = [];
    const told = new Promise((res) => victim.on("server-disconnect", (p) => (order.push("server-disconnect"), res(p))));
    const gone = new Promise((res) => victim.on("disconnect", (reason) => (order.push("disconnect"), res(reason))));
    assert.equal(await call(ctx.url, "disconnectSocket", { socketId: victimId, reason: "maintenance" }), true);
    assert.deepEqual(await withTimeout(told, WAIT_MS, "server-disconnect"), { reason: "maintenance" });
    assert.equal(await withTimeout(gone, WAIT_MS, "disconnect"), "io server disconnect");
    assert.deepEqual(order, ["server-disconnect", "disconnect"]);
    assert.equal(await call(ctx.url, "disconnectSocket", { socketId: victimId }), false, "already gone");
    assert.deepEqual(await call(ctx.url, "getSocketsInRoom", { roomName: "io-token-dashboard" }), []);
    await stillServing([reader, pub, editor]);
  });
});

describe("HTTP RPC errors", () => {
  let a;
  let b;

  before(async () => {
    a = await connect(ctx.url);
    b = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
  });

  test("no Authorization → 401", async () => {
    assertError(await rpc(ctx.url, "raw", { event: "x", data: {} }, { token: null }), 401);
  });

  test("wrong token → 401", async () => {
    assertError(await rpc(ctx.url, "raw", { event: "x", data: {} }, { token: "wrong-token" }), 401);
  });

  test("emit's meta: action publish/unpublish reaches clients as meta.action; anything else → 400", async () => {
    const data = { id: 1, documentId: "article-1", title: uniq("meta"), publishedAt: null };
    const got = a.rec.waitFor("article:update", (p) => p.data.title === data.title);
    const res = await rpc(ctx.url, "emit", { event: "update", schema: "api::article.article", data, meta: { action: "unpublish" } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual((await got).meta, { action: "unpublish" });
    for (const meta of [{ action: "delete" }, { other: 1 }, "x"]) {
      assertError(await rpc(ctx.url, "emit", { event: "update", schema: "api::article.article", data, meta }), 400);
    }
  });

  test("unknown method → 404", async () => {
    assertError(await rpc(ctx.url, "noSuchMethod", {}), 404);
  });

  test("malformed JSON → 400", async () => {
    assertError(await rpc(ctx.url, "raw", null, { raw: '{"event": "x", "data": ' }), 400);
  });

  test("missing or mistyped field → 400", async () => {
    assertError(await rpc(ctx.url, "joinRoom", { socketId: a.id }), 400);
    assertError(await rpc(ctx.url, "joinRoom", { socketId: a.id, roomName: 42 }), 400);
  });

  test("emit with an unknown content type → 400; clients keep receiving", async () => {
    const res = await rpc(ctx.url, "emit", { event: "create", schema: "api::nope.nope", data: { id: 1 } });
    assertError(res, 400);
    const waits = [a, b].map((s) => s.rec.waitFor("article:create"));
    await call(ctx.url, "emit", { event: "create", schema: ARTICLE, data: { id: 5, documentId: "article-5", title: "after" } });
    for (const p of await Promise.all(waits)) assert.equal(p.data.title, "after");
  });

  test("raw with a 2 MB payload → 413; clients keep receiving", async () => {
    const event = uniq("huge");
    const res = await rpc(ctx.url, "raw", { event, data: { blob: "x".repeat(2 * 1024 * 1024) } });
    assertError(res, 413);
    await stillServing([a, b]);
    await marker(ctx.url, [a, b]);
    assert.equal(a.rec.count(event), 0, "the oversized event was not delivered");
    assert.equal(b.rec.count(event), 0);
    assert.equal(a.connected && b.connected, true);
  });

  test("raw just over maxHttpBufferSize (1e6) but under the body limit → 413", async () => {
    const event = uniq("big");
    const res = await rpc(ctx.url, "raw", { event, data: { blob: "y".repeat(1_010_000) } });
    assertError(res, 413);
    await stillServing([a, b]);
    assert.equal(a.rec.count(event), 0);
  });
});
