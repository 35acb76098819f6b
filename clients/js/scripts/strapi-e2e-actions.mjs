// Every Strapi action a content editor or an app performs, through a real Strapi 5.54 (the
// fixture app) and one source of events — the plugin entry's forwarder or Strapi's webhook,
// as scripts/strapi-e2e.sh starts them — checked from three audiences: Public (no token),
// the read-only `dashboard` API token and the `comments-only` token. After each action every
// audience that may read the content type has exactly one event about the document, with
// nothing private in it (internalNotes, seo.metaSecret; `author` for Public, which may not
// find authors; `article` for comments-only); the others have none.
//
// Actions: REST create as draft, Content Manager publish with changes, REST update (default
// status: publishes), Content Manager draft save, unpublish, publish, a REST comment on the
// published article, Content Manager delete. The Content Manager is driven through its own
// admin API (`/content-manager/...`) with an admin registered (or logged in) on the app.
//
// Env: STRAPI_URL, GATEWAY_URL, SOURCE (a label: "plugin" or "webhook"), ADMIN_EMAIL and
// ADMIN_PASSWORD (the admin to register or log in as). Prints "N passed,
// N failed"; exits 1 on any failure.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import { createChecks } from "./e2e-checks.mjs";

const STRAPI = process.env.STRAPI_URL ?? "http://127.0.0.1:1337";
const GATEWAY = process.env.GATEWAY_URL ?? "http://127.0.0.1:1338";
const SOURCE = process.env.SOURCE ?? "plugin";
const WAIT_MS = 10_000;
const ARTICLES = "/content-manager/collection-types/api::article.article";
const ADA = "xg9myu30sc547noh5y1v0prc"; // the fixture's author 1

const { check, finish } = createChecks(`[${SOURCE}] `);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function connect(auth) {
  const socket = io(GATEWAY, { transports: ["websocket"], reconnection: false, forceNew: true, auth });
  socket.events = [];
  socket.onAny((event, payload) => socket.events.push({ event, payload }));
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error("connect timed out")), WAIT_MS);
    socket.once("connect", () => (clearTimeout(t), res())).once("connect_error", (e) => (clearTimeout(t), rej(e)));
  });
  return socket;
}

