/**
 * A socket that stays connected to the strapi-io gateway while the user's Strapi session
 * lasts, although each access token (JWT) it signs in with is short-lived:
 *
 * ```ts
 * import { io } from "socket.io-client";
 * import { connectWithSession, strapiRefresh } from "@strapi-io/client/session";
 *
 * const session = connectWithSession({
 *   io,
 *   url: "https://realtime.example.com",
 *   jwt,                                               // from POST /api/auth/local
 *   refresh: strapiRefresh({ url: "https://cms.example.com" }), // cookie mode in browsers
 * });
 * session.socket.on("article:update", ({ data }) => render(data));
 * ```
 *
 * - Every (re)connection carries the newest token: the handshake's `auth` is a function,
 *   and a token that is expired (or about to be) is renewed before it is sent.
 * - While connected, the token is renewed ahead of its `exp` and handed to the open
 *   connection with the client event `refresh-token`, so the gateway does not disconnect the
 *   socket at `exp`.
 * - A handshake refused with `Token expired`, or a disconnection with
 *   `server-disconnect {reason: "Token expired"}`, is answered with a renewal and a new
 *   connection (socket.io-client does not retry a refusal by itself). Retries back off and
 *   stop after `retry.attempts`.
 * - Anything else the gateway refuses (`Invalid credentials` for a blocked user, …) is
 *   reported through `onError` and not retried.
 *
 * The module has no dependency: pass socket.io-client's `io`. It imports nothing at run time
 * (browser-safe, like `@strapi-io/client/protocol`).
 */

import type { RefreshTokenAck } from "./protocol.js";

/** What the session sends at each handshake (`auth`). */
export interface JwtAuth {
  strategy: "jwt";
  token: string;
}

/**
 * What the session needs of a socket: socket.io-client's `Socket` has all of it. The session
 * listens to `connect`, `connect_error`, `disconnect` and `server-disconnect`, and emits
 * `refresh-token`.
 */
export interface SessionSocket {
  readonly connected: boolean;
  /** `false` once the server refused or ended the connection (no automatic reconnection). */
  readonly active: boolean;
  // `any`: a typed Socket<Listen, Emit> narrows event names and listeners to its own maps.
  on(event: any, listener: any): unknown;
  off(event?: any, listener?: any): unknown;
  emit(event: any, ...args: any[]): unknown;
  connect(): unknown;
  disconnect(): unknown;
}

/** The options the session hands to `io(url, options)`: yours, with `auth` set. */
export type SessionSocketOptions = Record<string, any> & {
  auth: (cb: (data: JwtAuth) => void) => void;
};

/**
 * Why the session reports an error:
 * - `refresh-failed`: `refresh()` threw, resolved to no token, or did not settle within
 *   `refreshTimeoutMs`. `cause` is what it threw.
 * - `refresh-refused`: the gateway answered `refresh-token` with `{success: false, error}`
 *   (`reason` is the error), or did not answer within `ackTimeoutMs`.
 * - `connect-refused`: the gateway refused the handshake (`reason` is the `connect_error`
 *   message: `Invalid credentials`, `Token expired` with no `refresh`, …). Final.
 * - `server-disconnect`: the gateway disconnected the socket (`reason` is its
 *   `server-disconnect` reason), not for an expiry the session can renew. Final.
 * - `gave-up`: the token expired and no renewed token was accepted within `retry.attempts`
 *   (or `refresh()` failed for good, e.g. Strapi answered 401: the user must log in again). Final.
 */
export type SessionErrorCode = "refresh-failed" | "refresh-refused" | "connect-refused" | "server-disconnect" | "gave-up";

/** What `onError` receives. */
export class StrapiSessionError extends Error {
  override name = "StrapiSessionError";
  readonly code: SessionErrorCode;
  /** The gateway's message (`connect_error`, `server-disconnect` reason, ack error), if any. */
  readonly reason: string | undefined;
  /**
   * `true` when the session stopped trying: the socket stays disconnected until the app acts
   * (logs the user in again, calls `socket.connect()`, …).
   */
  readonly final: boolean;

