// Populate through Strapi's REST API (SPEC §3 "Populate", README "Populate"): a content type
// with `populate` whose entry reaches `POST /api/io/emit` without its relations is refetched
// from Strapi (`GET /api/{pluralName}/{documentId}?populate…&status…`, Bearer strapi.token)
// and sent populated, still sanitized per audience; a complete entry is not refetched; a
// Strapi that is slow, down or answering an error leaves the event unpopulated but sent, and
// counted; no more than strapi.populateConcurrency refetches are in flight at once.
// The Strapi here is a small node:http server answering like Strapi 5.54 (shapes from the
// fixture app's REST captures: GET /api/articles?populate=*, /api/authors, /api/comments).

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { closeAll, connect, marker, uniq } from "./helpers/clients.mjs";
import { writeConfig } from "./helpers/config.mjs";
import { assertApiError, call, request, rpc, stats } from "./helpers/http.mjs";
import { freePort, runToExit, startServerWith, useServer } from "./helpers/server.mjs";
import { ARTICLE, AUTHOR, COMMENT, accessJwt, legacyJwt } from "./helpers/strapi.mjs";
import { waitUntil } from "./helpers/wait.mjs";

after(() => closeAll());

const STRAPI_TOKEN = "fake-strapi-api-token";
/** Private values the fake Strapi returns (a real one would not): they must reach no one. */
const SECRET = "private-value-that-must-reach-no-client";
/** How long the "slow" documents make the fake Strapi wait: beyond the gateway's timeout. */
const SLOW_MS = 4000;
const TIMEOUT_MS = 1500;
const CONCURRENCY = 2;

// Strapi 5.54's own data for the fixture app (http/02-public-get-articles-populate.json,
// http/16-token-ops-get-authors.json).
const ADA = {
  id: 1,
  documentId: "xg9myu30sc547noh5y1v0prc",
  name: "Ada Lovelace",
  email: "ada@example.com",
  createdAt: "2026-11-25T23:35:45.669Z",
  updatedAt: "2026-11-25T23:35:45.669Z",
  publishedAt: "2026-11-25T23:35:45.667Z",
};
const ALAN = {
  id: 2,
  documentId: "ic9bvlgxu2hnkz63e8gwwsn3",
  name: "Alan Turing",
  email: "alan@example.com",
  createdAt: "2026-11-25T23:35:45.674Z",
  updatedAt: "2026-11-25T23:35:45.674Z",
  publishedAt: "2026-11-25T23:35:45.673Z",
};
const COMMENTS = [
  {
    id: 1,
    documentId: "nenrx64e3vq0u8u12kaxfv7w",
    text: "Great article!",
    createdAt: "2026-11-25T23:35:45.741Z",
    updatedAt: "2026-11-25T23:35:45.741Z",
    publishedAt: "2026-11-25T23:35:45.738Z",
  },
  {
    id: 2,
    documentId: "f92dmhzt7cdmp4qqhsym85kh",
    text: "Thanks for writing.",
    createdAt: "2026-11-25T23:35:45.750Z",
    updatedAt: "2026-11-25T23:35:45.750Z",
    publishedAt: "2026-11-25T23:35:45.747Z",
  },
];
const SEO = { id: 2, metaTitle: "Hello SEO" };
const HELLO = { id: 2, documentId: "dvn4m1p03xohql4vaa8qqto9", title: "Hello Strapi" };