async function http(method, path, { token, body } = {}) {
  const res = await fetch(`${STRAPI}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** An admin of the app: registered on first use (a fresh fixture has none), else logged in. */
async function adminToken() {
  const who = { email: process.env.ADMIN_EMAIL ?? "e2e-admin@example.com", password: process.env.ADMIN_PASSWORD ?? "E2e-admin-password-1" };
  try {
    return (await http("POST", "/admin/register-admin", { body: { ...who, firstname: "E2E", lastname: "Admin" } })).data.token;
  } catch {
    return (await http("POST", "/admin/login", { body: who })).data.token;
  }
}

const audiences = {
  public: await connect(undefined),
  dashboard: await connect({ strategy: "api-token", token: "fixture-token-dashboard" }),
  commentsOnly: await connect({ strategy: "api-token", token: "fixture-token-comments" }),
};
/** What each audience may not read in each content type (beyond private attributes). */
const HIDDEN = {
  public: { article: ["author"], comment: [] },
  dashboard: { article: [], comment: [] },
  commentsOnly: { article: null, comment: ["article"] },
};
const admin = await adminToken();
const OPS = "fixture-token-ops";

/** Waits until each audience's events about `documentId` stop changing for a moment. */
async function quiet(documentId) {
  const count = () => Object.values(audiences).reduce((n, s) => n + s.events.filter((e) => e.payload?.data?.documentId === documentId).length, 0);
  let last = -1;
  const deadline = Date.now() + WAIT_MS;
  // The webhook window is at most 300 ms; 600 ms without a new event is the end of an action.
  while (Date.now() < deadline) {
    const n = count();
    if (n === last) return;
    last = n;
    await sleep(600);
  }
}

/**
 * Runs `action`, then checks that each audience that may read `type` got exactly one event
 * named `${type}:${name}` about `documentId` (others none), and runs `inspect` on each payload.
 */
async function expectOne(type, name, documentIdOf, action, inspect) {
  const marks = Object.fromEntries(Object.entries(audiences).map(([k, s]) => [k, s.events.length]));
  const documentId = await documentIdOf(await action());
  const deadline = Date.now() + WAIT_MS;
  for (const [k, s] of Object.entries(audiences)) {
    if (HIDDEN[k][type] === null) continue;
    while (!s.events.slice(marks[k]).some((e) => e.payload?.data?.documentId === documentId)) {
      if (Date.now() > deadline) throw new Error(`${k} heard nothing about ${documentId}`);
      await sleep(20);
    }
  }
  await quiet(documentId);
  for (const [k, s] of Object.entries(audiences)) {
    const got = s.events.slice(marks[k]).filter((e) => e.payload?.data?.documentId === documentId);
    if (HIDDEN[k][type] === null) {
      assert.deepEqual(got, [], `${k} may not read ${type}s`);
      continue;
    }
    assert.deepEqual(got.map((e) => e.event), [`${type}:${name}`], `${k}: exactly one event`);
    const { data, meta } = got[0].payload;
    assert.equal("internalNotes" in data, false, `${k}: internalNotes is private`);
    assert.equal(data.seo?.metaSecret, undefined, `${k}: seo.metaSecret is private`);
    for (const key of HIDDEN[k][type]) assert.equal(key in data, false, `${k} may not read ${key}`);
    inspect?.(data, meta, k);
  }
  return documentId;
}

let doc;
const byDoc = (r) => r.data?.documentId ?? r.documentId;

await check("REST create as a draft → one article:create, a draft", async () => {
  doc = await expectOne(
    "article", "create", byDoc,
    () => http("POST", "/api/articles?status=draft", {
      token: OPS,
      body: { data: { title: `e2e ${randomUUID().slice(0, 8)}`, internalNotes: "secret", seo: { metaTitle: "t", metaSecret: "s" }, author: ADA } },
    }),
    (data, meta) => {
      assert.equal(data.publishedAt, null);
      assert.deepEqual(meta, {});
    },
  );
});

await check("Content Manager publish with changes → one article:update, the published row, meta.action publish", async () => {
  await expectOne(
    "article", "update", () => doc,
    () => http("POST", `${ARTICLES}/${doc}/actions/publish`, { token: admin, body: { title: "published from the CM" } }),
    (data, meta) => {
      assert.equal(typeof data.publishedAt, "string");
      assert.equal(data.title, "published from the CM");
      assert.deepEqual(meta, { action: "publish" });
    },
  );
});

await check("REST update (default status publishes) → one article:update, published", async () => {
  await expectOne(
    "article", "update", () => doc,
    () => http("PUT", `/api/articles/${doc}`, { token: OPS, body: { data: { title: "updated over REST" } } }),
    (data, meta) => {
      assert.equal(typeof data.publishedAt, "string");
      assert.equal(data.title, "updated over REST");
      assert.deepEqual(meta, { action: "publish" });
    },
  );
});

await check("Content Manager draft save → one article:update, a draft, no meta.action", async () => {
  await expectOne(
    "article", "update", () => doc,
    () => http("PUT", `${ARTICLES}/${doc}`, { token: admin, body: { title: "draft save" } }),
    (data, meta) => {
      assert.equal(data.publishedAt, null);
      assert.equal(data.title, "draft save");
      assert.deepEqual(meta, {});
    },
  );
});

await check("Content Manager unpublish → one article:update with publishedAt null and meta.action unpublish", async () => {
  await expectOne(
    "article", "update", () => doc,
    () => http("POST", `${ARTICLES}/${doc}/actions/unpublish`, { token: admin, body: {} }),
    (data, meta) => {
      assert.equal(data.publishedAt, null);
      assert.deepEqual(meta, { action: "unpublish" });
    },
  );
});

await check("Content Manager publish (no changes) → one article:update, published", async () => {
  await expectOne(
    "article", "update", () => doc,
    () => http("POST", `${ARTICLES}/${doc}/actions/publish`, { token: admin, body: {} }),
    (data, meta) => {
      assert.equal(typeof data.publishedAt, "string");
      assert.deepEqual(meta, { action: "publish" });
    },
  );
});

await check("REST comment on the published article → one comment:create; its article, when sent, is the published row", async () => {
  await expectOne(
    "comment", "create", byDoc,
    () => http("POST", "/api/comments", { token: OPS, body: { data: { text: `e2e comment ${randomUUID().slice(0, 8)}`, article: doc } } }),
    (data, meta, k) => {
      // Strapi's webhook sends the article (as its draft row); the forwarder's result has no relations.
      if (SOURCE === "webhook" && k !== "commentsOnly") assert.ok(data.article, `${k}: the comment's article`);
      if (data.article !== undefined && data.article !== null) {
        assert.equal(data.article.documentId, doc);
        assert.equal(typeof data.article.publishedAt, "string", `the published row, not the draft: ${JSON.stringify(data.article)}`);
        assert.equal("internalNotes" in data.article, false);
      }
    },
  );
});

await check("Content Manager delete → one article:delete {id, documentId}", async () => {
  await expectOne(
    "article", "delete", () => doc,
    () => http("DELETE", `${ARTICLES}/${doc}`, { token: admin }),
    (data) => assert.deepEqual(Object.keys(data).sort(), ["documentId", "id"]),
  );
});

for (const s of Object.values(audiences)) s.close();
finish();
