// Token lifetime (SPEC §4, issue 14): a socket authenticated by a JWT is disconnected at the
// token's `exp` with `server-disconnect {reason: "Token expired"}`, unless it handed over a
// fresh token for the same user on the open connection (`refresh-token {token}`, ack
// `{success, expiresAt}`); `security.tokenExpiry: "ignore"` keeps the plugin's behaviour.
// Against the embedded demo (static directory, demo-jwt-secret).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ack, connect } from "./helpers/clients.mjs";
import { adminGet, request, rpc, stats } from "./helpers/http.mjs";
import { useServer } from "./helpers/server.mjs";
import { ARTICLE, DASHBOARD_TOKEN, accessJwt, legacyJwt, now, signJwt } from "./helpers/strapi.mjs";
import { withTimeout } from "./helpers/wait.mjs";

const ctx = useServer();

/** A legacy-form JWT for `id` that expires at `exp` (seconds). */
const expiringAt = (id, exp) => signJwt({ id, iat: now(), exp });

/** Resolves with { told, reason, at } once the socket is told why and disconnected. */
function ending(socket, ms = 8000) {
  const told = new Promise((res) => socket.once("server-disconnect", (p) => res({ p, at: Date.now() })));
  const gone = new Promise((res) => socket.once("disconnect", res));
  return withTimeout(Promise.all([told, gone]), ms, "server-disconnect then disconnect").then(([t, reason]) => ({
    told: t.p,
    at: t.at,
    reason,
  }));
}

const emitArticle = (title) =>
  rpc(ctx.url, "emit", { event: "create", schema: ARTICLE, data: { id: 1, documentId: "article-1", title } });

describe("a JWT's exp ends the socket's access", () => {
  test("a socket with a 3 s JWT is told `Token expired` at its exp and disconnected", async () => {
    const exp = now() + 3;
    const s = await connect(ctx.url, { auth: { token: expiringAt(2, exp) } });
    const end = ending(s);
    const { told, reason, at } = await end;
    assert.deepEqual(told, { reason: "Token expired" });
    assert.equal(reason, "io server disconnect");
    assert.ok(at >= exp * 1000 - 50, `told ${exp * 1000 - at} ms before exp`);
    assert.ok(at <= exp * 1000 + 1500, `told ${at - exp * 1000} ms after exp`);
  });

  test("one that sent refresh-token in time stays connected past the old exp and keeps receiving", async () => {
    const exp = now() + 3;
    const s = await connect(ctx.url, { auth: { token: expiringAt(2, exp) } });
    const fresh = accessJwt(2, { ttl: 600 });
    const answer = await ack(s, "refresh-token", { token: fresh });
    assert.equal(answer.success, true, JSON.stringify(answer));
    assert.ok(Math.abs(answer.expiresAt - (now() + 600) * 1000) <= 2000, JSON.stringify(answer));
    await new Promise((r) => setTimeout(r, (exp - now() + 1.5) * 1000));
    assert.equal(s.connected, true);
    assert.equal(s.rec.count("server-disconnect"), 0);
    assert.equal((await emitArticle("after the old exp")).status, 200);
    await s.rec.waitFor(`article:create`, (p) => p.data.title === "after the old exp");
  });

  test("a refresh for another user is refused and the socket still ends at its own exp", async () => {
    const exp = now() + 3;
    const s = await connect(ctx.url, { auth: { token: expiringAt(2, exp) } });
    const end = ending(s);
    assert.deepEqual(await ack(s, "refresh-token", { token: legacyJwt(1) }), {
      success: false,
      error: "Token belongs to another user",
    });
    const { told } = await end;
    assert.deepEqual(told, { reason: "Token expired" });
  });

  test("refused refreshes say why and change nothing: no token, a bad one, an expired one, a blocked user's, too long", async () => {
    const s = await connect(ctx.url, { auth: { token: legacyJwt(2) } });
    const cases = [
      [undefined, "Invalid parameters: token is required"],
      [{}, "Invalid parameters: token is required"],
      [{ token: 42 }, "Invalid parameters: token is required"],
      [{ token: "" }, "Invalid parameters: token is required"],
      [{ token: "not.a.jwt" }, "Invalid credentials"],
      [{ token: legacyJwt(2, { secret: "another-secret" }) }, "Invalid credentials"],
      [{ token: accessJwt(2, { type: "refresh" }) }, "Invalid credentials"],
      [{ token: accessJwt(2, { ttl: -10 }) }, "Token expired"],
      [{ token: legacyJwt(3) }, "Invalid credentials"],
      [{ token: "x".repeat(20_000) }, "Invalid credentials"],
    ];
    for (const [arg, error] of cases) {
      const answer = arg === undefined ? await ack(s, "refresh-token") : await ack(s, "refresh-token", arg);
      assert.deepEqual(answer, { success: false, error }, JSON.stringify(arg)?.slice(0, 80));
    }
    assert.equal(s.connected, true);
    assert.equal((await ack(s, "whoami")).user.username, "reader");
    const st = await stats(ctx.url);
    assert.ok(st.refusedTokenRefreshes >= cases.length, JSON.stringify(st));
  });

  test("sockets without a JWT cannot refresh: Public and API tokens", async () => {
    for (const opts of [{}, { auth: { strategy: "api-token", token: DASHBOARD_TOKEN } }]) {
      const s = await connect(ctx.url, opts);
      assert.deepEqual(await ack(s, "refresh-token", { token: legacyJwt(2) }), {
        success: false,
        error: "Only a socket signed in with a JWT can refresh its token",
      });
    }
  });

  test("a refresh with the user's new role moves the socket", async () => {
    // The demo's users cannot change role; the same user's token keeps the audience.
    const s = await connect(ctx.url, { auth: { token: legacyJwt(1) } });
    const answer = await ack(s, "refresh-token", { token: accessJwt(1) });
    assert.equal(answer.success, true);
    assert.equal((await ack(s, "whoami")).role, "editor");
    assert.ok((await ack(s, "get-rooms")).rooms.includes("io-role-editor"));
  });
});

describe("security.tokenExpiry", () => {
  const putExpiry = async (value) => {
    const settings = await adminGet(ctx.url, "/api/io/settings");
    settings.security.tokenExpiry = value;
    return request(ctx.url, "/api/io/settings", { method: "PUT", body: settings });
  };

  after(async () => {
    await putExpiry("disconnect");
  });

  test("\"ignore\" leaves an expired socket connected; back to \"disconnect\", it is disconnected at once", async () => {
    const bad = await putExpiry("sometimes");
    assert.equal(bad.status, 422, bad.text);
    assert.match(bad.text, /tokenExpiry/);
    assert.equal((await putExpiry("ignore")).status, 200);
    const exp = now() + 2;
    const s = await connect(ctx.url, { auth: { token: expiringAt(2, exp) } });
    await new Promise((r) => setTimeout(r, (exp - now() + 1.2) * 1000));
    assert.equal(s.connected, true, "ignored");
    assert.equal((await emitArticle("ignored expiry")).status, 200);
    await s.rec.waitFor("article:create", (p) => p.data.title === "ignored expiry");
    const end = ending(s);
    const res = await putExpiry("disconnect");
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.disconnected, 1, res.text);
    assert.deepEqual((await end).told, { reason: "Token expired" });
    const st = await stats(ctx.url);
    assert.ok(st.tokenExpiredDisconnects >= 2, JSON.stringify(st));
    const metrics = await request(ctx.url, "/metrics");
    assert.match(metrics.text, /strapi_io_token_expiry_disconnects_total [1-9]/);
  });
});
