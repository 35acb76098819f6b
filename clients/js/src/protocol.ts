/**
 * Types of the client protocol, for `socket.io-client`'s typed sockets:
 *
 * ```ts
 * import { io, type Socket } from "socket.io-client";
 * import type { ServerToClientEvents, ClientToServerEvents } from "@strapi-io/client/protocol";
 *
 * type Article = { title: string; body: string };
 * const socket: Socket<ServerToClientEvents<{ article: Article }>, ClientToServerEvents> = io(url);
 * socket.on("article:create", ({ data }) => data.documentId + data.title);
 * ```
 *
 * Browser-safe: this module has no dependency, and only one runtime value
 * ({@link CONNECT_ERROR_MESSAGES}, with {@link isConnectErrorMessage}).
 */

import type { SocketUser } from "./types.js";

export type { SocketUser } from "./types.js";

/** `settings.events.format` of the gateway: Strapi 5's REST shape (default) or the plugin's Strapi 4 shape. */
export type EventFormat = "v5" | "v4";

/** The ids every event entry carries. */
export interface DocumentIds {
  id: number;
  documentId: string;
}

/** `meta` of a content event: always `{}`. */
export type EventMeta = Record<string, never>;

/** v5: `{ data: { id, documentId, ...attributes }, meta: {} }`. */
export interface V5EntryPayload<T> {
  data: T & DocumentIds;
  meta: EventMeta;
}

/** v4: `{ data: { id, attributes: { documentId, ...attributes } }, meta: {} }` (relations as `{ data }`). */
export interface V4EntryPayload<T> {
  data: { id: number; attributes: T & { documentId: string } };
  meta: EventMeta;
}

/** v5 `delete`: the ids only. */
export interface V5DeletePayload {
  data: DocumentIds;
  meta: EventMeta;
}

/** v4 `delete`: the ids only, in the v4 shape. */
export interface V4DeletePayload {
  data: { id: number; attributes: { documentId: string } };
  meta: EventMeta;
}

/** The payload of `<type>:create`, `<type>:update` and custom actions, per format. */
export type EntryPayload<T, F extends EventFormat = "v5"> = F extends "v4" ? V4EntryPayload<T> : V5EntryPayload<T>;

/** The payload of `<type>:delete`, per format. */
export type DeletePayload<F extends EventFormat = "v5"> = F extends "v4" ? V4DeletePayload : V5DeletePayload;

/**
 * Your content types, keyed by the event prefix (the content type's `singularName`, or its
 * `eventPrefix` in the gateway's `contentTypes`), each mapped to its attributes as the
 * audience sees them (without `id`/`documentId`, which the events add).
 */
export type ContentTypeMap = { [eventPrefix: string]: object };

/** Options of {@link ServerToClientEvents}. */
export interface EventOptions {
  /** The gateway's `settings.events.format` (default `"v5"`). */
  format?: EventFormat;
  /** Custom actions the gateway enables (`contentTypes[].actions`), e.g. `"publish"`. */
  actions?: string;
  /** Events your server sends with `raw`, `sendPrivateMessage`, … : `{ "notification": (p: N) => void }`. */
  custom?: { [event: string]: (...args: any[]) => void };
}

type FormatOf<O extends EventOptions> = O["format"] extends "v4" ? "v4" : "v5";
type ActionsOf<O extends EventOptions> = O["actions"] extends string ? O["actions"] : never;
type CustomOf<O extends EventOptions> = O["custom"] extends object ? O["custom"] : {};

/** `<type>:create`, `<type>:update`, `<type>:delete` (and custom actions) for each content type. */
export type ContentEvents<M extends ContentTypeMap, F extends EventFormat = "v5", Actions extends string = never> = {
  [K in keyof M & string as `${K}:create` | `${K}:update` | `${K}:${Actions}`]: (payload: EntryPayload<M[K], F>) => void;
} & {
  [K in keyof M & string as `${K}:delete`]: (payload: DeletePayload<F>) => void;
};

