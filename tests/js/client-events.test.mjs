// Client → server events with acks (SPEC §4): rooms, entity subscriptions, private messages,
// and malformed arguments that must be answered without hurting anyone.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { idOf, ack, connect, marker, uniq } from "./helpers/clients.mjs";
import { call } from "./helpers/http.mjs";
import { useServer } from "./helpers/server.mjs";
import { ARTICLE, AUTHOR, legacyJwt } from "./helpers/strapi.mjs";
import { WAIT_MS } from "./helpers/wait.mjs";

const ctx = useServer();

describe("rooms", () => {
  test("join-room / get-rooms / leave-room", async () => {
    const s = await connect(ctx.url);
    const other = await connect(ctx.url);
    const room = uniq("chat");
    assert.deepEqual(await ack(s, "join-room", room), { success: true, room });

    const r = await ack(s, "get-rooms");
    assert.equal(r.success, true);
    assert.deepEqual([...r.rooms].sort(), ["io-role-public", room].sort());
    assert.ok(!r.rooms.includes(s.id), "own id excluded");

    // The server sees the membership and room events reach the member only.
    const members = await call(ctx.url, "getSocketsInRoom", { roomName: room });
    assert.deepEqual(members.map((m) => m.id), [await idOf(s)]);
    const event = uniq("room-msg");
    const got = s.rec.waitFor(event);
    await call(ctx.url, "raw", { event, rooms: [room], data: { hi: 1 } });
    assert.deepEqual(await got, { hi: 1 });
    await marker(ctx.url, [other]);
    assert.equal(other.rec.count(event), 0);

    assert.deepEqual(await ack(s, "leave-room", room), { success: true, room });
    assert.deepEqual((await ack(s, "get-rooms")).rooms, ["io-role-public"]);
    assert.deepEqual(await call(ctx.url, "getSocketsInRoom", { roomName: room }), []);
    s.close();
    other.close();
  });

  test("reserved and invalid room names are refused", async () => {
    const s = await connect(ctx.url);
    assert.deepEqual(await ack(s, "join-room", "io-role-editor"), {
      success: false,
      error: "Room name is reserved",
    });
    assert.deepEqual(await ack(s, "join-room", "io-token-dashboard"), {
      success: false,
      error: "Room name is reserved",
    });
    const entityRoom = await ack(s, "join-room", `${ARTICLE}:1`);
    assert.equal(entityRoom.success, false, "an entity room cannot be joined with join-room");
    assert.deepEqual(await ack(s, "join-room", "no spaces!"), {
      success: false,
      error: "Room name contains invalid characters",
    });
    assert.deepEqual(await ack(s, "join-room", 42), { success: false, error: "Invalid room name" });
    assert.deepEqual(await ack(s, "join-room", ""), { success: false, error: "Invalid room name" });
    // Still only in its own audience room: nothing was joined.
    assert.deepEqual((await ack(s, "get-rooms")).rooms, ["io-role-public"]);
    // An editor-only event does not reach it.
    await call(ctx.url, "raw", { event: "editors-only", rooms: ["io-role-editor"], data: {} });
    await marker(ctx.url, [s]);
    assert.equal(s.rec.count("editors-only"), 0);
    s.close();
  });
});

