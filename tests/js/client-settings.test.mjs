// Client events under the settings that restrict them (SPEC §4, §7): private rooms and
// messages switched off, auto-joined rooms, entity-subscription limits; and arguments of the
// wrong type, answered with the documented error or dropped, never a disconnect.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { idOf, ack, closeAll, connect, marker, uniq } from "./helpers/clients.mjs";
import { call } from "./helpers/http.mjs";
import { startServerWith, useServer } from "./helpers/server.mjs";
import { ARTICLE, AUTHOR, COMMENT, legacyJwt } from "./helpers/strapi.mjs";

after(() => closeAll());

describe("rooms.enablePrivateRooms=false, autoJoinByRole, enablePrivateMessages=false, entity limits", () => {
  const ctx = useServer(() =>
    startServerWith({
      "settings.rooms": {
        enablePrivateRooms: false,
        enablePrivateMessages: false,
        autoJoinByRole: { public: ["lobby"], editor: ["newsroom", "lobby"] },
      },
      "settings.entitySubscriptions": {
        maxSubscriptionsPerSocket: 2,
        allowedContentTypes: [COMMENT],
      },
    }),
  );

  test("a public socket is in its auto-join room on connect", async () => {
    const s = await connect(ctx.url);
    assert.deepEqual(await ack(s, "get-rooms"), { success: true, rooms: ["io-role-public", "lobby"] });
    const members = await call(ctx.url, "getSocketsInRoom", { roomName: "lobby" });
    const sid = await idOf(s);
    assert.ok(members.some((m) => m.id === sid), "the server lists it in lobby");
    // Events for the room reach it without any join-room.
    const got = s.rec.waitFor("lobby-news");
    await call(ctx.url, "raw", { event: "lobby-news", rooms: ["lobby"], data: { n: 1 } });
    assert.deepEqual(await got, { n: 1 });
    s.close();
  });

  test("auto-join rooms follow the role", async () => {
    const editor = await connect(ctx.url, { auth: { token: legacyJwt(1) } });
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    assert.deepEqual((await ack(editor, "get-rooms")).rooms, ["io-role-editor", "lobby", "newsroom"]);
    assert.deepEqual((await ack(reader, "get-rooms")).rooms, ["io-role-authenticated"]);
    editor.close();
    reader.close();
  });

  test("join-room: refused unless the room is one of the role's auto-join rooms", async () => {
    const s = await connect(ctx.url);
    const room = uniq("private");
    assert.deepEqual(await ack(s, "join-room", room), { success: false, error: "Private rooms are disabled" });
    assert.deepEqual(await ack(s, "join-room", "newsroom"), {
      success: false,
      error: "Private rooms are disabled",
    }, "another role's auto-join room is not allowed");
    // Leave lobby, then join it again: allowed for the public role.
    assert.deepEqual(await ack(s, "leave-room", "lobby"), { success: true, room: "lobby" });
    assert.deepEqual((await ack(s, "get-rooms")).rooms, ["io-role-public"]);
    assert.deepEqual(await ack(s, "join-room", "lobby"), { success: true, room: "lobby" });
    assert.deepEqual((await ack(s, "get-rooms")).rooms, ["io-role-public", "lobby"]);
    // Validation still comes first.
    assert.deepEqual(await ack(s, "join-room", "io-role-editor"), { success: false, error: "Room name is reserved" });
    assert.deepEqual(await call(ctx.url, "getSocketsInRoom", { roomName: room }), []);

    // A reader (no auto-join rooms) may join nothing.
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    assert.deepEqual(await ack(reader, "join-room", "lobby"), {
      success: false,
      error: "Private rooms are disabled",
    });
    s.close();
    reader.close();
  });

  test("private-message: Private messages are disabled, nothing delivered", async () => {
    const s = await connect(ctx.url);
    const t = await connect(ctx.url);
    assert.deepEqual(await ack(s, "private-message", { to: t.id, message: "hello" }), {
      success: false,
      error: "Private messages are disabled",
    });
    await marker(ctx.url, [t]);
    assert.equal(t.rec.count("private-message"), 0);
    s.close();
    t.close();
  });

  test("subscribe-entity: maxSubscriptionsPerSocket=2 and allowedContentTypes=[comment]", async () => {
    const s = await connect(ctx.url);
    const ok = (id) => ({ success: true, room: `${COMMENT}:${id}`, uid: COMMENT, id });
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: COMMENT, id: 1 }), ok(1));
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: COMMENT, id: 2 }), ok(2));
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: COMMENT, id: 3 }), {
      success: false,
      error: "Maximum subscriptions (2) reached",
    });
    // Re-subscribing an existing one still succeeds and adds nothing.
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: COMMENT, id: 1 }), ok(1));
    assert.deepEqual(
      (await ack(s, "get-entity-subscriptions")).subscriptions.map((x) => x.room).sort(),
      [`${COMMENT}:1`, `${COMMENT}:2`],
    );
    // Not an allowed content type, whatever the count.
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: ARTICLE, id: 1 }), {
      success: false,
      error: "Content type not allowed for entity subscriptions",
    });
    // Freeing a slot lets the third one in.
    assert.equal((await ack(s, "unsubscribe-entity", { uid: COMMENT, id: 2 })).success, true);
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: COMMENT, id: 3 }), ok(3));

    const fresh = await connect(ctx.url);
    assert.deepEqual(await ack(fresh, "subscribe-entity", { uid: ARTICLE, id: 1 }), {
      success: false,
      error: "Content type not allowed for entity subscriptions",
    });
    assert.deepEqual((await ack(fresh, "get-entity-subscriptions")).subscriptions, []);
    s.close();
    fresh.close();
  });
});

