/**
 * The Strapi 5 plugin entry (`strapi-server`). With the package installed, Strapi enables it
 * as the plugin `strapi-io`. Two modes (`plugin-config.ts`):
 *
 * - **managed** (no `url`): the plugin runs the gateway as a child process of Strapi,
 *   configured from Strapi itself (`managed.ts`), and proxies its Socket.IO path on Strapi's
 *   own server outside production (`proxy.ts`); `config/plugins.js` needs nothing:
 *
 *   ```js
 *   module.exports = () => ({ "strapi-io": { config: { contentTypes: ["api::article.article"] } } });
 *   ```
 * - **unmanaged** (`url`, `adminToken`): a gateway run elsewhere.
 *
 * `register` sets `strapi.$io` to the remote client (before any app code runs), adds the
 * forwarding Document Service middleware when `lifecycles` is on (the default when managed),
 * and installs the proxy; `bootstrap` starts the managed gateway once Strapi's HTTP server
 * listens (never for `strapi console` and other commands that load Strapi without serving),
 * or checks that an unmanaged one answers (`GET /health`); `destroy` stops the gateway.
 * Nothing here can stop Strapi once the config is valid.
 */

import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { middlewareFor } from "./lifecycles.js";
import type { DocumentMiddleware } from "./lifecycles.js";
import { GatewaySupervisor, clientsLine, gatewayUrl, planGateway } from "./managed.js";
import { PLUGIN_NAME, defaultConfig, resolvePluginConfig, socketPath } from "./plugin-config.js";
import type { ResolvedPluginConfig } from "./plugin-config.js";
import { createSocketProxy, type KoaLikeContext, type SocketProxy } from "./proxy.js";
import { createEntrySender, createRemoteIo } from "./remote-io.js";
import type { RemoteIo } from "./types.js";

export { PLUGIN_NAME, resolvePluginConfig } from "./plugin-config.js";
export type { GatewayOptions, PluginConfig, ResolvedGateway, ResolvedPluginConfig } from "./plugin-config.js";

/** The parts of `strapi` the plugin uses. */
export interface StrapiLike {
  config: { get(path: string, defaultValue?: unknown): unknown };
  log: {
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
    debug?(message: string): void;
  };
  documents?: { use(middleware: DocumentMiddleware): unknown };
  db?: {
    inTransaction?(): boolean;
    transaction?(cb: (ctx: { onCommit(cb: () => void): void }) => unknown): Promise<unknown>;
  };
  /** Strapi's directories: the app's root holds `src/` (schemas) and the data directory. */
  dirs?: { app?: { root?: string } };
  /** Strapi's HTTP server: its Koa app (`use`) and Node server (`httpServer`). */
  server?: { use(middleware: (ctx: any, next: () => Promise<unknown>) => unknown): unknown; httpServer?: unknown };
  $io?: RemoteIo;
  [key: string]: unknown;
}

/** A Node HTTP server, as far as the plugin uses it. */
interface HttpServerLike {
  listening?: boolean;
  address(): unknown;
  once(event: "listening", listener: () => void): unknown;
  on(event: "upgrade", listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
  listenerCount(event: string): number;
}

/** What the plugin keeps per Strapi instance. */
interface State {
  config: ResolvedPluginConfig;
  url: string;
  adminToken: string;
  proxy: SocketProxy | null;
  supervisor: GatewaySupervisor | null;
  onListening: (() => void) | null;
  stopped: boolean;
}

const states = new WeakMap<object, State>();

function readConfig(strapi: StrapiLike): ResolvedPluginConfig {
  const raw = strapi.config.get(`plugin::${PLUGIN_NAME}`);
  try {
    return resolvePluginConfig(raw ?? defaultConfig({ env: (name: string, fallback?: string) => processEnv()[name] ?? fallback }));
  } catch (error) {
    throw new Error(`Error regarding ${PLUGIN_NAME} config: ${(error as Error).message}`);
  }
}

function processEnv(): Record<string, string | undefined> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
}

function httpServerOf(strapi: StrapiLike): HttpServerLike | null {
  const server = strapi.server?.httpServer as HttpServerLike | undefined;
  return server && typeof server.once === "function" && typeof server.address === "function" ? server : null;
}

/** Where Strapi listens: the server's address once it listens, else its config. */
function strapiAddress(strapi: StrapiLike): { host: string | null; port: number | null } {
  const address = httpServerOf(strapi)?.address() as { address?: string; port?: number } | string | null | undefined;
  if (address && typeof address === "object" && typeof address.port === "number") {
    return { host: address.address ?? null, port: address.port };
  }
  const port = Number(strapi.config.get("server.port"));
  const host = strapi.config.get("server.host");
  return { host: typeof host === "string" ? host : null, port: Number.isInteger(port) && port > 0 ? port : null };
}

/** Starts the managed gateway (once Strapi listens): plans it from Strapi's config, logs what prevents it. */
function startManaged(strapi: StrapiLike, state: State): void {
  if (state.stopped || state.supervisor) return;
  const env = processEnv();
  const address = strapiAddress(strapi);
  const planned = planGateway(strapi, state.config, { adminToken: state.adminToken, strapi: address, env });
  if (!planned.ok) {
    strapi.log.error(
      `[${PLUGIN_NAME}] the gateway is not started: ${planned.problems.join("; ")}. Strapi goes on; strapi.$io calls fail (and forwarded events wait) until a gateway answers at ${state.url}`,
    );
    return;
  }
  const gateway = state.config.gateway!;
  state.supervisor = new GatewaySupervisor(planned.plan, strapi.log, {
    restart: gateway.restart,
    stopGraceMs: gateway.stopGraceMs,
    clients: clientsLine(state.config, planned.plan.strapiUrl, planned.plan.url),
  });
  state.supervisor.start();
}

