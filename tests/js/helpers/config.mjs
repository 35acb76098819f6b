// Gateway configs for a test: the demo's strapi-io.toml written to a temp dir, edited by
// table (tomlSet/tomlEdit) or by hand. Node built-ins only.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO_DIR, DEMO_TOML } from "./strapi.mjs";

/**
 * Writes a config file: the demo TOML with `projectDir` made absolute, passed through
 * `edit(text) => text`. Returns { path, cleanup }.
 */
export function writeConfig(edit = (t) => t) {
  const dir = mkdtempSync(join(tmpdir(), "strapi-io-e2e-"));
  let text = readFileSync(DEMO_TOML, "utf8");
  const before = text;
  text = text.replace(/^projectDir\s*=\s*".*"$/m, `projectDir = ${JSON.stringify(DEMO_DIR)}`);
  if (text === before) throw new Error("demo config has no projectDir line to rewrite");
  text = edit(text);
  const path = join(dir, "strapi-io.toml");
  writeFileSync(path, text);
  return { path, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function tomlKey(k) {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

/** A JS value (string, number, boolean, array, plain object) as a TOML value. */
export function tomlValue(v) {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (v && typeof v === "object") {
    return `{ ${Object.entries(v)
      .map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`)
      .join(", ")} }`;
  }
  throw new Error(`no TOML form for ${JSON.stringify(v)}`);
}

/**
 * Sets keys of the table `[table]` in a TOML text: replaces the keys already there, adds the
 * others, and appends the table when the text has none. Values go through tomlValue.
 */
export function tomlSet(text, table, entries) {
  const header = `[${table}]`;
  const lines = text.split("\n");
  const set = Object.entries(entries).map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v)}`);
  const start = lines.findIndex((l) => l.trim() === header);
  if (start < 0) return `${text.trimEnd()}\n\n${header}\n${set.join("\n")}\n`;
  let end = start + 1;
  while (end < lines.length && !lines[end].trim().startsWith("[")) end++;
  const keys = new Set(Object.keys(entries).map(tomlKey));
  const kept = lines.slice(start + 1, end).filter((l) => {
    const m = l.match(/^\s*([^=\s]+)\s*=/);
    return !(m && keys.has(m[1]));
  });
  return [...lines.slice(0, start + 1), ...set, ...kept, ...lines.slice(end)].join("\n");
}

/**
 * An edit for writeConfig: `{ "settings.security": { ipBlacklist: [...] }, ... }` applied
 * with tomlSet, then `extra` (raw TOML, e.g. `[[events]]` entries) appended.
 */
export function tomlEdit(tables = {}, extra = "") {
  return (text) => {
    let t = text;
    for (const [table, entries] of Object.entries(tables)) t = tomlSet(t, table, entries);
    return extra ? `${t.trimEnd()}\n\n${extra}\n` : t;
  };
}
