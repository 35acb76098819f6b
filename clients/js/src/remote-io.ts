/**
 * `createRemoteIo`: the reference's `strapi.$io`, every method a `POST {url}/api/io/<method>`
 * to the strapi-io gateway with the reference's parameter names as JSON fields.
 */

import {
  RemoteIoArgumentError,
  RemoteIoError,
  RemoteIoGatewayError,
  RemoteIoNetworkError,
  RemoteIoTimeoutError,
} from "./errors.js";
import type {
  CallOptions,
  DirectoryInvalidation,
  EmitOptions,
  EntryEvent,
  EntrySender,
  EntityRoomSocket,
  EntitySubscriptionResult,
  EntitySubscriptionsResult,
  RawEmitOptions,
  RemoteIo,
  RemoteIoOptions,
  SocketInfo,
} from "./types.js";

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RETRIES = 2;
const DEFAULT_RETRY_DELAY_MS = 100;
const MAX_RETRY_DELAY_MS = 2_000;
const MAX_RETRIES = 100;

/**
 * System error codes that prove the request never left this machine: the connection was
 * refused or never established, or the name did not resolve. Only these are retried.
 * (A reset or a closed socket may come after the gateway read the request: never retried.)
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_NONAME",
  "EAI_FAIL",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Refuses an idempotency key that is not 1 to 200 visible ASCII characters. */
function checkKey(method: string, key: unknown): void {
  if (key !== undefined && (typeof key !== "string" || !/^[\x21-\x7e]{1,200}$/.test(key))) {
    throw new RemoteIoArgumentError({
      message: `${method}: idempotencyKey must be 1 to 200 visible ASCII characters`,
      method,
    });
  }
}

/**
 * Beyond the reference: a sender of Strapi entry events committed together (what the
 * lifecycle forwarder sends, `POST /api/io/entryEvents`), which the gateway merges per
 * document into one content event each, as it merges Strapi's webhook requests. Same
 * options and errors as {@link createRemoteIo}; answers the gateway's report.
 */
export function createEntrySender(options: RemoteIoOptions): EntrySender {
  const call = createCaller(checkOptions(options));
  return {
    entryEvents(events: EntryEvent[], callOptions?: CallOptions): Promise<unknown> {
      const key = callOptions?.idempotencyKey;
      return call("entryEvents", () => {
        if (!Array.isArray(events)) {
          throw new RemoteIoArgumentError({
            message: "entryEvents: events must be an array of { event, uid, entry }",
            method: "entryEvents",
          });
        }
        checkKey("entryEvents", key);
        return { events };
      }, (data) => data, key === undefined ? {} : { "idempotency-key": key });
    }
  };
}

