/**
 * The plugin's config (`config/plugins.js` → `"strapi-io".config`): its keys, their defaults
 * and their checks. Two modes:
 *
 * - **managed** (the default when no `url` is given): the plugin runs the gateway itself, as
 *   a child process of Strapi configured from Strapi's own config (`managed.ts`), and can
 *   proxy its Socket.IO path on Strapi's HTTP server (`proxy.ts`);
 * - **unmanaged** (`url` given, or `managed: false`): the gateway runs elsewhere; the plugin
 *   only talks to it.
 *
 * Imports nothing from Node.js, so that the package's main entry, which re-exports
 * {@link resolvePluginConfig}, stays free of it.
 */

import { resolveLifecycles } from "./lifecycles.js";
import type { LifecyclesConfig, ResolvedLifecycles } from "./lifecycles.js";
import { createRemoteIo } from "./remote-io.js";

/** The plugin's name: its key in `config/plugins.js`. */
export const PLUGIN_NAME = "strapi-io";

/** `gateway` in the plugin config: how the plugin runs the gateway (managed mode). */
export interface GatewayOptions {
  /** The `strapi-io` binary (default: `STRAPI_IO_BIN`, else `@strapi-io/gateway`'s). */
  binary?: string;
  /** Where the gateway listens (default `127.0.0.1`). */
  host?: string;
  /** Its port (default: Strapi's port + 1). */
  port?: number;
  /** `RUST_LOG` of the gateway (default `"info"`). */
  logLevel?: string;
  /** Backoff of restarts after the gateway exits unexpectedly. */
  restart?: { firstDelayMs?: number; maxDelayMs?: number };
  /** How long Strapi's stop waits after SIGTERM before SIGKILL (default 5000). */
  stopGraceMs?: number;
  /** A read-only Strapi API token for `populate` refetches (default: none, public reads). */
  populateToken?: string;
}

/** `config/plugins.js` → `"strapi-io".config`. */
export interface PluginConfig {
  /** Run the gateway as a child process of Strapi (default: `true` unless `url` is given). */
  managed?: boolean;
  /** A gateway run elsewhere: its base URL (default: `STRAPI_IO_URL`). */
  url?: string;
  /** The gateway's admin token (default: `STRAPI_IO_ADMIN_TOKEN`; managed: a fresh random one). */
  adminToken?: string;
  /** Bound on one `$io` call, in milliseconds (default 10000). */
  timeoutMs?: number;
  /** Retries when the request provably was not sent (default 2). */
  retries?: number;
  /** Forward document lifecycles to the gateway (default: `true` when managed, else `false`). */
  lifecycles?: boolean | LifecyclesConfig;
  /** How the plugin runs the gateway (managed). */
  gateway?: GatewayOptions;
  /** Proxy the gateway's Socket.IO path on Strapi's own server (managed; default: on unless NODE_ENV=production). */
  proxy?: boolean;
  /** The gateway's `contentTypes` (managed; the Socket.IO plugin's key). */
  contentTypes?: unknown[];
  /** The gateway's `socket` (`serverOptions`; managed). */
  socket?: { serverOptions?: Record<string, unknown> };
  /** The gateway's `sensitiveFields` (managed). */
  sensitiveFields?: string[];
  /** The gateway's `events` (custom client events; managed). */
  events?: unknown[];
  /** The gateway's `settings` (the plugin's `PluginSettings`; managed). */
  settings?: Record<string, unknown>;
}

/** {@link GatewayOptions} with the defaults applied (`port: null`: Strapi's port + 1). */
export interface ResolvedGateway {
  binary: string | null;
  host: string;
  port: number | null;
  logLevel: string;
  restart: { firstDelayMs: number; maxDelayMs: number };
  stopGraceMs: number;
  populateToken: string | null;
}

