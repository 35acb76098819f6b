// Custom client events forwarded to a backend (config `[[events]]`, SPEC §5): the backend
// gets `POST {event, socket: {id, user, role}, args}` and its JSON reply becomes the ack;
// backend errors, timeouts, a closed port and invalid JSON are answered
// `{success: false, error}` and leave the socket usable. A custom event may not take a
// built-in name.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { ack, closeAll, connect } from "./helpers/clients.mjs";
import { tomlEdit, writeConfig } from "./helpers/config.mjs";
import { freePort, runToExit, startServerWith } from "./helpers/server.mjs";
import { DASHBOARD_TOKEN, legacyJwt } from "./helpers/strapi.mjs";
import { WAIT_MS } from "./helpers/wait.mjs";

let server;
let url;
let backend;
let backendUrl;
/** Requests the backend received: { path, headers, body (parsed) }. */
const received = [];
/** How /hook answers: (body) => [status, text]. */
let hookReply;
const held = new Set();

function defaultReply(body) {
  return [200, JSON.stringify({ success: true, echo: body.args })];
}

before(async () => {
  hookReply = defaultReply;
  backend = createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (text += d));
    req.on("end", () => {
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      received.push({ path: req.url, method: req.method, headers: req.headers, body });
      const send = (status, out) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(out);
      };
      switch (req.url) {
        case "/hook":
          return send(...hookReply(body));
        case "/fail":
          return send(500, JSON.stringify({ error: "boom" }));
        case "/bad":
          return send(200, "{not json");
        case "/slow":
          // Never answers in time; released when the test ends.
          held.add(res);
          return undefined;
        default:
          return send(404, "{}");
      }
    });
  });
  await new Promise((res) => backend.listen(0, "127.0.0.1", res));
  backendUrl = `http://127.0.0.1:${backend.address().port}`;
  const closedPort = await freePort();
  const events = [
    ["chat:send", `${backendUrl}/hook`],
    ["chat:fail", `${backendUrl}/fail`],
    ["chat:bad", `${backendUrl}/bad`],
    ["chat:slow", `${backendUrl}/slow`],
    ["chat:down", `http://127.0.0.1:${closedPort}/hook`],
  ]
    .map(([name, u]) => `[[events]]\nname = "${name}"\nurl = "${u}"\ntimeoutMs = 500\n`)
    .join("\n");
  server = await startServerWith({}, { extra: events });
  url = server.url;
});

after(async () => {
  closeAll();
  await server?.stop();
  for (const res of held) res.destroy();
  backend?.closeAllConnections?.();
  await new Promise((res) => (backend ? backend.close(res) : res()));
});

/** Waits (bounded) for the backend to have received a request matching `pred`. */
async function backendGot(pred, what = "a backend request") {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const hit = received.find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(received.map((r) => r.body))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function usable(socket) {
  assert.equal(socket.connected, true);
  assert.equal((await ack(socket, "get-rooms")).success, true);
}

describe("custom events forwarded to a backend", () => {
  test("public socket: the backend gets {event, socket:{id, user:null, role}, args}; its reply is the ack", async () => {
    const s = await connect(url);
    const reply = await ack(s, "chat:send", { text: "hi" });
    assert.deepEqual(reply, { success: true, echo: [{ text: "hi" }] });
    const req = await backendGot((r) => r.body?.socket?.id === s.id, "the forwarded chat:send");
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/hook");
    assert.match(req.headers["content-type"] ?? "", /application\/json/);
    assert.deepEqual(req.body, {
      event: "chat:send",
      socket: { id: s.id, user: null, role: "public" },
      args: [{ text: "hi" }],
    });
    s.close();
  });

  test("JWT users: user {id, username, email, role} and the role type", async () => {
    const reader = await connect(url, { auth: { token: legacyJwt(2) } });
    const editor = await connect(url, { auth: { token: legacyJwt(1) } });
    assert.equal((await ack(reader, "chat:send", { text: "from reader" })).success, true);
    assert.equal((await ack(editor, "chat:send", { text: "from editor" })).success, true);
    const r = await backendGot((x) => x.body?.socket?.id === reader.id);
    assert.deepEqual(r.body.socket, {
      id: reader.id,
      user: { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" },
      role: "authenticated",
    });
    const e = await backendGot((x) => x.body?.socket?.id === editor.id);
    assert.deepEqual(e.body.socket, {
      id: editor.id,
      user: { id: 1, username: "editor", email: "editor@example.com", role: "editor" },
      role: "editor",
    });
    assert.deepEqual(e.body.args, [{ text: "from editor" }]);
    reader.close();
    editor.close();
  });

  test("an API-token socket is forwarded with user null", async () => {
    const t = await connect(url, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } });
    assert.equal((await ack(t, "chat:send", "x")).success, true);
    const r = await backendGot((x) => x.body?.socket?.id === t.id);
    assert.equal(r.body.socket.user, null);
    assert.equal(typeof r.body.socket.role, "string");
    t.close();
  });

  test("every argument is forwarded, in order; no argument → args []", async () => {
    const s = await connect(url);
    assert.deepEqual(await ack(s, "chat:send", { a: 1 }, "two", 3, [4], null, true), {
      success: true,
      echo: [{ a: 1 }, "two", 3, [4], null, true],
    });
    assert.deepEqual(await ack(s, "chat:send"), { success: true, echo: [] });
    s.close();
  });

  test("whatever JSON the backend answers is the ack argument", async () => {
    const s = await connect(url);
    try {
      hookReply = () => [200, JSON.stringify([1, "two", { three: 3 }])];
      assert.deepEqual(await ack(s, "chat:send", {}), [1, "two", { three: 3 }]);
      hookReply = () => [200, JSON.stringify("plain string")];
      assert.equal(await ack(s, "chat:send", {}), "plain string");
      hookReply = () => [201, JSON.stringify({ created: true })];
      assert.deepEqual(await ack(s, "chat:send", {}), { created: true });
    } finally {
      hookReply = defaultReply;
    }
    s.close();
  });

  test("without an ack callback the event is still forwarded", async () => {
    const s = await connect(url);
    s.emit("chat:send", { text: "no ack" });
    const r = await backendGot((x) => x.body?.socket?.id === s.id, "the forwarded event without ack");
    assert.deepEqual(r.body.args, [{ text: "no ack" }]);
    await usable(s);
    s.close();
  });
});

