// The dashboard's admin routes (issue 19; README "Dashboard") with official socket.io
// clients: the socket list (who, audience, rooms, subscriptions, transport, address,
// connected since; search, room filter, pages) on one node and across two, the rooms with
// their member counts, acting on a socket through the RPC, the event log saying who an event
// reached, and the counters the trends are drawn from.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { ack, connect, connectError, idOf, uniq } from "./helpers/clients.mjs";
import { adminGet, call, request, stats } from "./helpers/http.mjs";
import { useTwoNodes } from "./helpers/cluster.mjs";
import { useServer } from "./helpers/server.mjs";
import { ARTICLE, legacyJwt } from "./helpers/strapi.mjs";
import { waitUntil } from "./helpers/wait.mjs";

const ctx = useServer();

/** `GET /api/io/sockets?…` on `url`: the whole answer. */
async function sockets(url, query = "") {
  const res = await request(url, `/api/io/sockets${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

describe("dashboard routes, one node", () => {
  test("the socket list shows who each socket is, and finds them", async () => {
    const before = Date.now();
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const visitor = await connect(ctx.url);
    const [readerId, visitorId] = [await idOf(reader), await idOf(visitor)];
    const room = uniq("lobby");
    await call(ctx.url, "joinRoom", { socketId: visitorId, roomName: room });
    const sub = await ack(reader, "subscribe-entity", { uid: ARTICLE, id: 1 });
    assert.equal(sub.success, true, JSON.stringify(sub));

    const all = await sockets(ctx.url, "?pageSize=100");
    const r = all.data.find((s) => s.id === readerId);
    assert.ok(r, JSON.stringify(all));
    assert.deepEqual(r.user, { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" });
    assert.equal(r.audience, "io-role-authenticated");
    assert.equal(r.namespace, "/");
    assert.equal(r.transport, "websocket");
    assert.equal(r.address, "127.0.0.1");
    assert.ok(r.connectedAt >= before - 1000 && r.connectedAt <= Date.now(), String(r.connectedAt));
    assert.deepEqual(r.subscriptions, [`${ARTICLE}:1`]);
    assert.ok(r.rooms.includes("io-role-authenticated") && r.rooms.includes(`${ARTICLE}:1`), JSON.stringify(r.rooms));
    assert.ok(!r.rooms.some((x) => x.includes("#")), "no internal room shown");
    const v = all.data.find((s) => s.id === visitorId);
    assert.equal(v.user, null);
    assert.equal(v.role, "public");
    assert.ok(v.rooms.includes(room));
    assert.ok(all.data.indexOf(v) < all.data.indexOf(r), "newest first");

    // Search (any field shown, case-insensitive), the room filter, pages.
    assert.deepEqual((await sockets(ctx.url, "?search=READER%40example")).data.map((s) => s.id), [readerId]);
    assert.deepEqual((await sockets(ctx.url, `?room=${room}`)).data.map((s) => s.id), [visitorId]);
    const page = await sockets(ctx.url, "?pageSize=1&page=2");
    assert.equal(page.data.length, 1);
    assert.equal(page.meta.pagination.pageSize, 1);
    assert.equal(page.meta.pagination.total, all.meta.pagination.total);

    // Rooms with their member counts.
    const rooms = await request(ctx.url, `/api/io/rooms?search=${room}`);
    assert.deepEqual(rooms.body.data, [{ name: room, namespace: "/", kind: "room", sockets: 1 }]);
    const entity = (await request(ctx.url, "/api/io/rooms?search=article")).body.data;
    assert.ok(entity.some((x) => x.name === `${ARTICLE}:1` && x.kind === "entity" && x.sockets >= 1), JSON.stringify(entity));

    // Acting through the RPC: leave the room, then disconnect; the list follows.
    await call(ctx.url, "leaveRoom", { socketId: visitorId, roomName: room });
    assert.deepEqual((await sockets(ctx.url, `?room=${room}`)).data, []);
    const gone = new Promise((res) => visitor.once("disconnect", res));
    await call(ctx.url, "disconnectSocket", { socketId: visitorId, reason: "from the dashboard" });
    await gone;
    await waitUntil(async () => !(await sockets(ctx.url, "?pageSize=100")).data.some((s) => s.id === visitorId), {
      what: "the disconnected socket gone from the list",
    });
  });

  test("bad queries are refused with the field named", async () => {
    for (const [query, field] of [
      ["?pageSize=500", "pageSize"],
      ["?page=0", "page"],
      ["?sort=id", "sort"],
      ["?search=a&search=b", "search"],
    ]) {
      const res = await request(ctx.url, `/api/io/sockets${query}`);
      assert.equal(res.status, 400, query);
      assert.match(res.body.error.message, new RegExp(field), query);
    }
    const res = await request(ctx.url, "/api/io/sockets", { token: "not-the-admin-token" });
    assert.equal(res.status, 401);
  });

  test("the event log says who an event reached", async () => {
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const visitor = await connect(ctx.url);
    const title = uniq("post");
    await call(ctx.url, "emit", {
      event: "create",
      schema: ARTICLE,
      data: { id: 77, documentId: uniq("doc"), title, publishedAt: "2026-01-01T00:00:00.000Z" },
    });
    await reader.rec.waitFor("article:create");
    await visitor.rec.waitFor("article:create");
    const event = uniq("room-news");
    const room = uniq("room");
    await call(ctx.url, "joinRoom", { socketId: await idOf(visitor), roomName: room });
    await call(ctx.url, "raw", { event, rooms: [room], data: {} });
    await visitor.rec.waitFor(event);
    const log = await adminGet(ctx.url, "/api/io/event-log?limit=20");
    const content = log.find((e) => e.event === "article:create");
    assert.ok(content.targets.includes("io-role-public") && content.targets.includes("io-role-authenticated"), JSON.stringify(content));
    const connected = (await stats(ctx.url)).connections;
    assert.ok(content.recipients >= 2 && content.recipients <= connected, JSON.stringify(content));
    assert.equal(content.otherNodes, false);
    const raw = log.find((e) => e.event === event);
    assert.deepEqual([raw.targets, raw.recipients], [[room], 1]);
  });

  test("stats count deliveries and refused handshakes by reason", async () => {
    const before = await stats(ctx.url);
    const a = await connect(ctx.url);
    const event = uniq("count");
    await call(ctx.url, "raw", { event, data: {} });
    await a.rec.waitFor(event);
    assert.match(await connectError(ctx.url, { auth: { token: "not-a-jwt" } }), /./);
    const after = await stats(ctx.url);
    assert.ok(after.deliveries >= before.deliveries + 1, `${before.deliveries} → ${after.deliveries}`);
    const reasons = after.refusedHandshakesByReason;
    const total = Object.values(reasons).reduce((x, y) => x + y, 0);
    assert.equal(total, after.refusedHandshakes, JSON.stringify(reasons));
    assert.ok(total > Object.values(before.refusedHandshakesByReason).reduce((x, y) => x + y, 0));
  });
});

describe("dashboard routes, two nodes", () => {
  const nodes = useTwoNodes();

  test("node A lists node B's sockets, and acts on them", async () => {
    const { a, b } = nodes;
    const onB = await connect(b.url, { auth: { token: legacyJwt(1) } });
    const id = await idOf(onB);
    const listed = await sockets(a.url, "?search=editor");
    const s = listed.data.find((x) => x.id === id);
    assert.ok(s, JSON.stringify(listed));
    const nodeB = (await stats(b.url)).cluster.nodes.find((n) => n.this).id;
    assert.equal(s.node, nodeB, "named after its own node");
    assert.equal(s.user.username, "editor");
    assert.equal(s.transport, "websocket");
    const room = uniq("remote-room");
    await call(a.url, "joinRoom", { socketId: id, roomName: room });
    const inRoom = await request(a.url, `/api/io/rooms?search=${room}`);
    assert.deepEqual(inRoom.body.data, [{ name: room, namespace: "/", kind: "room", sockets: 1 }]);
    const gone = new Promise((res) => onB.once("disconnect", res));
    await call(a.url, "disconnectSocket", { socketId: id });
    await gone;
    await waitUntil(async () => !(await sockets(a.url, "?search=editor")).data.some((x) => x.id === id), {
      what: "node B's socket gone from node A's list",
    });
  });
});
