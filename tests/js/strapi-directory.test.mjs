// Running next to a real Strapi 5 with no config file: identities come from its SQLite
// database (a copy of the fixture database of a Strapi 5.54 app), schemas from its project.

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { before, describe, test } from "node:test";
import { execFileSync, spawn } from "node:child_process";
import { ack, connect, connectError, marker } from "./helpers/clients.mjs";
import { request, rpc, stats } from "./helpers/http.mjs";
import { startServer, useServer, withCleanup } from "./helpers/server.mjs";
import { ADMIN_TOKEN, legacyJwt, accessJwt, now, signJwt } from "./helpers/strapi.mjs";
import { waitUntil, withTimeout } from "./helpers/wait.mjs";

const REPO = resolve(import.meta.dirname, "../..");
const FIXTURE_DB = join(REPO, "crates/strapi-io/tests/fixtures/strapi5.db");
const SECRET = "fixture-jwt-secret";
const ADMIN = ADMIN_TOKEN;

// Tokens a real Strapi 5.54 issued (fixtures/strapi5/http/06-reader-login.json and
// http/legacy-jwt/): the refresh-mode access token (expired by now), its refresh-token
// cookie, and a legacy-support JWT.
const REAL_ACCESS =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOiIyIiwic2Vzc2lvbklkIjoiYjk5NDcxZWE0ZDhmNzM3NjE1N2YyZWJjNzRjZWI0MjUiLCJ0eXBlIjoiYWNjZXNzIiwiaWF0IjoxNzk1NjQ5NzYzLCJleHAiOjE3OTU2NTAzNjN9.n6cz2DCmsJI0T1Ne-Lvaz2sCkpjAFjck4AbCbWiUBqQ";
const REAL_REFRESH =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOiIyIiwic2Vzc2lvbklkIjoiYjk5NDcxZWE0ZDhmNzM3NjE1N2YyZWJjNzRjZWI0MjUiLCJ0eXBlIjoicmVmcmVzaCIsImV4cCI6MTc5Njg1OTM2M30.Un5364fCQIA6i_xL08hrUZMxjOkHDA3nL8mIOWsBT3k";
const REAL_LEGACY =
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpZCI6MiwiaWF0IjoxNzk1NjQ5ODEyLCJleHAiOjE3OTgyNDE4MTJ9.fMdNX7M_hA3sKDvwiS_rTbjCtK-tmpaBGBNPjjBfQr8";
// The keys Strapi generated for its own default tokens (bootstrap-report.json, decrypted).
const READ_ONLY_KEY =
  "d7a918dd77575ebd327dfedbf0efe41a59c3133e210c5ecdb910c052ea19d837bf177383e45a941de563d8afefe643413f053304f15950fa101451704d45ccd2cf214cd5885ca06bffcb0ed7b7e3b554cac4bc4bbe70775b5066db5e9776aa3a615842dadbee76c72c86f5d28a46a9c9b721a50e1a54dae2dc80e7d0537078eb";

/**
 * A gateway next to "Strapi" from environment variables only, on a fresh copy of the fixture
 * database (`db`, removed at stop).
 */
async function startOnFixtureCopy() {
  const dir = mkdtempSync(join(tmpdir(), "strapi-io-strapi-db-"));
  const db = join(dir, "data.db");
  copyFileSync(FIXTURE_DB, db);
  const server = await startServer({
    env: {
      STRAPI_IO_DIRECTORY: "strapi",
      STRAPI_IO_DATABASE_URL: `sqlite://${db}`,
      STRAPI_IO_STRAPI_PROJECT_DIR: join(REPO, "examples/blog"),
      STRAPI_IO_JWT_SECRET: SECRET,
      STRAPI_IO_API_TOKEN_SALT: "fixture-api-token-salt",
      STRAPI_IO_ADMIN_TOKEN: ADMIN,
    },
  });
  return withCleanup(server, () => rmSync(dir, { recursive: true, force: true }), { db });
}

/** The claims of a JWT, unverified. */
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

/** A real token's claims re-signed with the fixture secret, valid from now for `ttl` s. */
const resigned = (jwt, ttl = 600) => signJwt({ ...claimsOf(jwt), iat: now(), exp: now() + ttl }, SECRET);

/**
 * Holds an exclusive lock on a Strapi database (as a long write by Strapi would) until the
 * returned function is called; resolves once the lock is taken.
 */
