// Type test of the remote $io (`tsc --noEmit -p test/types`): every method's parameters must
// equal the reference's (io-class-api.md) and its result must be the reference's, in a
// Promise. Each `@ts-expect-error` line must fail to compile: if a signature drifts, the
// directive itself becomes the error.

import {
  createRemoteIo,
  type DirectoryInvalidation,
  RemoteIoError,
  RemoteIoGatewayError,
  type EmitOptions,
  type EntitySubscriptionResult,
  type RawEmitOptions,
  type RemoteIo,
  type SocketInfo,
  type SocketIO,
} from "@strapi-io/client";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;

/**
 * The reference, transcribed: parameters as documented; results wrapped in a Promise where
 * the reference is synchronous (the network makes them async). `schema` is `string | object`:
 * the reference types it `object` while its own examples pass a uid string.
 */
interface Reference {
  emit: (options: { event: string; schema: string | object; data: any }) => Promise<void>;
  raw: (options: { event: string; rooms?: string[]; data: any }) => Promise<void>;
  joinRoom: (socketId: string, roomName: string) => Promise<boolean>;
  leaveRoom: (socketId: string, roomName: string) => Promise<boolean>;
  getSocketsInRoom: (roomName: string) => Promise<{ id: string; userId?: number; role?: string; rooms: string[] }[]>;
  sendPrivateMessage: (socketId: string, event: string, data: any) => Promise<void>;
  broadcast: (socketId: string, event: string, data: any) => Promise<void>;
  emitToNamespace: (namespace: string, event: string, data: any) => Promise<void>;
  disconnectSocket: (socketId: string, reason?: string) => Promise<boolean>;
  subscribeToEntity: (
    socketId: string,
    uid: string,
    id: string | number,
  ) => Promise<{ success: boolean; room?: string; uid?: string; id?: string | number; error?: string }>;
  unsubscribeFromEntity: (
    socketId: string,
    uid: string,
    id: string | number,
  ) => Promise<{ success: boolean; room?: string; uid?: string; id?: string | number; error?: string }>;
  // The reference says `id: string` (its plugin parses room names); the gateway answers the
  // id as subscribed, so numeric ids come back as numbers.
  getEntitySubscriptions: (
    socketId: string,
  ) => Promise<{ success: boolean; subscriptions?: Array<{ uid: string; id: string | number; room: string }>; error?: string }>;
  emitToEntity: (uid: string, id: string | number, event: string, data: any) => Promise<void>;
  getEntityRoomSockets: (uid: string, id: string | number) => Promise<Array<{ id: string; user: any }>>;
}

type Methods = keyof Reference;

// The same method names, no more, no fewer (besides `invalidate`, an admin route).
export type SameNames = Assert<Equal<Exclude<keyof RemoteIo, "server" | "namespaces" | "invalidate">, Methods>>;
// Beyond the reference: the directory's cache, dropped.
export type Invalidate = Assert<Equal<RemoteIo["invalidate"], () => Promise<DirectoryInvalidation>>>;
export type InvalidateAnswers = Assert<Equal<DirectoryInvalidation, { invalidated: true }>>;

// Every parameter list equals the reference's.
export type SameParameters = Assert<
  Equal<{ [K in Methods]: Parameters<RemoteIo[K]> }, { [K in Methods]: Parameters<Reference[K]> }>
>;

// Every result can stand where the reference's is expected.
type ResultsFit = { [K in Methods]: ReturnType<RemoteIo[K]> extends ReturnType<Reference[K]> ? true : K };
export type ResultsAreTheReferences = Assert<Equal<ResultsFit[Methods], true>>;

// The option types carry the reference's names.
export type EmitOptionsAreTheReferences = Assert<Equal<Parameters<RemoteIo["emit"]>[0], EmitOptions>>;
export type RawOptionsAreTheReferences = Assert<Equal<Parameters<RemoteIo["raw"]>[0], RawEmitOptions>>;
export type TheReferencesName = Assert<Equal<SocketIO, RemoteIo>>;