/** Creates the remote `$io`. Throws a `TypeError` naming the option when one is invalid. */
export function createRemoteIo(options: RemoteIoOptions): RemoteIo {
  const config = checkOptions(options);
  const call = createCaller(config);

  const io = {
    emit(opts: EmitOptions, callOptions?: CallOptions): Promise<void> {
      const key = callOptions?.idempotencyKey;
      return call("emit", () => {
        const o = requireObject("emit", opts, "{ event, schema, data }");
        checkKey("emit", key);
        const meta = callOptions?.meta;
        return { event: o.event, schema: schemaRef(o.schema), data: o.data, ...(meta ? { meta } : {}) };
      }, nothing, key === undefined ? {} : { "idempotency-key": key });
    },
    raw(opts: RawEmitOptions): Promise<void> {
      return call("raw", () => {
        const o = requireObject("raw", opts, "{ event, rooms, data }");
        return { event: o.event, rooms: o.rooms, data: o.data };
      }, nothing);
    },
    joinRoom(socketId: string, roomName: string): Promise<boolean> {
      return call("joinRoom", () => ({ socketId, roomName }));
    },
    leaveRoom(socketId: string, roomName: string): Promise<boolean> {
      return call("leaveRoom", () => ({ socketId, roomName }));
    },
    getSocketsInRoom(roomName: string): Promise<SocketInfo[]> {
      return call("getSocketsInRoom", () => ({ roomName }), withUserIds);
    },
    sendPrivateMessage(socketId: string, event: string, data: any): Promise<void> {
      return call("sendPrivateMessage", () => ({ socketId, event, data }), nothing);
    },
    broadcast(socketId: string, event: string, data: any): Promise<void> {
      return call("broadcast", () => ({ socketId, event, data }), nothing);
    },
    emitToNamespace(namespace: string, event: string, data: any): Promise<void> {
      return call("emitToNamespace", () => ({ namespace, event, data }), nothing);
    },
    disconnectSocket(socketId: string, reason?: string): Promise<boolean> {
      return call("disconnectSocket", () => ({ socketId, reason }));
    },
    subscribeToEntity(socketId: string, uid: string, id: string | number): Promise<EntitySubscriptionResult> {
      return call("subscribeToEntity", () => ({ socketId, uid, id }));
    },
    unsubscribeFromEntity(socketId: string, uid: string, id: string | number): Promise<EntitySubscriptionResult> {
      return call("unsubscribeFromEntity", () => ({ socketId, uid, id }));
    },
    getEntitySubscriptions(socketId: string): Promise<EntitySubscriptionsResult> {
      return call("getEntitySubscriptions", () => ({ socketId }));
    },
    emitToEntity(uid: string, id: string | number, event: string, data: any): Promise<void> {
      return call("emitToEntity", () => ({ uid, id, event, data }), nothing);
    },
    getEntityRoomSockets(uid: string, id: string | number): Promise<EntityRoomSocket[]> {
      return call("getEntityRoomSockets", () => ({ uid, id }));
    },
    // Beyond the reference; an admin route rather than a $io method, hence its own path.
    invalidate(): Promise<DirectoryInvalidation> {
      return call("invalidate", () => ({}), undefined, {}, "directory/invalidate");
    },
  };

  // Not enumerable, so that spreading or logging `$io` does not trip them.
  for (const name of ["server", "namespaces"]) {
    Object.defineProperty(io, name, {
      enumerable: false,
      get() {
        throw new Error(
          `strapi.$io.${name} is not available: the Socket.IO server runs in the strapi-io gateway ` +
            `(${config.base}), not in this process. Use the $io methods instead ` +
            "(raw, emitToNamespace, getSocketsInRoom, …).",
        );
      },
    });
  }
  return io as unknown as RemoteIo;
}

interface Config {
  base: string;
  adminToken: string;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  onError: ((error: RemoteIoError) => void) | undefined;
  fetch: typeof fetch;
}

function checkOptions(options: RemoteIoOptions): Config {
  if (options === null || typeof options !== "object") {
    throw new TypeError("createRemoteIo: options must be an object { url, adminToken, timeoutMs?, retries? }");
  }
  const { url, adminToken } = options;
  if (typeof url !== "string" || url.trim() === "") {
    throw new TypeError("createRemoteIo: `url` is required: the gateway's base URL, e.g. http://127.0.0.1:1338");
  }
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new TypeError(`createRemoteIo: \`url\` is not a valid URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`createRemoteIo: \`url\` must be http:// or https://, got ${JSON.stringify(url)}`);
  }
  if (parsed.search || parsed.hash) {
    throw new TypeError(`createRemoteIo: \`url\` must not have a query or fragment: ${JSON.stringify(url)}`);
  }
  if (typeof adminToken !== "string" || adminToken.trim() === "") {
    throw new TypeError(
      "createRemoteIo: `adminToken` is required: the gateway's admin token (server.adminToken / STRAPI_IO_ADMIN_TOKEN)",
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`createRemoteIo: \`timeoutMs\` must be a positive number of milliseconds, got ${String(timeoutMs)}`);
  }
  const retries = options.retries ?? DEFAULT_RETRIES;
  if (typeof retries !== "number" || !Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    throw new TypeError(`createRemoteIo: \`retries\` must be an integer from 0 to ${MAX_RETRIES}, got ${String(retries)}`);
  }
  const retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  if (typeof retryDelayMs !== "number" || !Number.isFinite(retryDelayMs) || retryDelayMs < 0) {
    throw new TypeError(`createRemoteIo: \`retryDelayMs\` must be a number of milliseconds ≥ 0, got ${String(retryDelayMs)}`);
  }
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError("createRemoteIo: `onError` must be a function");
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== "function") {
    throw new TypeError("createRemoteIo: no global fetch (Node.js 18 or later is needed), and no `fetch` option given");
  }
  return {
    base: parsed.href.replace(/\/+$/, ""),
    adminToken: adminToken.trim(),
    timeoutMs,
    retries,
    retryDelayMs,
    onError: options.onError,
    fetch: fetchImpl,
  };
}

