// Handshake: accepted credentials land in the right audience room; refused ones get a
// connect_error with the exact message of SPEC §4.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ack, connect, connectError } from "./helpers/clients.mjs";
import { startServerEdited, useServer } from "./helpers/server.mjs";
import {
  COMMENTS_ONLY_TOKEN,
  DASHBOARD_TOKEN,
  accessJwt,
  hashApiToken,
  legacyJwt,
  now,
  signJwt,
} from "./helpers/strapi.mjs";

const EXPIRED_API_TOKEN = "e2e-expired-api-token";

// The demo plus one API token that expired an hour ago.
const ctx = useServer(() =>
  startServerEdited(
    (text) =>
      `${text}\n[[directory.apiTokens]]\nname = "expired"\ntype = "read-only"\n` +
      `accessKey = "${hashApiToken(EXPIRED_API_TOKEN)}"\nexpiresAt = ${Date.now() - 3_600_000}\n`,
  ),
);

async function roomsOf(socket) {
  const r = await ack(socket, "get-rooms");
  assert.equal(r.success, true);
  return r.rooms;
}

describe("accepted handshakes", () => {
  test("no token → Public", async () => {
    const s = await connect(ctx.url);
    assert.ok((await roomsOf(s)).includes("io-role-public"));
    s.close();
  });

  test("legacy JWT {id} → the user's role", async () => {
    const s = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    assert.ok((await roomsOf(s)).includes("io-role-authenticated"));
    s.close();
  });

  test("Strapi 5 access JWT {userId, sessionId, type:access} with strategy jwt", async () => {
    const s = await connect(ctx.url, { auth: { strategy: "jwt", token: accessJwt(1) } });
    assert.ok((await roomsOf(s)).includes("io-role-editor"));
    s.close();
  });

  test("query.token is accepted", async () => {
    const s = await connect(ctx.url, { query: { token: legacyJwt(2) } });
    assert.ok((await roomsOf(s)).includes("io-role-authenticated"));
    s.close();
  });

  test("API tokens → io-token-<name>", async () => {
    const a = await connect(ctx.url, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } });
    const b = await connect(ctx.url, { auth: { strategy: "api-token", token: COMMENTS_ONLY_TOKEN } });
    assert.ok((await roomsOf(a)).includes("io-token-dashboard"));
    assert.ok((await roomsOf(b)).includes("io-token-comments-only"));
    a.close();
    b.close();
  });

  test("the default polling transport works too", async () => {
    const s = await connect(ctx.url, { transports: ["polling"], auth: { token: legacyJwt(2) } });
    assert.ok((await roomsOf(s)).includes("io-role-authenticated"));
    s.close();
  });
});

describe("refused handshakes", () => {
  const cases = [
    ["JWT signed with another secret", { auth: { token: legacyJwt(2, { secret: "not-the-secret" }) } }, "Invalid credentials"],
    ["expired JWT (told apart, so the client knows to refresh)", { auth: { token: signJwt({ id: 2, iat: now() - 7200, exp: now() - 3600 }) } }, "Token expired"],
    ["expired access JWT", { auth: { token: accessJwt(2, { ttl: -60 }) } }, "Token expired"],
    ["expired JWT signed with another secret", { auth: { token: legacyJwt(2, { secret: "not-the-secret", ttl: -60 }) } }, "Invalid credentials"],
    ["expired refresh token", { auth: { token: accessJwt(2, { type: "refresh", ttl: -60 }) } }, "Invalid credentials"],
    ["refresh token (type: refresh)", { auth: { token: accessJwt(2, { type: "refresh" }) } }, "Invalid credentials"],
    ["JWT without exp", { auth: { token: signJwt({ id: 2, iat: now() }) } }, "Invalid credentials"],
    ["JWT not valid for another hour (nbf)", { auth: { token: signJwt({ id: 2, iat: now(), nbf: now() + 3600, exp: now() + 7200 }) } }, "Invalid credentials"],
    ["JWT with HS512", { auth: { token: signJwt({ id: 2, iat: now(), exp: now() + 600 }, undefined, { alg: "HS512" }) } }, "Invalid credentials"],
    ["garbage JWT", { auth: { token: "not.a.jwt" } }, "Invalid credentials"],
    ["blocked user (id 3)", { auth: { token: legacyJwt(3) } }, "Invalid credentials"],
    ["blocked user, access form", { auth: { token: accessJwt(3) } }, "Invalid credentials"],
    ["unknown user (id 99)", { auth: { token: legacyJwt(99) } }, "Invalid credentials"],
    ["unknown API token", { auth: { strategy: "api-token", token: "no-such-token" } }, "Invalid credentials"],
    ["API token sent as a JWT", { auth: { token: DASHBOARD_TOKEN } }, "Invalid credentials"],
    ["expired API token", { auth: { strategy: "api-token", token: EXPIRED_API_TOKEN } }, "Token expired"],
    ["strategy oauth", { auth: { strategy: "oauth", token: "x" } }, "Unknown auth strategy"],
  ];
  for (const [name, opts, message] of cases) {
    test(`${name} → ${message}`, async () => {
      assert.equal(await connectError(ctx.url, opts), message);
    });
  }

  test("refusals do not disturb connected clients", async () => {
    const s = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    assert.equal(await connectError(ctx.url, { auth: { token: legacyJwt(3) } }), "Invalid credentials");
    assert.equal(s.connected, true);
    assert.ok((await roomsOf(s)).includes("io-role-authenticated"));
    s.close();
  });
});
