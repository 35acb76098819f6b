// security.rateLimiting (SPEC §4, §7): a burst beyond maxEventsPerSecond is answered
// `Rate limit exceeded` without a disconnect; a socket that keeps flooding is told why
// (`server-disconnect {reason}`) and disconnected; nobody else notices. GET /api/io/stats
// counts both.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ack, connect, marker, uniq } from "./helpers/clients.mjs";
import { call, stats } from "./helpers/http.mjs";
import { startServerWith, useServer } from "./helpers/server.mjs";
import { WAIT_MS, withTimeout } from "./helpers/wait.mjs";

const ctx = useServer(() =>
  startServerWith({ "settings.security": { rateLimiting: { enabled: true, maxEventsPerSecond: 5 } } }),
);

/** Sends `n` acked events at once; resolves the answers. */
function burst(socket, n, event = "get-rooms", ...args) {
  return Promise.all(Array.from({ length: n }, () => ack(socket, event, ...args)));
}

describe("rate limit: 5 events per second", () => {
  test("a burst of 20: the first 5 (6 with a refill) succeed, the rest are refused; still connected", async () => {
    const s = await connect(ctx.url);
    const drops = [];
    s.on("disconnect", (r) => drops.push(r));
    const answers = await burst(s, 20);
    const ok = answers.filter((a) => a.success === true).length;
    const refused = answers.filter((a) => a.success === false && a.error === "Rate limit exceeded").length;
    assert.ok(ok >= 5 && ok <= 6, `ok ${ok}: ${JSON.stringify(answers)}`);
    assert.equal(ok + refused, 20, JSON.stringify(answers));
    for (const a of answers.filter((x) => x.success)) assert.deepEqual(a, { success: true, rooms: ["io-role-public"] });
    // Server-sent events are not limited, and the socket is still there.
    await marker(ctx.url, [s]);
    assert.deepEqual(drops, []);
    assert.equal(s.connected, true);
    assert.equal(s.rec.count("server-disconnect"), 0);
    s.close();
  });

  test("every client event is behind the limit; it refills at the configured rate", async () => {
    const s = await connect(ctx.url);
    const mixed = await Promise.all([
      ...Array.from({ length: 5 }, () => ack(s, "get-entity-subscriptions")),
      ack(s, "join-room", uniq("r")),
      ack(s, "subscribe-entity", { uid: "api::article.article", id: 1 }),
      ack(s, "private-message", { to: s.id, message: "x" }),
    ]);
    const refused = mixed.filter((a) => a.error === "Rate limit exceeded").length;
    assert.ok(refused >= 2, `at least 2 of 8 refused: ${JSON.stringify(mixed)}`);
    // 1 s later the bucket holds 5 again: wait for it with a bounded retry, not a sleep.
    const deadline = Date.now() + 3000;
    let fresh;
    do {
      fresh = await ack(s, "get-rooms");
      if (!fresh.success) await new Promise((r) => setTimeout(r, 100));
    } while (!fresh.success && Date.now() < deadline);
    assert.equal(fresh.success, true, "the bucket refills");
    assert.equal(s.connected, true);
    s.close();
  });
});

describe("rate limit: a flood", () => {
  // One flood, its outcome checked property by property below.
  const flood = {};

  test("a socket sending far faster than 5/s is disconnected; other clients unaffected", async () => {
    flood.before = await stats(ctx.url);
    const flooder = await connect(ctx.url);
    const other = await connect(ctx.url);
    flood.otherDrops = [];
    other.on("disconnect", (r) => flood.otherDrops.push(r));
    const disconnected = withTimeout(
      new Promise((res) => flooder.once("disconnect", res)),
      WAIT_MS,
      "the flooder to be disconnected",
    );
    // 200 events without acks (refused ones are dropped), in one go.
    for (let i = 0; i < 200; i++) flooder.emit("get-rooms");
    flood.reason = await disconnected;
    // Everything the server sent before closing has been received by now.
    flood.told = flooder.rec.all("server-disconnect");
    assert.equal(flooder.connected, false);

    // The other client: still connected, receives, and its own events are answered.
    const event = uniq("after-flood");
    const got = other.rec.waitFor(event);
    await call(ctx.url, "raw", { event, data: { ok: true } });
    assert.deepEqual(await got, { ok: true });
    assert.deepEqual(await ack(other, "get-rooms"), { success: true, rooms: ["io-role-public"] });
    assert.deepEqual(flood.otherDrops, []);
    flood.after = await stats(ctx.url);
    assert.equal(flood.after.connections, 1, "only the other client is left");
    other.close();
  });

  test("the flooder is told why: server-disconnect {reason}, then a server disconnect", () => {
    assert.ok(flood.after, "the flood ran");
    assert.deepEqual(
      { told: flood.told, reason: flood.reason },
      { told: [{ reason: "Rate limit exceeded" }], reason: "io server disconnect" },
      "the flooder must receive server-disconnect {reason: 'Rate limit exceeded'} and the Socket.IO disconnect packet " +
        "(a bare transport close loses both)",
    );
  });

  test("GET /api/io/stats counts the refusals and exactly one flood disconnect", () => {
    const { before, after } = flood;
    assert.ok(after, "the flood ran");
    for (const key of ["connections", "bufferFull", "rateLimited", "floodDisconnects", "heartbeatDisconnects", "refusedHandshakes"]) {
      assert.equal(typeof after[key], "number", `stats.${key} is a number: ${JSON.stringify(after)}`);
    }
    assert.ok(after.rateLimited >= before.rateLimited + 25, `the flood's refusals are counted: ${JSON.stringify(after)}`);
    assert.ok(after.floodDisconnects >= 1);
    assert.equal(
      after.floodDisconnects,
      before.floodDisconnects + 1,
      `one socket was disconnected for flooding: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
    );
  });

  test("acked flood: refusals are answered until the disconnect", async () => {
    const flooder = await connect(ctx.url);
    const disconnected = withTimeout(new Promise((res) => flooder.once("disconnect", res)), WAIT_MS, "disconnect");
    const answers = await Promise.allSettled(Array.from({ length: 60 }, () => ack(flooder, "get-rooms")));
    assert.equal(await disconnected, "io server disconnect");
    const values = answers.filter((a) => a.status === "fulfilled").map((a) => a.value);
    assert.ok(values.filter((v) => v.success).length <= 6);
    assert.ok(values.filter((v) => v.error === "Rate limit exceeded").length >= 25, JSON.stringify(values));
    assert.deepEqual(await flooder.rec.waitFor("server-disconnect"), { reason: "Rate limit exceeded" });
  });
});