  constructor(
    code: SessionErrorCode,
    message: string,
    options: { reason?: string | undefined; final?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason;
    this.final = options.final ?? false;
  }
}

/** Bounds of the retries after an expiry. */
export interface SessionRetryOptions {
  /** Renewals tried in a row after the gateway refused an expired token, before giving up (default 5). */
  attempts?: number;
  /** First wait between two tries, in ms, doubled each time (default 1000). */
  delayMs?: number;
  /** Longest wait between two tries, in ms (default 30000). */
  maxDelayMs?: number;
}

/** Options of {@link connectWithSession}. */
export interface SessionOptions<S extends SessionSocket> {
  /** socket.io-client's `io` (or anything that makes a socket the same way). */
  io: (url: string, options: SessionSocketOptions) => S;
  /** The gateway's URL (with a namespace path if you use one). */
  url: string;
  /** The user's current access token (users-permissions JWT). */
  jwt: string;
  /**
   * Resolves a fresh access token for the same user: {@link strapiRefresh} for Strapi 5's
   * refresh mode, or your own. Without it the socket lives until the JWT's `exp`.
   */
  refresh?: () => Promise<string>;
  /** More options for `io(url, options)` (transports, reconnection delays, …); not `auth`. */
  socketOptions?: Record<string, any>;
  /**
   * How long before `exp` the token is renewed, in ms (default 30000). Never earlier than
   * half-way through the token's lifetime, so short-lived tokens are not renewed in a loop.
   */
  refreshBeforeMs?: number;
  /** Bound on one `refresh()` call, in ms (default 15000). */
  refreshTimeoutMs?: number;
  /** Bound on the wait for `refresh-token`'s ack, in ms (default 10000). */
  ackTimeoutMs?: number;
  /** Retries after an expiry refusal. */
  retry?: SessionRetryOptions;
  /** Called with every problem; `error.final` says the session stopped trying. */
  onError?: (error: StrapiSessionError) => void;
  /** Called with each new token the session obtained (e.g. to use it for REST calls too). */
  onToken?: (jwt: string) => void;
}

/** What {@link connectWithSession} returns. */
export interface StrapiSession<S extends SessionSocket> {
  /** The socket: listen and emit as usual. Do not set its `auth`. */
  readonly socket: S;
  /** The newest access token (what the next handshake sends). */
  token(): string;
  /** Stops everything: clears every timer, removes the session's listeners, disconnects. */
  close(): void;
  /** Whether `close()` was called. */
  readonly closed: boolean;
}

const DEFAULT_REFRESH_BEFORE_MS = 30_000;
const DEFAULT_REFRESH_TIMEOUT_MS = 15_000;
const DEFAULT_ACK_TIMEOUT_MS = 10_000;
const DEFAULT_RETRY = { attempts: 5, delayMs: 1_000, maxDelayMs: 30_000 };
/** setTimeout's longest delay (2^31 − 1 ms); a later renewal is re-armed when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Connects `io(url)` with the user's JWT and keeps the connection signed in: see the
 * module's description. Throws a `TypeError` naming the option when one is invalid.
 */
export function connectWithSession<S extends SessionSocket>(options: SessionOptions<S>): StrapiSession<S> {
  const o = checkSessionOptions(options);
  type Timer = ReturnType<typeof setTimeout>;

  /** The newest token: what the next handshake sends. */
  let current = o.jwt;
  /** When `current` was obtained (its lifetime, when it has no `iat`). */
  let currentSince = Date.now();
  /** The token the live connection was accepted with (its `exp` is when the gateway ends it). */
  let accepted: string | undefined;
  /** The token sent by the latest handshake. */
  let sent: string | undefined;
  let closed = false;
  /** Renewals after an expiry refusal since the last successful connection. */
  let failures = 0;
  let recovering = false;
  let refreshing: Promise<string> | undefined;
  let renewTimer: Timer | undefined;
  let handshakes = 0;
  /** The reason of the last `server-disconnect`, read when the disconnection follows. */
  let serverReason: string | undefined;
  const timers = new Set<Timer>();

  const later = (ms: number, fn: () => void): Timer => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    timers.add(timer);
    return timer;
  };
  const cancel = (timer: Timer | undefined) => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timers.delete(timer);
  };
  // After close() a pending sleep never resolves: its awaiting task just ends there.
  const sleep = (ms: number) => new Promise<void>((resolve) => later(ms, resolve));

  const report = (error: StrapiSessionError) => {
    if (closed || !o.onError) return;
    try {
      o.onError(error);
    } catch {
      // a failing hook must not stop the session
    }
  };

  const adopt = (token: string) => {
    if (token === current) return;
    current = token;
    currentSince = Date.now();
    if (o.onToken) {
      try {
        o.onToken(token);
      } catch {
        // as above
      }
    }
  };

  /** When `token` should be renewed: `refreshBeforeMs` before `exp`, at most half its lifetime. */
  const renewAt = (token: string, since: number): number | undefined => {
    const claims = readClaims(token);
    if (!claims || claims.exp === undefined) return undefined;
    const exp = claims.exp * 1000;
    const lifetime = exp - (claims.iat !== undefined ? claims.iat * 1000 : since);
    return exp - Math.max(0, Math.min(o.refreshBeforeMs, lifetime / 2));
  };
  const isDue = (token: string, since: number) => {
    const at = renewAt(token, since);
    return at !== undefined && at <= Date.now();
  };

  /** One `refresh()` at a time, bounded by `refreshTimeoutMs`; rejects with a StrapiSessionError. */
  const renew = (): Promise<string> => {
    const refresh = o.refresh;
    if (!refresh) return Promise.reject(new StrapiSessionError("refresh-failed", "no refresh function"));
    refreshing ??= new Promise<string>((resolve, reject) => {
      const timer = later(o.refreshTimeoutMs, () =>
        reject(new StrapiSessionError("refresh-failed", `refresh() did not settle within ${o.refreshTimeoutMs} ms`)),
      );
      Promise.resolve()
        .then(refresh)
        .then(
          (token) => {
            cancel(timer);
            if (typeof token === "string" && token !== "") resolve(token);
            else reject(new StrapiSessionError("refresh-failed", `refresh() resolved to ${describe(token)}, not a JWT`));
          },
          (error: unknown) => {
            cancel(timer);
            reject(new StrapiSessionError("refresh-failed", `refresh() failed: ${errorMessage(error)}`, { cause: error }));
          },
        );
    }).finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  /** The handshake's `auth`: the newest token, renewed first when it is (nearly) expired. */
  const auth = (cb: (data: JwtAuth) => void) => {
    const handshake = ++handshakes;
    const send = () => {
      // A later handshake (the engine reconnected meanwhile) or close() supersedes this one.
      if (closed || handshake !== handshakes || socket.connected) return;
      sent = current;
      cb({ strategy: "jwt", token: current });
    };
    if (o.refresh && isDue(current, currentSince)) {
      // On failure the old token goes anyway: the gateway's refusal leads to a retry.
      renew().then(adopt, report).then(send);
    } else {
      send();
    }
  };

  const socket = o.io(o.url, { ...o.socketOptions, auth });

  /** Arms the renewal of the live connection's token (or a retry after `retryInMs`). */
  const schedule = (attempt = 0, retryInMs?: number) => {
    cancel(renewTimer);
    renewTimer = undefined;
    if (closed || !o.refresh || !socket.connected || accepted === undefined) return;
    const at = retryInMs === undefined ? renewAt(accepted, Date.now()) : Date.now() + retryInMs;
    if (at === undefined) return; // no exp: nothing to renew
    renewTimer = later(at - Date.now(), () => {
      renewTimer = undefined;
      if (Date.now() < at) schedule(attempt, retryInMs === undefined ? undefined : at - Date.now()); // a clamped wait
      else void renewLive(attempt);
    });
  };

  /** Renews the token and hands it to the open connection (`refresh-token`). */
  const renewLive = async (attempt: number) => {
    if (closed || !socket.connected || accepted === undefined) return;
    const holding = accepted;
    let error: StrapiSessionError;
    try {
      // A token renewed earlier but refused by the gateway is sent again while it is fresh.
      if (current === holding || isDue(current, currentSince)) adopt(await renew());
      if (closed || !socket.connected) return; // the next handshake carries it
      const token = current;
      const ack = await sendRefreshToken(token);
      if (closed || !socket.connected) return;
      if (ack.success) {
        accepted = token;
        schedule();
        return;
      }
      error = new StrapiSessionError("refresh-refused", `the gateway refused the renewed token: ${ack.error}`, {
        reason: ack.error,
      });
    } catch (e) {
      if (closed || !socket.connected) return;
      error = e instanceof StrapiSessionError ? e : new StrapiSessionError("refresh-failed", errorMessage(e), { cause: e });
    }
    report(error);
    if (isPermanent(error)) return; // the gateway ends the connection at exp; recovery gives up then
    // Retry with backoff while the gateway still holds the connection.
    const wait = backoff(attempt);
    const exp = readClaims(holding)?.exp;
    if (exp !== undefined && Date.now() + wait >= exp * 1000) return;
    schedule(attempt + 1, wait);
  };

  const sendRefreshToken = (token: string) =>
    new Promise<RefreshTokenAck>((resolve, reject) => {
      const timer = later(o.ackTimeoutMs, () =>
        reject(new StrapiSessionError("refresh-refused", `no answer to refresh-token within ${o.ackTimeoutMs} ms`)),
      );
      socket.emit("refresh-token", { token }, (res: unknown) => {
        cancel(timer);
        if (isObject(res) && res.success === true) resolve(res as RefreshTokenAck);
        else resolve({ success: false, error: isObject(res) && typeof res.error === "string" ? res.error : describe(res) });
      });
    });

  const backoff = (attempt: number) => Math.min(o.retry.delayMs * 2 ** attempt, o.retry.maxDelayMs);

  /** After an expiry refusal: renew, then connect again; bounded by `retry.attempts`. */
  const recover = (why: string) => {
    if (recovering || closed) return;
    recovering = true;
    void (async () => {
      try {
        for (;;) {
          if (closed) return;
          if (failures >= o.retry.attempts) {
            failures = 0;
            report(
              new StrapiSessionError("gave-up", `${why}; no renewed token was accepted after ${o.retry.attempts} attempts`, {
                reason: "Token expired",
                final: true,
              }),
            );
            return;
          }
          const wait = failures === 0 ? 0 : backoff(failures - 1);
          failures += 1;
          if (wait > 0) await sleep(wait);
          if (closed) return;
          try {
            adopt(await renew());
          } catch (e) {
            const error = e as StrapiSessionError;
            report(error);
            if (isPermanent(error)) {
              failures = 0;
              report(new StrapiSessionError("gave-up", `${why}; the token cannot be renewed: ${error.message}`, {
                reason: "Token expired",
                final: true,
                cause: error,
              }));
              return;
            }
            continue;
          }
          if (!closed && !socket.connected) socket.connect();
          return;
        }
      } finally {
        recovering = false;
      }
    })();
  };

  const onConnect = () => {
    failures = 0;
    serverReason = undefined;
    accepted = sent ?? current;
    schedule();
  };

  const onConnectError = (err: unknown) => {
    // While `active`, socket.io-client retries by itself (the gateway is unreachable, …).
    if (closed || socket.active) return;
    const message = isObject(err) && typeof err.message === "string" ? err.message : String(err);
    if (message === "Token expired" && o.refresh) {
      recover("the gateway refused the handshake: Token expired");
      return;
    }
    report(
      new StrapiSessionError("connect-refused", `the gateway refused the handshake: ${message}`, {
        reason: message,
        final: true,
        cause: err,
      }),
    );
  };

  const onServerDisconnect = (payload: unknown) => {
    serverReason = isObject(payload) && typeof payload.reason === "string" ? payload.reason : undefined;
  };

  const onDisconnect = (reason: string) => {
    cancel(renewTimer);
    renewTimer = undefined;
    accepted = undefined;
    // Any other reason (transport closed, ping timeout): socket.io-client reconnects by itself,
    // and the handshake renews the token if it must.
    if (closed || reason !== "io server disconnect") return;
    const why = serverReason;
    serverReason = undefined;
    if (why === "Token expired" && o.refresh) {
      recover("the gateway disconnected the socket: Token expired");
      return;
    }
    report(
      new StrapiSessionError("server-disconnect", `the gateway disconnected the socket${why ? `: ${why}` : ""}`, {
        reason: why,
        final: true,
      }),
    );
  };

  socket.on("connect", onConnect);
  socket.on("connect_error", onConnectError);
  socket.on("server-disconnect", onServerDisconnect);
  socket.on("disconnect", onDisconnect);

  return {
    socket,
    token: () => current,
    get closed() {
      return closed;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      renewTimer = undefined;
      socket.off("connect", onConnect);
      socket.off("connect_error", onConnectError);
      socket.off("server-disconnect", onServerDisconnect);
      socket.off("disconnect", onDisconnect);
      socket.disconnect();
    },
  };
}