describe("backend failures", () => {
  test("HTTP 500 → Backend error: HTTP 500", async () => {
    const s = await connect(url);
    assert.deepEqual(await ack(s, "chat:fail", { text: "x" }), { success: false, error: "Backend error: HTTP 500" });
    await usable(s);
    s.close();
  });

  test("no answer within timeoutMs (500) → Backend timeout", async () => {
    const s = await connect(url);
    const started = Date.now();
    assert.deepEqual(await ack(s, "chat:slow", { text: "x" }), { success: false, error: "Backend timeout" });
    const took = Date.now() - started;
    assert.ok(took >= 400 && took < 2500, `answered after ${took} ms`);
    await usable(s);
    s.close();
  });

  test("closed port → Backend unavailable", async () => {
    const s = await connect(url);
    assert.deepEqual(await ack(s, "chat:down", { text: "x" }), { success: false, error: "Backend unavailable" });
    await usable(s);
    s.close();
  });

  test("invalid JSON → Backend answered with invalid JSON", async () => {
    const s = await connect(url);
    assert.deepEqual(await ack(s, "chat:bad", { text: "x" }), {
      success: false,
      error: "Backend answered with invalid JSON",
    });
    await usable(s);
    s.close();
  });

  test("failures of one socket do not hold up another", async () => {
    const slow = await connect(url);
    const fast = await connect(url);
    const pending = ack(slow, "chat:slow", {});
    // While the slow one waits for its backend, the other is served at once.
    const started = Date.now();
    assert.equal((await ack(fast, "chat:send", { text: "quick" })).success, true);
    assert.ok(Date.now() - started < 400, "not queued behind the slow backend call");
    // The slow socket itself is not blocked either: its built-in events are answered meanwhile.
    assert.equal((await ack(slow, "get-rooms")).success, true);
    assert.deepEqual(await pending, { success: false, error: "Backend timeout" });
    slow.close();
    fast.close();
  });
});

describe("configuration", () => {
  for (const name of ["join-room", "get-rooms", "private-message", "subscribe-entity"]) {
    test(`an [[events]] entry named ${name} is refused at start`, async () => {
      const config = writeConfig(tomlEdit({}, `[[events]]\nname = "${name}"\nurl = "http://127.0.0.1:9/x"\n`));
      try {
        const run = await runToExit(["serve", "--config", config.path]);
        assert.notEqual(run.code, 0, `serve must fail: ${run.stdout}${run.stderr}`);
        assert.ok(run.code !== null, "exited by itself, not by a signal");
        assert.match(run.stdout + run.stderr, /built-in/);
        assert.ok((run.stdout + run.stderr).includes(name), "the message names the event");
      } finally {
        config.cleanup();
      }
    });
  }
});
