// A TCP proxy on 127.0.0.1 whose link can be cut, for tests of a client whose network drops:
// cut() destroys every proxied connection (both sides see the TCP connection end) and refuses
// new ones until restore(). retarget() sends new connections to another server (a client that
// reconnects to another node). Node built-ins only.

import { createServer, connect } from "node:net";

export class Proxy {
  /** Listens on a free port of 127.0.0.1 and forwards to `target` (`http://127.0.0.1:PORT`). */
  static async start(target) {
    const proxy = new Proxy(target);
    await new Promise((res, rej) => {
      proxy.server.once("error", rej);
      proxy.server.listen(0, "127.0.0.1", res);
    });
    proxy.url = `http://127.0.0.1:${proxy.server.address().port}`;
    return proxy;
  }

  constructor(target) {
    this.retarget(target);
    this.down = false;
    this.pairs = new Set();
    this.accepted = 0;
    this.server = createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      this.accepted += 1;
      const upstream = connect(this.port, "127.0.0.1");
      const pair = { client, upstream };
      this.pairs.add(pair);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  /** New connections go to `target` from now on. */
  retarget(target) {
    this.port = Number(new URL(target).port);
  }

  /** Drops every connection and refuses new ones. */
  cut() {
    this.down = true;
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Accepts connections again. */
  restore() {
    this.down = false;
  }

  async stop() {
    this.cut();
    await new Promise((res) => this.server.close(res));
  }
}