/** {@link PluginConfig} checked and completed. */
export interface ResolvedPluginConfig {
  managed: boolean;
  /** The gateway's URL; `""` when managed (the plugin sets it from `gateway.host`/`port`). */
  url: string;
  /** `""` when managed and not given: the plugin makes a random one at each start. */
  adminToken: string;
  timeoutMs: number;
  retries: number;
  lifecycles: ResolvedLifecycles;
  /** `null` when unmanaged. */
  gateway: ResolvedGateway | null;
  /** Whether Strapi's server proxies the gateway's Socket.IO path (never when unmanaged). */
  proxy: boolean;
  /** The gateway settings given (`contentTypes`, `socket`, `sensitiveFields`, `events`, `settings`): its config file. */
  gatewayConfig: Record<string, unknown>;
}

/** The gateway settings passed through to its config file. */
export const GATEWAY_KEYS = ["contentTypes", "socket", "sensitiveFields", "events", "settings"] as const;

const KNOWN_KEYS = [
  "managed",
  "url",
  "adminToken",
  "timeoutMs",
  "retries",
  "lifecycles",
  "gateway",
  "proxy",
  ...GATEWAY_KEYS,
];
const GATEWAY_OPTION_KEYS = ["binary", "host", "port", "logLevel", "restart", "stopGraceMs", "populateToken"];

export const DEFAULT_GATEWAY_HOST = "127.0.0.1";
export const DEFAULT_LOG_LEVEL = "info";
export const DEFAULT_RESTART = { firstDelayMs: 500, maxDelayMs: 10_000 } as const;
export const DEFAULT_STOP_GRACE_MS = 5_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.trim() !== "";

function processEnv(): Record<string, string | undefined> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
}

/** Checks and completes the plugin config; throws an Error naming the key at fault. */
export function resolvePluginConfig(config: unknown): ResolvedPluginConfig {
  if (!isObject(config)) {
    throw new Error(`config must be an object (keys: ${KNOWN_KEYS.join(", ")})`);
  }
  const c = config;
  const unknown = Object.keys(c).filter((k) => !KNOWN_KEYS.includes(k));
  if (unknown.length) throw new Error(`unknown key(s) ${unknown.join(", ")} (known: ${KNOWN_KEYS.join(", ")})`);
  if (c.managed !== undefined && typeof c.managed !== "boolean") throw new Error("managed must be a boolean");
  const urlGiven = typeof c.url === "string" && c.url.trim() !== "";
  const managed = (c.managed as boolean | undefined) ?? !urlGiven;
  const timeoutMs = (c.timeoutMs as number | undefined) ?? 10_000;
  const retries = (c.retries as number | undefined) ?? 2;
  const lifecycles = resolveLifecycles(c.lifecycles ?? (managed ? true : false));

  if (!managed) {
    const given = ["gateway", "proxy", ...GATEWAY_KEYS].filter((k) => c[k] !== undefined);
    if (given.length) {
      throw new Error(
        `${given.join(", ")}: only for the gateway the plugin runs (managed: true); with a gateway run elsewhere (url), ` +
          "set them in its own config file, and route /socket.io/ to it in your reverse proxy",
      );
    }
    if (!urlGiven) {
      throw new Error(
        "url is required with managed: false: the strapi-io gateway's base URL, e.g. http://127.0.0.1:1338 (or set STRAPI_IO_URL); or leave url out and let the plugin run the gateway",
      );
    }
    if (!nonEmpty(c.adminToken)) {
      throw new Error("adminToken is required: the gateway's admin token (or set STRAPI_IO_ADMIN_TOKEN)");
    }
    const resolved: ResolvedPluginConfig = {
      managed,
      url: (c.url as string).trim(),
      adminToken: c.adminToken.trim(),
      timeoutMs,
      retries,
      lifecycles,
      gateway: null,
      proxy: false,
      gatewayConfig: {},
    };
    checkClientOptions(resolved.url, resolved.adminToken, timeoutMs, retries);
    return resolved;
  }

  if (urlGiven) {
    throw new Error(
      `url (${JSON.stringify(c.url)}) is for a gateway run elsewhere: with managed: true the plugin runs the gateway on gateway.host/gateway.port; remove url (and STRAPI_IO_URL) or set managed: false`,
    );
  }
  if (c.adminToken !== undefined && c.adminToken !== "" && !nonEmpty(c.adminToken)) {
    throw new Error("adminToken must be a non-empty string (or leave it out: the plugin makes one at each start)");
  }
  if (c.proxy !== undefined && typeof c.proxy !== "boolean") throw new Error("proxy must be a boolean");
  const gateway = resolveGateway(c.gateway);
  const gatewayConfig = resolveGatewayConfig(c);
  const resolved: ResolvedPluginConfig = {
    managed,
    url: "",
    adminToken: typeof c.adminToken === "string" ? c.adminToken.trim() : "",
    timeoutMs,
    retries,
    lifecycles,
    gateway,
    proxy: (c.proxy as boolean | undefined) ?? processEnv().NODE_ENV !== "production",
    gatewayConfig,
  };
  // The URL here only stands in for the one the plugin sets, to check the other options.
  checkClientOptions(`http://${DEFAULT_GATEWAY_HOST}:1`, "x", timeoutMs, retries);
  return resolved;
}

