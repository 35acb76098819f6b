/**
 * `@strapi-io/client`: `createRemoteIo`, the reference's `strapi.$io` served by the strapi-io
 * gateway; its error classes; the reference's types; and the client protocol's types
 * (also at `@strapi-io/client/protocol`). The Strapi 5 plugin entry is
 * `@strapi-io/client/strapi-server`.
 */

export { createRemoteIo } from "./remote-io.js";
export {
  RemoteIoArgumentError,
  RemoteIoError,
  RemoteIoGatewayError,
  RemoteIoNetworkError,
  RemoteIoTimeoutError,
} from "./errors.js";
export type { StrapiErrorBody } from "./errors.js";
export type {
  EmitOptions,
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
