// The network edge (issue 12): every attack of the adversarial report, replayed against the
// release binary and now refused. Requests that need another address come from 127.0.0.2
// (the whole of 127/8 is loopback). Each bounded; nothing here depends on timing but the
// timeouts under test, with margins.

import assert from "node:assert/strict";
import { connect as tcpConnect } from "node:net";
import { after, describe, test } from "node:test";
import WebSocket from "ws";
import { ack, closeAll, connect, uniq } from "./helpers/clients.mjs";
import { writeConfig, tomlEdit } from "./helpers/config.mjs";
import { request, stats } from "./helpers/http.mjs";
import { runToExit, serverFor } from "./helpers/server.mjs";
import { ADMIN_TOKEN, legacyJwt } from "./helpers/strapi.mjs";
import { WAIT_MS, waitUntil, withTimeout } from "./helpers/wait.mjs";

after(() => closeAll());

const ATTACKER = "127.0.0.2";

/**
 * One HTTP/1.1 exchange written by hand on a fresh TCP connection from `localAddress`, so
 * that header lines (repeated ones included) and the query go out exactly as given.
 * Resolves { status, headers (lower-case name → [values]), body } once the server closes.
 */
function rawHttp(url, { method = "GET", path, headers = [], body, localAddress = ATTACKER }) {
  const { hostname, port } = new URL(url);
  const exchange = new Promise((res, rej) => {
    const sock = tcpConnect({ host: hostname, port: Number(port), localAddress });
    let data = Buffer.alloc(0);
    sock.on("data", (d) => (data = Buffer.concat([data, d])));
    sock.on("error", rej);
    sock.on("close", () => {
      const text = data.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return rej(new Error(`no HTTP answer to ${method} ${path}: ${JSON.stringify(text)}`));
      const [statusLine, ...lines] = text.slice(0, end).split("\r\n");
      const h = {};
      for (const l of lines) {
        const i = l.indexOf(":");
        const k = l.slice(0, i).trim().toLowerCase();
        (h[k] ??= []).push(l.slice(i + 1).trim());
      }
      res({ status: Number(statusLine.split(" ")[1]), headers: h, body: data.subarray(end + 4).toString("utf8") });
    });
    sock.on("connect", () => {
      const out = [`${method} ${path} HTTP/1.1`, `host: ${hostname}:${port}`, "connection: close"];
      for (const [k, v] of headers) out.push(`${k}: ${v}`);
      if (body !== undefined) {
        out.push("content-type: text/plain;charset=UTF-8", `content-length: ${Buffer.byteLength(body)}`);
      }
      sock.write(`${out.join("\r\n")}\r\n\r\n${body ?? ""}`);
    });
  });
  return withTimeout(exchange, WAIT_MS, `${method} ${path}`);
}

/**
 * A WebSocket upgrade to `path` from `localAddress` with extra header lines. Resolves
 * `{ status }` when refused, or `{ ws, first }` when it opened (`first`: the first frame).
 */
