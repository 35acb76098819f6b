// Type test of @strapi-io/client/session with socket.io-client's own `io` and typed sockets.
// Each `@ts-expect-error` line must fail to compile.

import { io, type Socket } from "socket.io-client";
import {
  connectWithSession,
  jwtExpiresAt,
  strapiRefresh,
  StrapiRefreshError,
  StrapiSessionError,
  type SessionErrorCode,
  type StrapiSession,
} from "@strapi-io/client/session";
import * as fromIndex from "@strapi-io/client";
import type { ClientToServerEvents, RefreshTokenAck, ServerToClientEvents } from "@strapi-io/client/protocol";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;

type Article = { title: string };
type Events = ServerToClientEvents<{ article: Article }>;

export function untyped(jwt: string): void {
  // socket.io-client's io as it is; the socket is its Socket.
  const session = connectWithSession({
    io,
    url: "https://realtime.example.com",
    jwt,
    refresh: strapiRefresh({ url: "https://cms.example.com" }),
    socketOptions: { transports: ["websocket"], reconnectionDelayMax: 10_000 },
    refreshBeforeMs: 60_000,
    retry: { attempts: 3, delayMs: 500 },
    onError: (e) => {
      const code: SessionErrorCode = e.code;
      const final: boolean = e.final;
      const reason: string | undefined = e.reason;
      if (e.cause instanceof StrapiRefreshError && e.cause.status === 401) console.log("log in again");
      void [code, final, reason];
    },
    onToken: (t) => t.length,
  });
  const s: Socket = session.socket;
  const token: string = session.token();
  const closed: boolean = session.closed;
  session.close();
  void [s, token, closed];
}

export function typed(jwt: string): StrapiSession<Socket<Events, ClientToServerEvents>> {
  // The app's typed socket: events and acks typed as with io() itself.
  const session = connectWithSession<Socket<Events, ClientToServerEvents>>({ io, url: "/", jwt });
  session.socket.on("article:update", ({ data }) => data.title.toUpperCase());
  session.socket.emit("refresh-token", { token: "t" }, (ack) => {
    if (ack.success) {
      const at: number = ack.expiresAt;
      void at;
    } else {
      const error: string = ack.error;
      void error;
    }
  });
  // @ts-expect-error the article map has no comment
  session.socket.on("comment:create", () => {});
  // @ts-expect-error refresh-token takes { token }
  session.socket.emit("refresh-token", "t", () => {});
  return session;
}

export type AckShape = Assert<Equal<Extract<RefreshTokenAck, { success: true }>, { success: true; expiresAt: number }>>;
export const sameClasses: [typeof StrapiSessionError, typeof StrapiRefreshError] = [fromIndex.StrapiSessionError, fromIndex.StrapiRefreshError];
export const sameFunction: typeof connectWithSession = fromIndex.connectWithSession;
export const exp: number | undefined = jwtExpiresAt("a.b.c");

// What must not compile.
// @ts-expect-error io is required
connectWithSession({ url: "/", jwt: "t" });
// @ts-expect-error refresh resolves a token
connectWithSession({ io, url: "/", jwt: "t", refresh: async () => 42 });
// @ts-expect-error strapiRefresh needs Strapi's url
strapiRefresh({ refreshToken: "r" });
export const refresh: () => Promise<string> = strapiRefresh({ url: "http://127.0.0.1:1337", refreshToken: "r", onRefreshToken: (r) => r.length });
