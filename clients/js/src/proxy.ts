/// <reference types="node" />
/**
 * The gateway's Socket.IO path on Strapi's own HTTP server, so that `io("http://localhost:1337")`
 * reaches the gateway the plugin runs: HTTP requests (long polling) through a Koa middleware
 * piped with `node:http`, WebSocket upgrades from the server's `upgrade` event piped over
 * `node:net`. Only that path; everything else goes on to Strapi untouched. The client's
 * address is appended to `X-Forwarded-For` (the gateway trusts the loopback hop). A gateway
 * that cannot be reached answers 502; a client or gateway that goes away closes the other
 * side; no error event is left unhandled.
 */

import { request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";

/** The part of a Koa context the middleware uses. */
export interface KoaLikeContext {
  req: IncomingMessage;
  res: ServerResponse;
  respond?: boolean;
}

/** The part of Node's HTTP server the proxy uses. */
export interface UpgradeServer {
  on(event: "upgrade", listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
  removeListener(event: "upgrade", listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
  listenerCount(event: "upgrade"): number;
}

export interface SocketProxy {
  /** The Koa middleware (register before Strapi's body parser: `strapi.server.use` in `register`). */
  middleware(ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<unknown> | unknown;
  /** The `upgrade` listener. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Whether a request URL is the proxied path. */
  matches(url: string | undefined): boolean;
  /** Ends every proxied connection. */
  close(): void;
}

/** Headers never passed on by a proxy (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

const BAD_GATEWAY = JSON.stringify({
  data: null,
  error: { status: 502, name: "BadGatewayError", message: "The strapi-io gateway cannot be reached", details: {} },
});

/**
 * A proxy of `path` (`/socket.io`: `/socket.io` itself and everything under `/socket.io/`)
 * to the gateway at `host:port`.
 */
export function createSocketProxy(options: { host: string; port: number; path: string; server?: UpgradeServer }): SocketProxy {
  const { host, port } = options;
  const prefix = options.path.replace(/\/+$/, "");
  const open = new Set<{ destroy(): unknown }>();

  const matches = (url: string | undefined): boolean => {
    if (typeof url !== "string") return false;
    const q = url.indexOf("?");
    const path = q >= 0 ? url.slice(0, q) : url;
    return path === prefix || path.startsWith(`${prefix}/`);
  };

  const forwardedFor = (req: IncomingMessage): string => {
    const prior = req.headers["x-forwarded-for"];
    const before = Array.isArray(prior) ? prior.join(", ") : prior;
    const address = req.socket.remoteAddress ?? "";
    return before && before.trim() !== "" ? `${before}, ${address}` : address;
  };

  const forwardedHeaders = (req: IncomingMessage): Record<string, string> => ({
    "x-forwarded-for": forwardedFor(req),
    "x-forwarded-proto": (req.headers["x-forwarded-proto"] as string | undefined) ?? ((req.socket as { encrypted?: boolean }).encrypted ? "https" : "http"),
    ...(req.headers.host ? { "x-forwarded-host": (req.headers["x-forwarded-host"] as string | undefined) ?? req.headers.host } : {}),
  });

  const endToEnd = (headers: IncomingHttpHeaders): Record<string, string | string[]> => {
    const out: Record<string, string | string[]> = {};
    const listed = String(headers.connection ?? "")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || listed.includes(name)) continue;
      out[name] = value;
    }
    return out;
  };

  function middleware(ctx: KoaLikeContext, next: () => Promise<unknown>): Promise<unknown> | unknown {
    const { req, res } = ctx;
    if (!matches(req.url)) return next();
    // Koa leaves the response to us.
    ctx.respond = false;
    const upstream = request({
      host,
      port,
      method: req.method,
      path: req.url,
      headers: { ...endToEnd(req.headers), ...forwardedHeaders(req) },
      agent: false,
    });
    open.add(upstream);
    const done = () => open.delete(upstream);
    upstream.on("response", (answer) => {
      answer.on("error", () => res.destroy());
      res.on("close", () => {
        if (!res.writableFinished) answer.destroy();
      });
      try {
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
      } catch {
        answer.destroy();
        res.destroy();
        return;
      }
      answer.pipe(res);
      answer.on("end", done);
    });
    upstream.on("error", () => {
      done();
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(502, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(BAD_GATEWAY), connection: "close" });
        res.end(BAD_GATEWAY);
      } else {
        res.destroy();
      }
    });
    // The client went away (an aborted poll): so does the request to the gateway.
    req.on("error", () => upstream.destroy());
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
      done();
    });
    res.on("error", () => upstream.destroy());
    req.pipe(upstream);
    return undefined;
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!matches(req.url)) {
      // Someone else's upgrade (Vite's HMR in `strapi develop`); with nobody else listening,
      // refuse it as Node does without a listener.
      if (options.server && options.server.listenerCount("upgrade") <= 1) {
        socket.on("error", () => {});
        socket.end("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      }
      return;
    }
    const client = socket as Socket;
    const upstream = connect({ host, port });
    open.add(client).add(upstream);
    let connected = false;
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", closeBoth);
    client.on("close", closeBoth);
    upstream.on("error", () => {
      if (!connected && client.writable) {
        client.end(`HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(BAD_GATEWAY)}\r\n\r\n${BAD_GATEWAY}`);
        open.delete(client);
        open.delete(upstream);
      } else {
        closeBoth();
      }
    });
    upstream.on("close", () => {
      if (connected) closeBoth();
    });
    upstream.on("connect", () => {
      connected = true;
      client.setNoDelay?.(true);
      upstream.setNoDelay(true);
      // The request as received (names and repeats kept), X-Forwarded-* replaced.
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      const forwarded = forwardedHeaders(req);
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i].toLowerCase() in forwarded) continue;
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      }
      for (const [name, value] of Object.entries(forwarded)) lines.push(`${name}: ${value}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head && head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  }

  return {
    middleware,
    upgrade,
    matches,
    close() {
      for (const c of open) c.destroy();
      open.clear();
    },
  };
}
