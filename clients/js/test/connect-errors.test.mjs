// The handshake refusals that src/protocol.ts copies from the gateway (CONNECT_ERROR_MESSAGES,
// the ConnectErrorMessage type, isConnectErrorMessage) against their source: the
// `#[error("…")]` messages of the Rust `AuthError` enum (crates/strapi-io-core), whose
// `Display` is the `connect_error` message a refused client gets. Every Rust message must be
// copied, exactly, and nothing else.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { CONNECT_ERROR_MESSAGES, isConnectErrorMessage } from "@strapi-io/client/protocol";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../../..");
const CORE_SRC = join(REPO, "crates/strapi-io-core/src");
const PROTOCOL_TS = join(HERE, "../src/protocol.ts");

/** Every .rs file under `dir`. */
function rustFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? rustFiles(join(dir, e.name)) : e.name.endsWith(".rs") ? [join(dir, e.name)] : [],
  );
}

/**
 * The `AuthError` variants of the core crate with their `#[error("…")]` messages:
 * [{ variant, message }], `{0}` standing for the variant's field. Fails unless the enum is
 * found exactly once and every variant has a message.
 */
function rustAuthErrors() {
  const found = rustFiles(CORE_SRC).flatMap((file) => {
    const text = readFileSync(file, "utf8");
    const m = text.match(/pub enum AuthError \{\n([\s\S]*?)\n\}/);
    return m ? [{ file, body: m[1] }] : [];
  });
  assert.equal(found.length, 1, `one \`pub enum AuthError\` in ${CORE_SRC}, found in: ${found.map((f) => f.file)}`);
  const { file, body } = found[0];
  const variants = [...body.matchAll(/^ {4}(\w+)(?:\([^)]*\))?,$/gm)].map((m) => m[1]);
  const messages = [...body.matchAll(/#\[error\("((?:[^"\\]|\\.)*)"\)\]\s*\n\s*(\w+)/g)].map((m) => ({
    message: JSON.parse(`"${m[1]}"`),
    variant: m[2],
  }));
  const where = relative(REPO, file);
  assert.ok(variants.length > 0, `no variant read from AuthError in ${where}`);
  assert.deepEqual(
    messages.map((m) => m.variant),
    variants,
    `every AuthError variant in ${where} has an #[error("…")] message`,
  );
  return messages;
}

/** The members of protocol.ts's `ConnectErrorMessage` union: "literals" and `templates`. */
function protocolUnion() {
  const text = readFileSync(PROTOCOL_TS, "utf8");
  const m = text.match(/export type ConnectErrorMessage =([\s\S]*?);/);
  assert.ok(m, "protocol.ts has `export type ConnectErrorMessage = …;`");
  return m[1]
    .split("|")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      if (/^"[^"]*"$/.test(s)) return JSON.parse(s);
      if (/^`[^`]*`$/.test(s)) return s.slice(1, -1);
      assert.fail(`ConnectErrorMessage member ${s} is neither a "string" nor a \`template\``);
    });
}

const rust = rustAuthErrors();
const fixed = rust.filter((e) => !e.message.includes("{")).map((e) => e.message);
const templated = rust.filter((e) => e.message.includes("{"));

test("CONNECT_ERROR_MESSAGES is exactly the fixed messages of the Rust AuthError", () => {
  const copied = [...CONNECT_ERROR_MESSAGES];
  const missing = fixed.filter((m) => !copied.includes(m));
  const extra = copied.filter((m) => !fixed.includes(m));
  assert.deepEqual(missing, [], "AuthError messages missing from CONNECT_ERROR_MESSAGES (protocol.ts)");
  assert.deepEqual(extra, [], "CONNECT_ERROR_MESSAGES entries that are no AuthError message");
  assert.equal(new Set(copied).size, copied.length, "no message listed twice");
  assert.ok(fixed.length >= 8, `the fixed messages read from Rust: ${fixed}`);
});

test("the ConnectErrorMessage type is every AuthError message, `{0}` as ${string}", () => {
  const want = rust.map((e) => e.message.replaceAll("{0}", "${string}")).sort();
  assert.deepEqual(protocolUnion().sort(), want);
});

test("isConnectErrorMessage accepts every AuthError message, with any field, and nothing else", () => {
  assert.ok(templated.length >= 2, `the templated messages read from Rust: ${templated.map((e) => e.message)}`);
  for (const message of fixed) assert.ok(isConnectErrorMessage(message), message);
  for (const { message } of templated) {
    for (const field of ["editor", "Authenticated", "/admin"]) {
      const sample = message.replaceAll("{0}", field);
      assert.ok(isConnectErrorMessage(sample), `${sample} (from ${message})`);
    }
  }
  for (const other of ["websocket error", "timeout", "xhr poll error", "invalid credentials", "Token expired!"]) {
    assert.equal(isConnectErrorMessage(other), false, other);
  }
});
