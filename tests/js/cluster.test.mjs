// Cluster mode (README "Cluster"): several gateway processes on one real redis-server.
// Official socket.io-client clients connect to different nodes, and every $io operation is
// made on a node other than the one its socket is connected to.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ack, closeAll, connect, connectError, idOf, marker, uniq } from "./helpers/clients.mjs";
import { request, rpc, webhook } from "./helpers/http.mjs";
import { startRedis } from "./helpers/redis.mjs";
import { freePort, startServerWith } from "./helpers/server.mjs";
import {
  ARTICLE,
  COMMENTS_ONLY_TOKEN,
  FIXTURE_WEBHOOK_TOKEN,
  accessJwt,
  legacyJwt,
} from "./helpers/strapi.mjs";
import { waitUntil } from "./helpers/wait.mjs";

const NAMESPACES = "[settings.namespaces]\nenabled = true\n[settings.namespaces.list.chat]\nrequireAuth = false";

/** A gateway joined to the cluster at `redisUrl`. */
const startNode = (redisUrl) =>
  startServerWith({}, { extra: NAMESPACES, env: { STRAPI_IO_REDIS_URL: redisUrl, STRAPI_IO_WEBHOOK_TOKEN: FIXTURE_WEBHOOK_TOKEN } });

/** The `data` of an RPC call that must answer 200. */
async function ok(url, method, body) {
  const res = await rpc(url, method, body);
  assert.equal(res.status, 200, `${method}: ${JSON.stringify(res.body)}`);
  return res.body.data;
}

const stats = async (url) => (await request(url, "/api/io/stats")).body.data;

