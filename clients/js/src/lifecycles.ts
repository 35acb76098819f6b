/**
 * Forwarding Strapi 5's document lifecycles to the gateway: a Document Service middleware
 * (`strapi.documents.use(...)`) that, once an action has succeeded and its transaction has
 * committed, puts its `emit`s in an outbox. Forwarding never changes, delays or fails the
 * action. The outbox sends in order, one at a time, each `emit` with an idempotency key of its
 * own; while the gateway cannot be reached (or answers 5xx/429) it retries the same `emit`
 * with backoff, so nothing is lost while the gateway restarts and a retried `emit` is still
 * heard once. It is bounded: when full, the oldest `emit` is dropped, and the count logged.
 */

import { RemoteIoGatewayError, RemoteIoNetworkError } from "./errors.js";
import type { CallOptions, EmitOptions } from "./types.js";

/** What the middleware needs of the gateway client: `emit`, taking an idempotency key. */
export interface Emitter {
  emit(options: EmitOptions, call?: CallOptions): Promise<void>;
}

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
  /** Most `emit`s waiting in the outbox (default 10,000); past it the oldest is dropped. */
  outboxSize?: number;
}

/** {@link LifecyclesConfig} with every default applied. */
export interface ResolvedLifecycles {
  enabled: boolean;
  contentTypes: string[] | null;
  actions: LifecycleAction[];
  publishEvent: "update" | "publish";
  unpublishEvent: "update" | "unpublish";
  outboxSize: number;
}

/** The outbox's default bound. */
export const DEFAULT_OUTBOX_SIZE = 10_000;
/** First and longest pause between retries of one `emit`, in milliseconds. */
export const RETRY_FIRST_MS = 100;
export const RETRY_MAX_MS = 5_000;

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
  /** An `update` standing for a publish or an unpublish. */
  via?: "publish" | "unpublish";
}

/** Checks and completes `lifecycles` (throws an Error naming the key). */
export function resolveLifecycles(value: unknown): ResolvedLifecycles {
  const off: ResolvedLifecycles = {
    enabled: false,
    contentTypes: null,
    actions: [...LIFECYCLE_ACTIONS],
    publishEvent: "update",
    unpublishEvent: "update",
    outboxSize: DEFAULT_OUTBOX_SIZE,
  };
  if (value === undefined || value === null || value === false) return off;
  if (value === true) return { ...off, enabled: true };
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new Error(`lifecycles must be true, false or an object { enabled, contentTypes, actions, publishEvent, unpublishEvent }, got ${JSON.stringify(value)}`);
  }
  const v = value as Record<string, unknown>;
  const known = ["enabled", "contentTypes", "actions", "publishEvent", "unpublishEvent", "outboxSize"];
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
  if (
    v.outboxSize !== undefined &&
    !(typeof v.outboxSize === "number" && Number.isInteger(v.outboxSize) && v.outboxSize >= 1 && v.outboxSize <= 1_000_000)
  ) {
    throw new Error("lifecycles.outboxSize must be an integer from 1 to 1000000");
  }
  return {
    enabled: (v.enabled as boolean | undefined) ?? true,
    contentTypes: (v.contentTypes as string[] | undefined) ?? null,
    actions: (v.actions as LifecycleAction[] | undefined) ?? off.actions,
    publishEvent: (v.publishEvent as "update" | "publish" | undefined) ?? "update",
    unpublishEvent: (v.unpublishEvent as "update" | "unpublish" | undefined) ?? "update",
    outboxSize: (v.outboxSize as number | undefined) ?? DEFAULT_OUTBOX_SIZE,
  };
}

/** Whether an `emit` that failed this way may succeed later (the gateway unreachable, restarting, overloaded). */
function retryable(error: unknown): boolean {
  if (error instanceof RemoteIoNetworkError) return true;
  if (error instanceof RemoteIoGatewayError) {
    const status = (error as { httpStatus?: number; status?: number }).httpStatus ?? error.status;
    return status === 429 || status === 409 || (typeof status === "number" && status >= 500);
  }
  return false;
}

/** One `emit` waiting to go out. */
interface Pending {
  options: EmitOptions;
  call: CallOptions;
  what: string;
}

