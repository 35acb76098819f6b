#!/usr/bin/env node
// The Node reference server for side-by-side benchmarks with strapi-io.
//
// Plain Socket.IO v4 on node:http, doing per event what @strapi-community/plugin-io does
// (as /work/shared/SPEC.md describes it): audiences (roles and API tokens) in their rooms,
// routing by realtime permission, per-audience sanitizing, the v5 wire format, and
// audience-scoped entity rooms so each socket hears each event once.
//
//   node server.js --port 0 [--config ../../examples/blog/strapi-io.toml]
//                  [--ping-interval MS] [--ping-timeout MS]
//
// Only dependency: socket.io. Everything else is node: built-ins.

"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { Server } = require("socket.io");

// ---------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
  const opts = {
    port: 1337,
    config: path.join(__dirname, "..", "..", "examples", "blog", "strapi-io.toml"),
    pingInterval: undefined,
    pingTimeout: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const need = () => {
      if (value === undefined) fail(`${flag} needs a value`);
      i++;
      return value;
    };
    switch (flag) {
      case "--port":
        opts.port = integer(flag, need());
        break;
      case "--config":
        opts.config = path.resolve(need());
        break;
      case "--ping-interval":
        opts.pingInterval = integer(flag, need());
        break;
      case "--ping-timeout":
        opts.pingTimeout = integer(flag, need());
        break;
      case "-h":
      case "--help":
        console.log(
          "usage: node server.js [--port N] [--config FILE] [--ping-interval MS] [--ping-timeout MS]",
        );
        process.exit(0);
        break;
      default:
        fail(`unknown argument: ${flag}`);
    }
  }
  return opts;
}

function integer(flag, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`${flag}: expected a non-negative integer, got ${text}`);
  return n;
}

