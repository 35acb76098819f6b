// HTTP requests to the gateway: its RPC (`POST /api/io/<method>`), the admin routes,
// `GET /api/io/stats`, Strapi's webhooks (`POST /webhooks/strapi`), and the check of Strapi's
// error shape. Global fetch, every request bounded by WAIT_MS.

import { ADMIN_TOKEN, FIXTURE_WEBHOOK_TOKEN } from "./strapi.mjs";
import { WAIT_MS } from "./wait.mjs";

/** `text` parsed as JSON, or the text itself when it is not JSON. */
function parsed(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * POST /api/io/<method>. `body` is JSON-encoded unless `raw` (a string) is given.
 * Resolves { status, body } (body parsed when JSON).
 */
export async function rpc(url, method, body = {}, { token = ADMIN_TOKEN, raw, headers = {} } = {}) {
  const h = { "content-type": "application/json", ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}/api/io/${method}`, {
    method: "POST",
    headers: h,
    body: raw ?? JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  return { status: res.status, body: parsed(await res.text()) };
}

/** Calls an RPC method that must succeed (200) and returns its `data`. */
export async function call(url, method, body = {}) {
  const { status, body: b } = await rpc(url, method, body);
  if (status !== 200) {
    throw new Error(`${method} answered ${status}: ${JSON.stringify(b)}`);
  }
  return b.data;
}

/** GET /api/io/stats → its `data`. */
export async function stats(url, token = ADMIN_TOKEN) {
  const res = await fetch(`${url}/api/io/stats`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`stats answered ${res.status}: ${JSON.stringify(body)}`);
  return body.data;
}

/**
 * An HTTP request to the gateway: `path` like "/api/io/settings". `body` is JSON-encoded
 * unless `raw` (a string) is given; no body → no content-type. `token` null sends no
 * Authorization. Resolves { status, body (parsed when JSON), text, headers }.
 */
export async function request(url, path, { method = "GET", token = ADMIN_TOKEN, body, raw, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === "content-type")) {
    h["content-type"] = "application/json";
  }
  const res = await fetch(`${url}${path}`, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  return { status: res.status, body: parsed(text), text, headers: res.headers };
}

/** A GET of an admin route that must answer 200; returns its `data`. */
export async function adminGet(url, path) {
  const res = await request(url, path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${res.text}`);
  return res.body.data;
}

/**
 * POST /webhooks/strapi with `body` (JSON) or `raw`, and the fixture's headers by default
 * (Authorization: Bearer fixture-webhook-token). `token` null sends no Authorization.
 */
export function webhook(url, body, { token = FIXTURE_WEBHOOK_TOKEN, raw, headers = {} } = {}) {
  return request(url, "/webhooks/strapi", {
    method: "POST",
    token,
    body,
    raw,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Asserts Strapi's error shape (SPEC §5): HTTP `status`, a JSON body
 * `{data: null, error: {status, name, message}}` with a non-empty message. Returns the error.
 */
export function assertApiError(res, status, what = "") {
  const ctx = `${what ? `${what}: ` : ""}body ${typeof res.body === "string" ? res.body : JSON.stringify(res.body)}`;
  if (res.status !== status) throw new Error(`expected HTTP ${status}, got ${res.status} (${ctx})`);
  const b = res.body;
  if (typeof b !== "object" || b === null) throw new Error(`expected a JSON error body (${ctx})`);
  if (b.data !== null) throw new Error(`expected data: null (${ctx})`);
  if (b.error?.status !== status) throw new Error(`expected error.status ${status} (${ctx})`);
  if (typeof b.error?.name !== "string" || !b.error.name) throw new Error(`expected error.name (${ctx})`);
  if (typeof b.error?.message !== "string" || !b.error.message) throw new Error(`expected error.message (${ctx})`);
  return b.error;
}
