/**
 * The values the `$io` API takes and returns, with the names of the plugin's reference
 * (`EmitOptions`, `RawEmitOptions`, `EntitySubscriptionResult`, `SocketInfo`) and the
 * shapes the strapi-io gateway answers with.
 */

/**
 * Per-call options the gateway client's `emit` takes as a second argument, beyond the
 * reference's signature (used by the plugin entry's outbox).
 */
export interface CallOptions {
  /**
   * Sent as `Idempotency-Key`: the gateway answers a retried call with a key it has already
   * answered (within 10 minutes, on that node) without emitting again. 1 to 200 visible
   * ASCII characters.
   */
  idempotencyKey?: string;
  /**
   * The event's `meta` beyond the reference: `{ action: "publish" | "unpublish" }` marks an
   * `update` that stands for a publish or an unpublish (not a draft save).
   */
  meta?: { action?: "publish" | "unpublish" };
}

/**
 * One Strapi entry event, as Strapi's webhooks send it: what `entryEvents` takes (the plugin
 * entry's lifecycle forwarder sends them; beyond the reference).
 */
export interface EntryEvent {
  /** `entry.create`, `entry.update`, `entry.delete`, `entry.publish` or `entry.unpublish`. */
  event: "entry.create" | "entry.update" | "entry.delete" | "entry.publish" | "entry.unpublish";
  /** The content type's uid. */
  uid: string;
  /** The row concerned, with its `documentId`. */
  entry: Record<string, unknown>;
}

/** What {@link createEntrySender} returns, and what the lifecycle middleware sends through. */
export interface EntrySender {
  /**
   * Sends Strapi entry events committed together (`POST /api/io/entryEvents`); the gateway
   * merges each document's into one content event, as it merges Strapi's webhook requests.
   * Answers the gateway's report.
   */
  entryEvents(events: EntryEvent[], callOptions?: CallOptions): Promise<unknown>;
}

/** `emit({ event, schema, data })`. */
export interface EmitOptions {
  /** Action: `create`, `update`, `delete`, or a custom action the gateway enables. */
  event: string;
  /**
   * The content type: a uid (`"api::article.article"`) or a Strapi schema object (as
   * `strapi.contentType(uid)` returns it) carrying `uid`, `singularName` or
   * `info.singularName`.
   */
  schema: string | object;
  /** The entry (sanitized by the gateway for each audience). */
  data: any;
}

/** `raw({ event, rooms, data })`. */
export interface RawEmitOptions {
  /** Any event name. */
  event: string;
  /** Only these rooms; every socket of `/` when absent or empty. */
  rooms?: string[];
  /** The payload, sent as given (the gateway strips sensitive keys only). */
  data: any;
}

/** The users-permissions user behind a socket (JWT sockets only). */
export interface SocketUser {
  id: number;
  username: string;
  email: string;
  /** The role's type: `authenticated`, `editor`, … */
  role: string;
}

/** One socket as `getSocketsInRoom` reports it. */
export interface SocketInfo {
  /** The socket's id (its client's `socket.id`, what `whoami` answers; every method accepts it). */
  id: string;
  /** The user, for JWT sockets; `null` for public and API-token sockets. */
  user: SocketUser | null;
  /** The reference's `userId`: `user.id`, when there is a user. */
  userId?: number;
  /** The role type (`public`, `authenticated`, …) or the API token's name. */
  role: string;
  /** The socket's rooms, its own id excluded. */
  rooms: string[];
}

/** One socket as `getEntityRoomSockets` reports it. */
export interface EntityRoomSocket {
  id: string;
  user: SocketUser | null;
}

/**
 * `subscribeToEntity` / `unsubscribeFromEntity`: `{ success: true, room, uid, id }` or
 * `{ success: false, error }` (the reference's interface, discriminated on `success`).
 */
export type EntitySubscriptionResult =
  | { success: true; room: string; uid: string; id: string | number; error?: undefined }
  | { success: false; error: string; room?: undefined; uid?: undefined; id?: undefined };

/** One entity subscription of a socket. */
export interface EntitySubscription {
  uid: string;
  /** The id as subscribed: numeric ids come back as numbers, documentIds as strings. */
  id: string | number;
  /** The entity room, `<uid>:<id>`. */
  room: string;
}

/** `getEntitySubscriptions`: `{ success: true, subscriptions }` or `{ success: false, error }`. */
export type EntitySubscriptionsResult =
  | { success: true; subscriptions: EntitySubscription[]; error?: undefined }
  | { success: false; error: string; subscriptions?: undefined };

