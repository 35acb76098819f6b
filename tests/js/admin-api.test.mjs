// The admin HTTP API's gate (SPEC §5, README "HTTP"): every /api/io/* route — the RPC and the
// plugin's admin routes alike, GET and PUT included — needs `Authorization: Bearer <admin
// token>` (401 otherwise), and answers 503 naming STRAPI_IO_ADMIN_TOKEN when no admin token
// is configured. /health and /metrics stay open. A refused request changes nothing.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { closeAll, connect, marker, uniq } from "./helpers/clients.mjs";
import { adminGet, assertApiError, request, webhook } from "./helpers/http.mjs";
import { startServerWithout, useServer } from "./helpers/server.mjs";
import { ADMIN_TOKEN, ARTICLE } from "./helpers/strapi.mjs";

/** The demo config's webhook token (examples/blog/strapi-io.toml). */
const DEMO_WEBHOOK_TOKEN = "demo-webhook-token";

after(() => closeAll());

/** Every /api/io/* route with a body that would change something if it were accepted. */
const ROUTES = [
  ["GET", "/api/io/settings"],
  ["PUT", "/api/io/settings", { security: { ipBlacklist: ["127.0.0.1"] } }],
  ["GET", "/api/io/stats"],
  ["GET", "/api/io/event-log?limit=5"],
  ["POST", "/api/io/test-event", { event: "must-not-arrive", data: { x: 1 } }],
  ["POST", "/api/io/reset-stats"],
  ["GET", "/api/io/roles"],
  ["GET", "/api/io/content-types"],
  ["GET", "/api/io/monitoring/stats"],
  ["POST", "/api/io/raw", { event: "must-not-arrive", data: { x: 2 } }],
  ["POST", "/api/io/emit", { event: "create", schema: "api::article.article", data: { id: 1, documentId: "a", title: "t" } }],
  ["POST", "/api/io/noSuchMethod", {}],
];

/** Requests whose body, query or content type is wrong as well as their token. */
const MALFORMED = [
  ["GET", "/api/io/event-log?limit=lots", {}],
  ["POST", "/api/io/test-event", { raw: '{"event": ' }],
  ["POST", "/api/io/test-event", { raw: "{}", headers: { "content-type": "text/plain" } }],
  ["PUT", "/api/io/settings", { raw: '{"security": ' }],
  ["POST", "/api/io/raw", { raw: '{"event": ' }],
];

