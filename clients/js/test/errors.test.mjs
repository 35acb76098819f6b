// Every way a remote $io call can fail, against the real gateway (and, for what only a
// network or a proxy does, a TCP relay or a plain HTTP server in front of it): the error
// class and its Strapi fields, whether the call was retried, and proof that nothing was
// ever delivered twice.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import {
  RemoteIoArgumentError,
  createEntrySender,
  RemoteIoError,
  RemoteIoGatewayError,
  RemoteIoNetworkError,
  RemoteIoTimeoutError,
  createRemoteIo,
} from "@strapi-io/client";
import { freePort, startServer, startServerWithout } from "../../../tests/js/helpers/server.mjs";
import { closeAll, uniq } from "../../../tests/js/helpers/sockets.mjs";
import { ADMIN_TOKEN, ARTICLE } from "../../../tests/js/helpers/strapi.mjs";
import { WAIT_MS } from "../../../tests/js/helpers/wait.mjs";
import { connect, marker, relay } from "./helpers.mjs";

let gateway;
let io;
let watcher; // a public socket that counts deliveries

before(async () => {
  gateway = await startServer();
  io = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN, timeoutMs: WAIT_MS });
  watcher = await connect(gateway.url);
});

after(async () => {
  closeAll();
  await gateway?.stop();
});

/** Runs `fn`, which must reject; returns the error. */
async function rejection(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail("the call succeeded, an error was expected");
}

/** The Strapi fields every error carries. */
function assertStrapiError(e, Class, { status, name, method, maybeSent }) {
  assert.ok(e instanceof Class, `${e?.constructor?.name}: ${e?.message}`);
  assert.ok(e instanceof RemoteIoError);
  assert.ok(e instanceof Error);
  assert.equal(e.status, status, `status (${e.message})`);
  assert.equal(e.name, name);
  assert.equal(e.method, method);
  assert.equal(e.maybeSent, maybeSent, "maybeSent");
  assert.equal(typeof e.message, "string");
  assert.ok(e.message.length > 0);
  assert.deepEqual(e.toJSON(), { status: e.status, name: e.name, message: e.message, details: e.details });
}

describe("the gateway answers an error", () => {
  test("wrong admin token: 401 UnauthorizedError with Strapi's message", async () => {
    const bad = createRemoteIo({ url: gateway.url, adminToken: "not-the-token" });
    const e = await rejection(() => bad.raw({ event: "x", data: {} }));
    assertStrapiError(e, RemoteIoGatewayError, { status: 401, name: "UnauthorizedError", method: "raw", maybeSent: true });
    assert.equal(e.message, "Missing or invalid credentials");
    assert.deepEqual(e.details, {});
    assert.equal(e.httpStatus, 401);
  });

  test("bad arguments: 400 ValidationError naming the problem; clients keep receiving", async () => {
    let e = await rejection(() => io.emit({ event: "create", schema: "api::nope.nope", data: { id: 1 } }));
    assertStrapiError(e, RemoteIoGatewayError, { status: 400, name: "ValidationError", method: "emit", maybeSent: true });
    assert.equal(e.message, "Unknown content type: api::nope.nope");

    // What TypeScript would refuse, plain JavaScript can still pass.
    e = await rejection(() => io.joinRoom("some-socket", 42));
    assertStrapiError(e, RemoteIoGatewayError, { status: 400, name: "ValidationError", method: "joinRoom", maybeSent: true });
    assert.match(e.message, /roomName/);

    e = await rejection(() => io.emitToNamespace("nowhere", "x", {}));
    assert.equal(e.status, 400);
    assert.equal(e.message, "Unknown namespace: nowhere");

    e = await rejection(() => io.raw({ event: "", data: {} }));
    assert.equal(e.status, 400);
    assert.match(e.message, /Invalid event name/);

    const got = watcher.rec.waitFor("article:create", (p) => p.data.id === 301);
    await io.emit({ event: "create", schema: ARTICLE, data: { id: 301, documentId: "d-301", title: "after" } });
    assert.equal((await got).data.title, "after");
  });

  test("a payload over the gateway's limit: 413 PayloadTooLargeError, nothing delivered", async () => {
    const event = uniq("huge");
    const e = await rejection(() => io.raw({ event, data: { blob: "x".repeat(2 * 1024 * 1024) } }));
    assertStrapiError(e, RemoteIoGatewayError, { status: 413, name: "PayloadTooLargeError", method: "raw", maybeSent: true });
    await marker(io, [watcher]);
    assert.equal(watcher.rec.count(event), 0);
  });

  test("a 503 from the gateway (admin API off) is not retried", async () => {
    const off = await startServerWithout("adminToken");
    const front = await relay(off.port);
    try {
      const client = createRemoteIo({ url: front.url, adminToken: ADMIN_TOKEN, retries: 5, retryDelayMs: 1 });
      const e = await rejection(() => client.raw({ event: "x", data: {} }));
      assertStrapiError(e, RemoteIoGatewayError, { status: 503, name: "ServiceUnavailableError", method: "raw", maybeSent: true });
      assert.match(e.message, /admin API is off/);
      assert.equal(front.requests(), 1, "one request, no retry");
    } finally {
      await front.close();
      await off.stop();
    }
  });
});