describe("entity subscriptions", () => {
  test("subscribe-entity, get-entity-subscriptions, unsubscribe-entity", async () => {
    const s = await connect(ctx.url);
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: ARTICLE, id: "article-2" }), {
      success: true,
      room: `${ARTICLE}:article-2`,
      uid: ARTICLE,
      id: "article-2",
    });
    assert.deepEqual(await ack(s, "subscribe-entity", { uid: ARTICLE, id: 3 }), {
      success: true,
      room: `${ARTICLE}:3`,
      uid: ARTICLE,
      id: 3,
    });
    const subs = await ack(s, "get-entity-subscriptions");
    assert.equal(subs.success, true);
    assert.deepEqual(
      [...subs.subscriptions].sort((x, y) => x.room.localeCompare(y.room)),
      [
        { uid: ARTICLE, id: 3, room: `${ARTICLE}:3` },
        { uid: ARTICLE, id: "article-2", room: `${ARTICLE}:article-2` },
      ],
    );
    const rooms = (await ack(s, "get-rooms")).rooms;
    assert.ok(rooms.includes(`${ARTICLE}:3`) && rooms.includes(`${ARTICLE}:article-2`), `rooms: ${rooms}`);

    assert.deepEqual(await ack(s, "unsubscribe-entity", { uid: ARTICLE, id: 3 }), {
      success: true,
      room: `${ARTICLE}:3`,
      uid: ARTICLE,
      id: 3,
    });
    assert.deepEqual((await ack(s, "get-entity-subscriptions")).subscriptions, [
      { uid: ARTICLE, id: "article-2", room: `${ARTICLE}:article-2` },
    ]);
    s.close();
  });

  test("subscribe-entity refusals", async () => {
    const pub = await connect(ctx.url);
    const cases = [
      [{ uid: ARTICLE, id: 99 }, "Entity not found"],
      [{ uid: ARTICLE, id: "article-99" }, "Entity not found"],
      [{ uid: AUTHOR, id: 1 }, "Permission denied: no access to this content type"],
      [{ uid: "not a uid", id: 1 }, "Invalid content type uid format"],
      [{ uid: "api::Article.article", id: 1 }, "Invalid content type uid format"],
      [{ uid: "api::nope.nope", id: 1 }, "Content type not found"],
      [{ uid: ARTICLE }, "Invalid parameters: uid and id are required"],
      [{ id: 1 }, "Invalid parameters: uid and id are required"],
      [{ uid: ARTICLE, id: { $ne: 1 } }, "Invalid entity id"],
      [{ uid: ARTICLE, id: "1; DROP TABLE" }, "Invalid entity id"],
    ];
    for (const [arg, error] of cases) {
      assert.deepEqual(
        await ack(pub, "subscribe-entity", arg),
        { success: false, error },
        `subscribe-entity ${JSON.stringify(arg)}`,
      );
    }
    assert.deepEqual((await ack(pub, "get-entity-subscriptions")).subscriptions, []);
    // A reader may read authors: the same subscription succeeds.
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    assert.equal((await ack(reader, "subscribe-entity", { uid: AUTHOR, id: 1 })).success, true);
    pub.close();
    reader.close();
  });
});