describe("entitySubscriptions.enabled=false", () => {
  const ctx = useServer(() => startServerWith({ "settings.entitySubscriptions": { enabled: false } }));

  test("subscribe-entity answers Entity subscriptions are disabled", async () => {
    const s = await connect(ctx.url);
    for (const arg of [{ uid: ARTICLE, id: 1 }, { uid: COMMENT, id: "x" }]) {
      assert.deepEqual(await ack(s, "subscribe-entity", arg), {
        success: false,
        error: "Entity subscriptions are disabled",
      });
    }
    assert.deepEqual((await ack(s, "get-entity-subscriptions")).subscriptions, []);
    assert.deepEqual((await ack(s, "get-rooms")).rooms, ["io-role-public"]);
    s.close();
  });
});

describe("entitySubscriptions.requireVerification=false; wrong argument types", () => {
  const ctx = useServer(() => startServerWith({ "settings.entitySubscriptions": { requireVerification: false } }));

  test("an entry the directory does not know can be subscribed to; checks before it still apply", async () => {
    const s = await connect(ctx.url);
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: ARTICLE, id: 99 }), {
      success: true,
      room: `${ARTICLE}:99`,
      uid: ARTICLE,
      id: 99,
    });
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: AUTHOR, id: 99 }), {
      success: false,
      error: "Permission denied: no access to this content type",
    });
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: "api::nope.nope", id: 1 }), {
      success: false,
      error: "Content type not found",
    });
    // The subscription works: an update of article 99 reaches it.
    const got = s.rec.waitFor("article:update");
    await call(ctx.url, "emit", { event: "update", schema: ARTICLE, data: { id: 99, documentId: "d99", title: "T" } });
    assert.equal((await got).data.id, 99);
    s.close();
  });

  const wrong = [
    ["a number", [42]],
    ["an array", [["room"]]],
    ["null", [null]],
    ["missing", []],
    ["an object", [{ room: "x" }]],
    ["a boolean", [true]],
  ];

  test("join-room / leave-room with a wrong argument → Invalid room name", async () => {
    const s = await connect(ctx.url);
    for (const [what, args] of wrong) {
      for (const event of ["join-room", "leave-room"]) {
        assert.deepEqual(await ack(s, event, ...args), { success: false, error: "Invalid room name" }, `${event} with ${what}`);
      }
    }
    assert.equal(s.connected, true);
    assert.deepEqual((await ack(s, "get-rooms")).rooms, ["io-role-public"]);
    s.close();
  });

  test("subscribe-entity / unsubscribe-entity with a wrong argument → Invalid parameters", async () => {
    const s = await connect(ctx.url);
    for (const [what, args] of [...wrong, ["a string", ["api::article.article:1"]]]) {
      for (const event of ["subscribe-entity", "unsubscribe-entity"]) {
        assert.deepEqual(
          await ack(s, event, ...args),
          { success: false, error: "Invalid parameters: uid and id are required" },
          `${event} with ${what}`,
        );
      }
    }
    for (const event of ["subscribe-entity", "unsubscribe-entity"]) {
      assert.deepEqual(await ack(s, event, { uid: 5, id: 1 }), { success: false, error: "Invalid content type uid format" });
      assert.deepEqual(await ack(s, event, { uid: ["api::article.article"], id: 1 }), {
        success: false,
        error: "Invalid content type uid format",
      });
      assert.deepEqual(await ack(s, event, { uid: ARTICLE, id: [1] }), { success: false, error: "Invalid entity id" });
      assert.deepEqual(await ack(s, event, { uid: ARTICLE, id: true }), { success: false, error: "Invalid entity id" });
      assert.deepEqual(await ack(s, event, { uid: ARTICLE, id: -1 }), { success: false, error: "Invalid entity id" });
      assert.deepEqual(await ack(s, event, { uid: ARTICLE, id: 1.5 }), { success: false, error: "Invalid entity id" });
    }
    assert.equal(s.connected, true);
    assert.deepEqual((await ack(s, "get-entity-subscriptions")).subscriptions, []);
    s.close();
  });

  test("private-message with a wrong argument → Invalid parameters", async () => {
    const s = await connect(ctx.url);
    const t = await connect(ctx.url);
    const cases = [
      ...wrong,
      ["a string", ["hello"]],
      ["to as a number", [{ to: 5, message: "hi" }]],
      ["message as a number", [{ to: t.id, message: 5 }]],
      ["message as an object", [{ to: t.id, message: { text: "hi" } }]],
      ["to as an array", [{ to: [t.id], message: "hi" }]],
    ];
    for (const [what, args] of cases) {
      assert.deepEqual(await ack(s, "private-message", ...args), { success: false, error: "Invalid parameters" }, what);
    }
    await marker(ctx.url, [t]);
    assert.equal(t.rec.count("private-message"), 0);
    s.close();
    t.close();
  });

  test("get-rooms and get-entity-subscriptions ignore whatever argument comes with them", async () => {
    const s = await connect(ctx.url);
    for (const [, args] of [["", [42]], ["", [null]], ["", [{ a: 1 }]], ["", ["x", "y"]]]) {
      assert.deepEqual(await ack(s, "get-rooms", ...args), { success: true, rooms: ["io-role-public"] });
      assert.deepEqual(await ack(s, "get-entity-subscriptions", ...args), { success: true, subscriptions: [] });
    }
    s.close();
  });

  test("bad arguments without an ack are dropped quietly; the socket stays usable", async () => {
    const s = await connect(ctx.url);
    const t = await connect(ctx.url);
    const drops = [];
    s.on("disconnect", (r) => drops.push(`s:${r}`));
    t.on("disconnect", (r) => drops.push(`t:${r}`));
    const events = ["join-room", "leave-room", "subscribe-entity", "unsubscribe-entity", "private-message", "get-rooms", "get-entity-subscriptions"];
    for (const event of events) {
      for (const [, args] of wrong) s.emit(event, ...args);
    }
    s.emit("private-message", { to: t.id, message: 5 });
    s.emit("subscribe-entity", { uid: ARTICLE, id: { $gt: 0 } });
    // Binary where JSON is expected.
    s.emit("join-room", Buffer.from([1, 2, 3]));
    s.emit("subscribe-entity", { uid: ARTICLE, id: Buffer.from("1") });

    await marker(ctx.url, [s, t]);
    assert.deepEqual(drops, []);
    assert.equal(s.connected && t.connected, true);
    assert.deepEqual(await ack(s, "get-rooms"), { success: true, rooms: ["io-role-public"] });
    assert.deepEqual((await ack(s, "get-entity-subscriptions")).subscriptions, []);
    assert.equal(t.rec.count("private-message"), 0);
    const room = uniq("after");
    assert.deepEqual(await ack(s, "join-room", room), { success: true, room });
    // Binary with an ack: answered like any other wrong type.
    assert.deepEqual(await ack(s, "join-room", Buffer.from([1])), { success: false, error: "Invalid room name" });
    s.close();
    t.close();
  });
});
