// Every $io method through createRemoteIo against the real gateway, each effect observed by
// official socket.io-client sockets: what the method returns, who receives what, and who
// receives nothing.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createRemoteIo } from "@strapi-io/client";
import { startServer } from "../../../tests/js/helpers/server.mjs";
import { ack, closeAll, idOf, uniq } from "../../../tests/js/helpers/sockets.mjs";
import {
  ADMIN_TOKEN,
  ARTICLE,
  AUTHOR,
  COMMENT,
  DASHBOARD_TOKEN,
  legacyJwt,
} from "../../../tests/js/helpers/strapi.mjs";
import { WAIT_MS, withTimeout } from "../../../tests/js/helpers/wait.mjs";
import { connect, marker } from "./helpers.mjs";

const READER = { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" };

let gateway;
let io;
let reader; // JWT user 2, role authenticated
let pub; // no token, role public
let editor; // JWT user 1, role editor

before(async () => {
  gateway = await startServer();
  io = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN, timeoutMs: WAIT_MS });
  reader = await connect(gateway.url, { auth: { token: legacyJwt(2) } });
  pub = await connect(gateway.url);
  editor = await connect(gateway.url, { auth: { token: legacyJwt(1) } });
});

after(async () => {
  closeAll();
  await gateway?.stop();
});

describe("content events", () => {
  test("emit with a uid: each audience gets the entry sanitized, in Strapi 5's shape", async () => {
    const waits = [reader, pub, editor].map((s) => s.rec.waitFor("article:create", (p) => p.data.id === 101));
    const entry = { id: 101, documentId: "doc-101", title: "Hello", internalNotes: "private", publishedAt: "2026-01-01T00:00:00.000Z" };
    assert.equal(await io.emit({ event: "create", schema: ARTICLE, data: entry }), undefined);
    for (const p of await Promise.all(waits)) {
      assert.deepEqual(p, {
        data: { id: 101, documentId: "doc-101", title: "Hello", publishedAt: "2026-01-01T00:00:00.000Z" },
        meta: {},
      });
    }
  });

  test("emit with a Strapi schema object (attributes, functions, a cycle) sends only what names the type", async () => {
    // Shaped like strapi.contentType(uid): JSON.stringify of the whole object would throw.
    const schema = {
      uid: COMMENT,
      kind: "collectionType",
      modelName: "comment",
      info: { singularName: "comment", pluralName: "comments", displayName: "Comment" },
      attributes: { text: { type: "text" } },
      lifecycles: { afterCreate() {} },
    };
    schema.self = schema;
    const got = pub.rec.waitFor("comment:create", (p) => p.data.id === 55);
    await io.emit({ event: "create", schema, data: { id: 55, documentId: "c-55", text: "nice" } });
    assert.deepEqual(await got, { data: { id: 55, documentId: "c-55", text: "nice" }, meta: {} });

    // Without uid, the gateway resolves info.singularName (or singularName).
    // (The public role hears comment creates only; the reader hears updates too.)
    const viaInfo = reader.rec.waitFor("comment:update", (p) => p.data.id === 56);
    await io.emit({ event: "update", schema: { info: { singularName: "comment" } }, data: { id: 56, documentId: "c-56", text: "b" } });
    assert.equal((await viaInfo).data.text, "b");
    const viaName = reader.rec.waitFor("comment:update", (p) => p.data.id === 57);
    await io.emit({ event: "update", schema: { singularName: "comment" }, data: { id: 57, documentId: "c-57", text: "c" } });
    assert.equal((await viaName).data.text, "c");
  });

  test("emit delete carries {id, documentId} only", async () => {
    const got = reader.rec.waitFor("article:delete", (p) => p.data.id === 102);
    await io.emit({ event: "delete", schema: ARTICLE, data: { id: 102, documentId: "doc-102", title: "gone" } });
    assert.deepEqual(await got, { data: { id: 102, documentId: "doc-102" }, meta: {} });
  });

  test("emit routes by permission: the public role does not hear author events", async () => {
    const got = editor.rec.waitFor("author:create", (p) => p.data.id === 7);
    await io.emit({ event: "create", schema: AUTHOR, data: { id: 7, documentId: "a-7", name: "Ann" } });
    assert.equal((await got).data.name, "Ann");
    await marker(io, [pub]);
    assert.equal(pub.rec.count("author:create"), 0, "public may not find authors");
  });

  test("raw: to the listed rooms only, sensitive keys stripped; without rooms to everyone", async () => {
    const event = uniq("raw");
    const got = pub.rec.waitFor(event);
    assert.equal(await io.raw({ event, rooms: ["io-role-public"], data: { hello: "world", apiKey: "k" } }), undefined);
    assert.deepEqual(await got, { hello: "world" });
    await marker(io, [reader, editor]);
    assert.equal(reader.rec.count(event), 0);
    assert.equal(editor.rec.count(event), 0);

    const all = uniq("raw-all");
    const waits = [reader, pub, editor].map((s) => s.rec.waitFor(all));
    await io.raw({ event: all, data: [1, 2, 3] });
    for (const p of await Promise.all(waits)) assert.deepEqual(p, [1, 2, 3]);
  });
});