function fail(message) {
  console.error(`node-reference: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// A TOML subset, enough for strapi-io config files: [tables], [[arrays of tables]],
// dotted and quoted keys, strings, numbers, booleans, (multi-line) arrays, inline tables.

function parseToml(text) {
  const root = {};
  let current = root;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let line = stripTomlComment(lines[i]).trim();
    if (line === "") continue;
    if (line.startsWith("[[")) {
      const keys = parseTomlKey(line.slice(2, line.lastIndexOf("]]")));
      const parent = tomlTable(root, keys.slice(0, -1));
      const last = keys[keys.length - 1];
      if (parent[last] === undefined) parent[last] = [];
      if (!Array.isArray(parent[last])) throw new Error(`line ${i + 1}: ${last} is not an array`);
      current = {};
      parent[last].push(current);
    } else if (line.startsWith("[")) {
      current = tomlTable(root, parseTomlKey(line.slice(1, line.lastIndexOf("]"))));
    } else {
      const eq = findUnquoted(line, "=");
      if (eq < 0) throw new Error(`line ${i + 1}: expected key = value`);
      const keys = parseTomlKey(line.slice(0, eq));
      let valueText = line.slice(eq + 1);
      const start = i;
      while (!bracketsClosed(valueText)) {
        if (++i >= lines.length) throw new Error(`line ${start + 1}: unterminated value`);
        valueText += "\n" + stripTomlComment(lines[i]);
      }
      const parser = { text: valueText, pos: 0 };
      const value = parseTomlValue(parser);
      skipSpace(parser);
      if (parser.pos < parser.text.length) throw new Error(`line ${start + 1}: trailing characters`);
      const table = tomlTable(current, keys.slice(0, -1));
      table[keys[keys.length - 1]] = value;
    }
  }
  return root;
}

// Walks (creating) nested tables; an array of tables stands for its last element.
function tomlTable(root, keys) {
  let table = root;
  for (const key of keys) {
    if (table[key] === undefined) table[key] = {};
    table = table[key];
    if (Array.isArray(table)) table = table[table.length - 1];
  }
  return table;
}

function parseTomlKey(text) {
  const parser = { text, pos: 0 };
  const keys = [];
  for (;;) {
    skipSpace(parser);
    const c = parser.text[parser.pos];
    if (c === '"' || c === "'") {
      keys.push(parseTomlString(parser));
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(parser.text.slice(parser.pos));
      if (!m) throw new Error(`invalid key: ${text}`);
      keys.push(m[0]);
      parser.pos += m[0].length;
    }
    skipSpace(parser);
    if (parser.pos >= parser.text.length) return keys;
    if (parser.text[parser.pos] !== ".") throw new Error(`invalid key: ${text}`);
    parser.pos++;
  }
}

function stripTomlComment(line) {
  const hash = findUnquoted(line, "#");
  return hash < 0 ? line : line.slice(0, hash);
}

// Index of `ch` outside string literals, or -1.
function findUnquoted(text, ch) {
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === ch) {
      return i;
    }
  }
  return -1;
}

function bracketsClosed(text) {
  let depth = 0;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === "\\" && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
  }
  return depth <= 0;
}

function skipSpace(parser) {
  while (parser.pos < parser.text.length && /\s/.test(parser.text[parser.pos])) parser.pos++;
}

function parseTomlValue(parser) {
  skipSpace(parser);
  const rest = parser.text.slice(parser.pos);
  const c = rest[0];
  if (c === '"' || c === "'") return parseTomlString(parser);
  if (c === "[") {
    parser.pos++;
    const items = [];
    for (;;) {
      skipSpace(parser);
      if (parser.text[parser.pos] === "]") {
        parser.pos++;
        return items;
      }
      items.push(parseTomlValue(parser));
      skipSpace(parser);
      if (parser.text[parser.pos] === ",") parser.pos++;
      else if (parser.text[parser.pos] !== "]") throw new Error("expected , or ] in array");
    }
  }
  if (c === "{") {
    parser.pos++;
    const table = {};
    for (;;) {
      skipSpace(parser);
      if (parser.text[parser.pos] === "}") {
        parser.pos++;
        return table;
      }
      const eq = findUnquoted(parser.text.slice(parser.pos), "=");
      if (eq < 0) throw new Error("expected key = value in inline table");
      const keys = parseTomlKey(parser.text.slice(parser.pos, parser.pos + eq));
      parser.pos += eq + 1;
      tomlTable(table, keys.slice(0, -1))[keys[keys.length - 1]] = parseTomlValue(parser);
      skipSpace(parser);
      if (parser.text[parser.pos] === ",") parser.pos++;
      else if (parser.text[parser.pos] !== "}") throw new Error("expected , or } in inline table");
    }
  }
  const word = /^[A-Za-z0-9_+.:-]+/.exec(rest);
  if (!word) throw new Error(`invalid value: ${rest.slice(0, 20)}`);
  parser.pos += word[0].length;
  if (word[0] === "true") return true;
  if (word[0] === "false") return false;
  const n = Number(word[0].replace(/_/g, ""));
  if (Number.isNaN(n)) throw new Error(`unsupported value: ${word[0]}`);
  return n;
}

function parseTomlString(parser) {
  const quote = parser.text[parser.pos];
  const end = quote === "'" ? parser.text.indexOf("'", parser.pos + 1) : closingQuote(parser);
  if (end < 0) throw new Error("unterminated string");
  const literal = parser.text.slice(parser.pos, end + 1);
  parser.pos = end + 1;
  // TOML basic strings use JSON's escapes (plus \U, which the demo does not use).
  return quote === "'" ? literal.slice(1, -1) : JSON.parse(literal);
}

function closingQuote(parser) {
  for (let i = parser.pos + 1; i < parser.text.length; i++) {
    if (parser.text[i] === "\\") i++;
    else if (parser.text[i] === '"') return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------
// Config and schemas

const DEFAULT_ACTIONS = ["create", "update", "delete"];
const MEDIA_UID = "plugin::upload.file";
const SENSITIVE_DEFAULTS = [
  "password", "salt", "hash", "resetPasswordToken", "confirmationToken", "registrationToken",
  "refreshToken", "accessToken", "token", "secret", "secretKey", "apiKey", "api_key",
  "privateKey", "private_key",
];
// The plugin's default for entitySubscriptions.maxSubscriptionsPerSocket.
const DEFAULT_MAX_SUBSCRIPTIONS = 100;

function loadConfig(file) {
  const raw = parseToml(fs.readFileSync(file, "utf8"));
  const directory = raw.directory || {};
  const settings = raw.settings || {};
  const projectDir = path.resolve(path.dirname(file), (raw.strapi && raw.strapi.projectDir) || ".");
  const schemas = loadSchemas(path.join(projectDir, "src"));

  const roles = new Map(); // role type -> { name, type, permissions: Set }
  for (const role of directory.roles || []) {
    roles.set(role.type, { name: role.name, type: role.type, permissions: new Set(role.permissions || []) });
  }
  const users = new Map(); // id -> user
  for (const user of directory.users || []) users.set(Number(user.id), user);

  // Which content types emit which actions (`contentTypes`; without it every api:: type
  // emits create/update/delete), and under which event prefix.
  const enabled = new Map(); // uid -> { actions: Set, prefix }
  if (Array.isArray(raw.contentTypes)) {
    for (const entry of raw.contentTypes) {
      const uid = typeof entry === "string" ? entry : entry.uid;
      const ct = schemas.contentTypes.get(uid);
      if (!ct) continue;
      enabled.set(uid, {
        actions: new Set((typeof entry === "object" && entry.actions) || DEFAULT_ACTIONS),
        prefix: (typeof entry === "object" && entry.eventPrefix) || ct.singularName,
      });
    }
  } else {
    for (const [uid, ct] of schemas.contentTypes) {
      if (uid.startsWith("api::")) enabled.set(uid, { actions: new Set(DEFAULT_ACTIONS), prefix: ct.singularName });
    }
  }

  return {
    adminToken: (raw.server && raw.server.adminToken) || null,
    jwtSecret: directory.jwtSecret,
    apiTokenSalt: directory.apiTokenSalt,
    emailConfirmation: directory.emailConfirmation === true,
    roles,
    users,
    apiTokens: directory.apiTokens || [],
    rolePermissions: settings.rolePermissions || {},
    maxConnections: (settings.connection && settings.connection.maxConnections) || Infinity,
    pingInterval: settings.connection && settings.connection.pingInterval,
    pingTimeout: settings.connection && settings.connection.pingTimeout,
    maxSubscriptions:
      (settings.entitySubscriptions && settings.entitySubscriptions.maxSubscriptionsPerSocket) ||
      DEFAULT_MAX_SUBSCRIPTIONS,
    excludeFields: new Set((settings.events && settings.events.excludeFields) || []),
    sensitiveFields: SENSITIVE_DEFAULTS.concat(raw.sensitiveFields || []),
    schemas,
    enabled,
  };
}

// src/api/<api>/content-types/<name>/schema.json -> api::<api>.<name>;
// src/components/<category>/<name>.json -> <category>.<name>.
function loadSchemas(srcDir) {
  const contentTypes = new Map();
  const components = new Map();
  const apiDir = path.join(srcDir, "api");
  for (const api of listDirs(apiDir)) {
    const ctDir = path.join(apiDir, api, "content-types");
    for (const name of listDirs(ctDir)) {
      const file = path.join(ctDir, name, "schema.json");
      if (!fs.existsSync(file)) continue;
      const schema = JSON.parse(fs.readFileSync(file, "utf8"));
      contentTypes.set(`api::${api}.${name}`, {
        singularName: (schema.info && schema.info.singularName) || name,
        attributes: schema.attributes || {},
      });
    }
  }
  const compDir = path.join(srcDir, "components");
  for (const category of listDirs(compDir)) {
    for (const file of fs.readdirSync(path.join(compDir, category))) {
      if (!file.endsWith(".json")) continue;
      const schema = JSON.parse(fs.readFileSync(path.join(compDir, category, file), "utf8"));
      components.set(`${category}.${file.slice(0, -5)}`, { attributes: schema.attributes || {} });
    }
  }
  return { contentTypes, components };
}

function listDirs(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
}

// ---------------------------------------------------------------------------------------
// Audiences: every socket belongs to one role or one API token, and joins its room.

function roomName(prefix, name) {
  return `${prefix}-${String(name).toLowerCase().replace(/\s+/g, "-")}`;
}

function buildAudiences(config) {
  const audiences = [];
  for (const role of config.roles.values()) {
    audiences.push({
      kind: "role",
      room: roomName("io-role", role.name),
      roleType: role.type,
      roleName: role.name,
      permissions: role.permissions,
    });
  }
  for (const token of config.apiTokens) {
    audiences.push({
      kind: "token",
      room: roomName("io-token", token.name),
      tokenType: token.type,
      tokenName: token.name,
      accessKey: token.accessKey,
      expiresAt: token.expiresAt,
      permissions: new Set(token.permissions || []),
    });
  }
  return audiences;
}

// Read permission: may this audience find entries of `uid`?
function canRead(audience, uid) {
  if (audience.kind === "token" && (audience.tokenType === "read-only" || audience.tokenType === "full-access")) {
    return true;
  }
  const p = audience.permissions;
  if (p.has(`${uid}.find`) || p.has(`${uid}.findOne`)) return true;
  return uid === MEDIA_UID && (p.has("plugin::upload.content-api.find") || p.has("plugin::upload.content-api.findOne"));
}

// Realtime permission: does this audience hear `<uid>.<action>`?
function isRouted(config, audience, uid, action) {
  if (audience.kind === "token") {
    return audience.tokenType === "custom" ? canRead(audience, uid) : true;
  }
  const rolePerms = config.rolePermissions[audience.roleType];
  const entry = rolePerms && rolePerms.contentTypes && rolePerms.contentTypes[uid];
  if (entry) return entry[action] === true;
  return canRead(audience, uid);
}

// ---------------------------------------------------------------------------------------
// Sanitizing

// A key is sensitive when the words of a listed name appear in a row among its words
// (camelCase, `_`, `-` and other punctuation split words; case-insensitive), or when its
// letters and digits end with the name's (`APIKEY`, `userpassword`). So `userPassword`,
// `stripeApiKey`, `resetToken` go; `tokenizer`, `secretary`, `hashtag` stay.
function splitWords(key) {
  return key
    .replace(/([\p{Ll}\p{N}])(\p{Lu})/gu, "$1 $2")
    .replace(/(\p{Lu})(\p{Lu}\p{Ll})/gu, "$1 $2")
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter(Boolean);
}

function compactKey(key) {
  return key.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");
}

function makeSensitiveMatcher(names) {
  const patterns = names.map((name) => ({ words: splitWords(name), compact: compactKey(name) }));
  const cache = new Map();
  return function isSensitive(key) {
    let hit = cache.get(key);
    if (hit !== undefined) return hit;
    const words = splitWords(key);
    const compact = compactKey(key);
    hit = patterns.some(
      (p) => (p.compact !== "" && compact.endsWith(p.compact)) || containsRun(words, p.words),
    );
    if (cache.size > 10000) cache.clear();
    cache.set(key, hit);
    return hit;
  };
}

function containsRun(words, run) {
  if (run.length === 0) return false;
  for (let i = 0; i + run.length <= words.length; i++) {
    let j = 0;
    while (j < run.length && words[i + j] === run[j]) j++;
    if (j === run.length) return true;
  }
  return false;
}

const MAX_DEPTH = 64;
const DROP = Symbol("drop");

function isPlainObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function makeSanitizer(config) {
  const isSensitive = makeSensitiveMatcher(config.sensitiveFields);
  const { contentTypes, components } = config.schemas;

  function dropKey(key) {
    return key === "createdBy" || key === "updatedBy" || config.excludeFields.has(key) || isSensitive(key);
  }

  // Keys outside any schema: only the generic rules, at every depth.
  function generic(value, depth) {
    if (depth > MAX_DEPTH) return null;
    if (Array.isArray(value)) return value.map((v) => generic(v, depth + 1));
    if (!isPlainObject(value)) return value;
    const out = {};
    for (const key of Object.keys(value)) {
      if (!dropKey(key)) out[key] = generic(value[key], depth + 1);
    }
    return out;
  }

  // An object checked against a schema's attributes.
  function entry(value, attributes, audience, depth) {
    if (depth > MAX_DEPTH) return null;
    if (!attributes || !isPlainObject(value)) return generic(value, depth);
    const out = {};
    for (const key of Object.keys(value)) {
      if (dropKey(key)) continue;
      const v = value[key];
      const attr = Object.prototype.hasOwnProperty.call(attributes, key) ? attributes[key] : undefined;
      if (attr === undefined) {
        // v4 shape { id, attributes: {...} }
        out[key] = key === "attributes" && isPlainObject(v) ? entry(v, attributes, audience, depth + 1) : generic(v, depth + 1);
        continue;
      }
      const kept = attribute(attr, v, audience, depth + 1);
      if (kept !== DROP) out[key] = kept;
    }
    return out;
  }

  function attribute(attr, value, audience, depth) {
    if (attr.private === true || attr.type === "password") return DROP;
    if (depth > MAX_DEPTH) return null;
    switch (attr.type) {
      case "relation": {
        if (!attr.target || !canRead(audience, attr.target)) return DROP;
        const target = contentTypes.get(attr.target);
        return related(value, target && target.attributes, audience, depth);
      }
      case "media": {
        if (!canRead(audience, MEDIA_UID)) return DROP;
        const media = contentTypes.get(MEDIA_UID);
        return related(value, media && media.attributes, audience, depth);
      }
      case "component": {
        const comp = components.get(attr.component);
        const attrs = comp && comp.attributes;
        return Array.isArray(value)
          ? value.map((item) => entry(item, attrs, audience, depth + 1))
          : entry(value, attrs, audience, depth);
      }
      case "dynamiczone": {
        if (value === null) return null;
        if (!Array.isArray(value)) return DROP;
        const allowed = attr.components || [];
        const out = [];
        for (const item of value) {
          const uid = isPlainObject(item) ? item.__component : undefined;
          const comp = typeof uid === "string" && allowed.includes(uid) ? components.get(uid) : undefined;
          if (comp) out.push(entry(item, comp.attributes, audience, depth + 1));
        }
        return out;
      }
      default:
        return generic(value, depth);
    }
  }

  // A relation value: null, an id, an entry, an array of those, or { data: ... }.
  function related(value, attributes, audience, depth) {
    if (depth > MAX_DEPTH) return null;
    if (Array.isArray(value)) {
      return value.map((v) => (Array.isArray(v) ? generic(v, depth + 1) : related(v, attributes, audience, depth + 1)));
    }
    if (isPlainObject(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === "data") return { data: related(value.data, attributes, audience, depth + 1) };
    }
    return entry(value, attributes, audience, depth);
  }

  return {
    entry: (uid, value, audience) => {
      const ct = contentTypes.get(uid);
      return entry(value, ct && ct.attributes, audience, 0);
    },
  };
}

// ---------------------------------------------------------------------------------------
// Handshake: JWT (users-permissions) or API token; no token means Public.

class AuthError extends Error {}

function base64urlJson(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
}

function verifyJwt(token, secret) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new AuthError("Invalid credentials");
  let header;
  let payload;
  try {
    header = base64urlJson(parts[0]);
    payload = base64urlJson(parts[1]);
  } catch {
    throw new AuthError("Invalid credentials");
  }
  if (!header || header.alg !== "HS256") throw new AuthError("Invalid credentials");
  const expected = crypto.createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    throw new AuthError("Invalid credentials");
  }
  if (!isPlainObject(payload) || typeof payload.exp !== "number" || payload.exp * 1000 <= Date.now()) {
    throw new AuthError("Invalid credentials");
  }
  if (payload.type !== undefined && payload.type !== "access") throw new AuthError("Invalid credentials");
  const id = payload.id !== undefined ? payload.id : payload.userId;
  const userId = typeof id === "string" && /^\d+$/.test(id) ? Number(id) : id;
  if (!Number.isInteger(userId)) throw new AuthError("Invalid credentials");
  return userId;
}

function makeAuthenticator(config, audiences) {
  const publicAudience = audiences.find((a) => a.kind === "role" && a.roleType === "public");
  const roleAudiences = new Map(audiences.filter((a) => a.kind === "role").map((a) => [a.roleType, a]));
  const tokenAudiences = audiences.filter((a) => a.kind === "token");

  return function authenticate(handshake) {
    const auth = isPlainObject(handshake.auth) ? handshake.auth : {};
    let token = auth.token;
    if ((token === undefined || token === null) && handshake.query) token = handshake.query.token;
    if (token === undefined || token === null || token === "") {
      if (!publicAudience) throw new AuthError("Authentication required");
      return { audience: publicAudience, user: null };
    }
    if (typeof token !== "string") throw new AuthError("Invalid credentials");
    const strategy = auth.strategy === undefined || auth.strategy === null ? "jwt" : auth.strategy;

    if (strategy === "jwt") {
      const userId = verifyJwt(token, config.jwtSecret);
      const user = config.users.get(userId);
      if (!user || user.blocked === true) throw new AuthError("Invalid credentials");
      if (config.emailConfirmation && user.confirmed === false) throw new AuthError("Invalid credentials");
      const audience = roleAudiences.get(user.role);
      if (!audience) throw new AuthError("Invalid credentials");
      return {
        audience,
        user: { id: userId, username: user.username, email: user.email, role: audience.roleName },
      };
    }
    if (strategy === "api-token") {
      const hash = crypto.createHmac("sha512", config.apiTokenSalt).update(token).digest("hex");
      const audience = tokenAudiences.find((a) => a.accessKey === hash);
      if (!audience) throw new AuthError("Invalid credentials");
      if (audience.expiresAt != null && Number(audience.expiresAt) <= Date.now()) throw new AuthError("Token expired");
      return { audience, user: null };
    }
    throw new AuthError("Unknown auth strategy");
  };
}

// ---------------------------------------------------------------------------------------
// The server

const UID_FORMAT = /^(api|plugin)::[a-z0-9-]+\.[a-z0-9-]+$/;
const MAX_BODY = 1e6;

function startServer(opts) {
  const config = loadConfig(opts.config);
  const audiences = buildAudiences(config);
  const sanitizer = makeSanitizer(config);
  const authenticate = makeAuthenticator(config, audiences);

  const httpServer = http.createServer((req, res) => {
    handleHttp(req, res).catch((err) => {
      console.error("request failed:", err);
      if (!res.headersSent) sendError(res, 500, "InternalServerError", "Internal Server Error");
      else res.destroy();
    });
  });

  const io = new Server(httpServer, {
    pingInterval: opts.pingInterval ?? config.pingInterval ?? 25000,
    pingTimeout: opts.pingTimeout ?? config.pingTimeout ?? 20000,
    maxHttpBufferSize: 1e6,
    transports: ["polling", "websocket"],
    cors: { origin: "*" },
    serveClient: false,
  });
  const rooms = io.of("/").adapter.rooms;

  io.use((socket, next) => {
    if (io.engine.clientsCount > config.maxConnections) return next(new Error("Max connections reached"));
    try {
      const { audience, user } = authenticate(socket.handshake);
      socket.data.audience = audience;
      socket.data.user = user;
      socket.data.subscriptions = new Set();
      next();
    } catch (err) {
      if (!(err instanceof AuthError)) console.error("handshake failed:", err);
      next(new Error(err instanceof AuthError ? err.message : "Invalid credentials"));
    }
  });

  io.on("connection", (socket) => {
    const audience = socket.data.audience;
    socket.join(audience.room);

    // Checks shared by subscribe-entity and unsubscribe-entity; an error message or the rooms.
    function entityRooms(arg) {
      if (!isPlainObject(arg) || arg.uid == null || arg.id == null) return { error: "Invalid parameters: uid and id are required" };
      const { uid, id } = arg;
      if (typeof uid !== "string" || !UID_FORMAT.test(uid)) return { error: "Invalid content type uid format" };
      if (!((typeof id === "string" && id !== "") || (typeof id === "number" && Number.isFinite(id)))) {
        return { error: "Invalid entity id" };
      }
      if (!config.schemas.contentTypes.has(uid)) return { error: "Content type not found" };
      if (!canRead(audience, uid)) return { error: "Permission denied: no access to this content type" };
      const room = `${uid}:${id}`;
      return { uid, id, room, scoped: `${audience.room}#${room}` };
    }

    socket.on("subscribe-entity", (arg, ack) => {
      const reply = typeof ack === "function" ? ack : () => {};
      const r = entityRooms(arg);
      if (r.error) return reply({ success: false, error: r.error });
      const subs = socket.data.subscriptions;
      if (!subs.has(r.room) && subs.size >= config.maxSubscriptions) {
        return reply({ success: false, error: `Maximum subscriptions (${config.maxSubscriptions}) reached` });
      }
      subs.add(r.room);
      socket.join([r.room, r.scoped]);
      reply({ success: true, room: r.room, uid: r.uid, id: r.id });
    });

    socket.on("unsubscribe-entity", (arg, ack) => {
      const reply = typeof ack === "function" ? ack : () => {};
      const r = entityRooms(arg);
      if (r.error) return reply({ success: false, error: r.error });
      socket.data.subscriptions.delete(r.room);
      socket.leave(r.room);
      socket.leave(r.scoped);
      reply({ success: true, room: r.room, uid: r.uid, id: r.id });
    });
  });

  // The emit pipeline: one sanitized payload per audience, sent to its room when the
  // audience is routed the event, else to its scoped entity rooms for this entry.
  function emitContentEvent(event, uid, data) {
    const enabled = config.enabled.get(uid);
    if (!enabled || !enabled.actions.has(event) || data == null) return;
    const eventName = `${enabled.prefix}:${event}`;
    const entityIds = [];
    if (isPlainObject(data)) {
      for (const id of [data.id, data.documentId]) {
        if ((typeof id === "number" || typeof id === "string") && !entityIds.includes(String(id))) entityIds.push(String(id));
      }
    }
    for (const audience of audiences) {
      let target;
      if (isRouted(config, audience, uid, event)) {
        if (!rooms.has(audience.room)) continue;
        target = audience.room;
      } else if (canRead(audience, uid)) {
        target = entityIds.map((id) => `${audience.room}#${uid}:${id}`).filter((room) => rooms.has(room));
        if (target.length === 0) continue;
      } else {
        continue;
      }
      const entry =
        event === "delete"
          ? { id: data.id, documentId: data.documentId }
          : sanitizer.entry(uid, data, audience);
      io.to(target).emit(eventName, { data: entry, meta: {} });
    }
  }

  async function handleHttp(req, res) {
    const url = new URL(req.url, "http://localhost");
    if (url.pathname === "/health" && req.method === "GET") {
      return sendJson(res, 200, { status: "ok", connections: io.engine.clientsCount });
    }
    if (!url.pathname.startsWith("/api/io/")) return sendError(res, 404, "NotFoundError", "Not Found");
    if (!config.adminToken) return sendError(res, 503, "ServiceUnavailableError", "Admin token not configured");
    if (req.headers.authorization !== `Bearer ${config.adminToken}`) {
      return sendError(res, 401, "UnauthorizedError", "Missing or invalid credentials");
    }
    const method = url.pathname.slice("/api/io/".length);
    if (req.method !== "POST" || (method !== "emit" && method !== "raw")) {
      return sendError(res, 404, "NotFoundError", "Not Found");
    }
    const text = await readBody(req);
    if (text === null) return sendError(res, 413, "PayloadTooLargeError", "Request body too large");
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return sendError(res, 400, "ValidationError", "Invalid JSON body");
    }
    if (!isPlainObject(body) || typeof body.event !== "string" || body.event === "") {
      return sendError(res, 400, "ValidationError", "event is required");
    }

    if (method === "emit") {
      const uid = typeof body.schema === "string" ? body.schema : isPlainObject(body.schema) ? body.schema.uid : undefined;
      if (typeof uid !== "string") return sendError(res, 400, "ValidationError", "schema is required");
      emitContentEvent(body.event, uid, body.data);
    } else {
      const target = body.rooms;
      const roomList = typeof target === "string" ? [target] : Array.isArray(target) ? target : [];
      if (roomList.some((r) => typeof r !== "string")) return sendError(res, 400, "ValidationError", "rooms must be strings");
      if (roomList.length > 0) io.to(roomList).emit(body.event, body.data);
      else io.emit(body.event, body.data);
    }
    return sendJson(res, 200, { data: null });
  }

  return new Promise((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(opts.port, "127.0.0.1", () => resolve({ io, httpServer }));
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res, status, name, message) {
  sendJson(res, status, { data: null, error: { status, name, message } });
}

// ---------------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  let server;
  try {
    server = await startServer(opts);
  } catch (err) {
    fail(`cannot start: ${err.message}`);
  }
  const { port } = server.httpServer.address();
  console.log(`node-reference pid ${process.pid}`);
  console.log(`node-reference listening on http://127.0.0.1:${port}`);

  const shutdown = () => {
    server.io.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main();
