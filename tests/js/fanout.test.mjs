// Content events through POST /api/io/emit reach every audience once, routed by realtime
// permission and sanitized by read permission (SPEC §2, §3).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ack, connect, marker } from "./helpers/clients.mjs";
import { call } from "./helpers/http.mjs";
import { useServer } from "./helpers/server.mjs";
import {
  ARTICLE,
  COMMENT,
  COMMENTS_ONLY_TOKEN,
  DASHBOARD_TOKEN,
  accessJwt,
  legacyJwt,
} from "./helpers/strapi.mjs";

const ctx = useServer();

function article(id = 1) {
  return {
    id,
    documentId: `article-${id}`,
    title: "Hello realtime",
    body: "Some **rich** text",
    internalNotes: "do not leak",
    password: "hunter2",
    publishedAt: "2025-01-01T00:00:00.000Z",
    createdBy: { id: 1, firstname: "Admin", email: "admin@example.com" },
    author: { id: 1, documentId: "author-1", name: "Ada", email: "ada@example.com", token: "author-secret-token" },
    comments: [{ id: 1, documentId: "comment-1", text: "First!" }],
    seo: { metaTitle: "Hello", metaSecret: "s3cret" },
  };
}

/** What every audience must see, whoever it is. */
function assertCommon(payload, who) {
  assert.ok(payload && typeof payload === "object", `${who}: payload is an object`);
  assert.deepEqual(payload.meta, {}, `${who}: meta is {}`);
  const d = payload.data;
  assert.equal(d.id, 1, `${who}: id`);
  assert.equal(d.documentId, "article-1", `${who}: documentId`);
  assert.equal(d.title, "Hello realtime", `${who}: title`);
  assert.equal(d.body, "Some **rich** text", `${who}: body`);
  assert.ok(!("attributes" in d), `${who}: v5 shape has no attributes wrapper`);
  assert.ok(!("internalNotes" in d), `${who}: private internalNotes removed`);
  assert.ok(!("password" in d), `${who}: password removed`);
  assert.ok(!("createdBy" in d), `${who}: createdBy removed`);
  assert.equal(d.seo?.metaTitle, "Hello", `${who}: seo.metaTitle kept`);
  assert.ok(!("metaSecret" in (d.seo ?? {})), `${who}: private component field seo.metaSecret removed`);
  assert.ok(Array.isArray(d.comments), `${who}: comments kept (audience may find comments)`);
  assert.equal(d.comments.length, 1, `${who}: one comment`);
  assert.equal(d.comments[0].text, "First!", `${who}: comment text`);
  assert.equal(d.comments[0].id, 1, `${who}: comment id`);
}

function assertAuthorVisible(d, who) {
  assert.ok(d.author && typeof d.author === "object", `${who}: author present`);
  assert.equal(d.author.id, 1, `${who}: author.id`);
  assert.equal(d.author.documentId, "author-1", `${who}: author.documentId`);
  assert.equal(d.author.name, "Ada", `${who}: author.name`);
  assert.equal(d.author.email, "ada@example.com", `${who}: author.email`);
  assert.ok(!("token" in d.author), `${who}: sensitive key stripped inside the relation`);
}