async function lockDatabase(db) {
  const child = spawn("python3", [
    "-c",
    "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()",
    db,
  ]);
  await new Promise((resolve, reject) => {
    child.stdout.once("data", resolve);
    child.once("exit", (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return () =>
    new Promise((resolve) => {
      child.once("exit", resolve);
      child.stdin.end();
    });
}

/** Runs SQL on a copy of Strapi's database, as Strapi's admin would change it. */
const sql = (db, statements) =>
  execFileSync("python3", ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()", db, statements]);

describe("directory = strapi from environment variables only", () => {
  const ctx = useServer(startOnFixtureCopy);

  test("users, roles and tokens come from Strapi's database", async () => {
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2, { secret: SECRET }) } });
    const editor = await connect(ctx.url, { auth: { token: accessJwt(1, { secret: SECRET }) } });
    const ops = await connect(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-ops" } });
    const comments = await connect(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-comments" } });
    const pub = await connect(ctx.url);
    assert.deepEqual(await ack(reader, "whoami"), {
      success: true,
      id: (await ack(reader, "whoami")).id,
      role: "authenticated",
      user: { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" },
    });
    assert.equal((await ack(editor, "whoami")).role, "editor");
    assert.equal((await ack(ops, "whoami")).role, "ops");

    const article = {
      id: 2, documentId: "dvn4m1p03xohql4vaa8qqto9", title: "Hello Strapi", internalNotes: "private",
      publishedAt: "2026-11-25T23:35:45.689Z",
      author: { id: 1, documentId: "xg9myu30sc547noh5y1v0prc", name: "Ada Lovelace" },
    };
    const { status } = await rpc(ctx.url, "emit", { event: "create", schema: "api::article.article", data: article }, { token: ADMIN });
    assert.equal(status, 200);
    const r = await reader.rec.waitFor("article:create");
    assert.equal(r.data.author.name, "Ada Lovelace", "Authenticated may find authors in this Strapi");
    assert.ok(!("internalNotes" in r.data));
    const p = await pub.rec.waitFor("article:create");
    assert.ok(!("author" in p.data), "Public may not find authors in this Strapi");
    await ops.rec.waitFor("article:create");
    await editor.rec.waitFor("article:create");
    await marker(ctx.url, [comments]);
    assert.equal(comments.rec.count("article:create"), 0, "the comments-only token hears no articles");
  });

  test("blocked users, expired and unknown tokens are refused", async () => {
    assert.equal(await connectError(ctx.url, { auth: { token: legacyJwt(3, { secret: SECRET }) } }), "Invalid credentials");
    assert.equal(await connectError(ctx.url, { auth: { token: legacyJwt(2, { secret: "wrong" }) } }), "Invalid credentials");
    assert.equal(
      await connectError(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-old" } }),
      "Token expired",
    );
    assert.equal(await connectError(ctx.url, { auth: { strategy: "api-token", token: "nope" } }), "Invalid credentials");
  });

  test("subscribe-entity checks existence in Strapi's tables", async () => {
    const s = await connect(ctx.url);
    const ok = await ack(s, "subscribe-entity", { uid: "api::article.article", id: "dvn4m1p03xohql4vaa8qqto9" });
    assert.equal(ok.success, true);
    const draftOnly = await ack(s, "subscribe-entity", { uid: "api::article.article", id: "tvhxgiyjg8yplswps8gd01l0" });
    assert.deepEqual(draftOnly, { success: false, error: "Entity not found" });
  });

  test("the fixture's real tokens: both JWT forms re-signed for now are accepted; the expired original and the refresh token are refused", async () => {
    assert.equal(claimsOf(REAL_ACCESS).userId, "2", "refresh mode: userId is a string");
    assert.equal(claimsOf(REAL_LEGACY).id, 2, "legacy-support: id is a number");
    assert.equal(await connectError(ctx.url, { auth: { token: REAL_ACCESS } }), "Token expired", "expired");
    assert.equal(await connectError(ctx.url, { auth: { token: REAL_REFRESH } }), "Invalid credentials", "type refresh");
    assert.equal(
      await connectError(ctx.url, { auth: { token: resigned(REAL_REFRESH) } }),
      "Invalid credentials",
      "a refresh token stays refused, however fresh",
    );
    for (const jwt of [resigned(REAL_ACCESS), resigned(REAL_LEGACY)]) {
      const s = await connect(ctx.url, { auth: { token: jwt } });
      const me = await ack(s, "whoami");
      assert.deepEqual(me.user, { id: 2, username: "reader", email: "reader@example.com", role: "authenticated" });
    }
  });

  test("every fixture user and API token connects or is refused as the fixture README says", async () => {
    const roleOf = async (opts) => (await ack(await connect(ctx.url, opts), "whoami")).role;
    assert.equal(await roleOf({ auth: { token: legacyJwt(1, { secret: SECRET }) } }), "editor");
    assert.equal(await roleOf({ auth: { token: legacyJwt(2, { secret: SECRET }) } }), "authenticated");
    assert.equal(
      await connectError(ctx.url, { auth: { token: accessJwt(3, { secret: SECRET }) } }),
      "Invalid credentials",
      "banned: blocked",
    );
    assert.equal(
      await roleOf({ auth: { token: accessJwt(4, { secret: SECRET }) } }),
      "authenticated",
      "pending: unconfirmed, but email_confirmation is off in this Strapi",
    );
    assert.equal(await connectError(ctx.url, { auth: { token: legacyJwt(99, { secret: SECRET }) } }), "Invalid credentials", "no such user");
    for (const [token, role] of [
      [READ_ONLY_KEY, "Read Only"],
      ["fixture-token-dashboard", "dashboard"],
      ["fixture-token-comments", "comments-only"],
      ["fixture-token-ops", "ops"],
    ]) {
      assert.equal(await roleOf({ auth: { strategy: "api-token", token } }), role);
    }
    assert.equal(await connectError(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-old" } }), "Token expired");
  });

  test("an article with private fields and a component: each audience gets it sanitized for itself", async () => {
    const sockets = {
      pub: await connect(ctx.url),
      reader: await connect(ctx.url, { auth: { token: legacyJwt(2, { secret: SECRET }) } }),
      editor: await connect(ctx.url, { auth: { token: legacyJwt(1, { secret: SECRET }) } }),
      comments: await connect(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-comments" } }),
    };
    const article = {
      id: 2, documentId: "dvn4m1p03xohql4vaa8qqto9", title: "Hello Strapi", internalNotes: "do not leak",
      publishedAt: "2026-11-25T23:35:45.689Z",
      seo: { id: 2, metaTitle: "Hello", metaSecret: "seo secret" },
      author: { id: 1, documentId: "xg9myu30sc547noh5y1v0prc", name: "Ada Lovelace" },
    };
    const { status } = await rpc(ctx.url, "emit", { event: "update", schema: "api::article.article", data: article }, { token: ADMIN });
    assert.equal(status, 200);
    for (const name of ["pub", "reader", "editor"]) {
      const { data } = await sockets[name].rec.waitFor("article:update", (p) => p.data.title === "Hello Strapi");
      assert.ok(!("internalNotes" in data), `${name}: no internalNotes`);
      assert.deepEqual(data.seo, { id: 2, metaTitle: "Hello" }, `${name}: no seo.metaSecret`);
      assert.equal("author" in data, name !== "pub", `${name}: author as its role may find authors`);
    }
    await marker(ctx.url, [sockets.comments]);
    assert.equal(sockets.comments.rec.count("article:update"), 0, "comments-only hears comments only");
  });

  test("entitySubscriptions.draftAudiences: a draft-only document can be subscribed by the listed audiences only", async () => {
    const draftOnly = { uid: "api::article.article", id: "tvhxgiyjg8yplswps8gd01l0" };
    const editor = await connect(ctx.url, { auth: { token: legacyJwt(1, { secret: SECRET }) } });
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2, { secret: SECRET }) } });
    assert.deepEqual(await ack(editor, "subscribe-entity", draftOnly), { success: false, error: "Entity not found" }, "none by default");
    const current = (await request(ctx.url, "/api/io/settings", { token: ADMIN })).body.data;
    const put = await request(ctx.url, "/api/io/settings", {
      method: "PUT",
      token: ADMIN,
      body: { ...current, entitySubscriptions: { ...current.entitySubscriptions, draftAudiences: ["io-role-editor"] } },
    });
    assert.equal(put.status, 200, put.text);
    assert.equal((await ack(editor, "subscribe-entity", draftOnly)).success, true, "the editor may see drafts");
    assert.equal((await ack(editor, "subscribe-entity", { uid: "api::article.article", id: 1 })).success, true, "a draft row by id");
    assert.deepEqual(await ack(reader, "subscribe-entity", draftOnly), { success: false, error: "Entity not found" }, "not listed");
  });

  test("POST /api/io/directory/invalidate drops the cache (admin token required)", async () => {
    const refused = await rpc(ctx.url, "directory/invalidate", {}, { token: "wrong" });
    assert.equal(refused.status, 401);
    const { status, body } = await rpc(ctx.url, "directory/invalidate", {}, { token: ADMIN });
    assert.equal(status, 200);
    assert.deepEqual(body, { data: { invalidated: true } });
  });
});

describe("directory = strapi: Strapi's database changing under the gateway", () => {
  let db;
  const ctx = useServer(startOnFixtureCopy);
  before(async () => {
    db = ctx.server.db;
  });

  const emitArticle = (title) =>
    rpc(ctx.url, "emit", { event: "create", schema: "api::article.article", data: { id: 2, documentId: "dvn4m1p03xohql4vaa8qqto9", title } }, { token: ADMIN });

  test("Strapi's database locked: new handshakes that need it get Service unavailable, /health says why, connected sockets go on, and it recovers by itself", async () => {
    const connected = await connect(ctx.url, { auth: { token: legacyJwt(2, { secret: SECRET }) } });
    const unlock = await lockDatabase(db);
    try {
      // The editor was never looked up on this server: its handshake needs the database.
      const started = Date.now();
      assert.equal(await connectError(ctx.url, { auth: { token: legacyJwt(1, { secret: SECRET }) } }), "Service unavailable");
      assert.ok(Date.now() - started < 10_000, "answered within a bounded time, not hung");
      const health = await request(ctx.url, "/health", { token: null });
      assert.equal(health.status, 503, health.text);
      assert.equal(health.body.status, "degraded");
      assert.equal(health.body.directory.ready, false);
      assert.match(health.body.directory.reason, /./);
      assert.equal((await emitArticle("while locked")).status, 200, "an emit never needs the database");
      await connected.rec.waitFor("article:create", (p) => p.data.title === "while locked");
      assert.equal(connected.connected, true);
    } finally {
      await unlock();
    }
    await waitUntil(async () => (await request(ctx.url, "/health", { token: null })).status === 200, { ms: 10_000, what: "/health ready again" });
    const editor = await connect(ctx.url, { auth: { token: legacyJwt(1, { secret: SECRET }) } });
    assert.equal((await ack(editor, "whoami")).role, "editor");
  });

  // What each Strapi change takes to reach connected sockets, with the watch's default
  // `directory.refreshSeconds` (2 s) and without anyone calling invalidate.
  const LIMIT_MS = 3000;

  test("a permission removed from a role: that role's sockets stop receiving within 3 s", async () => {
    const pub = await connect(ctx.url);
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2, { secret: SECRET }) } });
    assert.equal((await emitArticle("before")).status, 200);
    await pub.rec.waitFor("article:create", (p) => p.data.title === "before");
    // Public loses read access to articles (as unticking find and findOne in Strapi's admin).
    sql(db, `DELETE FROM up_permissions WHERE id IN (
      SELECT p.id FROM up_permissions p JOIN up_permissions_role_lnk l ON l.permission_id = p.id
      JOIN up_roles r ON r.id = l.role_id WHERE r.type = 'public' AND p.action LIKE 'api::article.article.%');`);
    const started = Date.now();
    let n = 0;
    await waitUntil(
      async () => {
        const title = `probe ${++n}`;
        await emitArticle(title);
        await reader.rec.waitFor("article:create", (p) => p.data.title === title);
        await marker(ctx.url, [pub]);
        return !pub.rec.all("article:create").some((p) => p.data.title === title);
      },
      { ms: LIMIT_MS + 1000, every: 100, what: "Public to stop receiving articles" },
    );
    assert.ok(Date.now() - started < LIMIT_MS, `took ${Date.now() - started} ms`);
    assert.equal(pub.connected, true, "Public may still connect: its sockets stay");
    const st = await stats(ctx.url);
    assert.ok(st.directoryWatch.changes >= 1, JSON.stringify(st.directoryWatch));
  });

  test("a user blocked in Strapi: their socket is told why and disconnected within 3 s; new handshakes are refused", async () => {
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2, { secret: SECRET }) } });
    const editor = await connect(ctx.url, { auth: { token: legacyJwt(1, { secret: SECRET }) } });
    const disconnected = new Promise((r) => reader.once("disconnect", r));
    const started = Date.now();
    sql(db, `UPDATE up_users SET blocked = 1, updated_at = ${Date.now()} WHERE id = 2;`);
    const told = await reader.rec.waitFor("server-disconnect", () => true, LIMIT_MS + 1000);
    assert.ok(Date.now() - started < LIMIT_MS, `took ${Date.now() - started} ms`);
    assert.deepEqual(told, { reason: "Invalid credentials" });
    assert.equal(await withTimeout(disconnected, 3000, "disconnect"), "io server disconnect");
    assert.equal(await connectError(ctx.url, { auth: { token: legacyJwt(2, { secret: SECRET }) } }), "Invalid credentials");
    assert.equal(editor.connected, true, "other users are untouched");
    assert.equal(editor.rec.count("server-disconnect"), 0);
    const st = await stats(ctx.url);
    assert.ok(st.accessRevoked >= 1 && st.accessRechecks >= 1, JSON.stringify(st));
    const metrics = await request(ctx.url, "/metrics");
    assert.match(metrics.text, /strapi_io_access_revocations_total\{reason="Invalid credentials"\} [1-9]/);
    assert.match(metrics.text, /strapi_io_directory_polls_total [1-9]/);
  });

  test("an API token deleted in Strapi: its socket is disconnected within 3 s", async () => {
    const ops = await connect(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-ops" } });
    const started = Date.now();
    sql(db, `DELETE FROM strapi_api_tokens WHERE name = 'ops';`);
    const told = await ops.rec.waitFor("server-disconnect", () => true, LIMIT_MS + 1000);
    assert.ok(Date.now() - started < LIMIT_MS, `took ${Date.now() - started} ms`);
    assert.deepEqual(told, { reason: "Invalid credentials" });
    assert.equal(
      await connectError(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-ops" } }),
      "Invalid credentials",
    );
  });

  test("an API token's expiry moved into the past: disconnected with Token expired", async () => {
    const dashboard = await connect(ctx.url, { auth: { strategy: "api-token", token: "fixture-token-dashboard" } });
    sql(db, `UPDATE strapi_api_tokens SET expires_at = ${Date.now() + 1500}, updated_at = ${Date.now()} WHERE name = 'dashboard';`);
    const told = await dashboard.rec.waitFor("server-disconnect", () => true, LIMIT_MS + 2000);
    assert.deepEqual(told, { reason: "Token expired" });
  });

  test("a user's role changed in Strapi: the socket moves to the new audience within 3 s and gets that audience's events", async () => {
    const editor = await connect(ctx.url, { auth: { token: accessJwt(1, { secret: SECRET }) } });
    assert.equal((await ack(editor, "whoami")).role, "editor");
    assert.deepEqual(await ack(editor, "subscribe-entity", { uid: "api::author.author", id: "xg9myu30sc547noh5y1v0prc" }), {
      success: true, room: "api::author.author:xg9myu30sc547noh5y1v0prc", uid: "api::author.author", id: "xg9myu30sc547noh5y1v0prc",
    });
    const started = Date.now();
    // As Strapi's admin saves the user with another role: the link replaced, the row updated.
    sql(db, `DELETE FROM up_users_role_lnk WHERE user_id = 1;
      INSERT INTO up_users_role_lnk (user_id, role_id, user_ord) SELECT 1, id, 1 FROM up_roles WHERE type = 'public';
      UPDATE up_users SET updated_at = ${Date.now()} WHERE id = 1;`);
    await waitUntil(async () => (await ack(editor, "whoami")).role === "public", {
      ms: LIMIT_MS + 1000, every: 100, what: "the editor's socket to move to Public",
    });
    assert.ok(Date.now() - started < LIMIT_MS, `took ${Date.now() - started} ms`);
    const rooms = (await ack(editor, "get-rooms")).rooms;
    assert.ok(rooms.includes("io-role-public") && !rooms.includes("io-role-editor"), rooms.join());
    // Public may not read authors in this Strapi: that subscription is gone, no disconnect.
    assert.deepEqual((await ack(editor, "get-entity-subscriptions")).subscriptions, []);
    assert.equal(editor.connected, true);
    assert.equal((await ack(editor, "whoami")).user.role, "public");
    const st = await stats(ctx.url);
    assert.ok(st.audienceMoves >= 1 && st.droppedSubscriptions >= 1, JSON.stringify(st));
  });

  test("email confirmation turned on in Strapi: the unconfirmed user's socket is disconnected, confirmed ones stay", async () => {
    const pending = await connect(ctx.url, { auth: { token: legacyJwt(4, { secret: SECRET }) } });
    const confirmed = await connect(ctx.url, { auth: { token: accessJwt(1, { secret: SECRET }) } });
    sql(db, `UPDATE strapi_core_store_settings SET value = json_set(value, '$.email_confirmation', json('true'))
      WHERE key = 'plugin_users-permissions_advanced';`);
    assert.deepEqual(await pending.rec.waitFor("server-disconnect", () => true, LIMIT_MS + 1000), { reason: "Invalid credentials" });
    assert.equal(await connectError(ctx.url, { auth: { token: legacyJwt(4, { secret: SECRET }) } }), "Invalid credentials");
    assert.equal(confirmed.connected, true);
  });
});