function upgrade(url, path, { headers = {}, localAddress = ATTACKER, probe = false } = {}) {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}${path}`, { headers, localAddress });
  const opened = new Promise((res, rej) => {
    ws.on("unexpected-response", (_req, r) => {
      r.resume();
      res({ status: r.statusCode });
      ws.terminate();
    });
    ws.on("error", rej);
    ws.on("open", () => {
      if (probe) ws.send("2probe");
      ws.once("message", (d) => res({ ws, first: d.toString() }));
    });
  });
  return withTimeout(opened, WAIT_MS, `upgrade ${path}`);
}

/**
 * Connects over a raw WebSocket with the given header lines and sends the Socket.IO
 * CONNECT; resolves "connected", or the connect_error message.
 */
async function wsConnect(url, headers) {
  const r = await upgrade(url, "/socket.io/?EIO=4&transport=websocket", { headers, localAddress: "127.0.0.1" });
  assert.ok(r.ws, `upgrade refused (${r.status})`);
  assert.ok(r.first.startsWith("0{"), r.first);
  // Pings ("2") may come first; answer them and wait for the CONNECT's answer.
  const reply = new Promise((res) =>
    r.ws.on("message", (d) => {
      const f = d.toString();
      if (f === "2") r.ws.send("3");
      else res(f);
    }),
  );
  r.ws.send("40");
  const frame = await withTimeout(reply, WAIT_MS, "the answer to CONNECT");
  r.ws.terminate();
  if (frame.startsWith("40")) return "connected";
  assert.ok(frame.startsWith("44"), frame);
  return JSON.parse(frame.slice(2)).message;
}

describe("1. a session cannot be taken over through the guard", () => {
  const ctx = serverFor({});

  /** A polling-only victim on 127.0.0.1, and its Engine.IO session id. */
  async function victim() {
    const s = await connect(ctx.url, { transports: ["polling"], auth: { token: legacyJwt(1) } });
    return { s, sid: s.io.engine.id };
  }

  test("the report's decoy (s%69d=x&sid=<victim>) from 127.0.0.2: GET, POST and upgrade answered 400; counted; the victim is untouched", async () => {
    const { s, sid } = await victim();
    const before = await stats(ctx.url);
    const path = `/socket.io/?EIO=4&transport=polling&s%69d=x&sid=${sid}`;
    const get = await rawHttp(ctx.url, { path });
    assert.equal(get.status, 400, get.body);
    assert.deepEqual(JSON.parse(get.body), { code: 3, message: "Bad request" });
    const room = uniq("hijacked");
    const post = await rawHttp(ctx.url, { method: "POST", path, body: `42["join-room","${room}"]` });
    assert.equal(post.status, 400, post.body);
    const ws = await upgrade(ctx.url, `/socket.io/?EIO=4&transport=websocket&s%69d=x&sid=${sid}`, { probe: true });
    assert.equal(ws.status, 400, `the upgrade was let through, first frame ${JSON.stringify(ws.first)}`);

    const rooms = (await ack(s, "get-rooms")).rooms;
    assert.ok(!rooms.includes(room), `the posted packet ran as the victim: ${JSON.stringify(rooms)}`);
    assert.equal(s.connected, true);
    assert.equal(s.io.engine.transport.name, "polling", "the victim's session was not upgraded away");
    const after = await stats(ctx.url);
    assert.equal(after.ambiguousRequests, before.ambiguousRequests + 3, JSON.stringify(after));
    s.close();
  });

  test("dual stack: a polling session continued from another address (127.0.0.2) works, as in Node", async () => {
    // The Engine.IO session id is a bearer secret that never leaves its transport (socket
    // ids are drawn apart from it), so sessions are not pinned to an address: a client whose
    // requests leave from two addresses (IPv4 and IPv6, a proxy pool) keeps its session.
    const open = await rawHttp(ctx.url, { path: "/socket.io/?EIO=4&transport=polling", localAddress: "127.0.0.1" });
    assert.equal(open.status, 200, open.body);
    const { sid } = JSON.parse(open.body.slice(1));
    const path = `/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    const post = await rawHttp(ctx.url, { method: "POST", path, body: "40", localAddress: "127.0.0.2" });
    assert.equal(post.status, 200, post.body);
    const got = await rawHttp(ctx.url, { path, localAddress: "127.0.0.2" });
    assert.equal(got.status, 200, got.body);
    const connect = got.body.split("\x1e").find((p) => p.startsWith("40"));
    assert.ok(connect, got.body);
    const socketId = JSON.parse(connect.slice(2)).sid;
    assert.notEqual(socketId, sid, "the socket id is not the session id");
    const ask = await rawHttp(ctx.url, { method: "POST", path, body: '421["whoami"]', localAddress: "127.0.0.1" });
    assert.equal(ask.status, 200, ask.body);
    const answer = await rawHttp(ctx.url, { path, localAddress: "127.0.0.2" });
    assert.ok(answer.body.startsWith("431["), answer.body);
    const who = JSON.parse(answer.body.slice(3))[0];
    assert.equal(who.success, true);
    assert.equal(who.id, socketId, "whoami answers the socket id");
  });

  test("queries that read two ways are refused from any address, the victim's own included", async () => {
    const { s, sid } = await victim();
    for (const query of [
      `EIO=4&transport=polling&sid=${sid}&sid=${sid}`,
      `EIO=4&transport=polling&%73id=${sid}`,
      `EIO=4&EIO=3&transport=polling&sid=${sid}`,
      `EIO=4&transport=polling&transport=websocket&sid=${sid}`,
      `EIO=4&transport=polling&sid=${sid}%41`,
      `EIO=4&transport=polling&token=a&token=b`,
    ]) {
      const r = await rawHttp(ctx.url, { path: `/socket.io/?${query}`, localAddress: "127.0.0.1" });
      assert.equal(r.status, 400, `${query}: ${r.status} ${r.body}`);
      assert.deepEqual(JSON.parse(r.body), { code: 3, message: "Bad request" }, query);
    }
    assert.equal((await ack(s, "get-rooms")).success, true);
    s.close();
  });
});

