/**
 * The Strapi 5 plugin entry (`strapi-server`). With the package installed, Strapi enables it
 * as the plugin `strapi-io`; `config/plugins.js`:
 *
 * ```js
 * module.exports = ({ env }) => ({
 *   "strapi-io": {
 *     config: {
 *       url: env("STRAPI_IO_URL"),                 // http://127.0.0.1:1338
 *       adminToken: env("STRAPI_IO_ADMIN_TOKEN"),
 *       // timeoutMs: 10000, retries: 2,
 *       // lifecycles: true,  // forward document create/update/delete/publish/unpublish
 *     },
 *   },
 * });
 * ```
 *
 * `register` sets `strapi.$io` to the remote client (before any app code runs) and, when
 * `lifecycles` is on, adds the forwarding Document Service middleware; `bootstrap` checks
 * that the gateway answers (`GET /health`) and logs the outcome. Nothing here can stop
 * Strapi once the config is valid.
 */

import { middlewareFor, resolveLifecycles } from "./lifecycles.js";
import type { DocumentMiddleware, LifecyclesConfig, ResolvedLifecycles } from "./lifecycles.js";
import { createEntrySender, createRemoteIo } from "./remote-io.js";
import type { RemoteIo } from "./types.js";

/** The plugin's name: its key in `config/plugins.js`. */
export const PLUGIN_NAME = "strapi-io";

/** `config/plugins.js` → `"strapi-io".config`. */
export interface PluginConfig {
  /** The gateway's base URL (default: `STRAPI_IO_URL`). */
  url: string;
  /** The gateway's admin token (default: `STRAPI_IO_ADMIN_TOKEN`). */
  adminToken: string;
  /** Bound on one `$io` call, in milliseconds (default 10000). */
  timeoutMs?: number;
  /** Retries when the request provably was not sent (default 2). */
  retries?: number;
  /** Forward document lifecycles to the gateway (default `false`). */
  lifecycles?: boolean | LifecyclesConfig;
}

/** {@link PluginConfig} checked and completed. */
export interface ResolvedPluginConfig {
  url: string;
  adminToken: string;
  timeoutMs: number;
  retries: number;
  lifecycles: ResolvedLifecycles;
}

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
  $io?: RemoteIo;
  [key: string]: unknown;
}

const KNOWN_KEYS = ["url", "adminToken", "timeoutMs", "retries", "lifecycles"];

/** Checks and completes the plugin config; throws an Error naming the key at fault. */
export function resolvePluginConfig(config: unknown): ResolvedPluginConfig {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new Error(`config must be an object { url, adminToken, timeoutMs?, retries?, lifecycles? }`);
  }
  const c = config as Record<string, unknown>;
  const unknown = Object.keys(c).filter((k) => !KNOWN_KEYS.includes(k));
  if (unknown.length) throw new Error(`unknown key(s) ${unknown.join(", ")} (known: ${KNOWN_KEYS.join(", ")})`);
  if (typeof c.url !== "string" || c.url.trim() === "") {
    throw new Error("url is required: the strapi-io gateway's base URL, e.g. http://127.0.0.1:1338 (or set STRAPI_IO_URL)");
  }
  if (typeof c.adminToken !== "string" || c.adminToken.trim() === "") {
    throw new Error("adminToken is required: the gateway's admin token (or set STRAPI_IO_ADMIN_TOKEN)");
  }
  const resolved: ResolvedPluginConfig = {
    url: c.url.trim(),
    adminToken: c.adminToken.trim(),
    timeoutMs: (c.timeoutMs as number | undefined) ?? 10_000,
    retries: (c.retries as number | undefined) ?? 2,
    lifecycles: resolveLifecycles(c.lifecycles),
  };
  // createRemoteIo checks url, timeoutMs and retries; its TypeError becomes the config error.
  try {
    createRemoteIo({ url: resolved.url, adminToken: resolved.adminToken, timeoutMs: resolved.timeoutMs, retries: resolved.retries });
  } catch (error) {
    throw new Error((error as Error).message.replace(/^createRemoteIo: /, ""));
  }
  return resolved;
}

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

function defaultConfig({ env }: { env: (name: string, fallback?: string) => string | undefined }) {
  return {
    url: env("STRAPI_IO_URL", "") ?? "",
    adminToken: env("STRAPI_IO_ADMIN_TOKEN", "") ?? "",
    timeoutMs: 10_000,
    retries: 2,
    lifecycles: false,
  };
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
    const common = { url: config.url, adminToken: config.adminToken, timeoutMs: config.timeoutMs, retries: config.retries };
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
  },

  async bootstrap({ strapi }: { strapi: StrapiLike }): Promise<void> {
    const config = readConfig(strapi);
    const forwarding = config.lifecycles.enabled
      ? `; forwarding document ${config.lifecycles.actions.join("/")} of ${config.lifecycles.contentTypes?.join(", ") ?? "every api:: content type"}`
      : "";
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

  destroy(): void {},
};

/** The plugin object's type. */
export type StrapiIoPlugin = typeof plugin;

export default plugin;
