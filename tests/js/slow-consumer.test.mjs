// A client that stops reading (SPEC §9): with socket.serverOptions.maxBufferSize = 64 and a
// 1 s heartbeat, the server keeps serving everyone else — every packet, in order — and closes
// the stalled client, counting it in GET /api/io/stats (bufferFull, slowConsumerDisconnects).

import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { after, describe, test } from "node:test";
import { idOf, connect } from "./helpers/clients.mjs";
import { call, stats } from "./helpers/http.mjs";
import { RawSocket } from "./helpers/raw.mjs";
import { startServerWith, useServer } from "./helpers/server.mjs";
import { ADMIN_TOKEN } from "./helpers/strapi.mjs";
import { WAIT_MS, waitUntil, withTimeout } from "./helpers/wait.mjs";

let stalled;

after(() => {
  agent.destroy();
  stalled?.close();
});

const gateway = useServer(() =>
  startServerWith({
    "socket.serverOptions": { maxBufferSize: 64 },
    "settings.connection": { pingInterval: 1000, pingTimeout: 1000 },
  }),
);

const TICKS = 10_000;
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** POST /api/io/raw over one kept-alive connection (faster than fetch for 10,000 calls). */
function raw(body) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${gateway.url}/api/io/raw`,
      {
        method: "POST",
        agent,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        },
        timeout: WAIT_MS,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () =>
          res.statusCode === 200 ? resolve(text) : reject(new Error(`raw answered ${res.statusCode}: ${text}`)),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("raw timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}
const PAD = "x".repeat(1000);

describe("slow consumer", () => {
  const ctx = {};

  test("a reading client gets all 10,000 events in order while another client stalls", async () => {
    // A: raw Engine.IO websocket that connects, then stops reading from its TCP socket.
    stalled = await RawSocket.open(gateway.url);
    const open = await stalled.open();
    assert.equal(open.pingInterval, 1000);
    assert.equal(open.pingTimeout, 1000);
    stalled.send("40");
    const stalledId = JSON.parse((await stalled.expectText("40{")).slice(2)).sid;
    stalled.ws._socket.pause();

    // B: the official client, reading normally.
    const reader = await connect(gateway.url);
    ctx.reader = reader;
    const ticks = [];
    reader.on("tick", (d) => ticks.push(d.n));
    const drops = [];
    reader.on("disconnect", (r) => drops.push(r));
    assert.equal((await stats(gateway.url)).connections, 2);

    // Fill the kernel's socket buffers on A's side first (20 × 500 kB to A alone): what the
    // kernel holds is out of the server's hands, and the heartbeat would otherwise close A
    // (~2 s) before its 64-packet queue overflows.
    for (let i = 0; i < 20; i++) {
      await call(gateway.url, "raw", { event: "fill", rooms: [stalledId], data: { i, pad: "y".repeat(500_000) } });
    }
    const started = Date.now();
    for (let n = 0; n < TICKS; n++) {
      await raw({ event: "tick", data: { n, pad: PAD } });
    }
    ctx.sendMs = Date.now() - started;

    await withTimeout(
      new Promise((res) => {
        const check = () => (ticks.length >= TICKS ? res() : setTimeout(check, 20));
        check();
      }),
      15_000,
      `all ${TICKS} ticks at the reading client (has ${ticks.length})`,
    );
    assert.equal(ticks.length, TICKS);
    const outOfOrder = ticks.findIndex((n, i) => n !== i);
    assert.equal(outOfOrder, -1, `tick #${outOfOrder} is n=${ticks[outOfOrder]}`);
    assert.deepEqual(drops, [], "the reading client stayed connected");
    assert.equal(reader.connected, true);
  });

  test("the stalled client is closed by the server and counted (bufferFull, slowConsumerDisconnects)", async () => {
    assert.ok(ctx.reader, "the first test ran");
    try {
      // pingInterval + pingTimeout = 2 s: 10 s is ample.
      const s = await waitUntil(
        async () => {
          const x = await stats(gateway.url);
          return x.slowConsumerDisconnects >= 1 && x.bufferFull >= 1 && x.connections === 1 ? x : null;
        },
        { ms: 10_000, every: 100, what: "stats to show the stalled client closed (bufferFull, slowConsumerDisconnects, connections 1)" },
      ).catch(async (e) => {
        throw new Error(`${e.message}: ${JSON.stringify(await stats(gateway.url))} (sending took ${ctx.sendMs} ms)`);
      });
      assert.ok(s.bufferFull >= 1);
      assert.equal(s.slowConsumerDisconnects, 1, "counted once");
      assert.equal(s.connections, 1, "only the reading client is left");
      const members = await call(gateway.url, "getSocketsInRoom", { roomName: "io-role-public" });
      assert.deepEqual(members.map((m) => m.id), [await idOf(ctx.reader)], "the stalled socket left its rooms");
    } finally {
      // Resume A: it drains what was queued and sees its connection closed.
      stalled.ws._socket.resume();
      await withTimeout(stalled.closed, 10_000, "the stalled client's connection to close once it reads again");
      stalled.close();
      ctx.reader.close();
    }
  });
});
