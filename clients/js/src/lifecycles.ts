/**
 * Forwarding Strapi 5's document lifecycles to the gateway: a Document Service middleware
 * (`strapi.documents.use(...)`) that, once an action has succeeded and its transaction has
 * committed, calls `emit` for it. Forwarding never changes, delays or fails the action.
 */

import type { RemoteIo } from "./types.js";

/** The Document Service actions that can be forwarded. */
export type LifecycleAction = "create" | "update" | "delete" | "publish" | "unpublish";

export const LIFECYCLE_ACTIONS: readonly LifecycleAction[] = ["create", "update", "delete", "publish", "unpublish"];

/** `lifecycles` in the plugin's config (`true` is `{ enabled: true }`). */
export interface LifecyclesConfig {
  /** Default `true` when the object is given. */
  enabled?: boolean;
  /** Content type uids to forward (default: every `api::` content type). */
  contentTypes?: string[];
  /** Actions to forward (default: all five). */
  actions?: LifecycleAction[];
  /**
   * The `emit` event a publish becomes: `"update"` (default, as the gateway maps Strapi's
   * `entry.publish` webhook), or `"publish"` when the gateway's `contentTypes` enables it.
   */
  publishEvent?: "update" | "publish";
  /** Same for unpublish: `"update"` (default; the entry is sent with `publishedAt: null`) or `"unpublish"`. */
  unpublishEvent?: "update" | "unpublish";
}

/** {@link LifecyclesConfig} with every default applied. */
export interface ResolvedLifecycles {
  enabled: boolean;
  contentTypes: string[] | null;
  actions: LifecycleAction[];
  publishEvent: "update" | "publish";
  unpublishEvent: "update" | "unpublish";
}

/** The Document Service middleware context (Strapi 5): `{ uid, action, params, contentType }`. */
export interface DocumentMiddlewareContext {
  uid: string;
  action: string;
  params?: Record<string, any>;
  contentType?: unknown;
}

export type DocumentMiddleware = (ctx: DocumentMiddlewareContext, next: () => Promise<unknown>) => Promise<unknown>;

/** What the middleware needs of `strapi`. */
export interface LifecycleHost {
  log: { error(message: string): void; debug?(message: string): void };
  db?: {
    inTransaction?(): boolean;
    transaction?(cb: (ctx: { onCommit(cb: () => void): void }) => unknown): Promise<unknown>;
  };
}

/** One `emit` a lifecycle turns into. */
interface Forward {
  event: string;
  data: Record<string, unknown>;
}

/** Checks and completes `lifecycles` (throws an Error naming the key). */
export function resolveLifecycles(value: unknown): ResolvedLifecycles {
  const off: ResolvedLifecycles = {
    enabled: false,
    contentTypes: null,
    actions: [...LIFECYCLE_ACTIONS],
    publishEvent: "update",
    unpublishEvent: "update",
  };
  if (value === undefined || value === null || value === false) return off;
  if (value === true) return { ...off, enabled: true };
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`lifecycles must be true, false or an object { enabled, contentTypes, actions, publishEvent, unpublishEvent }, got ${JSON.stringify(value)}`);
  }
  const v = value as Record<string, unknown>;
  const known = ["enabled", "contentTypes", "actions", "publishEvent", "unpublishEvent"];
  const unknown = Object.keys(v).filter((k) => !known.includes(k));
  if (unknown.length) throw new Error(`lifecycles: unknown key(s) ${unknown.join(", ")} (known: ${known.join(", ")})`);
  if (v.enabled !== undefined && typeof v.enabled !== "boolean") throw new Error("lifecycles.enabled must be a boolean");
  if (
    v.contentTypes !== undefined &&
    !(Array.isArray(v.contentTypes) && v.contentTypes.every((u) => typeof u === "string" && /^(api|plugin)::[a-z0-9-]+\.[a-z0-9-]+$/.test(u)))
  ) {
    throw new Error("lifecycles.contentTypes must be a list of content type uids such as \"api::article.article\"");
  }
  if (
    v.actions !== undefined &&
    !(Array.isArray(v.actions) && v.actions.every((a) => (LIFECYCLE_ACTIONS as readonly unknown[]).includes(a)))
  ) {
    throw new Error(`lifecycles.actions must be a list of ${LIFECYCLE_ACTIONS.join(", ")}`);
  }
  if (v.publishEvent !== undefined && v.publishEvent !== "update" && v.publishEvent !== "publish") {
    throw new Error("lifecycles.publishEvent must be \"update\" or \"publish\"");
  }
  if (v.unpublishEvent !== undefined && v.unpublishEvent !== "update" && v.unpublishEvent !== "unpublish") {
    throw new Error("lifecycles.unpublishEvent must be \"update\" or \"unpublish\"");
  }
  return {
    enabled: (v.enabled as boolean | undefined) ?? true,
    contentTypes: (v.contentTypes as string[] | undefined) ?? null,
    actions: (v.actions as LifecycleAction[] | undefined) ?? off.actions,
    publishEvent: (v.publishEvent as "update" | "publish" | undefined) ?? "update",
    unpublishEvent: (v.unpublishEvent as "update" | "unpublish" | undefined) ?? "update",
  };
}

