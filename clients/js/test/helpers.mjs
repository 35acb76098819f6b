// Helpers of this package's tests alone. The rest is shared with the end-to-end suite
// (tests/js/helpers/): the gateway process (server.mjs), bounded waits (wait.mjs), the demo's
// secrets and tokens (strapi.mjs), socket recording (sockets.mjs). Here: those sockets on this
// package's own socket.io-client, a marker through the package's $io, a JWT's claims, a
// sleep, and a TCP relay that can hold or cut the gateway's answers. Every wait is bounded.

import { randomUUID } from "node:crypto";
import { createServer, connect as tcpConnect } from "node:net";
import { io } from "socket.io-client";
import { socketClient } from "../../../tests/js/helpers/sockets.mjs";

/** connect()/connectError() (tests/js/helpers/sockets.mjs) on this package's socket.io-client. */
export const { connect, connectError } = socketClient(io);

/** A JWT's claims, unverified. */
export const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

/** Resolves after `ms` (for waits that are about time itself, such as a token's expiry). */
export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/**
 * Sends a unique raw event to everyone through `io` (the package's createRemoteIo) and waits
 * until each socket has it: Socket.IO keeps per-socket order, so each has everything sent to
 * it before.
 */
export async function marker(io, list) {
  const id = randomUUID();
  await io.raw({ event: "test:marker", data: { id } });
  await Promise.all(list.map((s) => s.rec.waitFor("test:marker", (d) => d?.id === id)));
}

// ---------------------------------------------------------------------------------------
// A relay in front of the gateway

/**
 * A TCP relay to `target` (a port on 127.0.0.1). `mode` decides what happens to the
 * gateway's answer: "pass" relays it, "hold" never relays it (the client times out),
 * "cut" closes the client's connection as soon as the answer starts (the request did reach
 * the gateway); "truncate" relays the answer's headers, then closes; "stall-body" relays the
 * headers and nothing more. Counts the requests it relayed. Listens on `port` (default: a free one).
 * Resolves { url, requests(), setMode(), close() }.
 */
export async function relay(target, mode = "pass", { port = 0 } = {}) {
  let current = mode;
  let requests = 0;
  const conns = new Set();
  const server = createServer((client) => {
    const upstream = tcpConnect(target, "127.0.0.1");
    conns.add(client).add(upstream);
    client.on("data", (d) => {
      if (d.includes("POST ") || d.includes("GET ")) requests += 1;
      upstream.write(d);
    });
    let answer = Buffer.alloc(0);
    upstream.on("data", (d) => {
      if (current === "pass") client.write(d);
      else if (current === "cut") {
        client.destroy();
        upstream.destroy();
      } else if (current === "truncate" || current === "stall-body") {
        // Relay the status line and headers only; then close ("truncate") or go silent.
        answer = Buffer.concat([answer, d]);
        const end = answer.indexOf("\r\n\r\n");
        if (end >= 0 && !client.headersSent) {
          client.headersSent = true;
          client.write(answer.subarray(0, end + 4));
          if (current === "truncate") setTimeout(() => client.destroy(), 20);
        }
      }
      // "hold": dropped
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", () => {
      if (current !== "hold") end();
    });
  });
  await new Promise((res, rej) => server.listen(port, "127.0.0.1", res).once("error", rej));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests: () => requests,
    setMode: (m) => {
      current = m;
    },
    close: () => {
      for (const c of conns) c.destroy();
      return new Promise((res) => server.close(res));
    },
  };
}