/** createRemoteIo checks timeoutMs, retries and url; its TypeError becomes the config error. */
function checkClientOptions(url: string, adminToken: string, timeoutMs: number, retries: number): void {
  try {
    createRemoteIo({ url, adminToken, timeoutMs, retries });
  } catch (error) {
    throw new Error((error as Error).message.replace(/^createRemoteIo: /, ""));
  }
}

function resolveGateway(value: unknown): ResolvedGateway {
  if (value !== undefined && !isObject(value)) {
    throw new Error(`gateway must be an object { ${GATEWAY_OPTION_KEYS.join(", ")} }`);
  }
  const g = value ?? {};
  const unknown = Object.keys(g).filter((k) => !GATEWAY_OPTION_KEYS.includes(k));
  if (unknown.length) {
    throw new Error(`gateway: unknown key(s) ${unknown.join(", ")} (known: ${GATEWAY_OPTION_KEYS.join(", ")})`);
  }
  if (g.binary !== undefined && !nonEmpty(g.binary)) throw new Error("gateway.binary must be the path of the strapi-io binary");
  if (g.host !== undefined && !(nonEmpty(g.host) && /^[A-Za-z0-9.:_-]+$/.test(g.host.trim()))) {
    throw new Error("gateway.host must be a host name or an IP address, e.g. 127.0.0.1");
  }
  if (g.port !== undefined && !isInt(g.port, 1, 65535)) throw new Error("gateway.port must be an integer from 1 to 65535");
  if (g.logLevel !== undefined && !(nonEmpty(g.logLevel) && /^[A-Za-z0-9_:=,.-]+$/.test(g.logLevel.trim()))) {
    throw new Error("gateway.logLevel must be a RUST_LOG filter such as \"info\", \"warn\" or \"info,strapi_io=debug\"");
  }
  if (g.stopGraceMs !== undefined && !isInt(g.stopGraceMs, 0, 600_000)) {
    throw new Error("gateway.stopGraceMs must be an integer from 0 to 600000 (milliseconds)");
  }
  if (g.populateToken !== undefined && !nonEmpty(g.populateToken)) {
    throw new Error("gateway.populateToken must be a Strapi API token (a non-empty string)");
  }
  const restart: { firstDelayMs: number; maxDelayMs: number } = { ...DEFAULT_RESTART };
  if (g.restart !== undefined) {
    if (!isObject(g.restart)) throw new Error("gateway.restart must be an object { firstDelayMs, maxDelayMs }");
    const r = g.restart;
    const extra = Object.keys(r).filter((k) => k !== "firstDelayMs" && k !== "maxDelayMs");
    if (extra.length) throw new Error(`gateway.restart: unknown key(s) ${extra.join(", ")} (known: firstDelayMs, maxDelayMs)`);
    if (r.firstDelayMs !== undefined && !isInt(r.firstDelayMs, 1, 600_000)) {
      throw new Error("gateway.restart.firstDelayMs must be an integer from 1 to 600000 (milliseconds)");
    }
    if (r.maxDelayMs !== undefined && !isInt(r.maxDelayMs, 1, 3_600_000)) {
      throw new Error("gateway.restart.maxDelayMs must be an integer from 1 to 3600000 (milliseconds)");
    }
    restart.firstDelayMs = (r.firstDelayMs as number | undefined) ?? restart.firstDelayMs;
    restart.maxDelayMs = (r.maxDelayMs as number | undefined) ?? Math.max(restart.maxDelayMs, restart.firstDelayMs);
    if (restart.maxDelayMs < restart.firstDelayMs) {
      throw new Error(`gateway.restart.maxDelayMs (${restart.maxDelayMs}) must not be below firstDelayMs (${restart.firstDelayMs})`);
    }
  }
  return {
    binary: g.binary !== undefined ? (g.binary as string).trim() : null,
    host: g.host !== undefined ? (g.host as string).trim() : DEFAULT_GATEWAY_HOST,
    port: (g.port as number | undefined) ?? null,
    logLevel: g.logLevel !== undefined ? (g.logLevel as string).trim() : DEFAULT_LOG_LEVEL,
    restart,
    stopGraceMs: (g.stopGraceMs as number | undefined) ?? DEFAULT_STOP_GRACE_MS,
    populateToken: g.populateToken !== undefined ? (g.populateToken as string).trim() : null,
  };
}

