// Socket.IO client sockets for the tests, independent of which copy of socket.io-client a
// suite installs: `socketClient(io)` makes connect()/connectError() on the given `io` (each
// suite passes its own: tests/js/helpers/clients.mjs, clients/js/test/helpers.mjs), and the
// rest works on any socket. Every socket opened here is closed by closeAll(). No import of
// socket.io-client here, Node built-ins only.

import { randomUUID } from "node:crypto";
import { WAIT_MS, withTimeout } from "./wait.mjs";

const opened = new Set();

/** Options of every test socket: WebSocket only, no reconnection, a new Manager each. */
function socketOptions(opts) {
  return { transports: ["websocket"], reconnection: false, forceNew: true, timeout: WAIT_MS, ...opts };
}

/**
 * connect() and connectError() on `io` (socket.io-client's export of that name):
 * - connect(url, opts) resolves once connected; every event the socket receives is recorded
 *   (`socket.rec`, a Recorder). Rejects on connect_error or timeout.
 * - connectError(url, opts) attempts a connection that must be refused; resolves with the
 *   connect_error's message.
 */
export function socketClient(io) {
  async function connect(url, opts = {}) {
    const socket = io(url, socketOptions(opts));
    opened.add(socket);
    socket.rec = new Recorder(socket);
    try {
      await withTimeout(
        new Promise((res, rej) => {
          socket.once("connect", res);
          socket.once("connect_error", rej);
        }),
        WAIT_MS,
        "socket to connect",
      );
    } catch (e) {
      socket.close();
      throw e;
    }
    return socket;
  }

  async function connectError(url, opts = {}) {
    const socket = io(url, socketOptions(opts));
    opened.add(socket);
    try {
      return await withTimeout(
        new Promise((res, rej) => {
          socket.once("connect", () => rej(new Error("connection was accepted, expected a refusal")));
          socket.once("connect_error", (err) => res(err.message));
        }),
        WAIT_MS,
        "connect_error",
      );
    } finally {
      socket.close();
    }
  }

  return { connect, connectError };
}

/** Closes every socket opened through connect()/connectError(). */
export function closeAll() {
  for (const s of opened) s.close();
  opened.clear();
}

/** Emits with an ack and a bounded wait. */
export function ack(socket, event, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args);
}

/**
 * The socket's public id: what the server shows others (socket info, private-message
 * senders). The client's own `socket.id` is its transport id, which the server never shows.
 */
export async function idOf(socket) {
  if (!socket.publicId) {
    const r = await ack(socket, "whoami");
    if (!r?.success) throw new Error(`whoami failed: ${JSON.stringify(r)}`);
    socket.publicId = r.id;
  }
  return socket.publicId;
}

/** A unique name for rooms and events. */
export const uniq = (prefix) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Records every event a socket receives, in order, and lets tests await them. */
export class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.events = []; // { event, args }
    this.waiters = [];
    socket.onAny((event, ...args) => {
      const entry = { event, args };
      this.events.push(entry);
      this.waiters = this.waiters.filter((w) => {
        if (w.event === event && w.pred(...args)) {
          w.resolve(args[0]);
          return false;
        }
        return true;
      });
    });
  }

  /** Every payload (first argument) received for `event`. */
  all(event) {
    return this.events.filter((e) => e.event === event).map((e) => e.args[0]);
  }

  count(event) {
    return this.all(event).length;
  }

  /** Names of the events received, in order. */
  names() {
    return this.events.map((e) => e.event);
  }

  /** Resolves with the first payload of `event` matching `pred` (already received or not). */
  waitFor(event, pred = () => true, ms = WAIT_MS) {
    const seen = this.events.find((e) => e.event === event && pred(...e.args));
    if (seen) return Promise.resolve(seen.args[0]);
    let waiter;
    const p = new Promise((resolve) => {
      waiter = { event, pred, resolve };
      this.waiters.push(waiter);
    });
    return withTimeout(p, ms, `event "${event}" on socket ${this.socket.id}`).finally(() => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
    });
  }
}