describe("rooms and messages", () => {
  test("joinRoom / getSocketsInRoom / leaveRoom, by public or transport id", async () => {
    const room = uniq("room");
    const readerId = await idOf(reader);
    assert.equal(await io.joinRoom(readerId, room), true);

    const inRoom = await io.getSocketsInRoom(room);
    assert.equal(inRoom.length, 1);
    assert.equal(inRoom[0].id, readerId);
    assert.deepEqual(inRoom[0].user, READER);
    assert.equal(inRoom[0].userId, 2, "the reference's userId");
    assert.equal(inRoom[0].role, "authenticated");
    assert.ok(inRoom[0].rooms.includes(room), `rooms: ${inRoom[0].rooms}`);
    assert.deepEqual((await ack(reader, "get-rooms")).rooms.includes(room), true, "the client sees the room");

    const event = uniq("room-event");
    const got = reader.rec.waitFor(event);
    await io.raw({ event, rooms: [room], data: { n: 1 } });
    assert.deepEqual(await got, { n: 1 });
    await marker(io, [pub, editor]);
    assert.equal(pub.rec.count(event), 0);

    // A public socket: no user, so no userId.
    const publics = await io.getSocketsInRoom("io-role-public");
    assert.deepEqual(publics.map((s) => [s.id, s.user, s.role, "userId" in s]), [[await idOf(pub), null, "public", false]]);

    // The transport id (socket.id on the client) works too.
    assert.equal(await io.leaveRoom(reader.id, room), true);
    assert.deepEqual(await io.getSocketsInRoom(room), []);
    assert.equal(await io.joinRoom("no-such-socket", room), false);
    assert.equal(await io.leaveRoom("no-such-socket", room), false);
  });

  test("sendPrivateMessage reaches the target only", async () => {
    const event = uniq("pm");
    const got = editor.rec.waitFor(event);
    assert.equal(await io.sendPrivateMessage(await idOf(editor), event, { text: "psst", token: "t" }), undefined);
    assert.deepEqual(await got, { text: "psst" });
    await marker(io, [reader, pub, editor]);
    assert.equal(reader.rec.count(event), 0);
    assert.equal(pub.rec.count(event), 0);
    assert.equal(editor.rec.count(event), 1);
  });

  test("broadcast reaches everyone but the sender", async () => {
    const event = uniq("bc");
    const waits = [pub, editor].map((s) => s.rec.waitFor(event));
    assert.equal(await io.broadcast(await idOf(reader), event, { from: "reader" }), undefined);
    for (const p of await Promise.all(waits)) assert.deepEqual(p, { from: "reader" });
    await marker(io, [reader]);
    assert.equal(reader.rec.count(event), 0, "the sender is left out");
  });

  test("emitToNamespace('/') reaches every socket of the main namespace", async () => {
    const event = uniq("ns");
    const waits = [reader, pub, editor].map((s) => s.rec.waitFor(event));
    assert.equal(await io.emitToNamespace("/", event, { ns: true }), undefined);
    for (const p of await Promise.all(waits)) assert.deepEqual(p, { ns: true });
  });

  test("disconnectSocket: server-disconnect {reason}, then the disconnect; false once gone", async () => {
    const victim = await connect(gateway.url, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } });
    const id = await idOf(victim);
    const told = new Promise((res) => victim.on("server-disconnect", res));
    const gone = new Promise((res) => victim.on("disconnect", res));
    assert.equal(await io.disconnectSocket(id, "maintenance"), true);
    assert.deepEqual(await withTimeout(told, WAIT_MS, "server-disconnect"), { reason: "maintenance" });
    assert.equal(await withTimeout(gone, WAIT_MS, "disconnect"), "io server disconnect");
    assert.equal(await io.disconnectSocket(id), false, "already gone (and reason is optional)");
    assert.deepEqual(await io.getSocketsInRoom("io-token-dashboard"), []);
  });
});