describe("content event fan-out", () => {
  test("each audience receives article:create once, sanitized for itself", async () => {
    const pub = await connect(ctx.url);
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const editor = await connect(ctx.url, { auth: { token: accessJwt(1) } });
    const dashboard = await connect(ctx.url, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } });
    const sockets = { pub, reader, editor, dashboard };

    // Each socket is in its audience room.
    const expectedRoom = {
      pub: "io-role-public",
      reader: "io-role-authenticated",
      editor: "io-role-editor",
      dashboard: "io-token-dashboard",
    };
    for (const [who, s] of Object.entries(sockets)) {
      const r = await ack(s, "get-rooms");
      assert.equal(r.success, true, `${who}: get-rooms`);
      assert.ok(r.rooms.includes(expectedRoom[who]), `${who}: in ${expectedRoom[who]} (rooms: ${r.rooms})`);
      assert.ok(!r.rooms.includes(s.id), `${who}: own id excluded`);
    }

    const arrivals = Object.values(sockets).map((s) => s.rec.waitFor("article:create"));
    assert.equal(await call(ctx.url, "emit", { event: "create", schema: ARTICLE, data: article() }), null);
    const [pubP, readerP, editorP, dashP] = await Promise.all(arrivals);

    // Public: may not find authors → no author key at all.
    assertCommon(pubP, "public");
    assert.ok(!("author" in pubP.data), "public: author relation removed (no find on authors)");

    assertCommon(readerP, "reader");
    assertAuthorVisible(readerP.data, "reader");

    assertCommon(editorP, "editor");
    assertAuthorVisible(editorP.data, "editor");

    assertCommon(dashP, "dashboard");
    assertAuthorVisible(dashP.data, "dashboard");

    // Exactly once: everything sent before the marker has arrived when the marker has.
    await marker(ctx.url, Object.values(sockets));
    for (const [who, s] of Object.entries(sockets)) {
      assert.equal(s.rec.count("article:create"), 1, `${who}: article:create received exactly once`);
    }

    // Delete events carry { id, documentId } only, and are routed too.
    const dels = Object.values(sockets).map((s) => s.rec.waitFor("article:delete"));
    await call(ctx.url, "emit", { event: "delete", schema: ARTICLE, data: article() });
    for (const p of await Promise.all(dels)) {
      assert.deepEqual(p.data, { id: 1, documentId: "article-1" });
    }
    await marker(ctx.url, Object.values(sockets));
    for (const [who, s] of Object.entries(sockets)) {
      assert.equal(s.rec.count("article:delete"), 1, `${who}: article:delete exactly once`);
    }
    for (const s of Object.values(sockets)) s.close();
  });

  test("comments-only API token gets comment:create and no article:create", async () => {
    const commentsOnly = await connect(ctx.url, {
      auth: { strategy: "api-token", token: COMMENTS_ONLY_TOKEN },
    });
    const rooms = await ack(commentsOnly, "get-rooms");
    assert.ok(rooms.rooms.includes("io-token-comments-only"), `rooms: ${rooms.rooms}`);

    await call(ctx.url, "emit", { event: "create", schema: ARTICLE, data: article(2) });
    await call(ctx.url, "emit", {
      event: "create",
      schema: COMMENT,
      data: { id: 7, documentId: "comment-7", text: "Nice post", password: "x" },
    });
    const c = await commentsOnly.rec.waitFor("comment:create");
    assert.equal(c.data.id, 7);
    assert.equal(c.data.documentId, "comment-7");
    assert.equal(c.data.text, "Nice post");
    assert.ok(!("password" in c.data), "password stripped");
    // Same socket, emitted in order: had the article been sent, it would be here already.
    assert.equal(commentsOnly.rec.count("article:create"), 0, "no article:create for comments-only token");
    assert.deepEqual(
      commentsOnly.rec.names().filter((n) => n.includes(":")),
      ["comment:create"],
      "only the comment event arrived",
    );
    commentsOnly.close();
  });

  test("public does not get author events; editor does", async () => {
    const pub = await connect(ctx.url);
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const editor = await connect(ctx.url, { auth: { token: accessJwt(1) } });
    const got = editor.rec.waitFor("author:update");
    await call(ctx.url, "emit", {
      event: "update",
      schema: "api::author.author",
      data: { id: 1, documentId: "author-1", name: "Ada L.", email: "ada@example.com" },
    });
    const p = await got;
    assert.equal(p.data.name, "Ada L.");
    await marker(ctx.url, [pub, reader, editor]);
    assert.equal(pub.rec.count("author:update"), 0, "public: no author events");
    assert.equal(reader.rec.count("author:update"), 0, "authenticated: author events switched off");
    assert.equal(editor.rec.count("author:update"), 1, "editor: once");
    pub.close();
    reader.close();
    editor.close();
  });

  test("reader subscribed by documentId and routed by role gets article:update once", async () => {
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const sub = await ack(reader, "subscribe-entity", { uid: ARTICLE, id: "article-1" });
    assert.deepEqual(sub, {
      success: true,
      room: `${ARTICLE}:article-1`,
      uid: ARTICLE,
      id: "article-1",
    });
    const rooms = await ack(reader, "get-rooms");
    assert.ok(rooms.rooms.includes("io-role-authenticated"), `rooms: ${rooms.rooms}`);
    assert.ok(rooms.rooms.includes(`${ARTICLE}:article-1`), `rooms: ${rooms.rooms}`);

    const got = reader.rec.waitFor("article:update");
    await call(ctx.url, "emit", {
      event: "update",
      schema: ARTICLE,
      data: { id: 1, documentId: "article-1", title: "Edited", internalNotes: "nope" },
    });
    const p = await got;
    assert.equal(p.data.title, "Edited");
    assert.ok(!("internalNotes" in p.data));
    await marker(ctx.url, [reader]);
    assert.equal(reader.rec.count("article:update"), 1, "one copy, not one per room");
    reader.close();
  });

  test("events for the same entry arrive in emit order", async () => {
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const n = 20;
    for (let i = 0; i < n; i++) {
      await call(ctx.url, "emit", {
        event: "update",
        schema: ARTICLE,
        data: { id: 3, documentId: "article-3", title: `v${i}` },
      });
    }
    await marker(ctx.url, [reader]);
    const titles = reader.rec.all("article:update").map((p) => p.data.title);
    assert.deepEqual(titles, Array.from({ length: n }, (_, i) => `v${i}`));
    reader.close();
  });
});