describe("private messages", () => {
  test("private-message reaches the target only, with sender info", async () => {
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const target = await connect(ctx.url);
    const third = await connect(ctx.url);
    const before = Date.now();
    assert.deepEqual(await ack(reader, "private-message", { to: target.id, message: "hello there" }), {
      success: true,
    });
    const msg = await target.rec.waitFor("private-message");
    assert.equal(msg.from, await idOf(reader));
    assert.equal(msg.from, reader.id, "the sender's own socket.id");
    assert.notEqual(msg.from, reader.io.engine.id, "the Engine.IO session id is never shown to others");
    assert.deepEqual(msg.fromUser, { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" });
    assert.equal(msg.message, "hello there");
    assert.equal(typeof msg.timestamp, "number");
    assert.ok(msg.timestamp >= before - 1000 && msg.timestamp <= Date.now() + 1000, `timestamp ${msg.timestamp}`);

    // From a public socket: fromUser is null. A 10,000-char message is accepted.
    const long = "z".repeat(10_000);
    assert.deepEqual(await ack(target, "private-message", { to: reader.id, message: long }), { success: true });
    const back = await reader.rec.waitFor("private-message");
    assert.equal(back.from, await idOf(target));
    assert.equal(back.fromUser, null);
    assert.equal(back.message.length, 10_000);

    await marker(ctx.url, [reader, target, third]);
    assert.equal(third.rec.count("private-message"), 0, "bystander gets nothing");
    assert.equal(target.rec.count("private-message"), 1);
    assert.equal(reader.rec.count("private-message"), 1);
    reader.close();
    target.close();
    third.close();
  });

  test("private-message refusals", async () => {
    const s = await connect(ctx.url);
    const t = await connect(ctx.url);
    assert.deepEqual(await ack(s, "private-message", { to: "no-such-socket-id", message: "hi" }), {
      success: false,
      error: "Target socket not found",
    });
    assert.deepEqual(await ack(s, "private-message", { to: t.id, message: "x".repeat(10_001) }), {
      success: false,
      error: "Invalid message length",
    });
    assert.deepEqual(await ack(s, "private-message", { to: t.id, message: "" }), {
      success: false,
      error: "Invalid message length",
    });
    assert.deepEqual(await ack(s, "private-message", { to: t.id }), { success: false, error: "Invalid parameters" });
    assert.deepEqual(await ack(s, "private-message", "just a string"), { success: false, error: "Invalid parameters" });
    await marker(ctx.url, [t]);
    assert.equal(t.rec.count("private-message"), 0, "nothing delivered by refused messages");
    s.close();
    t.close();
  });
});

describe("malformed client input", () => {
  test("bad arguments and unknown events neither disconnect the sender nor others", async () => {
    const s = await connect(ctx.url);
    const other = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const drops = [];
    s.on("disconnect", (r) => drops.push(`s:${r}`));
    other.on("disconnect", (r) => drops.push(`other:${r}`));

    // Without acks: dropped silently.
    s.emit("join-room");
    s.emit("subscribe-entity", "nonsense");
    s.emit("private-message", { to: other.id, message: 5 });
    s.emit("no-such-event", { a: 1 });
    // With acks: answered.
    assert.equal((await ack(s, "subscribe-entity", null)).success, false);
    assert.equal((await ack(s, "subscribe-entity", [1, 2, 3])).success, false);
    assert.equal((await ack(s, "leave-room", { room: "x" })).success, false);
    assert.equal((await ack(s, "private-message", null)).success, false);

    await marker(ctx.url, [s, other]);
    assert.deepEqual(drops, []);
    assert.equal(s.connected && other.connected, true);
    assert.equal((await ack(s, "get-rooms")).success, true);
    s.close();
    other.close();
  });

  // maxHttpBufferSize (default 1e6 bytes) is "the largest message accepted from a client".
  // The reference server closes the connection of a client that sends more; SPEC §4 also
  // allows an error answer. What may not happen: the server acting on the oversized packet.
  for (const transport of ["websocket", "polling"]) {
    test(`${transport}: a packet over maxHttpBufferSize is not acted upon; others unaffected`, async () => {
      const other = await connect(ctx.url);
      // Control: the same event under the limit is accepted.
      const small = await connect(ctx.url, { transports: [transport] });
      const ok = await ack(small, "subscribe-entity", { uid: ARTICLE, id: 1, pad: "p".repeat(500_000) });
      assert.equal(ok.success, true, "a 0.5 MB packet is within the limit");

      const big = await connect(ctx.url, { transports: [transport] });
      const bigId = big.id;
      let answer;
      try {
        answer = await ack(big, "subscribe-entity", { uid: ARTICLE, id: 2, pad: "p".repeat(2_000_000) });
      } catch (e) {
        answer = { transportError: e.message };
      }
      const subs = await call(ctx.url, "getEntitySubscriptions", { socketId: bigId });
      const subscribed = subs.success && subs.subscriptions.some((x) => x.id === 2);
      assert.equal(
        subscribed,
        false,
        `a 2 MB packet (> maxHttpBufferSize 1e6) was accepted and acted upon over ${transport}: ` +
          `ack ${JSON.stringify(answer)}, subscriptions ${JSON.stringify(subs)}`,
      );
      if (answer.success !== undefined) assert.equal(answer.success, false, "an answer must be a refusal");

      assert.equal(other.connected, true, "other client still connected");
      const event = uniq("after-big");
      const got = other.rec.waitFor(event);
      await call(ctx.url, "raw", { event, data: {} });
      await got;
      other.close();
      small.close();
      big.close();
    });
  }
});