/**
 * The gateway's own settings, checked only as far as the plugin reads them (their shape, and
 * `socket.serverOptions.path` for the proxy): the gateway checks the rest at its start, and
 * a refusal shows in Strapi's log.
 */
function resolveGatewayConfig(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (c.contentTypes !== undefined) {
    if (!Array.isArray(c.contentTypes)) throw new Error("contentTypes must be a list: [\"api::article.article\", { uid, actions, … }]");
    out.contentTypes = c.contentTypes;
  }
  if (c.sensitiveFields !== undefined) {
    if (!(Array.isArray(c.sensitiveFields) && c.sensitiveFields.every((f) => typeof f === "string"))) {
      throw new Error("sensitiveFields must be a list of field names");
    }
    out.sensitiveFields = c.sensitiveFields;
  }
  if (c.events !== undefined) {
    if (!Array.isArray(c.events)) throw new Error("events must be a list of { name, url, timeoutMs }");
    out.events = c.events;
  }
  if (c.settings !== undefined) {
    if (!isObject(c.settings)) throw new Error("settings must be an object (the plugin's PluginSettings)");
    out.settings = c.settings;
  }
  if (c.socket !== undefined) {
    if (!isObject(c.socket)) throw new Error("socket must be an object { serverOptions }");
    const so = c.socket.serverOptions;
    if (so !== undefined && !isObject(so)) throw new Error("socket.serverOptions must be an object");
    if (so !== undefined && so.path !== undefined && !(typeof so.path === "string" && /^\/[A-Za-z0-9._~\-/]*$/.test(so.path))) {
      throw new Error("socket.serverOptions.path must be a path such as \"/socket.io\"");
    }
    out.socket = c.socket;
  }
  return out;
}

/** The gateway's Socket.IO path without its trailing slash (default `/socket.io`). */
export function socketPath(config: ResolvedPluginConfig): string {
  const socket = config.gatewayConfig.socket as { serverOptions?: { path?: string } } | undefined;
  const path = (socket?.serverOptions?.path ?? "/socket.io").replace(/\/+$/, "");
  return path === "" ? "/" : path;
}

/**
 * The config defaults Strapi merges the user's config into (`lodash.defaultsDeep`): only the
 * values the environment gives. Everything else is decided by {@link resolvePluginConfig},
 * so that it can tell a key left out from a default.
 */
export function defaultConfig({ env }: { env: (name: string, fallback?: string) => string | undefined }): Record<string, unknown> {
  return {
    url: env("STRAPI_IO_URL", "") ?? "",
    adminToken: env("STRAPI_IO_ADMIN_TOKEN", "") ?? "",
  };
}
