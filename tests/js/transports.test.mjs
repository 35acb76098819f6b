// Transports (socket.serverOptions.transports) and protocol versions: the polling transport
// end to end, a websocket-only server refusing polling clients, and socket.io-client v2
// (Engine.IO v3) through the EIO3 compatibility (SPEC §1).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import io2 from "socket.io-client-v2";
import { idOf, ack, closeAll, connect, connectError, marker } from "./helpers/clients.mjs";
import { call } from "./helpers/http.mjs";
import { startServerWith, useServer } from "./helpers/server.mjs";
import { ARTICLE, DASHBOARD_TOKEN, legacyJwt } from "./helpers/strapi.mjs";
import { WAIT_MS, withTimeout } from "./helpers/wait.mjs";

after(() => closeAll());

const article = { id: 1, documentId: "article-1", title: "Hello", internalNotes: "private" };

describe("default transports (polling and websocket)", () => {
  const ctx = useServer();

  test("a polling-only client connects, receives article:create and gets acks", async () => {
    const s = await connect(ctx.url, { transports: ["polling"], auth: { token: legacyJwt(2) } });
    assert.equal(s.io.engine.transport.name, "polling");
    const got = s.rec.waitFor("article:create");
    await call(ctx.url, "emit", { event: "create", schema: ARTICLE, data: article });
    const payload = await got;
    assert.equal(payload.data.title, "Hello");
    assert.ok(!("internalNotes" in payload.data));
    assert.deepEqual(await ack(s, "get-rooms"), { success: true, rooms: ["io-role-authenticated"] });
    assert.equal((await ack(s, "subscribe-entity", { uid: ARTICLE, id: 2 })).success, true);
    // Many events at once arrive in order over long-polling.
    const n = 200;
    for (let i = 0; i < n; i++) await call(ctx.url, "raw", { event: "seq", data: { i } });
    await marker(ctx.url, [s]);
    assert.deepEqual(s.rec.all("seq").map((d) => d.i), Array.from({ length: n }, (_, i) => i));
    assert.equal(s.io.engine.transport.name, "polling", "never upgraded");
    s.close();
  });

  test("the default client (polling, then upgrade to websocket) works", async () => {
    const s = await connect(ctx.url, { transports: ["polling", "websocket"] });
    const got = s.rec.waitFor("article:create");
    await call(ctx.url, "emit", { event: "create", schema: ARTICLE, data: article });
    assert.equal((await got).data.id, 1);
    await withTimeout(
      new Promise((res) => {
        if (s.io.engine.transport.name === "websocket") res();
        else s.io.engine.once("upgrade", res);
      }),
      WAIT_MS,
      "the upgrade to websocket",
    );
    assert.deepEqual(await ack(s, "get-rooms"), { success: true, rooms: ["io-role-public"] });
    s.close();
  });
});

