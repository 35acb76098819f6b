// Running next to a real Strapi 5 with no config file: identities come from its SQLite
// database (a copy of the fixture database of a Strapi 5.54 app), schemas from its project.

import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { ADMIN_TOKEN, ack, closeAll, connect, connectError, legacyJwt, accessJwt, marker, rpc, startServer } from "./helpers.mjs";

const REPO = resolve(import.meta.dirname, "../..");
const FIXTURE_DB = join(REPO, "crates/strapi-io/tests/fixtures/strapi5.db");
const SECRET = "fixture-jwt-secret";
const ADMIN = ADMIN_TOKEN;

describe("directory = strapi from environment variables only", () => {
  let server;
  let url;
  let dir;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "strapi-io-strapi-db-"));
    copyFileSync(FIXTURE_DB, join(dir, "data.db"));
    server = await startServer({
      env: {
        STRAPI_IO_DIRECTORY: "strapi",
        STRAPI_IO_DATABASE_URL: `sqlite://${join(dir, "data.db")}`,
        STRAPI_IO_STRAPI_PROJECT_DIR: join(REPO, "examples/blog"),
        STRAPI_IO_JWT_SECRET: SECRET,
        STRAPI_IO_API_TOKEN_SALT: "fixture-api-token-salt",
        STRAPI_IO_ADMIN_TOKEN: ADMIN,
      },
    });
    url = server.url;
  });

  after(async () => {
    closeAll();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("users, roles and tokens come from Strapi's database", async () => {
    const reader = await connect(url, { auth: { token: legacyJwt(2, { secret: SECRET }) } });
    const editor = await connect(url, { auth: { token: accessJwt(1, { secret: SECRET }) } });
    const ops = await connect(url, { auth: { strategy: "api-token", token: "fixture-token-ops" } });
    const comments = await connect(url, { auth: { strategy: "api-token", token: "fixture-token-comments" } });
    const pub = await connect(url);
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
    const { status } = await rpc(url, "emit", { event: "create", schema: "api::article.article", data: article }, { token: ADMIN });
    assert.equal(status, 200);
    const r = await reader.rec.waitFor("article:create");
    assert.equal(r.data.author.name, "Ada Lovelace", "Authenticated may find authors in this Strapi");
    assert.ok(!("internalNotes" in r.data));
    const p = await pub.rec.waitFor("article:create");
    assert.ok(!("author" in p.data), "Public may not find authors in this Strapi");
    await ops.rec.waitFor("article:create");
    await editor.rec.waitFor("article:create");
    await marker(url, [comments]);
    assert.equal(comments.rec.count("article:create"), 0, "the comments-only token hears no articles");
  });

  test("blocked users, expired and unknown tokens are refused", async () => {
    assert.equal(await connectError(url, { auth: { token: legacyJwt(3, { secret: SECRET }) } }), "Invalid credentials");
    assert.equal(await connectError(url, { auth: { token: legacyJwt(2, { secret: "wrong" }) } }), "Invalid credentials");
    assert.equal(
      await connectError(url, { auth: { strategy: "api-token", token: "fixture-token-old" } }),
      "Token expired",
    );
    assert.equal(await connectError(url, { auth: { strategy: "api-token", token: "nope" } }), "Invalid credentials");
  });

  test("subscribe-entity checks existence in Strapi's tables", async () => {
    const s = await connect(url);
    const ok = await ack(s, "subscribe-entity", { uid: "api::article.article", id: "dvn4m1p03xohql4vaa8qqto9" });
    assert.equal(ok.success, true);
    const draftOnly = await ack(s, "subscribe-entity", { uid: "api::article.article", id: "tvhxgiyjg8yplswps8gd01l0" });
    assert.deepEqual(draftOnly, { success: false, error: "Entity not found" });
  });

  test("POST /api/io/directory/invalidate drops the cache (admin token required)", async () => {
    const refused = await rpc(url, "directory/invalidate", {}, { token: "wrong" });
    assert.equal(refused.status, 401);
    const { status, body } = await rpc(url, "directory/invalidate", {}, { token: ADMIN });
    assert.equal(status, 200);
    assert.deepEqual(body, { data: { invalidated: true } });
  });
});
