/**
 * Forwarding Strapi 5's document lifecycles to the gateway: a Document Service middleware
 * (`strapi.documents.use(...)`) that, once an action has succeeded and its transaction has
 * committed, hands its entry events to an outbox. Forwarding never changes, delays or fails
 * the action. The events are Strapi's own webhook bodies (`{event: "entry.publish", uid,
 * entry}`); the events of one commit (a Content Manager "publish" is an update and a publish
 * in one transaction) go out in one `entryEvents` call, which the gateway merges per
 * document exactly as it merges Strapi's webhook requests: one event per action. The outbox
 * sends in order, one call at a time, each with an idempotency key of its own; while the
 * gateway cannot be reached (or answers 5xx/429/409) it retries the same call with backoff,
 * so nothing is lost while the gateway restarts and a retried call is still heard once. It is
 * bounded: when full, the oldest call is dropped, and the count logged.
 */

import { RemoteIoGatewayError, RemoteIoNetworkError } from "./errors.js";
import type { CallOptions, EntryEvent, EntrySender } from "./types.js";

/** What the middleware needs of the gateway client (an {@link EntrySender}). */
export type Emitter = EntrySender;

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
   * No longer used (accepted, with a warning at start): the gateway sends a publish as
   * `publish` when its `contentTypes` enable that action, else as `update` with
   * `meta.action: "publish"` — the same for Strapi's webhooks and for this forwarder.
   */
  publishEvent?: "update" | "publish";
  /** No longer used, as `publishEvent` (an unpublish is `unpublish`, or `update` with `meta.action: "unpublish"`). */
  unpublishEvent?: "update" | "unpublish";
  /** Most calls waiting in the outbox (default 10,000); past it the oldest is dropped. */
  outboxSize?: number;
}

/** {@link LifecyclesConfig} with every default applied. */
export interface ResolvedLifecycles {
  enabled: boolean;
  contentTypes: string[] | null;
  actions: LifecycleAction[];
  outboxSize: number;
  /** Keys given that are no longer used (warned about at start). */
  unused: string[];
}

/** The outbox's default bound. */
export const DEFAULT_OUTBOX_SIZE = 10_000;
/** First and longest pause between retries of one call, in milliseconds. */
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

/** The entry events of one action on one document. */
interface Forward {
  uid: string;
  action: string;
  documentId: string;
  events: EntryEvent[];
}

/** Most actions in one `entryEvents` call. */
const MAX_ACTIONS_PER_CALL = 100;

/** Checks and completes `lifecycles` (throws an Error naming the key). */
export function resolveLifecycles(value: unknown): ResolvedLifecycles {
  const off: ResolvedLifecycles = {
    enabled: false,
    contentTypes: null,
    actions: [...LIFECYCLE_ACTIONS],
    outboxSize: DEFAULT_OUTBOX_SIZE,
    unused: [],
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
    outboxSize: (v.outboxSize as number | undefined) ?? DEFAULT_OUTBOX_SIZE,
    unused: ["publishEvent", "unpublishEvent"].filter((k) => v[k] !== undefined),
  };
}

/** Whether a call that failed this way may succeed later (the gateway unreachable, restarting, overloaded). */
function retryable(error: unknown): boolean {
  if (error instanceof RemoteIoNetworkError) return true;
  if (error instanceof RemoteIoGatewayError) {
    const status = (error as { httpStatus?: number; status?: number }).httpStatus ?? error.status;
    return status === 429 || status === 409 || (typeof status === "number" && status >= 500);
  }
  return false;
}

/** One `entryEvents` call waiting to go out. */
interface Pending {
  events: EntryEvent[];
  call: CallOptions;
  what: string;
}

/** Sends calls in order, retrying what may succeed later; see the module docs. */
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
        this.log.error(`[strapi-io] outbox full (${this.size}): ${this.dropped} oldest call(s) dropped so far`);
      }
    }
    this.queue.push(p);
    void this.drain();
  }

  /**
   * Takes `p` out once it was sent or given up. A full outbox may already have dropped it
   * while it was in flight: then the queue's head is another call, which stays.
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
          await this.io.entryEvents(p.events, p.call);
          if (this.failing) {
            this.log.error(`[strapi-io] the gateway answers again: sending the ${this.queue.length} waiting call(s)`);
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
 * inside an outer transaction; never after a rollback), the action's entry events. The
 * events committed together (in one tick) go out in one `entryEvents` call, through the
 * outbox (in order; retried while the gateway is unreachable; each heard once).
 */
