// The conformance example (crates/strapi-io/examples/conformance.rs) against raw Engine.IO v4
// websocket frames: the cases of the official Socket.IO protocol test suite. Pings ("2") are
// answered by RawSocket unless a test turns that off.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startConformance } from "./helpers/conformance.mjs";
import { RawSocket } from "./helpers/raw.mjs";
import { WAIT_MS, withTimeout } from "./helpers/wait.mjs";

let server;
let url;
const raws = new Set();

before(async () => {
  server = await startConformance();
  url = server.url;
});

after(async () => {
  for (const r of raws) r.close();
  await server?.stop();
});

async function open(opts) {
  const r = await RawSocket.open(url, opts);
  raws.add(r);
  return r;
}

/** Opens a socket and connects it to `/`: the open packet, 40, 40{sid}, 42["auth",{}]. */
async function connected() {
  const r = await open();
  await r.open();
  r.send("40");
  await r.expectText("40{");
  assert.equal(await r.next(), '42["auth",{}]');
  return r;
}

describe("conformance example: Engine.IO", () => {
  test("the open packet advertises pingInterval 300, pingTimeout 200, maxPayload 1000000", async () => {
    const r = await open();
    const handshake = await r.open();
    assert.equal(typeof handshake.sid, "string");
    assert.ok(handshake.sid.length > 0);
    assert.deepEqual(handshake.upgrades, []);
    assert.equal(handshake.pingInterval, 300);
    assert.equal(handshake.pingTimeout, 200);
    assert.equal(handshake.maxPayload, 1_000_000);
    r.close();
  });

  test("a client that never answers pings is closed", async () => {
    const r = await open({ autoPong: false });
    await r.open();
    r.send("40");
    await r.expectText("40{");
    const started = Date.now();
    await withTimeout(r.closed, 2000, "the server to close a client that ignores pings");
    assert.ok(r.pings >= 1, "the server pinged before giving up");
    assert.ok(Date.now() - started < 2000);
  });

  test("a client that never connects to a namespace is closed after the connect timeout (1 s)", async () => {
    const r = await open();
    await r.open();
    await withTimeout(r.closed, 3000, "the server to close a client that never sends 40");
  });

  test("a client answering pings stays connected past several ping intervals", async () => {
    const r = await connected();
    const before = r.pings;
    // Prove liveness with traffic, not a sleep: echo three times across ~1 s of pings.
    for (let i = 0; i < 3; i++) {
      await withTimeout(
        new Promise((res) => {
          const t = setInterval(() => {
            if (r.pings > before + i) {
              clearInterval(t);
              res();
            }
          }, 20);
        }),
        WAIT_MS,
        `ping #${i + 1}`,
      );
      r.send(`42["message",${i}]`);
      assert.equal(await r.next(), `42["message-back",${i}]`);
    }
    r.close();
  });
});

describe("conformance example: Socket.IO connect", () => {
  test("40 → 40{sid} then 42[auth,{}]", async () => {
    const r = await open();
    await r.open();
    r.send("40");
    const connect = await r.expectText("40{");
    const body = JSON.parse(connect.slice(2));
    assert.equal(typeof body.sid, "string");
    assert.ok(body.sid.length > 0);
    assert.equal(await r.next(), '42["auth",{}]');
    r.close();
  });

  test('40{"token":"123"} → the auth payload echoed', async () => {
    const r = await open();
    await r.open();
    r.send('40{"token":"123"}');
    await r.expectText("40{");
    assert.equal(await r.next(), '42["auth",{"token":"123"}]');
    r.close();
  });

  test("40/custom, → 40/custom,{sid} then 42/custom,[auth,{}]", async () => {
    const r = await open();
    await r.open();
    r.send("40/custom,");
    const connect = await r.expectText("40/custom,{");
    assert.equal(typeof JSON.parse(connect.slice("40/custom,".length)).sid, "string");
    assert.equal(await r.next(), '42/custom,["auth",{}]');
    r.close();
  });

  test("40/random, → 44/random,{message: Invalid namespace}", async () => {
    const r = await open();
    await r.open();
    r.send("40/random,");
    const f = await r.expectText("44/random,");
    assert.deepEqual(JSON.parse(f.slice("44/random,".length)), { message: "Invalid namespace" });
    r.close();
  });
});

describe("conformance example: events", () => {
  test("message is echoed as message-back", async () => {
    const r = await connected();
    r.send('42["message",1,"2",{"3":[true]}]');
    assert.equal(await r.next(), '42["message-back",1,"2",{"3":[true]}]');
    r.close();
  });

  test("message-with-ack is acknowledged with its arguments", async () => {
    const r = await connected();
    r.send('421["message-with-ack",1,"2",{"3":[true]}]');
    assert.equal(await r.next(), '431[1,"2",{"3":[true]}]');
    r.close();
  });

  test("binary attachments are echoed", async () => {
    const r = await connected();
    r.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    r.send(Buffer.from([1, 2, 3]));
    r.send(Buffer.from([4, 5, 6]));
    assert.equal(
      await r.next(),
      '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
    );
    const a = await r.next();
    const b = await r.next();
    assert.ok(Buffer.isBuffer(a) && Buffer.isBuffer(b), "two binary frames follow");
    assert.deepEqual([...a], [1, 2, 3]);
    assert.deepEqual([...b], [4, 5, 6]);
    r.close();
  });

  test("custom namespace events work the same", async () => {
    const r = await open();
    await r.open();
    r.send("40/custom,");
    await r.expectText("40/custom,{");
    assert.equal(await r.next(), '42/custom,["auth",{}]');
    r.send('42/custom,["message",1,"2",{"3":[true]}]');
    assert.equal(await r.next(), '42/custom,["message-back",1,"2",{"3":[true]}]');
    r.send('42/custom,7["message-with-ack",1,"2"]');
    assert.equal(await r.next(), '43/custom,7[1,"2"]');
    r.close();
  });
});