/** The `data` of GET /api/{type}/{documentId} (Strapi 5's flat shape). */
function found(type, documentId, status) {
  const times = { createdAt: "2026-11-25T23:35:45.683Z", updatedAt: "2026-11-25T23:35:45.683Z" };
  const publishedAt = status === "draft" ? null : "2026-11-25T23:35:45.689Z";
  switch (type) {
    case "articles":
      return {
        id: 2,
        documentId,
        title: "Hello Strapi",
        body: "# Hello\n\nFirst **published** article.",
        ...times,
        publishedAt,
        internalNotes: SECRET,
        author: ADA,
        comments: COMMENTS,
        seo: { ...SEO, metaSecret: SECRET },
      };
    case "comments":
      return { ...COMMENTS[0], documentId, article: HELLO };
    case "authors":
      return { ...ADA, documentId, articles: [{ ...HELLO, body: "b", ...times, publishedAt }] };
    default:
      return null;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A fake Strapi on 127.0.0.1. The documentId's prefix picks the behaviour: `slow-` answers
 * after SLOW_MS, `e500-`/`e404-` answer Strapi's errors, `burst-` answers after 150 ms while
 * counting concurrent requests; anything else answers at once. Records every request.
 */
async function startFakeStrapi() {
  const requests = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer(async (req, res) => {
    const u = new URL(req.url, "http://fake");
    const [, , type, documentId = ""] = u.pathname.split("/");
    requests.push({
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      authorization: req.headers.authorization ?? null,
    });
    const send = (status, body) => {
      if (res.destroyed || res.writableEnded) return;
      res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify(body));
    };
    const error = (status, name, message) =>
      send(status, { data: null, error: { status, name, message, details: {} } });
    const mode = documentId.split("-")[0];
    const ok = () => send(200, { data: found(type, documentId, u.searchParams.get("status")), meta: {} });
    if (mode === "slow") {
      await sleep(SLOW_MS);
      return ok();
    }
    if (mode === "e500") return error(500, "InternalServerError", "Internal Server Error");
    if (mode === "e404") return error(404, "NotFoundError", "Not Found");
    if (mode === "burst") {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await sleep(150);
      inFlight--;
      return ok();
    }
    return ok();
  });
  await new Promise((res, rej) => {
    server.once("error", rej);
    server.listen(0, "127.0.0.1", res);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    requestsFor: (documentId) => requests.filter((r) => r.path.endsWith(`/${documentId}`)),
    get maxInFlight() {
      return maxInFlight;
    },
    stop: () =>
      new Promise((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}

const CONTENT_TYPES = `contentTypes = [
  { uid = "${ARTICLE}", populate = ["author", "comments", "seo"] },
  { uid = "${COMMENT}", populate = { article = { fields = ["title"] } } },
  { uid = "${AUTHOR}", populate = "*" },
]`;

async function connectAudiences(url) {
  return {
    public: await connect(url),
    reader: await connect(url, { auth: { token: legacyJwt(2) } }),
    editor: await connect(url, { auth: { token: accessJwt(1) } }),
  };
}

/**
 * A fake Strapi, and a gateway reading it (`strapi.url`, `strapi.token` and `strapi` settings)
 * with the audiences' clients connected.
 */
async function startBesideFakeStrapi(strapi, opts) {
  const fake = await startFakeStrapi();
  const server = await startServerWith({ strapi: { url: fake.url, token: STRAPI_TOKEN, ...strapi } }, opts);
  return { fake, server, url: server.url, clients: await connectAudiences(server.url) };
}

/** Ends what {@link startBesideFakeStrapi} started. */
async function stopBesideFakeStrapi(server, fake) {
  closeAll();
  await server?.stop();
  await fake?.stop();
}

/** The payload of `event` about `documentId` on `socket`. */
const arrival = (socket, event, documentId) => socket.rec.waitFor(event, (p) => p?.data?.documentId === documentId);

const emit = (url, event, schema, data) => call(url, "emit", { event, schema, data });

const published = "2026-11-25T23:35:45.689Z";

describe("populate: article (list), comment (object), author (\"*\") against a fake Strapi", () => {
  let fake;
  let server;
  let url;
  let clients;

  before(async () => {
    ({ fake, server, url, clients } = await startBesideFakeStrapi(
      { populateTimeoutMs: TIMEOUT_MS, populateConcurrency: CONCURRENCY },
      { prepend: CONTENT_TYPES },
    ));
  });
  after(() => stopBesideFakeStrapi(server, fake));

  test("an article without its relations reaches every audience populated, sanitized for it", async () => {
    const before = (await stats(url)).populate;
    const doc = uniq("pop");
    await emit(url, "create", ARTICLE, {
      id: 41,
      documentId: doc,
      title: "Mine",
      publishedAt: published,
      internalNotes: SECRET,
    });
    const [pub, reader, editor] = await Promise.all(
      [clients.public, clients.reader, clients.editor].map((s) => arrival(s, "article:create", doc)),
    );
    assert.deepEqual(fake.requestsFor(doc), [
      {
        path: `/api/articles/${doc}`,
        query: { "populate[0]": "author", "populate[1]": "comments", "populate[2]": "seo", status: "published" },
        authorization: `Bearer ${STRAPI_TOKEN}`,
      },
    ]);
    assert.equal(reader.data.id, 41, "the entry's own id");
    assert.equal(reader.data.title, "Hello Strapi", "Strapi's answer");
    assert.deepEqual(reader.data.author, ADA);
    assert.deepEqual(editor.data.author, ADA);
    assert.equal("author" in pub.data, false, "Public may not find authors");
    for (const p of [pub, reader, editor]) {
      assert.deepEqual(p.data.comments, COMMENTS);
      assert.deepEqual(p.data.seo, SEO, "the component without its private metaSecret");
      assert.equal("internalNotes" in p.data, false);
      assert.ok(!JSON.stringify(p).includes(SECRET), JSON.stringify(p));
    }
    const now = (await stats(url)).populate;
    assert.deepEqual(now, { ...before, refetched: before.refetched + 1 });
  });

  test("a draft with bare ids is refetched as a draft", async () => {
    const doc = uniq("draft");
    await emit(url, "update", ARTICLE, {
      id: 42,
      documentId: doc,
      title: "Mine",
      publishedAt: null,
      author: 1,
      comments: [1, 2],
      seo: { id: 2, metaTitle: "Hello SEO" },
    });
    const reader = await arrival(clients.reader, "article:update", doc);
    assert.deepEqual(reader.data.author, ADA);
    assert.equal(reader.data.publishedAt, null);
    const [req] = fake.requestsFor(doc);
    assert.equal(req?.query.status, "draft", JSON.stringify(fake.requestsFor(doc)));
  });

  test("an entry that already has what populate asks for is not refetched", async () => {
    const before = (await stats(url)).populate;
    const doc = uniq("complete");
    const entry = { id: 43, documentId: doc, title: "Complete", publishedAt: published, author: ALAN, comments: [], seo: null };
    await emit(url, "update", ARTICLE, entry);
    const reader = await arrival(clients.reader, "article:update", doc);
    assert.deepEqual(reader.data, entry);
    assert.deepEqual(fake.requestsFor(doc), []);
    assert.deepEqual((await stats(url)).populate, { ...before, skipped: before.skipped + 1 });
  });

  test("a delete is neither refetched nor counted", async () => {
    const before = (await stats(url)).populate;
    const doc = uniq("gone");
    await emit(url, "delete", ARTICLE, { id: 44, documentId: doc, title: "Gone", publishedAt: published });
    const reader = await arrival(clients.reader, "article:delete", doc);
    assert.deepEqual(reader.data, { id: 44, documentId: doc });
    assert.deepEqual(fake.requestsFor(doc), []);
    assert.deepEqual((await stats(url)).populate, before);
  });

  test("a populate object always refetches, sent in qs syntax, without status for a type without drafts", async () => {
    const doc = uniq("comment");
    await emit(url, "create", COMMENT, { id: 9, documentId: doc, text: "Hi", article: { ...HELLO } });
    const pub = await arrival(clients.public, "comment:create", doc);
    assert.deepEqual(fake.requestsFor(doc), [
      {
        path: `/api/comments/${doc}`,
        query: { "populate[article][fields][0]": "title" },
        authorization: `Bearer ${STRAPI_TOKEN}`,
      },
    ]);
    assert.deepEqual(pub.data.article, HELLO);
    assert.equal(pub.data.text, "Great article!");
  });

  test("\"*\" refetches when a relation of the schema is missing, not when none is", async () => {
    const doc = uniq("author");
    await emit(url, "create", AUTHOR, { id: 5, documentId: doc, name: "Ada" });
    const editor = await arrival(clients.editor, "author:create", doc);
    assert.deepEqual(fake.requestsFor(doc).map((r) => r.query), [{ populate: "*" }]);
    assert.equal(editor.data.articles?.[0]?.title, "Hello Strapi", JSON.stringify(editor));
    const doc2 = uniq("author");
    await emit(url, "create", AUTHOR, { id: 6, documentId: doc2, name: "Alan", articles: [] });
    const second = await arrival(clients.editor, "author:create", doc2);
    assert.deepEqual(second.data.articles, []);
    assert.deepEqual(fake.requestsFor(doc2), []);
  });

  for (const mode of ["slow", "e500", "e404"]) {
    test(`Strapi ${mode === "slow" ? "answering after the timeout" : `answering ${mode.slice(1)}`}: the event goes out unpopulated, counted as failed`, async () => {
      const before = (await stats(url)).populate;
      const doc = uniq(mode);
      await emit(url, "create", ARTICLE, { id: 50, documentId: doc, title: "Mine", publishedAt: published });
      const [reader, pub] = await Promise.all([
        arrival(clients.reader, "article:create", doc),
        arrival(clients.public, "article:create", doc),
      ]);
      assert.deepEqual(reader.data, { id: 50, documentId: doc, title: "Mine", publishedAt: published });
      assert.deepEqual(pub.data, reader.data);
      assert.equal(fake.requestsFor(doc).length, 1);
      assert.deepEqual((await stats(url)).populate, { ...before, failed: before.failed + 1 });
    });
  }

  test("the same Idempotency-Key while its first call is still running (a slow refetch) → 409 ConflictError; the event goes out once", async () => {
    const doc = uniq("slow");
    const key = uniq("inflight");
    const body = { event: "create", schema: ARTICLE, data: { id: 51, documentId: doc, title: "Once", publishedAt: published } };
    const first = rpc(url, "emit", body, { headers: { "idempotency-key": key } });
    await waitUntil(() => fake.requestsFor(doc).length === 1, { what: "the first call's refetch" });
    const second = await rpc(url, "emit", body, { headers: { "idempotency-key": key } });
    assert.equal(assertApiError(second, 409).name, "ConflictError");
    assert.match(second.body.error.message, /still running; retry later/);
    assert.equal((await first).status, 200);
    const third = await rpc(url, "emit", body, { headers: { "idempotency-key": key } });
    assert.deepEqual(third.body, { data: null, meta: { duplicate: true } }, "once finished, the answer is replayed");
    await arrival(clients.reader, "article:create", doc);
    await marker(url, [clients.reader]);
    assert.equal(clients.reader.rec.all("article:create").filter((p) => p.data.documentId === doc).length, 1);
  });

  test(`a burst never has more than populateConcurrency (${CONCURRENCY}) refetches in flight`, async () => {
    const before = (await stats(url)).populate;
    const docs = Array.from({ length: 6 }, () => uniq("burst"));
    await Promise.all(
      docs.map((doc, i) => emit(url, "create", ARTICLE, { id: 60 + i, documentId: doc, publishedAt: published })),
    );
    await Promise.all(docs.map((doc) => arrival(clients.reader, "article:create", doc)));
    assert.equal(fake.maxInFlight, CONCURRENCY);
    const now = (await stats(url)).populate;
    assert.equal(now.refetched + now.failed - before.refetched - before.failed, docs.length);
  });

  test("GET /metrics counts strapi_io_populate_total by outcome", async () => {
    const res = await request(url, "/metrics", { token: null });
    assert.equal(res.status, 200);
    const s = (await stats(url)).populate;
    for (const outcome of ["refetched", "skipped", "failed"]) {
      const m = res.text.match(new RegExp(`^strapi_io_populate_total\\{outcome="${outcome}"\\} (\\d+)$`, "m"));
      assert.ok(m, `${outcome} in\n${res.text}`);
      assert.equal(Number(m[1]), s[outcome], outcome);
    }
    assert.ok(s.refetched >= 1 && s.skipped >= 1 && s.failed >= 3, JSON.stringify(s));
  });
});

describe("populate with Strapi down (nothing listening at strapi.url)", () => {
  const ctx = useServer(async () => {
    const port = await freePort();
    return startServerWith(
      { strapi: { url: `http://127.0.0.1:${port}`, token: STRAPI_TOKEN } },
      { prepend: `contentTypes = [{ uid = "${ARTICLE}", populate = ["author"] }]` },
    );
  });

  test("the event goes out unpopulated and counts as failed; the token is never logged", async () => {
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const doc = uniq("down");
    await emit(ctx.url, "create", ARTICLE, { id: 1, documentId: doc, title: "Mine", publishedAt: published });
    const p = await arrival(reader, "article:create", doc);
    assert.deepEqual(p.data, { id: 1, documentId: doc, title: "Mine", publishedAt: published });
    assert.deepEqual((await stats(ctx.url)).populate, {
      refetched: 0,
      skipped: 0,
      failed: 1,
      publishedRelations: { swapped: 0, kept: 0, failed: 0 },
    });
    await waitUntil(() => ctx.server.output().includes("populate failed"), { what: "the failure logged" });
    assert.ok(ctx.server.output().includes(doc), ctx.server.output());
    assert.ok(!ctx.server.output().includes(STRAPI_TOKEN), ctx.server.output());
  });
});

describe("populate without strapi.url", () => {
  const ctx = useServer(() => startServerWith({}, { prepend: `contentTypes = [{ uid = "${ARTICLE}", populate = "*" }]` }));

  test("warns once at start; events go out unpopulated, counted as failed", async () => {
    await waitUntil(() => ctx.server.output().includes("strapi.url (STRAPI_IO_STRAPI_URL) is not"), {
      what: "the start warning",
    });
    const reader = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const doc = uniq("offline");
    await emit(ctx.url, "create", ARTICLE, { id: 1, documentId: doc, title: "Mine", publishedAt: published });
    const p = await arrival(reader, "article:create", doc);
    assert.deepEqual(p.data, { id: 1, documentId: doc, title: "Mine", publishedAt: published });
    assert.deepEqual((await stats(ctx.url)).populate, {
      refetched: 0,
      skipped: 0,
      failed: 1,
      publishedRelations: { swapped: 0, kept: 0, failed: 0 },
    });
  });
});

describe("published rows of related documents: a comment's article as REST shows it", () => {
  let fake;
  let server;
  let url;
  let clients;

  before(async () => {
    ({ fake, server, url, clients } = await startBesideFakeStrapi({ populateTimeoutMs: TIMEOUT_MS }));
  });
  after(() => stopBesideFakeStrapi(server, fake));

  /** A comment created on article document `articleDoc`, its `article` the draft row, as Strapi's webhook sends it. */
  const commentOn = (articleDoc) => ({
    event: "entry.create",
    uid: COMMENT,
    entry: {
      id: 4,
      documentId: uniq("comment"),
      text: "webhook comment",
      createdAt: "2026-11-25T23:36:30.609Z",
      updatedAt: "2026-11-25T23:36:30.609Z",
      publishedAt: "2026-11-25T23:36:30.605Z",
      article: { id: 1, documentId: articleDoc, title: "Hello Strapi", internalNotes: SECRET, publishedAt: null },
    },
  });

  test("a draft row is swapped for the published row read from Strapi (status=published), once per document, counted", async () => {
    const before = (await stats(url)).populate.publishedRelations;
    const articleDoc = uniq("article");
    const body = commentOn(articleDoc);
    const got = arrival(clients.reader, "comment:create", body.entry.documentId);
    assert.equal((await call(url, "entryEvents", { events: [body] })).emitted, 1);
    const p = await got;
    assert.equal(p.data.article.id, 2, "the published row's id");
    assert.equal(p.data.article.publishedAt, published);
    assert.equal(p.data.article.documentId, articleDoc);
    assert.ok(!JSON.stringify(p).includes(SECRET), "still sanitized");
    assert.deepEqual(fake.requestsFor(articleDoc).map((r) => [r.path, r.query, r.authorization]), [
      [`/api/articles/${articleDoc}`, { status: "published" }, `Bearer ${STRAPI_TOKEN}`],
    ]);
    assert.deepEqual((await stats(url)).populate.publishedRelations, { ...before, swapped: before.swapped + 1 });
  });

  test("a document with no published version keeps its draft row; a failing Strapi keeps it too, counted and logged", async () => {
    const before = (await stats(url)).populate.publishedRelations;
    for (const [articleDoc, key] of [[uniq("e404"), "kept"], [uniq("e500"), "failed"]]) {
      const body = commentOn(articleDoc);
      const got = arrival(clients.reader, "comment:create", body.entry.documentId);
      await call(url, "entryEvents", { events: [body] });
      const p = await got;
      assert.equal(p.data.article.id, 1, `${key}: the draft row`);
      assert.equal(p.data.article.publishedAt, null);
      assert.equal("internalNotes" in p.data.article, false);
      before[key] += 1;
    }
    assert.deepEqual((await stats(url)).populate.publishedRelations, before);
    await waitUntil(() => server.output().includes("could not read the published row of a related document"), {
      what: "the failure logged",
    });
  });

  test("a list of related drafts: each document read once, at most 32 per event, the rest kept as drafts (counted, logged)", async () => {
    const before = (await stats(url)).populate.publishedRelations;
    const docs = Array.from({ length: 40 }, () => uniq("many"));
    const draft = (documentId, i) => ({ id: 100 + i, documentId, title: `draft ${i}`, publishedAt: null });
    const author = {
      id: 7,
      documentId: uniq("author"),
      name: "Ada",
      publishedAt: published,
      // The first document twice: read once.
      articles: [draft(docs[0], 99), ...docs.map(draft)],
    };
    const got = arrival(clients.editor, "author:update", author.documentId);
    await call(url, "entryEvents", { events: [{ event: "entry.update", uid: AUTHOR, entry: author }] });
    const p = await got;
    const swapped = p.data.articles.filter((a) => a.publishedAt === published);
    assert.equal(p.data.articles.length, 41);
    assert.equal(swapped.length, 33, "the first 32 documents, the first one twice");
    assert.deepEqual(p.data.articles.slice(33).map((a) => a.publishedAt), Array(8).fill(null));
    assert.equal(fake.requestsFor(docs[0]).length, 1);
    assert.equal(docs.reduce((n, d) => n + fake.requestsFor(d).length, 0), 32);
    assert.deepEqual((await stats(url)).populate.publishedRelations, { ...before, swapped: before.swapped + 32, failed: before.failed + 8 });
    await waitUntil(() => server.output().includes("too many related documents to read for one event"), { what: "the cap logged" });
  });
});

test("strapi-io check refuses a populate that names no relation, and a non-http strapi.url", async () => {
  const config = writeConfig(
    (t) =>
      `contentTypes = [{ uid = "${ARTICLE}", populate = ["title"] }]\n${t.replace(
        /^\[strapi\]$/m,
        '[strapi]\nurl = "https://strapi.example"',
      )}`,
  );
  try {
    const r = await runToExit(["check", "--config", config.path]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /contentTypes\[0\]\.populate: `title` of api::article\.article is not a relation/);
    assert.match(r.stderr, /strapi\.url: `https:\/\/strapi\.example`: only http:\/\//);
  } finally {
    config.cleanup();
  }
});