/**
 * The middleware: `next()` first (its result is returned untouched, its error rethrown),
 * then, after the commit (at once, or through `strapi.db`'s `onCommit` when the action ran
 * inside an outer transaction; never after a rollback), one `emit` per affected entry.
 * Emits of one document go out in order; a failure is logged through `strapi.log.error`.
 */
export function createLifecycleMiddleware(options: {
  strapi: LifecycleHost;
  io: Pick<RemoteIo, "emit">;
  lifecycles?: LifecyclesConfig | boolean;
}): DocumentMiddleware {
  const { strapi, io } = options;
  const config = resolveLifecycles(options.lifecycles ?? true);
  const chains = new Map<string, Promise<void>>();

  const dispatch = (uid: string, action: string, documentId: string, forwards: Forward[]) => {
    const key = `${uid}\u0000${documentId}`;
    const previous = chains.get(key) ?? Promise.resolve();
    const current = previous.then(async () => {
      for (const f of forwards) {
        try {
          await io.emit({ event: f.event, schema: uid, data: f.data });
        } catch (error) {
          const e = error as { name?: string; status?: number; message?: string };
          strapi.log.error(
            `[strapi-io] could not forward ${action} of ${uid} ${documentId} to the gateway as "${f.event}": ` +
              `${e?.name ?? "Error"}${e?.status ? ` (${e.status})` : ""}: ${e?.message ?? String(error)}`,
          );
        }
      }
    });
    chains.set(key, current);
    void current.finally(() => {
      if (chains.get(key) === current) chains.delete(key);
    });
  };

  return async function strapiIoLifecycles(ctx, next) {
    const result = await next();
    try {
      if (!wanted(config, ctx)) return result;
      const { documentId, forwards } = forwardsFor(config, ctx, result);
      if (forwards.length === 0 || documentId === undefined) return result;
      const send = () => dispatch(ctx.uid, ctx.action, documentId, forwards);
      const db = strapi.db;
      if (db && typeof db.inTransaction === "function" && db.inTransaction() && typeof db.transaction === "function") {
        // Joins the open transaction: onCommit runs when it commits, never on rollback.
        await db.transaction(({ onCommit }) => onCommit(send));
      } else {
        send();
      }
    } catch (error) {
      strapi.log.error(
        `[strapi-io] could not forward ${ctx?.action} of ${ctx?.uid}: ${(error as Error)?.message ?? String(error)}`,
      );
    }
    return result;
  };
}

function wanted(config: ResolvedLifecycles, ctx: DocumentMiddlewareContext): boolean {
  if (!ctx || typeof ctx.uid !== "string") return false;
  if (!(config.actions as string[]).includes(ctx.action)) return false;
  return config.contentTypes ? config.contentTypes.includes(ctx.uid) : ctx.uid.startsWith("api::");
}

function forwardsFor(
  config: ResolvedLifecycles,
  ctx: DocumentMiddlewareContext,
  result: unknown,
): { documentId: string | undefined; forwards: Forward[] } {
  const paramsId = typeof ctx.params?.documentId === "string" ? ctx.params.documentId : undefined;
  if (!isObject(result)) return { documentId: paramsId, forwards: [] };
  switch (ctx.action) {
    case "create":
    case "update": {
      const documentId = typeof result.documentId === "string" ? result.documentId : paramsId;
      return { documentId, forwards: [{ event: ctx.action, data: result }] };
    }
    case "delete": {
      // Strapi 5 answers { documentId, entries }: one row per version deleted. The event
      // carries the published row's ids when there was one (as the gateway's webhook does).
      const documentId = typeof result.documentId === "string" ? result.documentId : paramsId;
      const entries = Array.isArray(result.entries) ? result.entries.filter(isObject) : null;
      if (entries && entries.length === 0) return { documentId, forwards: [] };
      const row = entries?.find((e) => e.publishedAt != null) ?? entries?.[0];
      const data: Record<string, unknown> = { documentId };
      if (row && row.id !== undefined) data.id = row.id;
      return { documentId, forwards: [{ event: "delete", data }] };
    }
    case "publish":
    case "unpublish": {
      const documentId = typeof result.documentId === "string" ? result.documentId : paramsId;
      const entries = Array.isArray(result.entries) ? result.entries.filter(isObject) : [];
      const forwards =
        ctx.action === "publish"
          ? entries.map((e) => ({ event: config.publishEvent, data: e }))
          : entries.map((e) => ({ event: config.unpublishEvent, data: { ...e, publishedAt: null } }));
      return { documentId, forwards };
    }
    default:
      return { documentId: paramsId, forwards: [] };
  }
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