/**
 * One RPC call: builds the body (a refusal here is a `RemoteIoArgumentError`, nothing sent),
 * POSTs it, retries only what provably was not sent, and reads `{data}` or Strapi's error.
 * The returned promise is marked handled (see `RemoteIoOptions.onError`).
 */
function createCaller(config: Config) {
  return function call<T>(
    method: string,
    body: () => Record<string, unknown>,
    answer: (data: unknown) => T = (data) => data as T,
    headers: Record<string, string> = {},
    path: string = method,
  ): Promise<T> {
    const p = run(config, method, path, body, headers).then(answer, (error: unknown) => {
      const e = error instanceof RemoteIoError ? error : unexpected(method, error);
      if (config.onError) {
        try {
          config.onError(e);
        } catch {
          // a failing error hook must not replace the call's own error
        }
      }
      throw e;
    });
    p.catch(() => {});
    return p;
  };
}

async function run(
  config: Config,
  method: string,
  path: string,
  build: () => Record<string, unknown>,
  extraHeaders: Record<string, string>,
): Promise<unknown> {
  const payload = serialize(method, build());
  const url = `${config.base}/api/io/${path}`;
  const signal = AbortSignal.timeout(config.timeoutMs);
  let attempts = 0;
  for (;;) {
    attempts += 1;
    let res: Response;
    try {
      res = await config.fetch(url, {
        method: "POST",
        headers: {
          ...extraHeaders,
          "content-type": "application/json",
          accept: "application/json",
          authorization: `Bearer ${config.adminToken}`,
        },
        body: payload,
        signal,
        redirect: "manual",
      });
    } catch (error) {
      if (signal.aborted) {
        throw timeoutError(config, method, url, attempts, true, error);
      }
      const codes = errorCodes(error);
      if (codes.length === 0 && describe(error) === "bad port") {
        // fetch refuses the Fetch standard's blocked ports before connecting.
        throw new RemoteIoNetworkError(
          {
            message: `${method}: fetch refuses to connect to ${url}: port ${new URL(url).port} is one of the Fetch standard's blocked ports; run the gateway on another port`,
            method,
            code: "BAD_PORT",
            attempts,
            maybeSent: false,
          },
          { cause: error },
        );
      }
      const notSent = codes.length > 0 && codes.every((c) => NOT_SENT_CODES.has(c));
      if (notSent && attempts <= config.retries) {
        // Every attempt so far was refused before sending: a timeout now means nothing was sent.
        const delay = Math.min(config.retryDelayMs * 2 ** (attempts - 1), MAX_RETRY_DELAY_MS);
        if (!(await sleep(delay, signal))) {
          throw timeoutError(config, method, url, attempts, false, error);
        }
        continue;
      }
      throw networkError(method, url, attempts, notSent, codes[0], error);
    }
    // From here on the gateway has answered: whatever happens, nothing is retried.
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      if (signal.aborted) throw timeoutError(config, method, url, attempts, true, error);
      throw new RemoteIoNetworkError(
        {
          message: `${method}: the connection to ${url} broke while the answer was read: ${describe(error)} (not retried: the gateway has received the request)`,
          method,
          code: errorCodes(error)[0],
          attempts,
          maybeSent: true,
        },
        { cause: error },
      );
    }
    return readAnswer(method, url, res, text);
  }
}

function readAnswer(method: string, url: string, res: Response, text: string): unknown {
  let body: unknown;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status >= 200 && res.status < 300) {
    if (isObject(body) && "data" in body) return body.data;
    throw new RemoteIoGatewayError({
      status: 502,
      name: "InvalidResponseError",
      message: `${method}: ${url} answered HTTP ${res.status} without a {data} JSON body: ${snippet(text)}`,
      method,
      httpStatus: res.status,
    });
  }
  const error = isObject(body) ? body.error : undefined;
  if (isObject(error) && typeof error.message === "string") {
    return throwGatewayError(method, res.status, error);
  }
  const location = res.headers.get("location");
  const why =
    res.status >= 300 && res.status < 400
      ? `a redirect to ${location ?? "(no location)"}: set \`url\` to the gateway's final address`
      : `not a Strapi error body: ${snippet(text)}`;
  throw new RemoteIoGatewayError({
    status: res.status,
    name: "HttpError",
    message: `${method}: ${url} answered HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}, ${why}`,
    method,
    httpStatus: res.status,
  });
}