async function asStrapiCodeUsesIt(io: SocketIO): Promise<void> {
  // Calls as in the reference's examples compile unchanged.
  await io.emit({ event: "create", schema: "api::article.article", data: { id: 1 } });
  await io.emit({ event: "publish", schema: { uid: "api::article.article" }, data: { id: 123, status: "published" } });
  io.raw({ event: "notification", data: { type: "info", message: "done" } });
  io.raw({ event: "exclusive-offer", rooms: ["premium", "vip"], data: { discount: 50 } });
  io.joinRoom("socket-id", "premium-users");
  ["notifications", "chat"].forEach((room) => io.joinRoom("socket-id", room));
  const sockets = await io.getSocketsInRoom("chat-lobby");
  sockets.forEach((s: SocketInfo) => console.log(`Socket ${s.id}, User: ${s.userId}`));
  io.sendPrivateMessage("socket-id", "private-notification", { type: "success" });
  io.broadcast("socket-id", "user-joined", { username: "john_doe" });
  io.emitToNamespace("admin", "dashboard:stats", { onlineUsers: 1234 });
  io.disconnectSocket("socket-id", "Violation of terms of service");
  io.disconnectSocket("socket-id");
  const result = await io.subscribeToEntity("socket-id", "api::article.article", 123);
  if (result.success) console.log(`Subscribed to room: ${result.room.toUpperCase()}`);
  else console.log(result.error.toUpperCase());
  console.log(result.error); // readable without narrowing, as the reference's interface allows
  const left: EntitySubscriptionResult = await io.unsubscribeFromEntity("socket-id", "api::article.article", 123);
  console.log(left.success);
  const subs = await io.getEntitySubscriptions("socket-id");
  if (subs.success) subs.subscriptions.forEach((sub) => console.log(`Watching: ${sub.uid} #${sub.id}`));
  io.emitToEntity("api::article.article", 123, "article:commented", { commentId: 456 });
  const watching = await io.getEntityRoomSockets("api::article.article", 123);
  watching.forEach((s) => console.log(`User: ${s.user?.username || "anonymous"}`));

  const dropped = await io.invalidate();
  const yes: true = dropped.invalidated;
  void yes;

  // What must not compile.
  // @ts-expect-error roomName is required
  io.joinRoom("socket-id");
  // @ts-expect-error an entity id is a string or a number
  io.subscribeToEntity("socket-id", "api::article.article", { id: 1 });
  // @ts-expect-error emit needs an event
  io.emit({ schema: "api::article.article", data: {} });
  // @ts-expect-error rooms is a list of room names
  io.raw({ event: "x", rooms: "lobby", data: {} });
  // @ts-expect-error a disconnect reason is a string
  io.disconnectSocket("socket-id", 42);
  // @ts-expect-error joinRoom answers whether the socket was found
  const nothing: Promise<void> = io.joinRoom("socket-id", "room");
  // @ts-expect-error getSocketsInRoom answers socket infos, not ids
  const ids: Promise<string[]> = io.getSocketsInRoom("room");
  // @ts-expect-error invalidate takes no argument
  io.invalidate("users");
  // @ts-expect-error the Socket.IO server lives in the gateway
  io.server.sockets.sockets.size;
  // @ts-expect-error so do the namespaces
  io.namespaces.admin.emit("x", {});
  void nothing;
  void ids;
}

export function errorsCarryStrapisFields(e: unknown): string | undefined {
  if (e instanceof RemoteIoGatewayError) return `${e.status} ${e.name} ${e.message} ${e.httpStatus} ${e.method}`;
  if (e instanceof RemoteIoError) {
    const body: { status: number; name: string; message: string } = e.toJSON();
    return `${body.status} ${e.maybeSent}`;
  }
  return undefined;
}

export const made: RemoteIo = createRemoteIo({ url: "http://127.0.0.1:1338", adminToken: "t", timeoutMs: 5000, retries: 2 });
// @ts-expect-error adminToken is required
createRemoteIo({ url: "http://127.0.0.1:1338" });
void asStrapiCodeUsesIt;
