/**
 * `@strapi-io/client`: `createRemoteIo`, the reference's `strapi.$io` served by the strapi-io
 * gateway; its error classes; the reference's types; and the client protocol's types
 * (also at `@strapi-io/client/protocol`); `connectWithSession` and `strapiRefresh`, a socket
 * that stays signed in across JWT renewals (also at `@strapi-io/client/session`); the
 * Document Service middleware that forwards lifecycles, for apps that register it
 * themselves. The Strapi 5 plugin entry is `@strapi-io/client/strapi-server`.
 */

export { createEntrySender, createRemoteIo } from "./remote-io.js";
export {
  RemoteIoArgumentError,
  RemoteIoError,
  RemoteIoGatewayError,
  RemoteIoNetworkError,
  RemoteIoTimeoutError,
} from "./errors.js";
export type { StrapiErrorBody } from "./errors.js";
export type {
  CallOptions,
  DirectoryInvalidation,
  EmitOptions,
  EntryEvent,
  EntrySender,
  EntityRoomSocket,
  EntitySubscription,
  EntitySubscriptionResult,
  EntitySubscriptionsResult,
  RawEmitOptions,
  RemoteIo,
  RemoteIoOptions,
  SocketInfo,
  SocketIO,
  SocketUser,
} from "./types.js";
export * from "./protocol.js";
export { connectWithSession, jwtExpiresAt, strapiRefresh, StrapiRefreshError, StrapiSessionError } from "./session.js";
export type {
  JwtAuth,
  SessionErrorCode,
  SessionOptions,
  SessionRetryOptions,
  SessionSocket,
  SessionSocketOptions,
  StrapiRefreshOptions,
  StrapiSession,
} from "./session.js";
export { createLifecycleMiddleware, resolveLifecycles, LIFECYCLE_ACTIONS } from "./lifecycles.js";
export type {
  DocumentMiddleware,
  DocumentMiddlewareContext,
  LifecycleAction,
  LifecycleHost,
  LifecyclesConfig,
  ResolvedLifecycles,
} from "./lifecycles.js";
export { PLUGIN_NAME, resolvePluginConfig } from "./plugin-config.js";
export type { GatewayOptions, PluginConfig, ResolvedGateway, ResolvedPluginConfig } from "./plugin-config.js";
export type { StrapiIoPlugin, StrapiLike } from "./strapi-server.js";