describe("entity subscriptions", () => {
  test("subscribe, list, room sockets, emitToEntity, unsubscribe", async () => {
    const readerId = await idOf(reader);
    const room = `${ARTICLE}:2`;
    assert.deepEqual(await io.subscribeToEntity(readerId, ARTICLE, 2), { success: true, room, uid: ARTICLE, id: 2 });

    const subs = await io.getEntitySubscriptions(readerId);
    assert.deepEqual(subs, { success: true, subscriptions: [{ uid: ARTICLE, id: 2, room }] });
    assert.deepEqual(await ack(reader, "get-entity-subscriptions"), subs, "the client sees the same");
    assert.deepEqual(await io.getEntityRoomSockets(ARTICLE, 2), [{ id: readerId, user: READER }]);

    const event = uniq("entity");
    const got = reader.rec.waitFor(event);
    assert.equal(await io.emitToEntity(ARTICLE, 2, event, { pinged: 2, password: "p" }), undefined);
    assert.deepEqual(await got, { pinged: 2 });
    await marker(io, [pub, editor]);
    assert.equal(pub.rec.count(event), 0);
    assert.equal(editor.rec.count(event), 0);

    // Refusals are results ({success: false, error}), not errors.
    assert.deepEqual(await io.subscribeToEntity(await idOf(pub), AUTHOR, 1), {
      success: false,
      error: "Permission denied: no access to this content type",
    });
    assert.deepEqual(await io.subscribeToEntity(readerId, ARTICLE, 99), { success: false, error: "Entity not found" });
    assert.deepEqual(await io.subscribeToEntity("no-such-socket", ARTICLE, 1), { success: false, error: "Socket not found" });
    assert.deepEqual(await io.subscribeToEntity(readerId, "not-a-uid", 1), { success: false, error: "Invalid content type uid format" });

    assert.deepEqual(await io.unsubscribeFromEntity(readerId, ARTICLE, 2), { success: true, room, uid: ARTICLE, id: 2 });
    assert.deepEqual(await io.getEntityRoomSockets(ARTICLE, 2), []);
    assert.deepEqual(await io.getEntitySubscriptions(readerId), { success: true, subscriptions: [] });
    assert.deepEqual(await io.getEntitySubscriptions("no-such-socket"), { success: false, error: "Socket not found" });
    const event2 = uniq("entity");
    await io.emitToEntity(ARTICLE, 2, event2, {});
    await marker(io, [reader]);
    assert.equal(reader.rec.count(event2), 0, "unsubscribed: nothing more");
  });

  test("subscribers by documentId hear the entity's content events", async () => {
    const editorId = await idOf(editor);
    assert.equal((await io.subscribeToEntity(editorId, ARTICLE, "article-3")).success, true);
    const got = editor.rec.waitFor("article:update", (p) => p.data.documentId === "article-3");
    await io.emit({ event: "update", schema: ARTICLE, data: { id: 3, documentId: "article-3", title: "edited" } });
    assert.equal((await got).data.title, "edited");
    await marker(io, [editor]);
    assert.equal(editor.rec.all("article:update").filter((p) => p.data.documentId === "article-3").length, 1, "once");
  });
});

describe("what the gateway's process holds", () => {
  test("$io.server and $io.namespaces throw a clear error, and stay out of spreads", () => {
    assert.throws(() => io.server, /strapi\.\$io\.server is not available: the Socket\.IO server runs in the strapi-io gateway/);
    assert.throws(() => io.namespaces, /strapi\.\$io\.namespaces is not available/);
    const copy = { ...io };
    assert.equal("server" in copy, false);
    assert.equal(typeof copy.emit, "function", "methods survive a spread (they are not bound to `this`)");
  });
});