interface CheckedSessionOptions<S extends SessionSocket> {
  io: (url: string, options: SessionSocketOptions) => S;
  url: string;
  jwt: string;
  refresh: (() => Promise<string>) | undefined;
  socketOptions: Record<string, any>;
  refreshBeforeMs: number;
  refreshTimeoutMs: number;
  ackTimeoutMs: number;
  retry: Required<SessionRetryOptions>;
  onError: ((error: StrapiSessionError) => void) | undefined;
  onToken: ((jwt: string) => void) | undefined;
}

function checkSessionOptions<S extends SessionSocket>(options: SessionOptions<S>): CheckedSessionOptions<S> {
  const fail = (message: string): never => {
    throw new TypeError(`connectWithSession: ${message}`);
  };
  if (!isObject(options)) fail("options must be an object { io, url, jwt, refresh? }");
  if (typeof options.io !== "function") fail("`io` is required: socket.io-client's io function");
  if (typeof options.url !== "string" || options.url.trim() === "") fail("`url` is required: the gateway's URL");
  if (typeof options.jwt !== "string" || options.jwt.trim() === "") fail("`jwt` is required: the user's access token");
  for (const key of ["refresh", "onError", "onToken"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "function") fail(`\`${key}\` must be a function`);
  }
  const socketOptions = options.socketOptions ?? {};
  if (!isObject(socketOptions)) fail("`socketOptions` must be an object");
  if ("auth" in socketOptions) fail("`socketOptions.auth` is set by the session (it sends the current JWT)");
  const ms = (key: string, value: unknown, fallback: number, min = 0): number => {
    const v = value ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min) fail(`\`${key}\` must be a number of milliseconds ≥ ${min}, got ${String(v)}`);
    return v as number;
  };
  const retry = options.retry ?? {};
  if (!isObject(retry)) fail("`retry` must be an object { attempts, delayMs, maxDelayMs }");
  const attempts = retry.attempts ?? DEFAULT_RETRY.attempts;
  if (typeof attempts !== "number" || !Number.isInteger(attempts) || attempts < 1 || attempts > 100) {
    fail(`\`retry.attempts\` must be an integer from 1 to 100, got ${String(attempts)}`);
  }
  return {
    io: options.io,
    url: options.url.trim(),
    jwt: options.jwt.trim(),
    refresh: options.refresh,
    socketOptions,
    refreshBeforeMs: ms("refreshBeforeMs", options.refreshBeforeMs, DEFAULT_REFRESH_BEFORE_MS),
    refreshTimeoutMs: ms("refreshTimeoutMs", options.refreshTimeoutMs, DEFAULT_REFRESH_TIMEOUT_MS, 1),
    ackTimeoutMs: ms("ackTimeoutMs", options.ackTimeoutMs, DEFAULT_ACK_TIMEOUT_MS, 1),
    retry: {
      attempts,
      delayMs: ms("retry.delayMs", retry.delayMs, DEFAULT_RETRY.delayMs),
      maxDelayMs: ms("retry.maxDelayMs", retry.maxDelayMs, DEFAULT_RETRY.maxDelayMs),
    },
    onError: options.onError,
    onToken: options.onToken,
  };
}