describe("2. every X-Forwarded-For line counts", () => {
  const ctx = serverFor({ "settings.security": { trustedProxies: ["127.0.0.1"], ipBlacklist: ["6.6.6.6"] } });

  test("the report's two lines (8.8.8.8 then 6.6.6.6, as HAProxy appends) → IP blacklisted", async () => {
    assert.equal(await wsConnect(ctx.url, { "x-forwarded-for": ["8.8.8.8", "6.6.6.6"] }), "IP blacklisted");
    assert.equal(await wsConnect(ctx.url, { "x-forwarded-for": "8.8.8.8" }), "connected", "control");
  });

  test("hops with a port or brackets are read; an unreadable deciding hop is refused under an IP list", async () => {
    for (const [xff, want] of [
      ["6.6.6.6:1234", "IP blacklisted"],
      ["[::ffff:6.6.6.6]:443", "IP blacklisted"],
      ["8.8.8.8, garbage", "IP blacklisted"],
      ["8.8.8.8, unknown", "IP blacklisted"],
      ["garbage, 8.8.8.8", "connected"],
      ["[2001:db8::1]:80", "connected"],
    ]) {
      assert.equal(await wsConnect(ctx.url, { "x-forwarded-for": xff }), want, xff);
    }
  });
});

describe("3. stalled connections are closed; a real client still connects", () => {
  const ctx = serverFor({
    "settings.connection": { headerTimeout: 3000, maxPendingConnectionsPerIp: 128, connectionTimeout: 2000 },
  });

  test("200 half-sent requests (a header line every 4 s) and 50 silent connections from 127.0.0.2: 128 pending, the rest refused 503, all closed", async () => {
    const { hostname, port } = new URL(ctx.url);
    const before = await stats(ctx.url);
    const timers = [];
    const opened = [];
    const open = (halfSent) =>
      new Promise((res) => {
        const sock = tcpConnect({ host: hostname, port: Number(port), localAddress: ATTACKER });
        const c = { answer: "", closed: false, at: 0 };
        sock.setEncoding("latin1");
        sock.on("data", (d) => (c.answer += d));
        sock.on("error", () => {});
        sock.on("close", () => {
          c.closed = true;
          c.at = Date.now();
        });
        sock.on("connect", () => {
          if (halfSent) {
            sock.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nhost: x\r\n");
            let n = 0;
            const t = setInterval(() => !sock.destroyed && sock.write(`x-slow-${n++}: 1\r\n`), 4000);
            timers.push(t);
          }
          res(c);
        });
        c.sock = sock;
      });
    const started = Date.now();
    for (let i = 0; i < 200; i++) opened.push(await open(true));
    for (let i = 0; i < 50; i++) opened.push(await open(false));
    try {
      // A real client connects while the attack holds its connections open.
      const real = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
      assert.equal(real.connected, true);
      const during = await stats(ctx.url);
      assert.equal(during.pendingConnections, 128, "the per-address limit");
      await waitUntil(() => opened.every((c) => c.closed), { ms: 10_000, what: "every attacking connection to be closed" });
      const refused = opened.filter((c) => c.answer.startsWith("HTTP/1.1 503"));
      assert.equal(refused.length, 122, "the connections over the limit were answered 503");
      const timedOut = opened.filter((c) => !c.answer);
      assert.equal(timedOut.length, 128);
      for (const c of timedOut) {
        assert.ok(c.at - started >= 2500, `closed after ${c.at - started} ms, before the 3 s header timeout`);
      }
      assert.deepEqual(await ack(real, "get-rooms"), { success: true, rooms: ["io-role-authenticated"] });
      const after = await stats(ctx.url);
      assert.equal(after.refusedConnections - before.refusedConnections, 122);
      assert.equal(after.timedOutRequests - before.timedOutRequests, 128);
      assert.equal(after.pendingConnections, 0);
      const metrics = await (await fetch(`${ctx.url}/metrics`)).text();
      assert.match(metrics, /strapi_io_refused_connections_total \d+/);
      assert.match(metrics, /strapi_io_timed_out_requests_total \d+/);
      assert.match(metrics, /strapi_io_pending_connections 0/);
      real.close();
    } finally {
      for (const t of timers) clearInterval(t);
      for (const c of opened) c.sock.destroy();
    }
  });

  test("150 WebSockets from 127.0.0.2 that never send the Socket.IO CONNECT: 128 held until connectionTimeout, 22 refused 503", async () => {
    const before = await stats(ctx.url);
    const opened = [];
    const refused = [];
    for (let i = 0; i < 150; i++) {
      const r = await upgrade(ctx.url, "/socket.io/?EIO=4&transport=websocket");
      if (r.ws) {
        const c = { ws: r.ws, closed: false };
        r.ws.on("message", (d) => d.toString() === "2" && r.ws.send("3"));
        r.ws.on("close", () => (c.closed = true));
        opened.push(c);
      } else refused.push(r.status);
    }
    try {
      assert.equal(opened.length, 128);
      assert.deepEqual([...new Set(refused)], [503]);
      assert.equal(refused.length, 22);
      assert.equal((await stats(ctx.url)).pendingConnections, 128);
      // Polling handshakes from the same address are sessions waiting for their handshake too.
      const polling = await rawHttp(ctx.url, { path: "/socket.io/?EIO=4&transport=polling" });
      assert.equal(polling.status, 503, polling.body);
      // A real client from 127.0.0.1 is not affected, and leaves nothing pending.
      const real = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
      assert.equal(real.connected, true);
      await waitUntil(() => opened.every((c) => c.closed), { ms: 8000, what: "the engine to close sessions without a CONNECT" });
      const after = await stats(ctx.url);
      assert.equal(after.pendingConnections, 0);
      assert.equal(after.refusedConnections - before.refusedConnections, 23);
      const again = await upgrade(ctx.url, "/socket.io/?EIO=4&transport=websocket");
      assert.ok(again.ws, "places are free again once the sessions are gone");
      again.ws.terminate();
      real.close();
    } finally {
      for (const c of opened) c.ws.terminate();
    }
  });

  test("a request body that trickles is cut off after headerTimeout, and counted", async () => {
    const { hostname, port } = new URL(ctx.url);
    const before = await stats(ctx.url);
    const sock = tcpConnect({ host: hostname, port: Number(port), localAddress: ATTACKER });
    let answer = "";
    sock.setEncoding("latin1");
    sock.on("data", (d) => (answer += d));
    const closed = new Promise((res) => sock.on("close", res));
    sock.on("error", () => {});
    await new Promise((res) => sock.on("connect", res));
    sock.write(
      `POST /api/io/emit HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ADMIN_TOKEN}\r\n` +
        "content-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    );
    const t = setInterval(() => !sock.destroyed && sock.write(" "), 500);
    try {
      await withTimeout(closed, 8000, "the trickling connection to be closed");
    } finally {
      clearInterval(t);
      sock.destroy();
    }
    const after = await stats(ctx.url);
    assert.equal(after.timedOutRequests, before.timedOutRequests + 1, answer);
  });

  test("an idle keep-alive connection is closed after headerTimeout (not counted as an attack)", async () => {
    const { hostname, port } = new URL(ctx.url);
    const before = await stats(ctx.url);
    const sock = tcpConnect({ host: hostname, port: Number(port) });
    let answer = "";
    sock.setEncoding("latin1");
    sock.on("data", (d) => (answer += d));
    const closed = new Promise((res) => sock.on("close", res));
    await new Promise((res) => sock.on("connect", res));
    sock.write("GET /health HTTP/1.1\r\nhost: x\r\n\r\n");
    await withTimeout(closed, 8000, "the idle connection to be closed");
    assert.match(answer, /^HTTP\/1.1 200/);
    const after = await stats(ctx.url);
    assert.equal(after.timedOutRequests, before.timedOutRequests);
  });
});

describe("3b. the default header timeout is 10 s", () => {
  const ctx = serverFor({});

  test("a silent connection is closed between 10 and 13 s; counted", async () => {
    const { hostname, port } = new URL(ctx.url);
    const before = await stats(ctx.url);
    const sock = tcpConnect({ host: hostname, port: Number(port), localAddress: ATTACKER });
    const started = Date.now();
    const closed = new Promise((res) => sock.on("close", () => res(Date.now() - started)));
    sock.on("error", () => {});
    const took = await withTimeout(closed, 15_000, "the silent connection to be closed");
    assert.ok(took >= 9500 && took <= 13_000, `closed after ${took} ms`);
    assert.equal((await stats(ctx.url)).timedOutRequests, before.timedOutRequests + 1);
  });
});

describe("4. settings that break every client are refused", () => {
  const ctx = serverFor({});
  const put = (body, raw) => request(ctx.url, "/api/io/settings", { method: "PUT", body, raw });

  test("PUT pingInterval 2^31 or 2^64−1 → 422 with the path and the range; the live settings are unchanged", async () => {
    const res = await put({ connection: { pingInterval: 2147483648 } });
    assert.equal(res.status, 422, res.text);
    assert.deepEqual(res.body.error.details.errors, [
      { path: "settings.connection.pingInterval", message: "must be between 100 and 3600000 ms" },
    ]);
    const huge = await put(undefined, '{"connection": {"pingInterval": 18446744073709551615}}');
    assert.equal(huge.status, 422, huge.text);
    const tooLong = await put({ connection: { pingTimeout: 3_600_001, headerTimeout: 10 }, rooms: { maxRoomsPerSocket: 10_001 } });
    assert.equal(tooLong.status, 422, tooLong.text);
    assert.deepEqual(
      tooLong.body.error.details.errors.map((e) => e.path).sort(),
      ["settings.connection.headerTimeout", "settings.connection.pingTimeout", "settings.rooms.maxRoomsPerSocket"],
    );
    const live = await request(ctx.url, "/api/io/settings");
    assert.equal(live.body.data.connection.pingInterval, 25000);
  });

  test("the same in the config file: strapi-io check exits 2 naming the key", async () => {
    const config = writeConfig(tomlEdit({ "settings.connection": { pingInterval: 2147483648 } }));
    try {
      const r = await runToExit(["check", "--config", config.path]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /settings\.connection\.pingInterval: must be between 100 and 3600000 ms/);
    } finally {
      config.cleanup();
    }
  });
});

describe("5. acks are never dropped silently", () => {
  const ctx = serverFor({ "socket.serverOptions": { maxBufferSize: 16 } });

  test("3,000 acked get-rooms in one burst with maxBufferSize 16: a missing ack is counted as bufferFull and its client disconnected", async () => {
    // Whether a burst overflows the 16-packet queue depends on how the server's tasks are
    // scheduled; nearly every burst does. Each burst must end one of the two honest ways.
    for (let attempt = 0; attempt < 5; attempt++) {
      const s = await connect(ctx.url);
      const before = await stats(ctx.url);
      let answered = 0;
      let allAnswered;
      const complete = new Promise((res) => (allAnswered = res));
      const disconnected = new Promise((res) => s.once("disconnect", res));
      for (let i = 0; i < 3000; i++) s.emit("get-rooms", () => ++answered === 3000 && allAnswered());
      const [how, reason] = await withTimeout(
        Promise.race([disconnected.then((r) => ["disconnected", r]), complete.then(() => ["answered"])]),
        15_000,
        "every ack, or the overflowing client's disconnect",
      );
      const after = await stats(ctx.url);
      if (how === "answered") {
        assert.equal(after.bufferFull, before.bufferFull, "every ack arrived: nothing was dropped");
        s.close();
        continue;
      }
      assert.equal(reason, "io server disconnect");
      assert.ok(answered < 3000, `${answered} answered`);
      assert.ok(after.bufferFull > before.bufferFull, JSON.stringify(after));
      return;
    }
    assert.fail("no burst of 3,000 overflowed a 16-packet queue in 5 tries");
  });

  test("a burst the buffer holds is answered in full and the client stays", async () => {
    const s = await connect(ctx.url);
    const before = await stats(ctx.url);
    let answered = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 8 }, () => ack(s, "get-rooms").then(() => answered++)));
    }
    assert.equal(answered, 160);
    assert.equal(s.connected, true);
    assert.equal((await stats(ctx.url)).bufferFull, before.bufferFull);
    s.close();
  });
});

