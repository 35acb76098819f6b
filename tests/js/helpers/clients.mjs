// The end-to-end suite's sockets: the shared socket helpers (sockets.mjs) on this suite's
// socket.io-client (v4), and marker(), which flushes what the gateway sent through its RPC.

import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import { call } from "./http.mjs";
import { socketClient } from "./sockets.mjs";

export { Recorder, ack, closeAll, idOf, uniq } from "./sockets.mjs";
export const { connect, connectError } = socketClient(io);

/**
 * Sends a unique `raw` marker event to every socket of `/` and waits until each given
 * socket has received it. Socket.IO keeps per-socket order, so once a socket has the
 * marker it has everything the server sent it before.
 */
export async function marker(url, sockets) {
  const id = randomUUID();
  await call(url, "raw", { event: "test:marker", data: { id } });
  await Promise.all(sockets.map((s) => s.rec.waitFor("test:marker", (d) => d?.id === id)));
  return id;
}