describe("cluster: two nodes on one Redis", () => {
  let redis;
  let a;
  let b;

  before(async () => {
    redis = await startRedis();
    a = await startNode(redis.url);
    b = await startNode(redis.url);
    // Both nodes see each other in the cluster's node table.
    await waitUntil(async () => (await stats(a.url)).cluster.nodes.length === 2, { ms: 10_000, what: "two nodes" });
  });
  after(async () => {
    closeAll();
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  test("emit through node A reaches every audience on node B once, sanitized for it", async () => {
    const pubB = await connect(b.url);
    const readerB = await connect(b.url, { auth: { token: legacyJwt(2) } });
    const commentsB = await connect(b.url, { auth: { strategy: "api-token", token: COMMENTS_ONLY_TOKEN } });
    const pubA = await connect(a.url);
    const entry = { id: 1, documentId: "article-1", title: uniq("t"), internalNotes: "x", author: { id: 1, name: "Ada" } };
    const report = await ok(a.url, "emit", { event: "create", schema: ARTICLE, data: entry });
    assert.equal(report, null);
    const r = await readerB.rec.waitFor("article:create", (p) => p.data.title === entry.title);
    assert.equal(r.data.author.name, "Ada");
    assert.ok(!("internalNotes" in r.data));
    const p = await pubB.rec.waitFor("article:create", (p) => p.data.title === entry.title);
    assert.ok(!("author" in p.data), "the public may not find authors");
    await pubA.rec.waitFor("article:create", (p) => p.data.title === entry.title);
    await marker(a.url, [pubB, readerB, commentsB, pubA]);
    for (const s of [pubB, readerB, pubA]) assert.equal(s.rec.count("article:create"), 1, "once");
    assert.equal(commentsB.rec.count("article:create"), 0);
  });

  test("raw, emitToEntity and emitToNamespace through A reach B's sockets", async () => {
    const inRoom = await connect(b.url);
    assert.equal((await ack(inRoom, "join-room", "lobby")).success, true);
    const outside = await connect(b.url);
    const sub = await connect(b.url, { auth: { token: legacyJwt(2) } });
    assert.equal((await ack(sub, "subscribe-entity", { uid: ARTICLE, id: 1 })).success, true);
    const chat = await connect(`${b.url}/chat`);
    await ok(a.url, "raw", { event: "news", rooms: ["lobby"], data: { n: 1 } });
    await ok(a.url, "emitToEntity", { uid: ARTICLE, id: 1, event: "article:commented", data: { c: 1 } });
    await ok(a.url, "emitToNamespace", { namespace: "chat", event: "hello", data: { h: 1 } });
    assert.deepEqual(await inRoom.rec.waitFor("news"), { n: 1 });
    assert.deepEqual(await sub.rec.waitFor("article:commented"), { c: 1 });
    assert.deepEqual(await chat.rec.waitFor("hello"), { h: 1 });
    await marker(a.url, [inRoom, outside, sub]);
    assert.equal(outside.rec.count("news"), 0);
    assert.equal(inRoom.rec.count("article:commented"), 0);
  });

  test("sendPrivateMessage and broadcast through A for a socket on B", async () => {
    const target = await connect(b.url);
    const otherB = await connect(b.url);
    const otherA = await connect(a.url);
    const id = await idOf(target);
    await ok(a.url, "sendPrivateMessage", { socketId: id, event: "dm", data: { hi: 1 } });
    assert.deepEqual(await target.rec.waitFor("dm"), { hi: 1 });
    await ok(a.url, "broadcast", { socketId: id, event: "all-but", data: { x: 1 } });
    await otherB.rec.waitFor("all-but");
    await otherA.rec.waitFor("all-but");
    await marker(a.url, [target]);
    assert.equal(target.rec.count("all-but"), 0, "not the sender");
    assert.equal(otherA.rec.count("dm"), 0);
  });

  test("joinRoom, getSocketsInRoom, leaveRoom through A for a socket on B, with its user info", async () => {
    const s = await connect(b.url, { auth: { token: legacyJwt(2) } });
    const id = await idOf(s);
    const room = uniq("vip");
    assert.equal(await ok(a.url, "joinRoom", { socketId: id, roomName: room }), true);
    assert.equal(await ok(a.url, "joinRoom", { socketId: "no-such-socket", roomName: room }), false);
    const listed = await ok(a.url, "getSocketsInRoom", { roomName: room });
    assert.deepEqual(listed, [
      {
        id,
        user: { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" },
        role: "authenticated",
        rooms: ["io-role-authenticated", room].sort(),
      },
    ]);
    await ok(a.url, "raw", { event: "vip-news", rooms: [room], data: {} });
    await s.rec.waitFor("vip-news");
    assert.equal(await ok(a.url, "leaveRoom", { socketId: id, roomName: room }), true);
    assert.deepEqual(await ok(a.url, "getSocketsInRoom", { roomName: room }), []);
    assert.deepEqual((await ack(s, "get-rooms")).rooms, ["io-role-authenticated"], "B itself sees the change");
  });

  test("subscribeToEntity, getEntitySubscriptions, getEntityRoomSockets, unsubscribeFromEntity through A for a socket on B", async () => {
    const s = await connect(b.url, { auth: { token: accessJwt(1) } });
    const id = await idOf(s);
    const r = await ok(a.url, "subscribeToEntity", { socketId: id, uid: ARTICLE, id: 2 });
    assert.equal(r.success, true, JSON.stringify(r));
    const subs = await ok(a.url, "getEntitySubscriptions", { socketId: id });
    assert.deepEqual(subs, { success: true, subscriptions: [{ uid: ARTICLE, id: 2, room: `${ARTICLE}:2` }] });
    assert.deepEqual((await ack(s, "get-entity-subscriptions")).subscriptions, subs.subscriptions, "B agrees");
    const sockets = await ok(a.url, "getEntityRoomSockets", { uid: ARTICLE, id: 2 });
    assert.deepEqual(sockets, [{ id, user: { id: 1, username: "editor", email: "editor@example.com", role: "editor" } }]);
    const missing = await ok(a.url, "subscribeToEntity", { socketId: id, uid: ARTICLE, id: 999 });
    assert.deepEqual(missing, { success: false, error: "Entity not found" }, "verified like a client's subscription");
    const u = await ok(a.url, "unsubscribeFromEntity", { socketId: id, uid: ARTICLE, id: 2 });
    assert.equal(u.success, true);
    assert.deepEqual((await ok(a.url, "getEntitySubscriptions", { socketId: id })).subscriptions, []);
    assert.deepEqual(await ok(a.url, "getEntityRoomSockets", { uid: ARTICLE, id: 2 }), []);
  });

  test("an entity subscriber on B whose audience is not routed the type still gets the content event from A", async () => {
    const comments = await connect(b.url, { auth: { strategy: "api-token", token: COMMENTS_ONLY_TOKEN } });
    const r = await ack(comments, "subscribe-entity", { uid: "api::comment.comment", id: 1 });
    assert.equal(r.success, true, JSON.stringify(r));
    // Comment updates are routed to the comments-only token anyway; the public is not routed
    // comment updates: a public subscriber hears them through its entity room.
    const pub = await connect(b.url);
    assert.equal((await ack(pub, "subscribe-entity", { uid: "api::comment.comment", id: 1 })).success, true);
    const data = { id: 1, documentId: "comment-1", text: uniq("c") };
    await ok(a.url, "emit", { event: "update", schema: "api::comment.comment", data });
    await pub.rec.waitFor("comment:update", (p) => p.data.text === data.text);
    await comments.rec.waitFor("comment:update", (p) => p.data.text === data.text);
    await marker(a.url, [pub, comments]);
    assert.equal(pub.rec.count("comment:update"), 1);
    assert.equal(comments.rec.count("comment:update"), 1, "once, though routed and subscribed");
  });

  test("disconnectSocket through A closes a socket on B, telling it why", async () => {
    const s = await connect(b.url);
    const id = await idOf(s);
    const gone = new Promise((res) => s.once("disconnect", res));
    assert.equal(await ok(a.url, "disconnectSocket", { socketId: id, reason: "Account deleted" }), true);
    assert.deepEqual(await s.rec.waitFor("server-disconnect"), { reason: "Account deleted" });
    await gone;
    assert.equal(await ok(a.url, "disconnectSocket", { socketId: id }), false, "gone everywhere");
  });

  test("a client's private-message to a socket on the other node", async () => {
    const from = await connect(a.url, { auth: { token: legacyJwt(2) } });
    const to = await connect(b.url);
    const r = await ack(from, "private-message", { to: await idOf(to), message: "hello B" });
    assert.deepEqual(r, { success: true });
    const got = await to.rec.waitFor("private-message");
    assert.equal(got.message, "hello B");
    assert.equal(got.from, await idOf(from));
    assert.deepEqual(await ack(from, "private-message", { to: "nobody-here", message: "x" }), { success: false, error: "Target socket not found" });
  });

  test("a webhook arriving at B is emitted once for the cluster", async () => {
    const s = await connect(a.url);
    const entry = { id: 3, documentId: "article-3", title: uniq("hook"), publishedAt: "2026-01-01T00:00:00.000Z" };
    const res = await webhook(b.url, { event: "entry.update", model: "article", uid: ARTICLE, entry });
    assert.equal(res.status, 202, res.text);
    await s.rec.waitFor("article:update", (p) => p.data.title === entry.title);
    await marker(a.url, [s]);
    assert.equal(s.rec.all("article:update").filter((p) => p.data.title === entry.title).length, 1);
  });

  test("stats: this node's connections and the cluster's nodes and total", async () => {
    closeAll();
    await connect(a.url);
    await connect(b.url);
    await connect(b.url);
    await waitUntil(async () => (await stats(a.url)).cluster.connections === 3, { ms: 10_000, what: "3 connections cluster-wide" });
    const sa = await stats(a.url);
    assert.equal(sa.connections, 1, "node A's own");
    assert.equal(sa.cluster.status.connected, true);
    assert.deepEqual(sa.cluster.nodes.map((n) => [n.this, n.connections]).sort(), [[false, 2], [true, 1]]);
  });

  test("PUT /api/io/settings on A applies on B (and is stored there)", async () => {
    const sender = await connect(b.url, { auth: { token: legacyJwt(2) } });
    const current = (await request(a.url, "/api/io/settings")).body.data;
    const put = await request(a.url, "/api/io/settings", {
      method: "PUT",
      body: { ...current, rooms: { ...current.rooms, enablePrivateMessages: false } },
    });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.body.cluster, { shared: true });
    await waitUntil(async () => (await request(b.url, "/api/io/settings")).body.data.rooms.enablePrivateMessages === false, {
      what: "B to apply A's settings",
    });
    assert.deepEqual(await ack(sender, "private-message", { to: "x", message: "y" }), { success: false, error: "Private messages are disabled" });
    // A node starting now adopts the cluster's settings, over its config file.
    const late = await startNode(redis.url);
    try {
      assert.equal((await request(late.url, "/api/io/settings")).body.data.rooms.enablePrivateMessages, false);
    } finally {
      await late.stop();
    }
    const back = await request(b.url, "/api/io/settings", { method: "PUT", body: current });
    assert.equal(back.status, 200, back.text);
    await waitUntil(async () => (await request(a.url, "/api/io/settings")).body.data.rooms.enablePrivateMessages === true, {
      what: "A to apply B's settings",
    });
  });
});

describe("cluster faults: Redis lost and back, a node killed", () => {
  let redis;
  let a;
  let b;
  let c;

  before(async () => {
    redis = await startRedis();
    a = await startNode(redis.url);
    b = await startNode(redis.url);
    c = await startNode(redis.url);
  });
  after(async () => {
    closeAll();
    await a?.stop();
    await b?.stop();
    await c?.stop();
    await redis?.stop();
  });

  test("Redis killed during emits: each node's own clients keep getting events, cross-node calls answer 503 at once, /health says so; Redis back: everything recovers by itself", async () => {
    const onA = await connect(a.url);
    const onB = await connect(b.url);
    const idB = await idOf(onB);
    const seen = (s, n) => s.rec.all("tick").some((d) => d.n === n);
    let n = 0;
    const tick = async () => {
      n += 1;
      return rpc(a.url, "raw", { event: "tick", data: { n } });
    };
    assert.equal((await tick()).status, 200);
    await onB.rec.waitFor("tick", (d) => d.n === n);

    await redis.kill();
    // Within a second or two the link notices; meanwhile emits may still be attempted.
    await waitUntil(async () => (await request(a.url, "/health", { token: null })).body.cluster?.ready === false, {
      ms: 10_000,
      what: "A to report the cluster down",
    });
    const health = (await request(a.url, "/health", { token: null })).body;
    assert.equal(health.status, "degraded");
    assert.match(health.cluster.reason, /./);
    const during = [];
    for (let i = 0; i < 5; i++) {
      const res = await tick();
      assert.equal(res.status, 200, "a raw emit still answers: this node's clients got it");
      during.push(n);
    }
    for (const m of during) await onA.rec.waitFor("tick", (d) => d.n === m);
    const current = (await request(a.url, "/api/io/settings")).body.data;
    const put = await request(a.url, "/api/io/settings", { method: "PUT", body: current });
    assert.equal(put.status, 200, "applied on this node");
    assert.equal(put.body.cluster.shared, false, "but could not be shared");
    assert.match(put.body.cluster.error, /Cluster unavailable/);
    for (const path of ["/api/io/sockets", "/api/io/rooms"]) {
      const listed = await request(a.url, path);
      assert.equal(listed.status, 200, `${path}: this node's part is still listed`);
      assert.match(listed.body.meta.clusterError, /Cluster unavailable/, `${path} says the other nodes were not asked`);
    }
    const idA = await idOf(onA);
    const mine = (await request(a.url, "/api/io/sockets")).body.data.map((s) => s.id);
    assert.ok(mine.includes(idA) && !mine.includes(idB), JSON.stringify(mine));
    const started = Date.now();
    const cross = await rpc(a.url, "joinRoom", { socketId: idB, roomName: "r" });
    assert.equal(cross.status, 503, JSON.stringify(cross.body));
    assert.match(cross.body.error.message, /Cluster unavailable/);
    assert.ok(Date.now() - started < 3000, "answered at once, not after a timeout");
    const emitReport = await rpc(a.url, "emit", { event: "create", schema: ARTICLE, data: { id: 1, documentId: "article-1", title: "solo" } });
    assert.equal(emitReport.status, 200, "delivered to this node's clients");
    assert.match(emitReport.body.meta.clusterError, /unavailable/, "and says the other nodes were not reached");
    await onA.rec.waitFor("article:create", (p) => p.data.title === "solo");
    // Node B's own clients are served by B meanwhile.
    const bLocal = await rpc(b.url, "raw", { event: "local-b", data: {} });
    assert.equal(bLocal.status, 200);
    await onB.rec.waitFor("local-b");
    const lostOnB = during.filter((m) => !seen(onB, m));
    assert.deepEqual(lostOnB, during, "B's clients missed exactly the ticks sent through A while Redis was down");

    redis = await startRedis({ port: redis.port });
    for (const node of [a, b]) {
      await waitUntil(async () => (await request(node.url, "/health", { token: null })).body.cluster?.ready === true, {
        ms: 15_000,
        what: "the node to reconnect",
      });
    }
    assert.equal((await tick()).status, 200);
    await onB.rec.waitFor("tick", (d) => d.n === n);
    assert.equal(await (await rpc(a.url, "joinRoom", { socketId: idB, roomName: "after" })).body.data, true);
    assert.deepEqual((await ack(onB, "get-rooms")).rooms, ["after", "io-role-public"]);
  });

  test("a node killed: the others stop listing its sockets", async () => {
    const room = uniq("spread");
    for (const node of [a, b, c]) {
      const s = await connect(node.url);
      assert.equal((await ack(s, "join-room", room)).success, true);
    }
    assert.equal((await ok(a.url, "getSocketsInRoom", { roomName: room })).length, 3);
    c.child.kill("SIGKILL");
    await c.exited;
    await waitUntil(async () => (await rpc(a.url, "getSocketsInRoom", { roomName: room })).body.data?.length === 2, {
      ms: 10_000,
      what: "the killed node's socket to leave the listing",
    });
    await waitUntil(async () => (await stats(a.url)).cluster.nodes.length === 2, { ms: 15_000, what: "the node table to drop C" });
    assert.equal((await connectError(c.url)).length > 0, true, "C is gone");
  });
});

describe("cluster: Redis down when a node starts", () => {
  let redis;
  let a;
  let b;
  after(async () => {
    closeAll();
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  test("the node starts, serves its own clients, says it is not in the cluster, and joins once Redis is up", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    a = await startNode(url);
    const health = await request(a.url, "/health", { token: null });
    assert.equal(health.status, 200, "it serves");
    assert.equal(health.body.status, "degraded");
    assert.equal(health.body.cluster.ready, false);
    const s = await connect(a.url);
    assert.equal((await rpc(a.url, "raw", { event: "solo", data: {} })).status, 200);
    await s.rec.waitFor("solo");
    const cross = await rpc(a.url, "getSocketsInRoom", { roomName: "lobby" });
    assert.equal(cross.status, 503, "a cluster-wide listing cannot be answered yet");

    redis = await startRedis({ port });
    await waitUntil(async () => (await request(a.url, "/health", { token: null })).body.cluster?.ready === true, {
      ms: 15_000,
      what: "the node to join once Redis is up",
    });
    b = await startNode(url);
    const onB = await connect(b.url);
    await ok(a.url, "raw", { event: "joined", data: {} });
    await onB.rec.waitFor("joined");
    assert.equal(await ok(a.url, "joinRoom", { socketId: await idOf(onB), roomName: "lobby" }), true);
    assert.equal((await ok(a.url, "getSocketsInRoom", { roomName: "lobby" })).length, 1);
  });
});