describe("refused before sending", () => {
  test("a schema object that names no content type, data JSON cannot carry, no options object", async () => {
    const front = await relay(gateway.port);
    try {
      const client = createRemoteIo({ url: front.url, adminToken: ADMIN_TOKEN });
      let e = await rejection(() => client.emit({ event: "create", schema: { attributes: {} }, data: {} }));
      assertStrapiError(e, RemoteIoArgumentError, { status: 400, name: "ValidationError", method: "emit", maybeSent: false });
      assert.match(e.message, /no `uid`, `singularName` or `info.singularName`/);

      e = await rejection(() => client.raw({ event: "x", data: { n: 10n } }));
      assertStrapiError(e, RemoteIoArgumentError, { status: 400, name: "ValidationError", method: "raw", maybeSent: false });
      assert.match(e.message, /cannot be sent as JSON.*BigInt/);

      e = await rejection(() => client.emit(null));
      assertStrapiError(e, RemoteIoArgumentError, { status: 400, name: "ValidationError", method: "emit", maybeSent: false });
      assert.match(e.message, /expected an options object \{ event, schema, data \}/);

      const sender = createEntrySender({ url: front.url, adminToken: ADMIN_TOKEN });
      e = await rejection(() => sender.entryEvents({ event: "entry.create" }));
      assertStrapiError(e, RemoteIoArgumentError, { status: 400, name: "ValidationError", method: "entryEvents", maybeSent: false });
      assert.match(e.message, /^entryEvents: events must be an array of \{ event, uid, entry \}$/);
      for (const idempotencyKey of ["", "a b", "x".repeat(201), 7]) {
        e = await rejection(() => sender.entryEvents([], { idempotencyKey }));
        assertStrapiError(e, RemoteIoArgumentError, { status: 400, name: "ValidationError", method: "entryEvents", maybeSent: false });
        assert.match(e.message, /^entryEvents: idempotencyKey must be 1 to 200 visible ASCII characters$/);
      }

      assert.equal(front.requests(), 0, "nothing reached the gateway");
    } finally {
      await front.close();
    }
  });

  test("createRemoteIo checks its options", () => {
    const ok = { url: gateway.url, adminToken: ADMIN_TOKEN };
    const cases = [
      [undefined, /options must be an object/],
      [{ adminToken: "t" }, /`url` is required/],
      [{ ...ok, url: "not a url" }, /`url` is not a valid URL/],
      [{ ...ok, url: "ws://127.0.0.1:1337" }, /must be http:\/\/ or https:\/\//],
      [{ ...ok, url: "http://127.0.0.1:1337/?x=1" }, /must not have a query/],
      [{ ...ok, adminToken: " " }, /`adminToken` is required/],
      [{ ...ok, timeoutMs: 0 }, /`timeoutMs` must be a positive number/],
      [{ ...ok, retries: -1 }, /`retries` must be an integer/],
      [{ ...ok, retries: 1.5 }, /`retries` must be an integer/],
      [{ ...ok, retryDelayMs: -5 }, /`retryDelayMs` must be/],
      [{ ...ok, onError: "log" }, /`onError` must be a function/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => createRemoteIo(options), (e) => e instanceof TypeError && message.test(e.message), JSON.stringify(options));
    }
    // A trailing slash or a path prefix (behind a proxy) is fine.
    assert.equal(typeof createRemoteIo({ ...ok, url: `${gateway.url}/` }).emit, "function");
  });
});

describe("the network fails", () => {
  test("gateway down (connection refused): retried, then a NetworkError saying nothing was sent", async () => {
    const port = await freePort();
    let calls = 0;
    const client = createRemoteIo({
      url: `http://127.0.0.1:${port}`,
      adminToken: ADMIN_TOKEN,
      retries: 2,
      retryDelayMs: 10,
      fetch: (...args) => ((calls += 1), fetch(...args)),
    });
    const started = Date.now();
    const e = await rejection(() => client.emit({ event: "create", schema: ARTICLE, data: { id: 1 } }));
    assertStrapiError(e, RemoteIoNetworkError, { status: 503, name: "NetworkError", method: "emit", maybeSent: false });
    assert.equal(e.code, "ECONNREFUSED");
    assert.equal(e.attempts, 3);
    assert.equal(calls, 3, "1 try + 2 retries");
    assert.match(e.message, /unreachable at http:\/\/127\.0\.0\.1:\d+\/api\/io\/emit: connect ECONNREFUSED .*3 attempts; the request was not sent/);
    assert.ok(Date.now() - started < 2000, "bounded");
  });

  test("an unknown host (DNS) is retried like a refused connection", async () => {
    const client = createRemoteIo({ url: "http://strapi-io-test.invalid:1338", adminToken: ADMIN_TOKEN, retries: 1, retryDelayMs: 1 });
    const e = await rejection(() => client.raw({ event: "x", data: {} }));
    assertStrapiError(e, RemoteIoNetworkError, { status: 503, name: "NetworkError", method: "raw", maybeSent: false });
    assert.ok(["ENOTFOUND", "EAI_AGAIN"].includes(e.code), e.code);
    assert.equal(e.attempts, 2);
  });

  test("a port fetch refuses to use is reported as such", async () => {
    const client = createRemoteIo({ url: "http://127.0.0.1:6000", adminToken: ADMIN_TOKEN });
    const e = await rejection(() => client.raw({ event: "x", data: {} }));
    assertStrapiError(e, RemoteIoNetworkError, { status: 503, name: "NetworkError", method: "raw", maybeSent: false });
    assert.equal(e.code, "BAD_PORT");
    assert.match(e.message, /port 6000 is one of the Fetch standard's blocked ports/);
  });

  test("the gateway comes up during the retries: the call succeeds, the event is delivered once", async () => {
    const port = await freePort();
    let calls = 0;
    const client = createRemoteIo({
      url: `http://127.0.0.1:${port}`,
      adminToken: ADMIN_TOKEN,
      retries: 40,
      retryDelayMs: 25,
      timeoutMs: 10_000,
      fetch: (...args) => ((calls += 1), fetch(...args)),
    });
    const got = watcher.rec.waitFor("article:create", (p) => p.data.id === 401, 10_000);
    const pending = client.emit({ event: "create", schema: ARTICLE, data: { id: 401, documentId: "d-401", title: "late" } });
    // The port opens (a relay to the running gateway) after a few refusals.
    await new Promise((r) => setTimeout(r, 200));
    const front = await relay(gateway.port, "pass", { port });
    try {
      assert.equal(await pending, undefined);
      assert.equal((await got).data.title, "late");
      assert.ok(calls >= 2, `calls: ${calls}`);
      assert.equal(front.requests(), 1, "only one request reached the gateway");
      await marker(io, [watcher]);
      assert.equal(watcher.rec.all("article:create").filter((p) => p.data.id === 401).length, 1, "delivered once");
    } finally {
      await front.close();
    }
  });

  test("the connection breaks after the request was sent: not retried, the event was delivered once", async () => {
    const front = await relay(gateway.port, "cut");
    try {
      const client = createRemoteIo({ url: front.url, adminToken: ADMIN_TOKEN, retries: 5, retryDelayMs: 1 });
      const got = watcher.rec.waitFor("article:create", (p) => p.data.id === 402);
      const e = await rejection(() => client.emit({ event: "create", schema: ARTICLE, data: { id: 402, documentId: "d-402" } }));
      assertStrapiError(e, RemoteIoNetworkError, { status: 503, name: "NetworkError", method: "emit", maybeSent: true });
      assert.equal(e.attempts, 1);
      assert.match(e.message, /not retried: the gateway may have acted on the request/);
      assert.equal(front.requests(), 1, "no retry");
      await got;
      await marker(io, [watcher]);
      assert.equal(watcher.rec.all("article:create").filter((p) => p.data.id === 402).length, 1, "delivered once");
    } finally {
      await front.close();
    }
  });

  test("no answer within timeoutMs: a TimeoutError, not retried, the event was delivered once", async () => {
    const front = await relay(gateway.port, "hold");
    try {
      const client = createRemoteIo({ url: front.url, adminToken: ADMIN_TOKEN, timeoutMs: 400, retries: 5 });
      const got = watcher.rec.waitFor("article:create", (p) => p.data.id === 403);
      const started = Date.now();
      const e = await rejection(() => client.emit({ event: "create", schema: ARTICLE, data: { id: 403, documentId: "d-403" } }));
      const elapsed = Date.now() - started;
      assertStrapiError(e, RemoteIoTimeoutError, { status: 504, name: "TimeoutError", method: "emit", maybeSent: true });
      assert.equal(e.timeoutMs, 400);
      assert.equal(e.attempts, 1);
      assert.match(e.message, /no answer from .* within 400 ms \(1 attempt; not retried/);
      assert.ok(elapsed >= 350 && elapsed < 2000, `elapsed ${elapsed} ms`);
      assert.equal(front.requests(), 1, "no retry");
      await got;
      await marker(io, [watcher]);
      assert.equal(watcher.rec.all("article:create").filter((p) => p.data.id === 403).length, 1, "delivered once");
    } finally {
      await front.close();
    }
  });

  test("the connection breaks in the middle of the answer: a NetworkError, not retried", async () => {
    const front = await relay(gateway.port, "truncate");
    try {
      const client = createRemoteIo({ url: front.url, adminToken: ADMIN_TOKEN, retries: 5, retryDelayMs: 1 });
      const e = await rejection(() => client.joinRoom("no-such-socket", "r"));
      assertStrapiError(e, RemoteIoNetworkError, { status: 503, name: "NetworkError", method: "joinRoom", maybeSent: true });
      assert.match(e.message, /broke while the answer was read/);
      assert.equal(e.attempts, 1);
      assert.equal(front.requests(), 1);
    } finally {
      await front.close();
    }
  });

  test("the answer's body never comes: a TimeoutError after the headers", async () => {
    const front = await relay(gateway.port, "stall-body");
    try {
      const client = createRemoteIo({ url: front.url, adminToken: ADMIN_TOKEN, timeoutMs: 300 });
      const e = await rejection(() => client.leaveRoom("no-such-socket", "r"));
      assertStrapiError(e, RemoteIoTimeoutError, { status: 504, name: "TimeoutError", method: "leaveRoom", maybeSent: true });
      assert.equal(front.requests(), 1);
    } finally {
      await front.close();
    }
  });

  test("a fetch implementation that answers nonsense: a NetworkError, not a crash", async () => {
    const client = createRemoteIo({ url: gateway.url, adminToken: ADMIN_TOKEN, fetch: async () => ({ status: 500, statusText: "", text: async () => "", headers: null }) });
    const e = await rejection(() => client.raw({ event: "x", data: {} }));
    assertStrapiError(e, RemoteIoNetworkError, { status: 503, name: "NetworkError", method: "raw", maybeSent: true });
    assert.match(e.message, /^raw: /);
  });

  test("the timeout also bounds the retries of an unreachable gateway", async () => {
    const port = await freePort();
    const client = createRemoteIo({ url: `http://127.0.0.1:${port}`, adminToken: ADMIN_TOKEN, timeoutMs: 300, retries: 100, retryDelayMs: 50 });
    const started = Date.now();
    const e = await rejection(() => client.raw({ event: "x", data: {} }));
    assertStrapiError(e, RemoteIoTimeoutError, { status: 504, name: "TimeoutError", method: "raw", maybeSent: false });
    assert.match(e.message, /the request was never sent/);
    assert.ok(e.attempts >= 2, `attempts ${e.attempts}`);
    assert.ok(Date.now() - started < 1500);
  });
});

describe("something else answers (a proxy in front of a stopped gateway)", () => {
  let server;
  let url;
  let hits = 0;
  before(async () => {
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      if (req.url.endsWith("/raw")) {
        res.writeHead(502, { "content-type": "text/html" }).end("<html><body><h1>502 Bad Gateway</h1></body></html>");
      } else if (req.url.endsWith("/emit")) {
        res.writeHead(200, { "content-type": "text/plain" }).end("OK");
      } else {
        res.writeHead(301, { location: "https://example.invalid/api/io/joinRoom" }).end();
      }
    });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => new Promise((r) => server.close(r)));

  test("an error page: HttpError with the status and a snippet, not retried", async () => {
    const client = createRemoteIo({ url, adminToken: ADMIN_TOKEN, retries: 3 });
    const before = hits;
    const e = await rejection(() => client.raw({ event: "x", data: {} }));
    assertStrapiError(e, RemoteIoGatewayError, { status: 502, name: "HttpError", method: "raw", maybeSent: true });
    assert.match(e.message, /answered HTTP 502 Bad Gateway, not a Strapi error body: <html><body><h1>502 Bad Gateway/);
    assert.equal(hits - before, 1);
  });

  test("a success status without {data}: InvalidResponseError", async () => {
    const client = createRemoteIo({ url, adminToken: ADMIN_TOKEN });
    const e = await rejection(() => client.emit({ event: "create", schema: ARTICLE, data: {} }));
    assertStrapiError(e, RemoteIoGatewayError, { status: 502, name: "InvalidResponseError", method: "emit", maybeSent: true });
    assert.equal(e.httpStatus, 200);
    assert.match(e.message, /without a \{data\} JSON body: OK/);
  });

  test("a redirect is not followed (a POST would become a GET): it says where to point `url`", async () => {
    const client = createRemoteIo({ url, adminToken: ADMIN_TOKEN });
    const e = await rejection(() => client.joinRoom("s", "r"));
    assertStrapiError(e, RemoteIoGatewayError, { status: 301, name: "HttpError", method: "joinRoom", maybeSent: true });
    assert.match(e.message, /a redirect to https:\/\/example\.invalid\/api\/io\/joinRoom: set `url` to the gateway's final address/);
  });
});

describe("calls nobody awaits", () => {
  test("a failing call is never an unhandled rejection; onError sees every failure", async () => {
    const port = await freePort();
    const seen = [];
    const unhandled = [];
    const onUnhandled = (reason) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const client = createRemoteIo({
        url: `http://127.0.0.1:${port}`,
        adminToken: ADMIN_TOKEN,
        retries: 0,
        onError: (e) => seen.push(e),
      });
      // As code written for the in-process plugin calls them: no await, no catch.
      client.sendPrivateMessage("s", "e", {});
      client.joinRoom("s", "r");
      client.emit({ event: "create", schema: ARTICLE, data: {} });
      // Awaited and handled by the caller: onError still hears it.
      await rejection(() => client.broadcast("s", "e", {}));
      const deadline = Date.now() + WAIT_MS;
      while (seen.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(seen.map((e) => e.method).sort(), ["broadcast", "emit", "joinRoom", "sendPrivateMessage"]);
      assert.ok(seen.every((e) => e instanceof RemoteIoNetworkError && e.code === "ECONNREFUSED"));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("an onError hook that throws does not replace the call's error", async () => {
    const port = await freePort();
    const client = createRemoteIo({
      url: `http://127.0.0.1:${port}`,
      adminToken: ADMIN_TOKEN,
      retries: 0,
      onError: () => {
        throw new Error("hook failed");
      },
    });
    const e = await rejection(() => client.raw({ event: "x", data: {} }));
    assert.ok(e instanceof RemoteIoNetworkError, e.message);
  });
});