/** What a socket receives in `private-message` from another client. */
export interface PrivateMessage {
  /** The sender's socket id (its own `socket.id`). */
  from: string;
  /** The sender's user, or `null` for public and API-token sockets. */
  fromUser: SocketUser | null;
  message: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/**
 * Sent just before the server disconnects a socket (`disconnectSocket`, settings change,
 * flood; `Token expired` at the JWT's `exp` unless `refresh-token` moved it; `Invalid
 * credentials` when the user was blocked or deleted).
 */
export interface ServerDisconnect {
  reason: string;
}

/** The events every socket may receive besides content events. */
export type BuiltInServerEvents = {
  "private-message": (message: PrivateMessage) => void;
  "server-disconnect": (payload: ServerDisconnect) => void;
};

/**
 * The events a client receives, for `Socket<ServerToClientEvents<…>, ClientToServerEvents>`:
 * content events for each type of `M`, `private-message`, `server-disconnect`, and your
 * custom events.
 */
export type ServerToClientEvents<M extends ContentTypeMap = {}, O extends EventOptions = {}> = ContentEvents<
  M,
  FormatOf<O>,
  ActionsOf<O>
> &
  BuiltInServerEvents &
  CustomOf<O>;

/** The refusal every client event may answer with. */
export interface AckFailure<E extends string = ClientEventError> {
  success: false;
  error: E;
}

/**
 * The `error` strings of client-event acks (the plugin's messages, SPEC §4), plus the
 * gateway's own `Room name is reserved`, `Entity verification unavailable` and cluster errors.
 */
export type ClientEventError =
  | "Invalid room name"
  | "Room name contains invalid characters"
  | "Room name is reserved"
  | "Private rooms are disabled"
  | "Entity subscriptions are disabled"
  | "Invalid parameters: uid and id are required"
  | "Invalid content type uid format"
  | "Invalid entity id"
  | "Content type not allowed for entity subscriptions"
  | `Maximum subscriptions (${number}) reached`
  | "Content type not found"
  | "Permission denied: no access to this content type"
  | "Entity not found"
  | "Entity verification unavailable"
  | "Private messages are disabled"
  | "Invalid parameters"
  | "Invalid message length"
  | "Target socket not found"
  | "Rate limit exceeded"
  | `Cluster unavailable: ${string}`;

/** `join-room` / `leave-room`. */
export type RoomAck = { success: true; room: string } | AckFailure;
/** `get-rooms`: the socket's rooms, its own id excluded. */
export type GetRoomsAck = { success: true; rooms: string[] } | AckFailure;
/** `subscribe-entity` / `unsubscribe-entity`. */
export type EntityAck = { success: true; room: string; uid: string; id: string | number } | AckFailure;
/** `get-entity-subscriptions`. */
export type EntitySubscriptionsAck =
  | { success: true; subscriptions: Array<{ uid: string; id: string | number; room: string }> }
  | AckFailure;
/** `private-message`. */
export type PrivateMessageAck = { success: true } | AckFailure;
/** `whoami`: the socket's id (its `socket.id`, the one others see), role and user. */
export type WhoamiAck = { success: true; id: string; role: string; user: SocketUser | null } | AckFailure;

/**
 * `refresh-token`: the gateway now holds the new token's expiry (`expiresAt`, ms since the
 * epoch). A refusal leaves the connection as it was (it still ends at the old `exp`):
 * `Invalid credentials`, `Token expired`, `Token belongs to another user`, `Invalid parameters:
 * token is required`, `Only a socket signed in with a JWT can refresh its token`, …
 */
export type RefreshTokenAck = { success: true; expiresAt: number } | AckFailure<ClientEventError | RefreshTokenError>;

/** The `error` strings of `refresh-token`'s refusals (besides {@link ClientEventError}). */
export type RefreshTokenError =
  | "Invalid credentials"
  | "Token expired"
  | "Token belongs to another user"
  | "Invalid parameters: token is required"
  | "Only a socket signed in with a JWT can refresh its token"
  | (string & {});

/** What `subscribe-entity` / `unsubscribe-entity` take. */
export interface EntityRef {
  /** `api::<name>.<name>` or `plugin::<name>.<name>`. */
  uid: string;
  /** The entry's `id` or `documentId`. */
  id: string | number;
}

/** What `private-message` takes: the target's id (public or its own) and 1–10000 characters. */
export interface PrivateMessageRequest {
  to: string;
  message: string;
}

/**
 * The events a client sends, each answered through the ack (the last argument; use
 * `socket.emitWithAck(...)` or `socket.timeout(ms).emit(..., (err, ack) => …)`), plus your
 * custom events (`events[]` forwarded by the gateway).
 */
export type ClientToServerEvents<Custom extends { [event: string]: (...args: any[]) => void } = {}> = {
  "join-room": (room: string, ack: (res: RoomAck) => void) => void;
  "leave-room": (room: string, ack: (res: RoomAck) => void) => void;
  "get-rooms": (ack: (res: GetRoomsAck) => void) => void;
  "subscribe-entity": (entity: EntityRef, ack: (res: EntityAck) => void) => void;
  "unsubscribe-entity": (entity: EntityRef, ack: (res: EntityAck) => void) => void;
  "get-entity-subscriptions": (ack: (res: EntitySubscriptionsAck) => void) => void;
  "private-message": (msg: PrivateMessageRequest, ack: (res: PrivateMessageAck) => void) => void;
  whoami: (ack: (res: WhoamiAck) => void) => void;
  /** A fresh JWT of the same user for the open connection, so that it outlives the old `exp`. */
  "refresh-token": (req: { token: string }, ack: (res: RefreshTokenAck) => void) => void;
} & Custom;

/**
 * The `connect_error` messages of a refused handshake (`err.message`), SPEC §4, plus
 * `Service unavailable` (Strapi's database cannot be read).
 */
export type ConnectErrorMessage =
  | "Invalid credentials"
  | "Token expired"
  | "Authentication required"
  | "Unknown auth strategy"
  | "IP not whitelisted"
  | "IP blacklisted"
  | "Max connections reached"
  | `Role '${string}' is not allowed to connect to Socket.IO`
  | `Authentication required for namespace ${string}`
  | "Service unavailable";

/** The fixed `connect_error` messages (the two with a role or namespace are matched by {@link isConnectErrorMessage}). */
export const CONNECT_ERROR_MESSAGES = [
  "Invalid credentials",
  "Token expired",
  "Authentication required",
  "Unknown auth strategy",
  "IP not whitelisted",
  "IP blacklisted",
  "Max connections reached",
  "Service unavailable",
] as const;

/** Whether a `connect_error` message is one of the gateway's refusals (not a transport error). */
export function isConnectErrorMessage(message: string): message is ConnectErrorMessage {
  return (
    (CONNECT_ERROR_MESSAGES as readonly string[]).includes(message) ||
    /^Role '.*' is not allowed to connect to Socket\.IO$/.test(message) ||
    /^Authentication required for namespace .+$/.test(message)
  );
}