describe("socket.serverOptions.transports = [websocket]", () => {
  const ctx = useServer(() => startServerWith({ "socket.serverOptions": { transports: ["websocket"] } }));

  test("a polling-only client cannot connect", async () => {
    const message = await connectError(ctx.url, { transports: ["polling"] });
    assert.equal(typeof message, "string");
    // Nothing was connected on the server side either.
    const res = await fetch(`${ctx.url}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(res.status, 400, "an Engine.IO polling handshake is refused");
    await res.text();
  });

  test("a websocket client connects and is served", async () => {
    const s = await connect(ctx.url, { transports: ["websocket"] });
    const got = s.rec.waitFor("article:create");
    await call(ctx.url, "emit", { event: "create", schema: ARTICLE, data: article });
    assert.equal((await got).data.id, 1);
    assert.deepEqual(await ack(s, "get-rooms"), { success: true, rooms: ["io-role-public"] });
    s.close();
  });
});

describe("socket.io-client v2 (Engine.IO v3)", () => {
  const v2 = new Set();
  after(() => {
    for (const s of v2) s.close();
  });
  const ctx = useServer();

  /** Connects a v2 client; resolves once connected, rejects on error or timeout. */
  async function connectV2(opts = {}) {
    const s = io2(ctx.url, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...opts });
    v2.add(s);
    await withTimeout(
      new Promise((res, rej) => {
        s.once("connect", res);
        s.once("connect_error", (e) => rej(new Error(`connect_error: ${e?.message ?? e}`)));
        s.once("error", (e) => rej(new Error(`error: ${e?.message ?? e}`)));
      }),
      WAIT_MS,
      "the v2 client to connect",
    );
    return s;
  }

  /** A v2 websocket handshake with `query` that must be refused: resolves its message. */
  async function refusalV2(query) {
    const bad = io2(ctx.url, { forceNew: true, reconnection: false, transports: ["websocket"], query });
    v2.add(bad);
    try {
      return await withTimeout(
        new Promise((res) => {
          bad.once("connect", () => res("connected"));
          bad.once("error", (e) => res(e?.message ?? e));
          bad.once("connect_error", (e) => res(e?.message ?? e));
        }),
        WAIT_MS,
        "the v2 refusal",
      );
    } finally {
      bad.close();
    }
  }

  const ackV2 = (s, event, ...args) =>
    withTimeout(new Promise((res) => s.emit(event, ...args, res)), WAIT_MS, `v2 ack for ${event}`);
  const nextV2 = (s, event) =>
    withTimeout(new Promise((res) => s.once(event, res)), WAIT_MS, `v2 event ${event}`);

  for (const transports of [["websocket"], ["polling"], ["polling", "websocket"]]) {
    test(`${transports.join("+")}: connects with query.token, receives article:create, gets acks`, async () => {
      const s = await connectV2({ transports, query: { token: legacyJwt(2) } });
      assert.deepEqual(await ackV2(s, "get-rooms"), { success: true, rooms: ["io-role-authenticated"] });
      const got = nextV2(s, "article:create");
      await call(ctx.url, "emit", { event: "create", schema: ARTICLE, data: article });
      const payload = await got;
      assert.equal(payload.data.id, 1);
      assert.equal(payload.data.title, "Hello");
      assert.ok(!("internalNotes" in payload.data));
      assert.deepEqual(await ackV2(s, "subscribe-entity", { uid: ARTICLE, id: 1 }), {
        success: true,
        room: `${ARTICLE}:1`,
        uid: ARTICLE,
        id: 1,
      });
      s.close();
    });
  }

  test("a v2 client without a token is Public; a bad token is refused", async () => {
    const s = await connectV2({ transports: ["websocket"] });
    assert.deepEqual(await ackV2(s, "get-rooms"), { success: true, rooms: ["io-role-public"] });
    s.close();
    assert.equal(await refusalV2({ token: legacyJwt(2, { secret: "wrong" }) }), "Invalid credentials");
  });

  test("a v2 client presents an API token with query.strategy (it has no auth); an unknown strategy is refused", async () => {
    for (const transports of [["websocket"], ["polling"]]) {
      const s = await connectV2({ transports, query: { strategy: "api-token", token: DASHBOARD_TOKEN } });
      assert.deepEqual(await ackV2(s, "get-rooms"), { success: true, rooms: ["io-token-dashboard"] });
      s.close();
    }
    assert.equal(await refusalV2({ strategy: "oauth", token: DASHBOARD_TOKEN }), "Unknown auth strategy");
    // Read exactly as the transport reads it: a repeated strategy is refused at the edge.
    const twice = await fetch(`${ctx.url}/socket.io/?EIO=3&transport=polling&strategy=jwt&strategy=api-token&token=x`);
    assert.equal(twice.status, 400);
  });

  test("v2 and v4 clients side by side: private-message between them", async () => {
    const old = await connectV2({ transports: ["websocket"] });
    const modern = await connect(ctx.url);
    const got = nextV2(old, "private-message");
    // A v2 client derives its socket.id from its Engine.IO session id, which the server never
    // shows; its id, as others see it, is what whoami answers.
    const oldId = (await ackV2(old, "whoami")).id;
    assert.notEqual(oldId, old.id);
    assert.deepEqual(await ack(modern, "private-message", { to: oldId, message: "hi v2" }), { success: true });
    const msg = await got;
    assert.equal(msg.from, await idOf(modern));
    assert.equal(msg.message, "hi v2");
    const back = modern.rec.waitFor("private-message");
    assert.deepEqual(await ackV2(old, "private-message", { to: modern.id, message: "hi v4" }), { success: true });
    assert.equal((await back).message, "hi v4");
    old.close();
    modern.close();
  });
});
