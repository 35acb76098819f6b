// REST response → socket event, through a real Strapi: N actions made over Strapi's REST API
// (an API token), each timed from the moment its REST response arrived to the moment the
// gateway's socket.io client heard its event; copies per action counted. Run by
// bench/strapi/latency.sh, which starts Strapi and the gateway; prints one JSON line.
//
//   node latency.mjs <label> <strapi url> <gateway url> [actions per kind]

import { io } from "socket.io-client";

const [label, strapiUrl, gatewayUrl, perKind = "50"] = process.argv.slice(2);
const N = Number(perKind);
const TOKEN = "fixture-token-ops";

const socket = io(gatewayUrl, {
  transports: ["websocket"],
  auth: { strategy: "api-token", token: TOKEN },
  reconnection: false,
});
await new Promise((res, rej) => {
  socket.once("connect", res);
  socket.once("connect_error", rej);
});

/** documentId → [arrival times (ms, performance.now())] per event name. */
const heard = new Map();
socket.onAny((event, payload) => {
  const id = payload?.data?.documentId;
  if (!id) return;
  const key = `${event} ${id}`;
  if (!heard.has(key)) heard.set(key, []);
  heard.get(key).push(performance.now());
});

async function rest(method, path, body) {
  const res = await fetch(`${strapiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: body && JSON.stringify({ data: body }),
  });
  const at = performance.now();
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { at, json: text ? JSON.parse(text) : null };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An admin of the app for the Content Manager's API: registered on a fresh fixture, else logged in. */
async function adminToken() {
  const who = { email: "bench-admin@example.com", password: "Bench-admin-password-1" };
  const post = (path, body) =>
    fetch(`${strapiUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  let res = await post("/admin/register-admin", { ...who, firstname: "Bench", lastname: "Admin" });
  if (!res.ok) res = await post("/admin/login", who);
  if (!res.ok) throw new Error(`no admin: ${res.status} ${await res.text()}`);
  return (await res.json()).data.token;
}
const admin = await adminToken();
const CM = "/content-manager/collection-types/api::article.article";

/** The Content Manager's "Publish" of a draft with unsaved changes (save and publish in one transaction). */
async function cmPublish(documentId, title) {
  const res = await fetch(`${strapiUrl}${CM}/${documentId}/actions/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ title }),
  });
  const at = performance.now();
  const text = await res.text();
  if (!res.ok) throw new Error(`CM publish: ${res.status} ${text}`);
  return at;
}

const kinds = {
  // REST create with the default status publishes: two webhook requests (create + publish).
  "article create (publishes)": async (i) => {
    const { at, json } = await rest("POST", "/api/articles", { title: `bench ${i}`, body: "x" });
    return { at, key: `article:create ${json.data.documentId}`, id: json.data.documentId };
  },
  // The Content Manager's "Publish" with changes, of a draft created beforehand (its own
  // event left out): Strapi sends an update of the draft row and a publish of the new row.
  "Content Manager publish": async (i) => {
    const { json } = await rest("POST", "/api/articles?status=draft", { title: `bench draft ${i}`, body: "x" });
    const id = json.data.documentId;
    await sleep(400); // the draft's own event is out of the way
    const at = await cmPublish(id, `bench published ${i}`);
    return { at, key: `article:update ${id}`, id, sameKeyOnly: true };
  },
  // A comment: no draft & publish, one request.
  "comment create": async (i) => {
    const { at, json } = await rest("POST", "/api/comments", { text: `bench ${i}` });
    return { at, key: `comment:create ${json.data.documentId}`, id: json.data.documentId };
  },
};

const results = {};
for (const [kind, make] of Object.entries(kinds)) {
  const made = [];
  for (let i = 0; i < N; i++) {
    made.push(await make(i));
    await sleep(20); // one action at a time, as an editor works
  }
  await sleep(1500); // the last events, and any late copies
  const lat = [];
  let missing = 0;
  let extra = 0;
  for (const m of made) {
    const times = heard.get(m.key) ?? [];
    if (times.length === 0) missing++;
    else lat.push(times[0] - m.at);
    extra += Math.max(0, times.length - 1);
    // any other event about the same document is a second copy of the action
    if (!m.sameKeyOnly) for (const [key, t] of heard) if (key !== m.key && key.endsWith(` ${m.id}`)) extra += t.length;
  }
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1)) : null);
  results[kind] = { actions: N, heard: N - missing, missing, extraCopies: extra, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1) };
}
console.log(JSON.stringify({ label, results }));
socket.close();
process.exit(0);
