// Connection state recovery (issue 18; README "Reliability"): the official client, whose
// network drops for 2 s through a proxy that cuts its TCP connection, comes back as the same
// socket (`socket.recovered`) and gets every event sent meanwhile once, in order — or a new
// session when its session expired or it missed more than the caps allow.

import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";

import { connect, uniq } from "./helpers/clients.mjs";
import { call, request, stats } from "./helpers/http.mjs";
import { Proxy } from "./helpers/proxy.mjs";
import { useTwoNodes } from "./helpers/cluster.mjs";
import { startServerWith, useServer } from "./helpers/server.mjs";
import { ARTICLE, COMMENT, COMMENTS_ONLY_TOKEN } from "./helpers/strapi.mjs";
import { waitUntil } from "./helpers/wait.mjs";

const ctx = useServer();
const proxies = [];
after(async () => {
  for (const p of proxies) await p.stop();
});

/** A client through a proxy of the server at `url` (this file's by default), reconnecting
 *  quickly. */
async function droppable(opts = {}, url = ctx.url) {
  const proxy = await Proxy.start(url);
  proxies.push(proxy);
  const socket = await connect(proxy.url, {
    reconnection: true,
    reconnectionDelay: 50,
    reconnectionDelayMax: 100,
    ...opts,
  });
  return { proxy, socket };
}

/** Cuts the client's network for `ms` while `during` runs, then lets it reconnect; resolves
 *  once it has connected again. */
async function drop({ proxy, socket }, ms, during) {
  const gone = new Promise((res) => socket.once("disconnect", res));
  proxy.cut();
  const reason = await gone;
  await during();
  await sleep(ms);
  const back = new Promise((res) => socket.once("connect", res));
  proxy.restore();
  await back;
  return reason;
}

