// The Strapi side of the tests: the demo project (examples/blog) and its public secrets, the
// tokens Strapi 5 issues (users-permissions JWTs, hashed API tokens), and the recorded Strapi 5
// webhook requests (tests/fixtures/strapi5-webhooks). Node built-ins only.

import { createHmac, randomUUID } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(HERE, "..", "..", "..");
export const DEMO_DIR = join(REPO, "examples", "blog");
export const DEMO_TOML = join(DEMO_DIR, "strapi-io.toml");

// The embedded demo's public secrets (README "The demo") and content types.
export const JWT_SECRET = "demo-jwt-secret";
export const API_TOKEN_SALT = "demo-api-token-salt";
export const ADMIN_TOKEN = "demo-admin-token";
export const DASHBOARD_TOKEN = "demo-token-dashboard";
export const COMMENTS_ONLY_TOKEN = "demo-token-comments-only";
export const ARTICLE = "api::article.article";
export const AUTHOR = "api::author.author";
export const COMMENT = "api::comment.comment";

// ---------------------------------------------------------------------------------------
// Tokens

function b64url(input) {
  return Buffer.from(input).toString("base64url");
}

/** An HS256 (or other HMAC alg) JWT signed with node:crypto. */
export function signJwt(payload, secret = JWT_SECRET, { alg = "HS256" } = {}) {
  const header = b64url(JSON.stringify({ alg, typ: "JWT" }));
  const body = b64url(JSON.stringify(payload));
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg];
  const sig = createHmac(hash, secret).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${sig}`;
}

/** Now, in whole seconds since the epoch (JWT time). */
export const now = () => Math.floor(Date.now() / 1000);

/** users-permissions `legacy-support` form: { id, iat, exp }. */
export function legacyJwt(id, { secret, ttl = 3600 } = {}) {
  return signJwt({ id, iat: now(), exp: now() + ttl }, secret);
}

/**
 * users-permissions `refresh` mode access token: { userId, sessionId, type: "access", iat,
 * exp }; `ttl` in seconds (negative: already expired).
 */
export function accessJwt(userId, { secret, ttl = 3600, type = "access" } = {}) {
  return signJwt(
    { userId: String(userId), sessionId: randomUUID(), type, iat: now(), exp: now() + ttl },
    secret,
  );
}

/** The hash Strapi 5 stores for an API token: HMAC-SHA512 keyed by the salt, hex. */
export function hashApiToken(token, salt = API_TOKEN_SALT) {
  return createHmac("sha512", salt).update(token).digest("hex");
}

// ---------------------------------------------------------------------------------------
// Webhook fixtures

/** The webhook token of the Strapi 5 fixtures (tests/fixtures/strapi5-webhooks). */
export const FIXTURE_WEBHOOK_TOKEN = "fixture-webhook-token";
export const WEBHOOK_FIXTURES = join(REPO, "tests", "fixtures", "strapi5-webhooks");

/** A webhook fixture by its number prefix ("01"): { name, headers, body }. */
export function webhookFixture(prefix) {
  const name = readdirSync(WEBHOOK_FIXTURES).find((f) => f.startsWith(`${prefix}-`) && f.endsWith(".json"));
  if (!name) throw new Error(`no webhook fixture ${prefix}-*.json in ${WEBHOOK_FIXTURES}`);
  return { name, ...JSON.parse(readFileSync(join(WEBHOOK_FIXTURES, name), "utf8")) };
}
