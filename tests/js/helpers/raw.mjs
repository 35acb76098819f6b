// Raw Engine.IO websockets (ws): frames sent and received as they are on the wire, for the
// protocol tests that the official client would hide.

import WebSocket from "ws";
import { WAIT_MS, withTimeout } from "./wait.mjs";

/**
 * A websocket speaking raw Engine.IO/Socket.IO frames. Every frame received is queued
 * (text as string, binary as Buffer) except pings ("2"), which are answered with "3"
 * while `autoPong` is on. `next()` takes frames in order.
 */
export class RawSocket {
  static async open(url, { autoPong = true, path = "/socket.io/", eio = 4 } = {}) {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}${path}?EIO=${eio}&transport=websocket`);
    const raw = new RawSocket(ws, autoPong);
    await withTimeout(
      new Promise((res, rej) => {
        ws.once("open", res);
        ws.once("error", rej);
      }),
      WAIT_MS,
      "raw websocket to open",
    );
    return raw;
  }

  constructor(ws, autoPong) {
    this.ws = ws;
    this.autoPong = autoPong;
    this.queue = [];
    this.waiter = null;
    this.pings = 0;
    this.closed = new Promise((res) =>
      ws.once("close", (code, reason) => res({ code, reason: reason.toString() })),
    );
    ws.on("error", () => {}); // a refused or reset connection shows up as "close"
    ws.on("message", (data, isBinary) => {
      let frame;
      if (isBinary) {
        frame = Buffer.isBuffer(data) ? Buffer.from(data) : Buffer.concat(data);
      } else {
        frame = data.toString();
        if (frame === "2") {
          this.pings++;
          if (this.autoPong) ws.send("3");
          return;
        }
      }
      this.queue.push(frame);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(this.queue.shift());
      }
    });
  }

  /** The next frame (ping excluded), bounded. */
  next(ms = WAIT_MS) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.waiter) throw new Error("one next() at a time");
    const p = new Promise((res) => {
      this.waiter = res;
    });
    return withTimeout(p, ms, "a frame on the raw websocket").finally(() => {
      this.waiter = null;
    });
  }

  /** The next text frame, which must start with `prefix`; returns it. */
  async expectText(prefix, ms = WAIT_MS) {
    const f = await this.next(ms);
    if (typeof f !== "string" || !f.startsWith(prefix)) {
      throw new Error(`expected a text frame starting with ${JSON.stringify(prefix)}, got ${describeFrame(f)}`);
    }
    return f;
  }

  send(frame) {
    this.ws.send(frame);
  }

  /** Waits for the server's Engine.IO open packet ("0{...}") and returns it parsed. */
  async open() {
    const f = await this.expectText("0");
    return JSON.parse(f.slice(1));
  }

  close() {
    try {
      this.ws._socket?.resume();
    } catch {
      // already gone
    }
    this.ws.terminate();
  }
}

function describeFrame(f) {
  return typeof f === "string" ? JSON.stringify(f) : `<binary ${f.toString("hex")}>`;
}