async function putRecovery(url, recovery) {
  const current = (await request(url, "/api/io/settings")).body.data;
  current.connection.recovery = { ...current.connection.recovery, ...recovery };
  const res = await request(url, "/api/io/settings", { method: "PUT", body: current });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

/** The payloads of `event` the socket got, and the offsets (their last argument). */
function received(socket, event) {
  return socket.rec.events.filter((e) => e.event === event).map((e) => e.args);
}

describe("connection state recovery, one node", () => {
  test("a transport dropped for 2 s while 20 events are sent: same socket, all 20 once, in order", async () => {
    const client = await droppable();
    const { socket } = client;
    const event = uniq("news");
    assert.equal(socket.recovered, false, "a first connection is not a recovery");
    const id = socket.id;
    await call(ctx.url, "raw", { event, data: { n: -1 } });
    await socket.rec.waitFor(event, (d) => d.n === -1);
    const reason = await drop(client, 2000, async () => {
      for (let n = 0; n < 20; n++) await call(ctx.url, "raw", { event, data: { n } });
    });
    assert.equal(reason, "transport close");
    assert.equal(socket.recovered, true, "socket.recovered");
    assert.equal(socket.id, id, "the same socket id");
    await socket.rec.waitFor(event, (d) => d.n === 19);
    await call(ctx.url, "raw", { event, data: { n: 20 } });
    await socket.rec.waitFor(event, (d) => d.n === 20);
    const got = received(socket, event);
    assert.deepEqual(
      got.map((args) => args[0].n),
      [-1, ...Array.from({ length: 21 }, (_, i) => i)],
      "every event once, in order",
    );
    // Each event carries its offset (`ms-seq`) last, increasing.
    const offsets = got.map((args) => args[args.length - 1].split("-").map(BigInt));
    const later = ([m1, s1], [m2, s2]) => m2 > m1 || (m2 === m1 && s2 > s1);
    assert.ok(offsets.every((o, i) => i === 0 || later(offsets[i - 1], o)), `offsets ${got.map((a) => a.at(-1))}`);
    const s = (await stats(ctx.url)).recovery;
    assert.equal(s.enabled, true);
    assert.ok(s.recovered >= 1, JSON.stringify(s));
    assert.ok(s.replayedPackets >= 20, JSON.stringify(s));
    const metrics = (await request(ctx.url, "/metrics", { token: null })).body;
    const value = (name) => Number(metrics.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
    assert.ok(value('strapi_io_recovery_total\\{outcome="recovered"\\}') >= 1, metrics);
    assert.ok(value("strapi_io_recovery_replayed_packets_total") >= 20, metrics);
    assert.ok(value("strapi_io_recovery_buffered_packets") >= 22, metrics);
    assert.ok(value("strapi_io_recovery_buffered_bytes") > 0, metrics);
  });

  test("rooms and entity subscriptions come back, with what was sent to them", async () => {
    await putRecovery(ctx.url, {});
    const client = await droppable();
    const { socket } = client;
    const room = uniq("room");
    const friend = await connect(ctx.url);
    await call(ctx.url, "joinRoom", { socketId: socket.id, roomName: room });
    const id = socket.id;
    const sub = await socket.timeout(5000).emitWithAck("subscribe-entity", { uid: ARTICLE, id: 1 });
    assert.equal(sub.success, true, JSON.stringify(sub));
    // A client that has received nothing yet presents no offset: it gets everything since
    // it connected.
    await drop(client, 300, async () => {
      await call(ctx.url, "raw", { event: "in-room", rooms: [room], data: { a: 1 } });
      await call(ctx.url, "raw", { event: "in-room", rooms: [uniq("other")], data: { a: 2 } });
      await call(ctx.url, "emitToEntity", { uid: ARTICLE, id: 1, event: "entity-news", data: { c: 1 } });
      // Private messages to a socket that is away wait for it.
      await call(ctx.url, "sendPrivateMessage", { socketId: id, event: "dm", data: { d: 1 } });
      const sent = await friend.timeout(5000).emitWithAck("private-message", { to: id, message: "hi" });
      assert.deepEqual(sent, { success: true });
    });
    assert.equal(socket.recovered, true);
    await socket.rec.waitFor("in-room", (d) => d.a === 1);
    await socket.rec.waitFor("entity-news", (d) => d.c === 1);
    await socket.rec.waitFor("dm", (d) => d.d === 1);
    assert.equal((await socket.rec.waitFor("private-message")).from, friend.id);
    assert.deepEqual(
      (await call(ctx.url, "getSocketsInRoom", { roomName: room })).map((s) => s.id),
      [socket.id],
      "back in its room",
    );
    const subs = await socket.timeout(5000).emitWithAck("get-entity-subscriptions");
    assert.deepEqual(subs.subscriptions, [{ uid: ARTICLE, id: 1, room: `${ARTICLE}:1` }]);
    await call(ctx.url, "raw", { event: "in-room", rooms: [room], data: { a: 3 } });
    await socket.rec.waitFor("in-room", (d) => d.a === 3);
    assert.deepEqual(socket.rec.all("in-room").map((d) => d.a), [1, 3], "not the other room's");
  });

  test("content events for an audience whose every socket is away are kept for them", async () => {
    // The only socket of its audience (the comments-only token) on this server.
    const client = await droppable({ auth: { strategy: "api-token", token: COMMENTS_ONLY_TOKEN } });
    const { socket } = client;
    await drop(client, 200, async () => {
      await call(ctx.url, "emit", { event: "create", schema: COMMENT, data: { id: 8, documentId: "comment-8", text: "while away" } });
    });
    assert.equal(socket.recovered, true);
    const got = await socket.rec.waitFor("comment:create");
    assert.equal(got.data.text, "while away");
  });

  test("past maxDisconnectionDuration, a new session", async () => {
    await putRecovery(ctx.url, { maxDisconnectionDuration: 500 });
    try {
      const client = await droppable();
      const { socket } = client;
      const id = socket.id;
      await call(ctx.url, "raw", { event: "tick", data: 1 });
      await socket.rec.waitFor("tick");
      const before = (await stats(ctx.url)).recovery.expired;
      await drop(client, 1200, async () => {});
      assert.equal(socket.recovered, false);
      assert.notEqual(socket.id, id, "a new socket id");
      assert.equal((await stats(ctx.url)).recovery.expired, before + 1);
    } finally {
      await putRecovery(ctx.url, { maxDisconnectionDuration: 120000 });
    }
  });

  test("a client that missed more than maxMissedPackets gets a new session, counted", async () => {
    await putRecovery(ctx.url, { maxMissedPackets: 5 });
    try {
      const client = await droppable();
      const { socket } = client;
      await call(ctx.url, "raw", { event: "tick", data: 0 });
      await socket.rec.waitFor("tick");
      const before = (await stats(ctx.url)).recovery.overCap;
      await drop(client, 200, async () => {
        for (let n = 1; n <= 6; n++) await call(ctx.url, "raw", { event: "tick", data: n });
      });
      assert.equal(socket.recovered, false);
      assert.equal((await stats(ctx.url)).recovery.overCap, before + 1);
    } finally {
      await putRecovery(ctx.url, { maxMissedPackets: 1000 });
    }
  });

  test("a forged or reused session id is a new session; a client disconnect is not recoverable", async () => {
    const { socket } = await droppable();
    const before = (await stats(ctx.url)).recovery;
    // Someone else presenting a pid that was never given.
    const stranger = await connect(ctx.url, { auth: { pid: "AAAAAAAAAAAAAAAAAAAA", offset: "1" } });
    assert.equal(stranger.recovered, false);
    // The client leaves on purpose: its session is not kept.
    const connected = (await stats(ctx.url)).connections;
    socket.disconnect();
    await waitUntil(async () => (await stats(ctx.url)).connections === connected - 1, {
      what: "the socket to leave",
    });
    assert.equal((await stats(ctx.url)).recovery.sessions, before.sessions);
    assert.equal((await stats(ctx.url)).recovery.expired, before.expired + 1);
  });

  test("with recovery off, no pid and no offsets", async () => {
    await putRecovery(ctx.url, { maxDisconnectionDuration: 0 });
    try {
      const client = await droppable();
      const { socket } = client;
      await call(ctx.url, "raw", { event: "plain", data: 1 });
      await socket.rec.waitFor("plain");
      assert.deepEqual(received(socket, "plain"), [[1]], "no offset argument");
      await drop(client, 100, async () => {});
      assert.ok(!socket.recovered, "not recovered");
      assert.equal((await stats(ctx.url)).recovery.enabled, false);
    } finally {
      await putRecovery(ctx.url, { maxDisconnectionDuration: 120000 });
    }
  });

  test("the recovery settings are validated", async () => {
    const current = (await request(ctx.url, "/api/io/settings")).body.data;
    current.connection.recovery = { maxDisconnectionDuration: -1, maxMissedPackets: 0, bogus: true };
    const res = await request(ctx.url, "/api/io/settings", { method: "PUT", body: current });
    assert.equal(res.status, 422);
    const paths = res.body.error.details.errors.map((e) => e.path).sort();
    assert.deepEqual(paths, [
      "settings.connection.recovery.bogus",
      "settings.connection.recovery.maxDisconnectionDuration",
      "settings.connection.recovery.maxMissedPackets",
    ]);
  });
});

describe("connection state recovery across two nodes on one Redis", () => {
  const nodes = useTwoNodes();

  test("a client of node A that comes back on node B recovers, and gets the 20 events once, in order", async () => {
    const { a, b, redis } = nodes;
    const { proxy, socket } = await droppable({}, a.url);
    const id = socket.id;
    const event = uniq("news");
    const room = uniq("room");
    const friend = await connect(b.url);
    await call(b.url, "joinRoom", { socketId: id, roomName: room });
    await call(b.url, "raw", { event, data: { n: -1 } });
    await socket.rec.waitFor(event, (d) => d.n === -1);
    const gone = new Promise((res) => socket.once("disconnect", res));
    proxy.cut();
    await gone;
    // Sent through both nodes while the client is away; the session moves to node B.
    for (let n = 0; n < 20; n++) await call(n % 2 ? a.url : b.url, "raw", { event, data: { n } });
    await call(a.url, "raw", { event: "room-news", rooms: [room], data: { r: 1 } });
    // Private messages from the other node wait for it too, once node A has marked it away.
    await waitUntil(
      async () => (await friend.timeout(5000).emitWithAck("private-message", { to: id, message: "hi" })).success,
      { ms: 5000, what: "a private message from node B accepted for the away socket" },
    );
    await call(b.url, "sendPrivateMessage", { socketId: id, event: "dm", data: { d: 1 } });
    await sleep(2000);
    proxy.retarget(b.url);
    const back = new Promise((res) => socket.once("connect", res));
    proxy.restore();
    await back;
    assert.equal(socket.recovered, true, "socket.recovered on the other node");
    assert.equal(socket.id, id);
    await socket.rec.waitFor(event, (d) => d.n === 19);
    await socket.rec.waitFor("room-news", (d) => d.r === 1);
    await socket.rec.waitFor("dm", (d) => d.d === 1);
    assert.equal((await socket.rec.waitFor("private-message")).from, friend.id);
    await call(a.url, "raw", { event, data: { n: 20 } });
    await socket.rec.waitFor(event, (d) => d.n === 20);
    assert.deepEqual(
      received(socket, event).map((args) => args[0].n),
      [-1, ...Array.from({ length: 21 }, (_, i) => i)],
      "every event once, in order",
    );
    assert.equal(socket.rec.all("private-message").length, 1, "the private message once");
    assert.equal(socket.rec.all("dm").length, 1, "the server's private message once");
    const onB = (await stats(b.url)).recovery;
    assert.equal(onB.recovered, 1, JSON.stringify(onB));
    // Its rooms came with it: node B has it in the room now.
    const members = await call(a.url, "getSocketsInRoom", { roomName: room });
    assert.deepEqual(members.map((s) => s.id), [id]);
  });

  test("a node started while the client was away recovers it from the Redis stream", async () => {
    const { a, b, redis } = nodes;
    const { proxy, socket } = await droppable({}, a.url);
    const id = socket.id;
    const event = uniq("late");
    await call(a.url, "raw", { event, data: { n: -1 } });
    await socket.rec.waitFor(event, (d) => d.n === -1);
    const gone = new Promise((res) => socket.once("disconnect", res));
    proxy.cut();
    await gone;
    for (let n = 0; n < 5; n++) await call(a.url, "raw", { event, data: { n } });
    const c = await startServerWith({}, { env: { STRAPI_IO_REDIS_URL: redis.url } });
    try {
      // Sent once node C listens: it has these in its own log, the earlier ones not.
      await waitUntil(async () => (await stats(c.url)).cluster?.nodes?.length === 3, { ms: 10_000, what: "three nodes" });
      for (let n = 5; n < 10; n++) await call(b.url, "raw", { event, data: { n } });
      await waitUntil(async () => (await stats(c.url)).recovery.bufferedPackets >= 5, { what: "node C's log" });
      proxy.retarget(c.url);
      const back = new Promise((res) => socket.once("connect", res));
      proxy.restore();
      await back;
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, id);
      await socket.rec.waitFor(event, (d) => d.n === 9);
      await call(c.url, "raw", { event, data: { n: 10 } });
      await socket.rec.waitFor(event, (d) => d.n === 10);
      assert.deepEqual(
        received(socket, event).map((args) => args[0].n),
        Array.from({ length: 12 }, (_, i) => i - 1),
        "every event once, in order",
      );
      assert.equal((await stats(c.url)).recovery.replayedPackets, 10);
    } finally {
      socket.close();
      await c.stop();
    }
  });

  test("past maxDisconnectionDuration the other node gives a new session", async () => {
    const { a, b, redis } = nodes;
    for (const node of [a, b]) await putRecovery(node.url, { maxDisconnectionDuration: 500 });
    try {
      const { proxy, socket } = await droppable({}, a.url);
      const id = socket.id;
      const gone = new Promise((res) => socket.once("disconnect", res));
      proxy.cut();
      await gone;
      await sleep(1200);
      proxy.retarget(b.url);
      const back = new Promise((res) => socket.once("connect", res));
      proxy.restore();
      await back;
      assert.equal(socket.recovered, false);
      assert.notEqual(socket.id, id);
    } finally {
      for (const node of [a, b]) await putRecovery(node.url, { maxDisconnectionDuration: 120000 });
    }
  });
});