describe("6. smaller points", () => {
  const ctx = serverFor({ "settings.namespaces": { enabled: true, list: { chat: { requireAuth: false } } } });

  test("a private message stays within its namespace", async () => {
    const inRoot = await connect(ctx.url);
    const inChat = await connect(`${ctx.url}/chat`);
    const peer = await connect(`${ctx.url}/chat`);
    const rootId = (await ack(inRoot, "whoami")).id;
    assert.deepEqual(await ack(inChat, "private-message", { to: rootId, message: "hi" }), {
      success: false,
      error: "Target socket not found",
    });
    assert.deepEqual(await ack(inChat, "private-message", { to: inRoot.id, message: "hi" }), {
      success: false,
      error: "Target socket not found",
    });
    const peerId = (await ack(peer, "whoami")).id;
    assert.deepEqual(await ack(inChat, "private-message", { to: peerId, message: "hi" }), { success: true });
    assert.equal((await peer.rec.waitFor("private-message")).message, "hi");
    assert.equal(inRoot.rec.count("private-message"), 0);
    for (const s of [inRoot, inChat, peer]) s.close();
  });

  test("CORS: a wildcard origin is mirrored without credentials; a listed origin gets credentials", async () => {
    const probe = async (origin) => {
      const res = await fetch(`${ctx.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin } });
      await res.text();
      return {
        origin: res.headers.get("access-control-allow-origin"),
        credentials: res.headers.get("access-control-allow-credentials"),
      };
    };
    // The demo allows "*", with cors.credentials true.
    assert.deepEqual(await probe("https://evil.example"), { origin: "https://evil.example", credentials: null });
    const put = await request(ctx.url, "/api/io/settings", {
      method: "PUT",
      body: { ...(await request(ctx.url, "/api/io/settings")).body.data, cors: { origins: ["https://app.example"], credentials: true } },
    });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(await probe("https://app.example"), { origin: "https://app.example", credentials: "true" });
    assert.deepEqual(await probe("https://evil.example"), { origin: null, credentials: null });
  });

  test("rooms.maxRoomsPerSocket (100 by default): the 101st join is refused; rejoining or after a leave is fine", async () => {
    const s = await connect(ctx.url);
    const rooms = Array.from({ length: 100 }, (_, i) => `r${i}`);
    for (const r of rooms) assert.deepEqual(await ack(s, "join-room", r), { success: true, room: r });
    assert.deepEqual(await ack(s, "join-room", "one-more"), { success: false, error: "Maximum rooms (100) reached" });
    assert.deepEqual(await ack(s, "join-room", "r7"), { success: true, room: "r7" }, "already in it");
    assert.deepEqual(await ack(s, "leave-room", "r7"), { success: true, room: "r7" });
    assert.deepEqual(await ack(s, "join-room", "one-more"), { success: true, room: "one-more" });
    // concurrent joins cannot overshoot
    assert.deepEqual(await ack(s, "leave-room", "r8"), { success: true, room: "r8" });
    const raced = await Promise.all(["x1", "x2", "x3", "x4"].map((r) => ack(s, "join-room", r)));
    assert.equal(raced.filter((r) => r.success).length, 1, JSON.stringify(raced));
    const visible = (await ack(s, "get-rooms")).rooms.filter((r) => !r.startsWith("io-"));
    assert.equal(visible.length, 100);
    s.close();
  });
});
