// Self-test of the Node reference server: starts `node server.js --port 0` on the demo
// config, connects socket.io-client (from ../../tests/js/node_modules) as the demo's
// audiences and checks routing, sanitizing, entity rooms and the HTTP routes.
//
//   node selftest.mjs          exits 0 when everything holds, 1 otherwise (30 s at most)

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "..", "tests", "js", "package.json"));
const { io } = require("socket.io-client");

const ADMIN = "demo-admin-token";
const ARTICLE = "api::article.article";
const AUTHOR = "api::author.author";
const COMMENT = "api::comment.comment";

const deadline = setTimeout(() => {
  console.error("selftest: timed out");
  cleanup(1);
}, 30_000);

let server;
const sockets = [];

function cleanup(code) {
  for (const s of sockets) s.disconnect();
  if (server && server.exitCode === null) server.kill("SIGTERM");
  clearTimeout(deadline);
  process.exit(code);
}

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(process.execPath, ["server.js", "--port", "0"], { cwd: here, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    server.stdout.setEncoding("utf8");
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const m = /node-reference listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    server.on("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function jwt(payload, secret = "demo-jwt-secret") {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const head = `${enc({ alg: "HS256", typ: "JWT" })}.${enc(payload)}`;
  return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

// A connected client that records every event it receives.
function connect(url, auth) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { auth, transports: ["websocket"], reconnection: false, forceNew: true });
    sockets.push(socket);
    socket.received = [];
    socket.onAny((event, payload) => socket.received.push({ event, payload }));
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
}

// The connect_error message of a refused handshake.
function refused(url, auth) {
  return connect(url, auth).then(
    () => {
      throw new Error(`handshake with ${JSON.stringify(auth)} was accepted`);
    },
    (err) => err.message,
  );
}

async function post(url, method, body, token = ADMIN) {
  const res = await fetch(`${url}/api/io/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const ack = (socket, event, arg) => socket.timeout(5000).emitWithAck(event, arg);
const events = (socket, name) => socket.received.filter((e) => e.event === name);

async function main() {
  const url = await startServer();

  // Handshakes.
  const pub = await connect(url, {});
  const editor = await connect(url, { token: jwt({ id: 1, exp: inAnHour() }) });
  const reader = await connect(url, {
    strategy: "jwt",
    token: jwt({ userId: "2", sessionId: "s1", type: "access", exp: inAnHour() }),
  });
  const dashboard = await connect(url, { strategy: "api-token", token: "demo-token-dashboard" });
  const commentsOnly = await connect(url, { strategy: "api-token", token: "demo-token-comments-only" });

  assert.equal(await refused(url, { token: jwt({ id: 3, exp: inAnHour() }) }), "Invalid credentials"); // blocked
  assert.equal(await refused(url, { token: jwt({ id: 1 }) }), "Invalid credentials"); // no exp
  assert.equal(await refused(url, { token: jwt({ id: 1, exp: 1 }) }), "Invalid credentials"); // expired
  assert.equal(await refused(url, { token: jwt({ userId: "1", type: "refresh", exp: inAnHour() }) }), "Invalid credentials");
  assert.equal(await refused(url, { token: jwt({ id: 1, exp: inAnHour() }, "wrong") }), "Invalid credentials");
  assert.equal(await refused(url, { strategy: "api-token", token: "nope" }), "Invalid credentials");
  assert.equal(await refused(url, { strategy: "oauth", token: "x" }), "Unknown auth strategy");

  // Entity subscriptions.
  assert.deepEqual(await ack(reader, "subscribe-entity", { uid: AUTHOR, id: 1 }), {
    success: true, room: `${AUTHOR}:1`, uid: AUTHOR, id: 1,
  });
  assert.deepEqual(await ack(editor, "subscribe-entity", { uid: ARTICLE, id: "article-1" }), {
    success: true, room: `${ARTICLE}:article-1`, uid: ARTICLE, id: "article-1",
  });
  assert.deepEqual(await ack(pub, "subscribe-entity", { uid: AUTHOR, id: 1 }), {
    success: false, error: "Permission denied: no access to this content type",
  });
  assert.deepEqual(await ack(pub, "subscribe-entity", { uid: "nope", id: 1 }), {
    success: false, error: "Invalid content type uid format",
  });
  assert.deepEqual(await ack(pub, "subscribe-entity", { uid: ARTICLE }), {
    success: false, error: "Invalid parameters: uid and id are required",
  });
  assert.deepEqual(await ack(pub, "subscribe-entity", { uid: "api::nope.nope", id: 1 }), {
    success: false, error: "Content type not found",
  });
  assert.equal((await ack(pub, "subscribe-entity", { uid: ARTICLE, id: 7 })).success, true);
  assert.deepEqual(await ack(pub, "unsubscribe-entity", { uid: ARTICLE, id: 7 }), {
    success: true, room: `${ARTICLE}:7`, uid: ARTICLE, id: 7,
  });

  // HTTP routes.
  assert.equal((await post(url, "emit", {}, "wrong")).status, 401);
  assert.equal((await post(url, "emit", "{not json")).status, 400);
  const health = await (await fetch(`${url}/health`)).json();
  assert.deepEqual(health, { status: "ok", connections: 5 });

  // article:create — every audience but comments-only is routed.
  const article = {
    id: 1,
    documentId: "article-1",
    title: "Hello",
    internalNotes: "private",
    createdBy: { id: 9 },
    apiKey: "k",
    author: { id: 1, documentId: "author-1", name: "Ada", password: "pw", articles: [] },
    comments: [{ id: 5, text: "first", userPassword: "x" }],
    seo: { metaTitle: "T", metaSecret: "S" },
    publishedAt: "2025-01-01T00:00:00.000Z",
  };
  assert.deepEqual(await post(url, "emit", { event: "create", schema: ARTICLE, data: article }), {
    status: 200, body: { data: null },
  });
  // author:update — no role is routed except editor (authenticated has realtime false), but
  // the reader subscribed to author 1 and may read authors.
  await post(url, "emit", { event: "update", schema: AUTHOR, data: { id: 1, documentId: "author-1", name: "Ada L." } });
  // article:update on article-1 — the editor is routed and subscribed: once only.
  await post(url, "emit", { event: "update", schema: ARTICLE, data: { ...article, title: "Hello again" } });
  await post(url, "emit", { event: "delete", schema: ARTICLE, data: article });
  await post(url, "emit", { event: "create", schema: COMMENT, data: { id: 8, text: "hi", article: { id: 1, title: "Hello" } } });
  await post(url, "emit", { event: "publish", schema: ARTICLE, data: article }); // not enabled: dropped
  await post(url, "raw", { event: "selftest:room", rooms: ["io-role-editor"], data: { n: 1 } });

  // Sync: a broadcast after everything; per-socket order means all earlier events are in.
  const clients = { pub, editor, reader, dashboard, commentsOnly };
  const done = Object.values(clients).map((s) => new Promise((resolve) => s.once("selftest:done", resolve)));
  await post(url, "raw", { event: "selftest:done", data: {} });
  await Promise.all(done);

  const [pubCreate] = events(pub, "article:create");
  assert.deepEqual(pubCreate.payload, {
    data: {
      id: 1,
      documentId: "article-1",
      title: "Hello",
      comments: [{ id: 5, text: "first" }],
      seo: { metaTitle: "T" },
      publishedAt: "2025-01-01T00:00:00.000Z",
    },
    meta: {},
  });
  const [editorCreate] = events(editor, "article:create");
  assert.deepEqual(editorCreate.payload.data.author, { id: 1, documentId: "author-1", name: "Ada", articles: [] });
  assert.equal("internalNotes" in editorCreate.payload.data, false);
  assert.equal("createdBy" in editorCreate.payload.data, false);
  assert.equal("apiKey" in editorCreate.payload.data, false);
  assert.equal(events(reader, "article:create")[0].payload.data.author.name, "Ada");
  assert.equal(events(dashboard, "article:create")[0].payload.data.author.name, "Ada");

  assert.deepEqual(events(reader, "author:update").map((e) => e.payload), [
    { data: { id: 1, documentId: "author-1", name: "Ada L." }, meta: {} },
  ]);
  assert.deepEqual(events(pub, "author:update"), []);
  assert.equal(events(editor, "author:update").length, 1);
  assert.equal(events(editor, "article:update").length, 1);
  assert.deepEqual(events(pub, "article:delete")[0].payload, { data: { id: 1, documentId: "article-1" }, meta: {} });
  assert.deepEqual(events(commentsOnly, "comment:create")[0].payload, { data: { id: 8, text: "hi" }, meta: {} });
  assert.equal(events(reader, "comment:create")[0].payload.data.article.title, "Hello");
  assert.deepEqual(events(editor, "selftest:room").map((e) => e.payload), [{ n: 1 }]);

  const seen = Object.fromEntries(
    Object.entries(clients).map(([name, s]) => [name, s.received.map((e) => e.event).filter((e) => e !== "selftest:done")]),
  );
  assert.deepEqual(seen, {
    pub: ["article:create", "article:update", "article:delete", "comment:create"],
    editor: ["article:create", "author:update", "article:update", "article:delete", "comment:create", "selftest:room"],
    reader: ["article:create", "author:update", "article:update", "article:delete", "comment:create"],
    dashboard: ["article:create", "author:update", "article:update", "article:delete", "comment:create"],
    commentsOnly: ["comment:create"],
  });

  console.log("selftest: ok");
}

main().then(
  () => cleanup(0),
  (err) => {
    console.error("selftest: FAILED");
    console.error(err);
    cleanup(1);
  },
);