/**
 * Every method of the reference's `strapi.$io`, served by the gateway. Each returns a
 * Promise: the reference's `joinRoom`, `leaveRoom`, `sendPrivateMessage`, `broadcast`,
 * `emitToNamespace`, `disconnectSocket`, `unsubscribeFromEntity`, `getEntitySubscriptions`
 * and `emitToEntity` are synchronous in-process; here they cross the network. Code that
 * ignored their return value keeps working unchanged; code that read it must `await` it.
 */
export interface RemoteIo {
  /** Sends a content event to every audience allowed to hear it, sanitized per audience. */
  emit(options: EmitOptions): Promise<void>;
  /** Sends an event as given (sensitive keys stripped) to the listed rooms, or everyone. */
  raw(options: RawEmitOptions): Promise<void>;
  /** Adds a socket to a room: `true`, or `false` when the socket is not found. */
  joinRoom(socketId: string, roomName: string): Promise<boolean>;
  /** Removes a socket from a room: `true`, or `false` when the socket is not found. */
  leaveRoom(socketId: string, roomName: string): Promise<boolean>;
  /** The sockets in a room, with their user, role and rooms. */
  getSocketsInRoom(roomName: string): Promise<SocketInfo[]>;
  /** Sends an event to one socket. */
  sendPrivateMessage(socketId: string, event: string, data: any): Promise<void>;
  /** Sends an event to every socket but one. */
  broadcast(socketId: string, event: string, data: any): Promise<void>;
  /** Sends an event to every socket of a namespace (`"/"` or a configured name). */
  emitToNamespace(namespace: string, event: string, data: any): Promise<void>;
  /** Sends `server-disconnect {reason}` then disconnects: `true`, or `false` when not found. */
  disconnectSocket(socketId: string, reason?: string): Promise<boolean>;
  /** Subscribes a socket to an entity, with the client event's checks. */
  subscribeToEntity(socketId: string, uid: string, id: string | number): Promise<EntitySubscriptionResult>;
  /** Unsubscribes a socket from an entity. */
  unsubscribeFromEntity(socketId: string, uid: string, id: string | number): Promise<EntitySubscriptionResult>;
  /** A socket's entity subscriptions. */
  getEntitySubscriptions(socketId: string): Promise<EntitySubscriptionsResult>;
  /** Sends an event to an entity's subscribers. */
  emitToEntity(uid: string, id: string | number, event: string, data: any): Promise<void>;
  /** The sockets subscribed to an entity. */
  getEntityRoomSockets(uid: string, id: string | number): Promise<EntityRoomSocket[]>;
  /**
   * Beyond the reference: drops the gateway's cache of Strapi's users, roles, permissions and
   * API tokens (`POST /api/io/directory/invalidate`), so that a change made in Strapi is seen
   * at the next handshake without waiting for the directory's watch. Resolves
   * `{ invalidated: true }`. A gateway on the static directory (its config file) has no cache
   * and answers 400 (`RemoteIoGatewayError`, `ValidationError`); 503 when Strapi's database
   * cannot be read.
   */
  invalidate(): Promise<DirectoryInvalidation>;
  /**
   * The reference's raw Socket.IO server lives in the gateway, not in this process: reading
   * it throws a {@link Error} that says so (typed `never`, so TypeScript flags any use).
   */
  readonly server: never;
  /** Same as {@link RemoteIo.server}: the namespaces live in the gateway. */
  readonly namespaces: never;
}

/** What {@link RemoteIo.invalidate} resolves to. */
export interface DirectoryInvalidation {
  invalidated: true;
}

/** The reference's name for the `$io` type. */
export type SocketIO = RemoteIo;

/** Options of {@link createRemoteIo}. */
export interface RemoteIoOptions {
  /** The gateway's base URL (`http://127.0.0.1:1338`, or behind a proxy `https://example.com/realtime`). */
  url: string;
  /** The gateway's admin token (`server.adminToken` / `STRAPI_IO_ADMIN_TOKEN`). */
  adminToken: string;
  /** Bound on one call, every attempt included, in milliseconds (default 10000). */
  timeoutMs?: number;
  /**
   * How many times a call is tried again when the request provably was not sent
   * (connection refused, DNS failure, connect timeout). Default 2. Nothing else is retried.
   */
  retries?: number;
  /** First wait before a retry, in milliseconds, doubled each time up to 2000 (default 100). */
  retryDelayMs?: number;
  /**
   * Called with every failed call's error (also when the caller handles it). Calls are
   * never left as unhandled rejections: code written for the in-process plugin does not
   * `await` `sendPrivateMessage` and the like, and a gateway outage must not crash Strapi.
   * Pass this to log such failures.
   */
  onError?: (error: import("./errors.js").RemoteIoError) => void;
  /** The fetch to use (default: the global one, Node 18+). */
  fetch?: typeof fetch;
}
