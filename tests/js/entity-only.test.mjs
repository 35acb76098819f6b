// Entity-only delivery: an audience not routed a content type's `update` still hears about
// the entries its sockets subscribed to, once, sanitized for itself (SPEC §2 "Entity room").

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ack, connect, marker } from "./helpers/clients.mjs";
import { call } from "./helpers/http.mjs";
import { startServerEdited, useServer } from "./helpers/server.mjs";
import { ARTICLE, legacyJwt } from "./helpers/strapi.mjs";

const ctx = useServer(() =>
  startServerEdited((text) => {
    const section = '[settings.rolePermissions.authenticated.contentTypes."api::article.article"]';
    const i = text.indexOf(section);
    assert.ok(i >= 0, "demo config has the authenticated article section");
    const start = i + section.length;
    const end = text.indexOf("[", start);
    return `${text.slice(0, start)}\ncreate = true\nupdate = false\ndelete = true\n\n${text.slice(end)}`;
  }),
);

const entry = () => ({
  id: 1,
  documentId: "article-1",
  title: "Entity update",
  internalNotes: "private",
  author: { id: 2, documentId: "author-2", name: "Grace", email: "grace@example.com" },
  seo: { metaTitle: "T", metaSecret: "S" },
});

describe("entity-only delivery (authenticated: article update = false)", () => {
  test("only subscribed readers get article:update, once, sanitized", async () => {
    const subscribed = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const bystander = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const both = await connect(ctx.url, { auth: { token: legacyJwt(2) } });

    assert.deepEqual(await ack(subscribed, "subscribe-entity", { uid: ARTICLE, id: 1 }), {
      success: true,
      room: `${ARTICLE}:1`,
      uid: ARTICLE,
      id: 1,
    });
    // Subscribed through both addresses of the same entry: still one copy.
    assert.equal((await ack(both, "subscribe-entity", { uid: ARTICLE, id: 1 })).success, true);
    assert.equal((await ack(both, "subscribe-entity", { uid: ARTICLE, id: "article-1" })).success, true);

    const waits = [subscribed, both].map((s) => s.rec.waitFor("article:update"));
    await call(ctx.url, "emit", { event: "update", schema: ARTICLE, data: entry() });
    const payloads = await Promise.all(waits);
    for (const p of payloads) {
      assert.equal(p.data.id, 1);
      assert.equal(p.data.documentId, "article-1");
      assert.equal(p.data.title, "Entity update");
      assert.ok(!("internalNotes" in p.data), "private field removed on the entity path");
      assert.equal(p.data.author?.name, "Grace", "reader may find authors");
      assert.equal(p.data.seo?.metaTitle, "T");
      assert.ok(!("metaSecret" in (p.data.seo ?? {})), "private component field removed");
      assert.deepEqual(p.meta, {});
    }

    await marker(ctx.url, [subscribed, bystander, both]);
    assert.equal(subscribed.rec.count("article:update"), 1, "subscriber: exactly once");
    assert.equal(both.rec.count("article:update"), 1, "subscribed by id and documentId: exactly once");
    assert.equal(bystander.rec.count("article:update"), 0, "not subscribed, not routed: nothing");

    // Another entry of the same type: nobody of the role is subscribed to it.
    await call(ctx.url, "emit", {
      event: "update",
      schema: ARTICLE,
      data: { id: 2, documentId: "article-2", title: "Other" },
    });
    await marker(ctx.url, [subscribed, bystander, both]);
    assert.equal(subscribed.rec.count("article:update"), 1, "other entry does not reach the subscriber");
    assert.equal(bystander.rec.count("article:update"), 0);

    // create stays routed to the role room.
    const creates = [subscribed, bystander].map((s) => s.rec.waitFor("article:create"));
    await call(ctx.url, "emit", {
      event: "create",
      schema: ARTICLE,
      data: { id: 4, documentId: "article-4", title: "New" },
    });
    await Promise.all(creates);

    // After unsubscribing, the entity's updates stop.
    const un = await ack(subscribed, "unsubscribe-entity", { uid: ARTICLE, id: 1 });
    assert.equal(un.success, true);
    await call(ctx.url, "emit", { event: "update", schema: ARTICLE, data: entry() });
    await marker(ctx.url, [subscribed, both]);
    assert.equal(subscribed.rec.count("article:update"), 1, "no update after unsubscribe");
    assert.equal(both.rec.count("article:update"), 2, "still-subscribed socket gets the second update");
  });
});