function throwGatewayError(method: string, httpStatus: number, error: Record<string, unknown>): never {
  throw new RemoteIoGatewayError({
    status: typeof error.status === "number" ? error.status : httpStatus,
    name: typeof error.name === "string" && error.name !== "" ? error.name : "HttpError",
    message: error.message as string,
    details: isObject(error.details) ? error.details : {},
    method,
    httpStatus,
  });
}

function timeoutError(
  config: Config,
  method: string,
  url: string,
  attempts: number,
  maybeSent: boolean,
  cause: unknown,
): RemoteIoTimeoutError {
  const sent = maybeSent
    ? "not retried: the gateway may have acted on it"
    : "the request was never sent (the gateway was unreachable)";
  return new RemoteIoTimeoutError(
    {
      message: `${method}: no answer from ${url} within ${config.timeoutMs} ms (${plural(attempts, "attempt")}; ${sent})`,
      method,
      timeoutMs: config.timeoutMs,
      attempts,
      maybeSent,
    },
    { cause },
  );
}

function networkError(
  method: string,
  url: string,
  attempts: number,
  notSent: boolean,
  code: string | undefined,
  cause: unknown,
): RemoteIoNetworkError {
  const detail = describe(cause);
  const message = notSent
    ? `${method}: strapi-io gateway unreachable at ${url}: ${detail} (${plural(attempts, "attempt")}; the request was not sent)`
    : `${method}: connection to ${url} failed: ${detail} (not retried: the gateway may have acted on the request)`;
  return new RemoteIoNetworkError({ message, method, code, attempts, maybeSent: !notSent }, { cause });
}

function unexpected(method: string, error: unknown): RemoteIoError {
  return new RemoteIoNetworkError(
    { message: `${method}: ${describe(error)}`, method, code: undefined, attempts: 1, maybeSent: true },
    { cause: error },
  );
}

/** Every `code` found on an error, its `cause` chain and its `errors` (AggregateError). */
function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number) => {
    if (!isObject(e) || seen.has(e) || depth > 6) return;
    seen.add(e);
    if (typeof e.code === "string") codes.push(e.code);
    walk(e.cause, depth + 1);
    if (Array.isArray(e.errors)) for (const inner of e.errors) walk(inner, depth + 1);
  };
  walk(error, 0);
  return codes;
}

/** The most specific message of an error (fetch's own is only "fetch failed"). */
function describe(error: unknown): string {
  let e: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 6 && isObject(e) && e.cause !== undefined; depth++) {
    e = e.cause;
    if (e instanceof Error && e.message) message = e.message;
    else if (e instanceof Error && Array.isArray((e as { errors?: unknown }).errors)) {
      const first = (e as unknown as { errors: unknown[] }).errors[0];
      if (first instanceof Error) message = first.message;
    }
  }
  return message;
}

function serialize(method: string, body: Record<string, unknown>): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    throw new RemoteIoArgumentError(
      { message: `${method}: the arguments cannot be sent as JSON: ${describe(error)}`, method },
      { cause: error },
    );
  }
}

function requireObject<T>(method: string, value: T, shape: string): T {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new RemoteIoArgumentError({ message: `${method}: expected an options object ${shape}`, method });
  }
  return value;
}

/**
 * What `emit` sends as `schema`: a uid as given; of a schema object, the keys the gateway
 * resolves a content type by (`uid`, else `singularName`, else `info.singularName`), so a
 * Strapi schema's attributes, functions or cycles never travel.
 */
function schemaRef(schema: unknown): unknown {
  if (!isObject(schema) || Array.isArray(schema)) return schema;
  const ref: Record<string, unknown> = {};
  if (typeof schema.uid === "string") ref.uid = schema.uid;
  if (typeof schema.singularName === "string") ref.singularName = schema.singularName;
  const info = schema.info;
  if (isObject(info) && typeof info.singularName === "string") ref.info = { singularName: info.singularName };
  if (Object.keys(ref).length === 0) {
    throw new RemoteIoArgumentError({
      message: "emit: the schema object has no `uid`, `singularName` or `info.singularName`: pass the content type's uid or its Strapi schema",
      method: "emit",
    });
  }
  return ref;
}

function withUserIds(data: unknown): SocketInfo[] {
  if (!Array.isArray(data)) return data as SocketInfo[];
  return data.map((s: SocketInfo) =>
    isObject(s) && isObject(s.user) && typeof s.user.id === "number" ? { ...s, userId: s.user.id } : s,
  );
}

function nothing(): void {}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null;
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  if (t === "") return "(empty)";
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