/** The plugin object Strapi loads: `{ config, register, bootstrap, destroy }`. */
const plugin = {
  config: {
    default: defaultConfig,
    validator(config: unknown): void {
      resolvePluginConfig(config);
    },
  },

  register({ strapi }: { strapi: StrapiLike }): void {
    const config = readConfig(strapi);
    const url = config.managed ? gatewayUrl(config.gateway!, strapiAddress(strapi).port) : config.url;
    // Managed: a token of this start, in memory only (the child gets it in its environment).
    const adminToken = config.adminToken || randomBytes(32).toString("hex");
    const state: State = { config, url, adminToken, proxy: null, supervisor: null, onListening: null, stopped: false };
    states.set(strapi, state);
    const common = { url, adminToken, timeoutMs: config.timeoutMs, retries: config.retries };
    if (strapi.$io !== undefined) {
      strapi.log.warn(`[${PLUGIN_NAME}] strapi.$io was already set (is @strapi-community/plugin-io still enabled?): replacing it`);
    }
    strapi.$io = createRemoteIo({
      ...common,
      onError: (e) => strapi.log.warn(`[${PLUGIN_NAME}] strapi.$io.${e.method} failed: ${e.name} (${e.status}): ${e.message}`),
    });
    if (config.lifecycles.enabled) {
      if (!strapi.documents || typeof strapi.documents.use !== "function") {
        throw new Error(`[${PLUGIN_NAME}] lifecycles need Strapi 5's Document Service (strapi.documents.use)`);
      }
      // A client of its own: the middleware logs its failures itself, once, as errors.
      strapi.documents.use(
        middlewareFor(strapi, createEntrySender(common), config.lifecycles),
      );
    }
    if (config.managed && config.proxy) {
      const httpServer = httpServerOf(strapi);
      if (!strapi.server || typeof strapi.server.use !== "function" || !httpServer) {
        strapi.log.warn(`[${PLUGIN_NAME}] proxy: Strapi's server (strapi.server.use, strapi.server.httpServer) is not available: clients connect to ${url}`);
      } else {
        const target = new URL(url);
        const proxy = createSocketProxy({
          host: target.hostname.replace(/^\[|\]$/g, ""),
          port: Number(target.port),
          path: socketPath(config),
          server: httpServer,
        });
        state.proxy = proxy;
        // In register: ahead of Strapi's own middlewares (added at bootstrap), body parser included.
        strapi.server.use((ctx: KoaLikeContext, next: () => Promise<unknown>) => proxy.middleware(ctx, next));
        httpServer.on("upgrade", proxy.upgrade);
      }
    }
  },

  async bootstrap({ strapi }: { strapi: StrapiLike }): Promise<void> {
    const state = states.get(strapi);
    const config = state?.config ?? readConfig(strapi);
    const forwarding = config.lifecycles.enabled
      ? `; forwarding document ${config.lifecycles.actions.join("/")} of ${config.lifecycles.contentTypes?.join(", ") ?? "every api:: content type"}`
      : "";
    if (config.managed && state) {
      const httpServer = httpServerOf(strapi);
      strapi.log.info(
        `[${PLUGIN_NAME}] strapi.$io → ${state.url} (the gateway runs beside Strapi, started when Strapi listens${state.proxy ? `; ${socketPath(config)}/ proxied on Strapi's server` : ""})${forwarding}`,
      );
      if (!httpServer || httpServer.listening) {
        startManaged(strapi, state);
      } else {
        // Not for commands that load Strapi without serving it (console, export, …).
        state.onListening = () => startManaged(strapi, state);
        httpServer.once("listening", state.onListening);
      }
      return;
    }
    const health = `${config.url.replace(/\/+$/, "")}/health`;
    try {
      const res = await fetch(health, { signal: AbortSignal.timeout(Math.min(config.timeoutMs, 3000)) });
      const body = (await res.json().catch(() => null)) as { status?: string } | null;
      if (res.ok && body?.status === "ok") {
        strapi.log.info(`[${PLUGIN_NAME}] strapi.$io → ${config.url} (gateway ready)${forwarding}`);
      } else {
        strapi.log.warn(
          `[${PLUGIN_NAME}] strapi.$io → ${config.url}: the gateway answers ${res.status} ${body?.status ?? ""} at ${health}${forwarding}`,
        );
      }
    } catch (error) {
      const cause = (error as { cause?: { message?: string } })?.cause?.message ?? (error as Error)?.message;
      strapi.log.warn(
        `[${PLUGIN_NAME}] strapi.$io → ${config.url}: the gateway is not reachable (${cause}); $io calls fail until it is${forwarding}`,
      );
    }
  },

  async destroy({ strapi }: { strapi?: StrapiLike } = {}): Promise<void> {
    const state = strapi ? states.get(strapi) : undefined;
    if (!state || !strapi) return;
    state.stopped = true;
    const httpServer = httpServerOf(strapi);
    if (state.onListening) httpServer?.removeListener("listening", state.onListening);
    if (state.proxy) {
      httpServer?.removeListener("upgrade", state.proxy.upgrade);
      state.proxy.close();
    }
    await state.supervisor?.stop();
    states.delete(strapi);
  },
};

/** The plugin object's type. */
export type StrapiIoPlugin = typeof plugin;

export default plugin;