export function createLifecycleMiddleware(options: {
  strapi: LifecycleHost;
  io: Emitter;
  lifecycles?: LifecyclesConfig | boolean;
}): DocumentMiddleware {
  return middlewareFor(options.strapi, options.io, resolveLifecycles(options.lifecycles ?? true));
}

/** {@link createLifecycleMiddleware} with the config already resolved (the plugin entry's). */
export function middlewareFor(strapi: LifecycleHost, io: Emitter, config: ResolvedLifecycles): DocumentMiddleware {
  for (const key of config.unused) {
    strapi.log.error(
      `[strapi-io] lifecycles.${key} is no longer used: the gateway sends publish and unpublish as actions of their own when its contentTypes enable them, else as update with meta.action (the same as for Strapi's webhooks)`,
    );
  }
  const outbox = new Outbox(io, strapi.log, config.outboxSize);
  // Unique per call: this middleware's own random prefix, and a counter.
  const prefix = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
  let sequence = 0;
  let committed: Forward[] = [];

  // Everything committed in this tick (an outer transaction runs its commit callbacks one
  // after the other): one call, so that the gateway merges one document's events together.
  const flush = () => {
    const forwards = committed;
    committed = [];
    for (let i = 0; i < forwards.length; i += MAX_ACTIONS_PER_CALL) {
      const part = forwards.slice(i, i + MAX_ACTIONS_PER_CALL);
      const what = part.map((f) => `${f.action} of ${f.uid} ${f.documentId}`);
      outbox.push({
        events: part.flatMap((f) => f.events),
        call: { idempotencyKey: `entries:${prefix}.${(sequence += 1)}` },
        what: what.length <= 3 ? what.join(", ") : `${what.slice(0, 3).join(", ")} and ${what.length - 3} more`,
      });
    }
  };
  const send = (forward: Forward) => {
    if (committed.length === 0) queueMicrotask(flush);
    committed.push(forward);
  };

  return async function strapiIoLifecycles(ctx, next) {
    const result = await next();
    try {
      if (!wanted(config, ctx)) return result;
      const forward = forwardFor(ctx, result);
      if (!forward) return result;
      const db = strapi.db;
      if (db && typeof db.inTransaction === "function" && db.inTransaction() && typeof db.transaction === "function") {
        // Joins the open transaction: onCommit runs when it commits, never on rollback.
        await db.transaction(({ onCommit }) => onCommit(() => send(forward)));
      } else {
        send(forward);
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

/**
 * An action's entry events, as Strapi's webhooks would send them: `create`/`update` one with
 * the result (and a publish of it when the call published); `publish`, `unpublish` and `delete` one per row Strapi answers in `entries`
 * (the gateway keeps the published row, and marks an unpublished document a draft).
 */
function forwardFor(ctx: DocumentMiddlewareContext, result: unknown): Forward | undefined {
  if (!isObject(result)) return undefined;
  const paramsId = typeof ctx.params?.documentId === "string" ? ctx.params.documentId : undefined;
  const documentId = typeof result.documentId === "string" ? result.documentId : paramsId;
  if (documentId === undefined) return undefined;
  const event = (entry: Record<string, any>): EntryEvent => ({
    event: `entry.${ctx.action}` as EntryEvent["event"],
    uid: ctx.uid,
    entry: typeof entry.documentId === "string" ? entry : { ...entry, documentId },
  });
  let events: EntryEvent[];
  switch (ctx.action) {
    case "create":
    case "update":
      events = [event(result)];
      // With `status: "published"` (REST's default) Strapi saves the draft and publishes it
      // in the same call, and answers the published row: a save and a publish, as its
      // webhooks say (the gateway marks the event `meta.action: "publish"`).
      if (ctx.params?.status === "published" && result.publishedAt != null && isDraftAndPublish(ctx.contentType)) {
        events.push({ ...event(result), event: "entry.publish" });
      }
      break;
    case "delete":
    case "publish":
    case "unpublish": {
      // Strapi 5 answers { documentId, entries }: one row per version concerned.
      const entries = Array.isArray(result.entries) ? result.entries.filter(isObject) : [];
      events = entries.map(event);
      break;
    }
    default:
      return undefined;
  }
  return events.length > 0 ? { uid: ctx.uid, action: ctx.action, documentId, events } : undefined;
}

function isDraftAndPublish(contentType: unknown): boolean {
  return isObject(contentType) && isObject(contentType.options) && contentType.options.draftAndPublish === true;
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