/** A refresh failure that retrying cannot fix (see {@link StrapiRefreshError.retryable}). */
function isPermanent(error: StrapiSessionError): boolean {
  const cause = error.cause;
  return isObject(cause) && cause.retryable === false;
}

// ---------------------------------------------------------------------------------------
// JWT claims

/**
 * A JWT's `exp` in ms since the epoch, read from its payload without checking the signature
 * (only the issuer and the gateway can); `undefined` when it has none or is not a JWT.
 */
export function jwtExpiresAt(jwt: string): number | undefined {
  const exp = readClaims(jwt)?.exp;
  return exp === undefined ? undefined : exp * 1000;
}

function readClaims(jwt: string): { exp?: number; iat?: number } | undefined {
  const part = typeof jwt === "string" ? jwt.split(".")[1] : undefined;
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (!isObject(claims)) return undefined;
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
    return { exp: num(claims.exp), iat: num(claims.iat) };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Strapi 5's refresh mode

/** Options of {@link strapiRefresh}. */
export interface StrapiRefreshOptions {
  /** Strapi's base URL (`https://cms.example.com`); a path prefix is kept. */
  url: string;
  /**
   * The refresh token, when the app holds it (Strapi's `sessions.httpOnly: false`: the login
   * answers `{jwt, refreshToken}`; or read from the login's `strapi_up_refresh` cookie in
   * Node). Sent as `{refreshToken}`. Without it, the browser's httpOnly cookie is sent
   * instead (`credentials: "include"`).
   */
  refreshToken?: string;
  /**
   * Called with each new refresh token. Strapi rotates it at every refresh: the one used is
   * spent. Keep the newest if you store it (the function itself always uses the newest).
   */
  onRefreshToken?: (refreshToken: string) => void;
  /** `fetch`'s `credentials` (default `"include"`, so that the browser sends and keeps the cookie). */
  credentials?: RequestCredentials;
  /** The refresh cookie's name: users-permissions `sessions.cookie.name` (default `strapi_up_refresh`). */
  cookieName?: string;
  /** Bound on one call, in ms (default 10000). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/**
 * A refresh failed. `status`, `name` and `message` are Strapi's (`401 UnauthorizedError
 * "Invalid refresh token"`: the session is over, the user must log in again; `400 "Missing
 * refresh token"`; `404` when users-permissions is not in refresh mode), or 503 `NetworkError`
 * / 504 `TimeoutError` when Strapi could not be reached.
 */
export class StrapiRefreshError extends Error {
  readonly status: number;
  override name: string;
  readonly details: Record<string, unknown>;
  /** Whether trying again may help (network, timeout, 5xx, 429); `false` for Strapi's refusals. */
  readonly retryable: boolean;

  constructor(
    fields: { status: number; name: string; message: string; details?: Record<string, unknown>; retryable: boolean },
    options?: { cause?: unknown },
  ) {
    super(fields.message, options);
    this.status = fields.status;
    this.name = fields.name;
    this.details = fields.details ?? {};
    this.retryable = fields.retryable;
  }
}

/**
 * A `refresh` function for Strapi 5's users-permissions refresh mode (`jwtManagement:
 * 'refresh'`): `POST {url}/api/auth/refresh` answers a new access token (`{jwt}`) and rotates
 * the refresh token (in the body as `refreshToken`, or in the httpOnly cookie
 * `strapi_up_refresh`). Concurrent calls share one request. Rejects with a
 * {@link StrapiRefreshError}.
 */
export function strapiRefresh(options: StrapiRefreshOptions): () => Promise<string> {
  const fail = (message: string): never => {
    throw new TypeError(`strapiRefresh: ${message}`);
  };
  if (!isObject(options)) fail("options must be an object { url, refreshToken? }");
  if (typeof options.url !== "string" || options.url.trim() === "") fail("`url` is required: Strapi's base URL");
  if (options.refreshToken !== undefined && (typeof options.refreshToken !== "string" || options.refreshToken === "")) {
    fail("`refreshToken` must be a non-empty string");
  }
  if (options.onRefreshToken !== undefined && typeof options.onRefreshToken !== "function") fail("`onRefreshToken` must be a function");
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) fail("`timeoutMs` must be a positive number of milliseconds");
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== "function") fail("no global fetch, and no `fetch` option given");
  const endpoint = `${options.url.trim().replace(/\/+$/, "")}/api/auth/refresh`;
  const cookieName = options.cookieName ?? "strapi_up_refresh";
  let refreshToken = options.refreshToken;
  let inFlight: Promise<string> | undefined;

  const keep = (token: string) => {
    if (token === refreshToken) return;
    refreshToken = token;
    if (options.onRefreshToken) {
      try {
        options.onRefreshToken(token);
      } catch {
        // the new token is kept either way
      }
    }
  };

  const once = async (): Promise<string> => {
    let res: Response;
    let text: string;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      res = await fetchImpl(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(refreshToken === undefined ? {} : { refreshToken }),
        credentials: options.credentials ?? "include",
        signal,
      });
      text = await res.text();
    } catch (error) {
      if (signal.aborted) {
        throw new StrapiRefreshError(
          { status: 504, name: "TimeoutError", message: `no answer from ${endpoint} within ${timeoutMs} ms`, retryable: true },
          { cause: error },
        );
      }
      throw new StrapiRefreshError(
        { status: 503, name: "NetworkError", message: `${endpoint} could not be reached: ${errorMessage(error)}`, retryable: true },
        { cause: error },
      );
    }
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status < 200 || res.status >= 300) {
      const e = isObject(body) && isObject(body.error) ? body.error : {};
      const status = typeof e.status === "number" ? e.status : res.status;
      const hint = res.status === 404 ? " (is users-permissions' jwtManagement 'refresh'?)" : "";
      throw new StrapiRefreshError({
        status,
        name: typeof e.name === "string" ? e.name : "HttpError",
        message: `${endpoint} answered ${res.status}: ${typeof e.message === "string" ? e.message : snippet(text)}${hint}`,
        details: isObject(e.details) ? e.details : {},
        retryable: res.status >= 500 || res.status === 429 || res.status === 408,
      });
    }
    const jwt = isObject(body) ? body.jwt : undefined;
    if (typeof jwt !== "string" || jwt === "") {
      throw new StrapiRefreshError({
        status: 502,
        name: "InvalidResponseError",
        message: `${endpoint} answered ${res.status} without a jwt: ${snippet(text)}`,
        retryable: false,
      });
    }
    if (isObject(body) && typeof body.refreshToken === "string" && body.refreshToken !== "") {
      keep(body.refreshToken);
    } else if (refreshToken !== undefined) {
      // httpOnly mode answered a token sent in the body: the rotated one is in Set-Cookie
      // (readable outside browsers only).
      const rotated = cookieFrom(res.headers, cookieName);
      if (rotated) keep(rotated);
    }
    return jwt;
  };

  return () => {
    inFlight ??= once().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
}

/** A cookie's value from a response's Set-Cookie headers (outside browsers). */
function cookieFrom(headers: Headers, name: string): string | undefined {
  const all =
    typeof (headers as { getSetCookie?: () => string[] }).getSetCookie === "function"
      ? (headers as unknown as { getSetCookie: () => string[] }).getSetCookie()
      : (headers.get("set-cookie") ?? "").split(/,(?=\s*[^;,=\s]+=)/);
  for (const line of all) {
    const [pair] = line.split(";");
    const eq = pair?.indexOf("=") ?? -1;
    if (eq > 0 && pair!.slice(0, eq).trim() === name) {
      const value = pair!.slice(eq + 1).trim();
      if (value !== "") return decodeURIComponent(value);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : describe(error);
}

function describe(value: unknown): string {
  try {
    return value === undefined ? "undefined" : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  if (t === "") return "(empty)";
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}