describe("admin token configured", () => {
  const ctx = useServer();

  test("no Authorization, a wrong token, another scheme → 401 on every route; nothing happens", async () => {
    const watcher = await connect(ctx.url);
    const before = await adminGet(ctx.url, "/api/io/settings");
    const statsBefore = await adminGet(ctx.url, "/api/io/stats");
    const cases = [
      ["no Authorization", { token: null }],
      ["wrong token", { token: "not-the-admin-token" }],
      ["token prefix", { token: ADMIN_TOKEN.slice(0, -1) }],
      ["token with a suffix", { token: `${ADMIN_TOKEN}x` }],
      ["Basic scheme", { token: null, headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}` } }],
    ];
    for (const [what, opts] of cases) {
      for (const [method, path, body] of ROUTES) {
        const res = await request(ctx.url, path, { method, body, ...opts });
        const err = assertApiError(res, 401, `${what}: ${method} ${path}`);
        assert.equal(err.name, "UnauthorizedError", `${what}: ${method} ${path}`);
      }
    }
    // Nothing was applied: settings unchanged, the socket still connected and nothing sent.
    assert.deepEqual(await adminGet(ctx.url, "/api/io/settings"), before, "settings unchanged");
    await marker(ctx.url, [watcher]);
    assert.equal(watcher.rec.count("must-not-arrive"), 0, "no refused event reached a client");
    assert.equal(watcher.connected, true);
    const statsAfter = await adminGet(ctx.url, "/api/io/stats");
    assert.equal(
      statsAfter.events.total,
      statsBefore.events.total + 1,
      "only the marker was counted: reset-stats was refused",
    );
    const fresh = await connect(ctx.url);
    assert.equal(fresh.connected, true, "the refused PUT did not blacklist 127.0.0.1");
  });

  test("the token is checked before the request is parsed: 401 even with a malformed body, query or content type", async () => {
    for (const token of [null, "wrong"]) {
      for (const [method, path, opts] of MALFORMED) {
        assertApiError(await request(ctx.url, path, { method, token, ...opts }), 401, `token ${token}: ${method} ${path} ${JSON.stringify(opts)}`);
      }
    }
  });

  test("the right token passes on every GET route", async () => {
    for (const path of ["/api/io/settings", "/api/io/stats", "/api/io/event-log?limit=5", "/api/io/roles", "/api/io/content-types", "/api/io/monitoring/stats"]) {
      const res = await request(ctx.url, path);
      assert.equal(res.status, 200, `GET ${path}: ${res.text}`);
      assert.ok("data" in res.body, `GET ${path} answers {data}`);
    }
    // The scheme is case-insensitive, as in RFC 7235.
    const lower = await request(ctx.url, "/api/io/roles", { token: null, headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
    assert.equal(lower.status, 200, lower.text);
  });

  test("directory/invalidate with the static directory → 400: it has no cache", async () => {
    const err = assertApiError(await request(ctx.url, "/api/io/directory/invalidate", { method: "POST" }), 400);
    assert.match(err.message, /static directory/);
  });

  test("/health and /metrics need no token", async () => {
    const health = await request(ctx.url, "/health", { token: null });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    const metrics = await request(ctx.url, "/metrics", { token: null });
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /strapi_io_connected_sockets \d+/);
  });
});

describe("no admin token configured", () => {
  const ctx = useServer(() => startServerWithout("adminToken"));

  test("every /api/io/* route → 503 naming STRAPI_IO_ADMIN_TOKEN, with or without a token; nothing happens", async () => {
    const watcher = await connect(ctx.url);
    for (const token of [null, ADMIN_TOKEN, "anything"]) {
      for (const [method, path, body] of ROUTES) {
        const res = await request(ctx.url, path, { method, body, token });
        const err = assertApiError(res, 503, `token ${token}: ${method} ${path}`);
        assert.equal(err.name, "ServiceUnavailableError");
        assert.match(err.message, /STRAPI_IO_ADMIN_TOKEN/, `${method} ${path}: ${err.message}`);
      }
    }
    // The RPC is off, so the marker comes through the (still configured) webhook route: once
    // the watcher has it, it has everything sent to it before.
    const id = uniq("marker");
    const got = watcher.rec.waitFor("article:create", (p) => p?.data?.documentId === id);
    const hook = await webhook(
      ctx.url,
      { event: "entry.create", model: "article", uid: ARTICLE, entry: { id: 1, documentId: id, title: "marker" } },
      { token: DEMO_WEBHOOK_TOKEN },
    );
    assert.equal(hook.status, 202, hook.text);
    await got;
    assert.equal(watcher.rec.count("must-not-arrive"), 0, "no refused event reached a client");
    assert.equal(watcher.connected, true, "the refused PUT did not blacklist 127.0.0.1");
    const fresh = await connect(ctx.url);
    assert.equal(fresh.connected, true);
  });

  test("503 comes first, whatever the body, query or content type", async () => {
    for (const [method, path, opts] of MALFORMED) {
      assertApiError(await request(ctx.url, path, { method, ...opts }), 503, `${method} ${path} ${JSON.stringify(opts)}`);
    }
  });

  test("/health and /metrics work without the admin API", async () => {
    const health = await request(ctx.url, "/health", { token: null });
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "ok");
    assert.equal(health.body.connections, 2);
    const metrics = await request(ctx.url, "/metrics", { token: null });
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^strapi_io_connected_sockets 2$/m);
  });
});