/** Sends `emit`s in order, retrying what may succeed later; see the module docs. */
class Outbox {
  private readonly queue: Pending[] = [];
  private running = false;
  private dropped = 0;
  /** Whether the last attempt failed (the recovery is then logged). */
  private failing = false;

  constructor(
    private readonly io: Emitter,
    private readonly log: LifecycleHost["log"],
    private readonly size: number,
  ) {}

  push(p: Pending): void {
    if (this.queue.length >= this.size) {
      this.queue.shift();
      this.dropped += 1;
      if (this.dropped === 1 || this.dropped % 1000 === 0) {
        this.log.error(`[strapi-io] outbox full (${this.size}): ${this.dropped} oldest event(s) dropped so far`);
      }
    }
    this.queue.push(p);
    void this.drain();
  }

  /**
   * Takes `p` out once it was sent or given up. A full outbox may already have dropped it
   * while it was in flight: then the queue's head is another emit, which stays.
   */
  private done(p: Pending): void {
    if (this.queue[0] === p) this.queue.shift();
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let pause = RETRY_FIRST_MS;
    try {
      while (this.queue.length > 0) {
        const p = this.queue[0];
        try {
          await this.io.emit(p.options, p.call);
          if (this.failing) {
            this.log.error(`[strapi-io] the gateway answers again: sending the ${this.queue.length} waiting event(s)`);
            this.failing = false;
          }
          this.done(p);
          pause = RETRY_FIRST_MS;
        } catch (error) {
          const e = error as { name?: string; status?: number; message?: string };
          const why = `${e?.name ?? "Error"}${e?.status ? ` (${e.status})` : ""}: ${e?.message ?? String(error)}`;
          if (!retryable(error)) {
            this.log.error(`[strapi-io] could not forward ${p.what} to the gateway (not retried): ${why}`);
            this.done(p);
            continue;
          }
          if (!this.failing) {
            this.failing = true;
            this.log.error(`[strapi-io] could not forward ${p.what} to the gateway, retrying until it answers: ${why}`);
          }
          await new Promise((r) => {
            // Never the reason the process stays up (Strapi's server is).
            const timer: { unref?: () => void } = setTimeout(r, pause) as never;
            timer.unref?.();
          });
          pause = Math.min(pause * 2, RETRY_MAX_MS);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/**
 * The middleware: `next()` first (its result is returned untouched, its error rethrown),
 * then, after the commit (at once, or through `strapi.db`'s `onCommit` when the action ran
 * inside an outer transaction; never after a rollback), one `emit` per affected entry, into
 * the outbox (in order; retried while the gateway is unreachable; each heard once).
 */
export function createLifecycleMiddleware(options: {
  strapi: LifecycleHost;
  io: Emitter;
  lifecycles?: LifecyclesConfig | boolean;
}): DocumentMiddleware {
  const { strapi, io } = options;
  const config = resolveLifecycles(options.lifecycles ?? true);
  const outbox = new Outbox(io, strapi.log, config.outboxSize);
  // Unique per emit: this middleware's own random prefix, and a counter.
  const prefix = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
  let sequence = 0;

  const dispatch = (uid: string, action: string, documentId: string, forwards: Forward[]) => {
    for (const f of forwards) {
      outbox.push({
        options: { event: f.event, schema: uid, data: f.data },
        call: {
          idempotencyKey: `${action}:${uid}:${documentId}:${prefix}.${(sequence += 1)}`,
          ...(f.via ? { meta: { action: f.via } } : {}),
        },
        what: `${action} of ${uid} ${documentId} (as "${f.event}")`,
      });
    }
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
          ? entries.map((e): Forward => ({
              event: config.publishEvent,
              data: e,
              ...(config.publishEvent === "update" ? { via: "publish" as const } : {}),
            }))
          : entries.map((e): Forward => ({
              event: config.unpublishEvent,
              data: { ...e, publishedAt: null },
              ...(config.unpublishEvent === "update" ? { via: "unpublish" as const } : {}),
            }));
      return { documentId, forwards };
    }
    default:
      return { documentId: paramsId, forwards: [] };
  }
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
