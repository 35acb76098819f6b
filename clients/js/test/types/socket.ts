// Type test of the client protocol with socket.io-client's typed sockets. Each
// `@ts-expect-error` line must fail to compile; the shapes are those the end-to-end tests
// receive from the real gateway (test/remote-io.test.mjs, tests/js/client-events.test.mjs).

import { io, type Socket } from "socket.io-client";
import {
  CONNECT_ERROR_MESSAGES,
  isConnectErrorMessage,
  type ClientEventError,
  type ClientToServerEvents,
  type ConnectErrorMessage,
  type ServerToClientEvents,
} from "@strapi-io/client/protocol";

type Article = { title: string; body: string | null; author?: { id: number; name: string } | null };
type Comment = { text: string };

type Events = ServerToClientEvents<
  { article: Article; comment: Comment },
  { custom: { notification: (n: { type: "info" | "warning"; message: string }) => void } }
>;

export async function typedSocket(url: string, jwt: string): Promise<void> {
  const socket: Socket<Events, ClientToServerEvents> = io(url, { auth: { strategy: "jwt", token: jwt } });

  socket.on("article:create", (p) => {
    const title: string = p.data.title;
    const id: number = p.data.id;
    const documentId: string = p.data.documentId;
    const meta: {} = p.meta;
    void [title, id, documentId, meta];
  });
  socket.on("article:update", ({ data }) => data.author?.name);
  socket.on("comment:create", ({ data }) => data.text.length);
  socket.on("article:delete", (p) => {
    const ids: { id: number; documentId: string } = p.data;
    void ids;
    // @ts-expect-error a delete carries {id, documentId} only
    p.data.title;
  });
  // @ts-expect-error authors are not in the map
  socket.on("author:create", () => {});
  // @ts-expect-error no custom action was declared
  socket.on("article:publish", () => {});
  // @ts-expect-error the payload of a comment is not an article
  socket.on("comment:update", (p: { data: { title: string } }) => p);

  socket.on("notification", (n) => n.message.toUpperCase());
  socket.on("private-message", (m) => {
    const from: string = m.from;
    const username: string | undefined = m.fromUser?.username;
    const at: number = m.timestamp;
    const text: string = m.message;
    void [from, username, at, text];
  });
  socket.on("server-disconnect", ({ reason }) => reason.length);
  socket.on("connect_error", (err) => {
    if (isConnectErrorMessage(err.message)) {
      const why: ConnectErrorMessage = err.message;
      void why;
    }
  });

  // Acks.
  const joined = await socket.emitWithAck("join-room", "lobby");
  if (joined.success) {
    const room: string = joined.room;
    void room;
  } else {
    const error: ClientEventError = joined.error;
    void error;
  }
  const left = await socket.timeout(5000).emitWithAck("leave-room", "lobby");
  void left;
  const rooms = await socket.emitWithAck("get-rooms");
  if (rooms.success) rooms.rooms.forEach((r) => r.toUpperCase());
  const sub = await socket.emitWithAck("subscribe-entity", { uid: "api::article.article", id: "article-1" });
  if (sub.success) {
    const entityRoom: string = sub.room;
    const subscribedId: string | number = sub.id;
    void [entityRoom, subscribedId];
  }
  await socket.emitWithAck("unsubscribe-entity", { uid: "api::article.article", id: 1 });
  const subs = await socket.emitWithAck("get-entity-subscriptions");
  if (subs.success) subs.subscriptions.map((s) => `${s.uid}#${s.id} in ${s.room}`);
  const who = await socket.emitWithAck("whoami");
  if (who.success) {
    const publicId: string = who.id;
    const role: string = who.role;
    const user: { id: number; username: string } | null = who.user;
    void [publicId, role, user];
  }
  const sent = await socket.emitWithAck("private-message", { to: "public-id", message: "hi" });
  if (!sent.success && sent.error === "Target socket not found") console.log("gone");
  socket.timeout(1000).emit("join-room", "lobby", (err, res) => (err ? err.message : res.success));

  // @ts-expect-error a room name is a string
  socket.emit("join-room", 42, () => {});
  // @ts-expect-error subscribe-entity needs uid and id
  socket.emit("subscribe-entity", { uid: "api::article.article" }, () => {});
  // @ts-expect-error a private message is text
  socket.emit("private-message", { to: "public-id", message: 5 }, () => {});
  // @ts-expect-error get-rooms takes no argument before its ack
  socket.emit("get-rooms", "all", () => {});
  // @ts-expect-error "success" narrows: a refusal has no room
  if (!joined.success) joined.room.length;
  // @ts-expect-error not one of the ack errors
  const notAnError: ClientEventError = "Something else";
  void notAnError;
}

export function v4AndCustomActions(url: string): void {
  const v4: Socket<ServerToClientEvents<{ article: Article }, { format: "v4" }>, ClientToServerEvents> = io(url);
  v4.on("article:update", (p) => {
    const title: string = p.data.attributes.title;
    const documentId: string = p.data.attributes.documentId;
    const id: number = p.data.id;
    void [title, documentId, id];
    // @ts-expect-error v4 nests attributes
    p.data.title;
  });
  v4.on("article:delete", (p) => p.data.attributes.documentId);

  const withPublish: Socket<ServerToClientEvents<{ article: Article }, { actions: "publish" | "unpublish" }>> = io(url);
  withPublish.on("article:publish", ({ data }) => data.title);
  withPublish.on("article:unpublish", ({ data }) => data.documentId);
}

export const messages: ConnectErrorMessage[] = [
  ...CONNECT_ERROR_MESSAGES,
  "Role 'editor' is not allowed to connect to Socket.IO",
  "Authentication required for namespace /admin",
];
// @ts-expect-error not a gateway message
export const notAMessage: ConnectErrorMessage = "Invalid token";
export const maxSubs: ClientEventError = "Maximum subscriptions (100) reached";
