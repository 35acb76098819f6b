/// <reference types="node" />
/**
 * Managed mode: the plugin runs the strapi-io gateway as a child process of Strapi.
 *
 * - {@link planGateway} derives everything the gateway needs from Strapi itself: the database
 *   (`database.connection`), users-permissions' JWT secret, the API token salt, the project
 *   directory (schemas), Strapi's own URL (populate), plus the admin token the plugin made.
 *   Secrets travel in the child's environment only; the non-secret settings from
 *   `config/plugins.js` go to a JSON config file in the data directory (`--config`).
 * - {@link GatewaySupervisor} spawns it, copies every line it prints into Strapi's log
 *   (`[strapi-io] …`, at the line's own level), checks `/health` once it listens, restarts it
 *   with backoff when it exits unexpectedly, and stops it with SIGTERM (SIGKILL after a grace
 *   period) when Strapi stops. The child's stdin is a pipe held open for its whole life with
 *   `STRAPI_IO_STOP_ON_STDIN_EOF=1`: if Strapi dies, however it dies, the pipe closes and
 *   the gateway stops too.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { PLUGIN_NAME, socketPath, type ResolvedGateway, type ResolvedPluginConfig } from "./plugin-config.js";

/** What the supervisor needs of Strapi's logger. */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

/** How the gateway is run: every value derived, ready to spawn. */
export interface GatewayPlan {
  binary: string;
  args: string[];
  /** The child's whole environment (secrets included: never log it). */
  env: Record<string, string>;
  /** The gateway's base URL (`http://127.0.0.1:1338`). */
  url: string;
  dataDir: string;
  configFile: string;
  /** The config file's content (no secrets). */
  config: Record<string, unknown>;
  /** The database for messages: a file path, or `postgres://user@host:port/database` (no password). */
  databaseLabel: string;
  /** Strapi's URL given to the gateway for populate, if Strapi listens on a TCP port. */
  strapiUrl: string | null;
}

/** Where Strapi listens, as the plugin found it. */
export interface StrapiAddress {
  host: string | null;
  port: number | null;
}

/** Always passed on from Strapi's environment (besides `STRAPI_IO_*`). */
const PASSED_ENV = ["PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE", "RUST_BACKTRACE", "SSL_CERT_FILE", "SSL_CERT_DIR"];
/** `STRAPI_IO_*` variables of the plugin itself, never passed on. */
const PLUGIN_ENV = ["STRAPI_IO_URL", "STRAPI_IO_BIN"];
/** Up this long, a gateway that exits starts again after the first delay. */
export const RESTART_RESET_MS = 30_000;
/** The gateway's exit code for a config it refuses: restarting cannot help. */
export const EXIT_CONFIG = 2;
const PREFIX = `[${PLUGIN_NAME}]`;
const MAX_LINE = 4000;

/** The host part of a URL for `host` (0.0.0.0 and :: are reached on the loopback). */
export function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** The gateway's port: `gateway.port`, else Strapi's port + 1 (1338 when Strapi's is unknown). */
export function gatewayPort(gateway: ResolvedGateway, strapiPort: unknown): number {
  if (gateway.port !== null) return gateway.port;
  return typeof strapiPort === "number" && Number.isInteger(strapiPort) && strapiPort > 0 && strapiPort < 65535
    ? strapiPort + 1
    : 1338;
}

/** The gateway's base URL in managed mode. */
export function gatewayUrl(gateway: ResolvedGateway, strapiPort: unknown): string {
  return `http://${urlHost(gateway.host)}:${gatewayPort(gateway, strapiPort)}`;
}

type Result<T> = { ok: true; value: T } | { ok: false; problem: string };

/**
 * The gateway's database URL from Strapi's `database.connection` (`{ client, connection }`):
 * SQLite (`sqlite`, `better-sqlite3`) as `sqlite://<absolute file>`, PostgreSQL as
 * `postgres://user:password@host:port/database`. MySQL, TLS to PostgreSQL and in-memory
 * SQLite are refused with the reason.
 */
export function databaseUrl(db: unknown, appRoot: string): Result<{ url: string; label: string }> {
  const d = (db ?? {}) as { client?: unknown; connection?: unknown };
  const client = typeof d.client === "string" ? d.client : "";
  const conn = d.connection;
  if (client === "sqlite" || client === "better-sqlite3" || client === "sqlite3") {
    const filename = typeof conn === "string" ? conn : (conn as { filename?: unknown } | undefined)?.filename;
    if (typeof filename !== "string" || filename.trim() === "" || filename.trim() === ":memory:") {
      return { ok: false, problem: "database.connection.connection.filename names no SQLite file (an in-memory database cannot be shared with the gateway)" };
    }
    const file = isAbsolute(filename) ? filename : resolve(appRoot, filename);
    return { ok: true, value: { url: `sqlite://${file}`, label: file } };
  }
  if (client === "postgres" || client === "postgresql" || client === "pg") {
    const tls =
      "Strapi connects to PostgreSQL with TLS (database.connection.connection.ssl or sslmode), and the gateway connects without TLS (it refuses sslmode=require): " +
      "run the gateway yourself beside a local TLS tunnel (managed: false, url), or connect Strapi without ssl";
    if (typeof conn === "string" || (typeof (conn as { connectionString?: unknown })?.connectionString === "string" &&
      (conn as { connectionString: string }).connectionString.trim() !== "")) {
      const text = typeof conn === "string" ? conn : (conn as { connectionString: string }).connectionString.trim();
      let parsed: URL;
      try {
        parsed = new URL(text);
      } catch {
        return { ok: false, problem: "database.connection.connection.connectionString is not a URL" };
      }
      if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
        return { ok: false, problem: `database.connection.connection.connectionString must be postgres://…, got ${parsed.protocol}//…` };
      }
      const mode = parsed.searchParams.get("sslmode") ?? parsed.searchParams.get("ssl-mode");
      const ssl = (conn as { ssl?: unknown })?.ssl;
      if ((mode !== null && !["disable", "allow", "prefer"].includes(mode)) || parsed.searchParams.get("ssl") === "true" || (ssl !== undefined && ssl !== false && ssl !== null)) {
        return { ok: false, problem: tls };
      }
      parsed.searchParams.delete("ssl");
      const label = `postgres://${parsed.username ? `${decodeURIComponent(parsed.username)}@` : ""}${parsed.host}${parsed.pathname}`;
      return { ok: true, value: { url: parsed.href, label } };
    }
    if (conn === null || typeof conn !== "object") {
      return { ok: false, problem: "database.connection.connection is missing: no PostgreSQL server to read" };
    }
    const c = conn as Record<string, unknown>;
    if (c.ssl !== undefined && c.ssl !== false && c.ssl !== null) return { ok: false, problem: tls };
    const host = typeof c.host === "string" && c.host !== "" ? c.host : "localhost";
    const port = c.port === undefined || c.port === null || c.port === "" ? 5432 : Number(c.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return { ok: false, problem: `database.connection.connection.port is not a port: ${JSON.stringify(c.port)}` };
    }
    const database = typeof c.database === "string" && c.database !== "" ? c.database : null;
    if (!database) return { ok: false, problem: "database.connection.connection.database is missing" };
    const user = typeof c.user === "string" ? c.user : typeof c.username === "string" ? c.username : "";
    const password = typeof c.password === "string" ? c.password : "";
    const auth = user ? `${encodeURIComponent(user)}${password ? `:${encodeURIComponent(password)}` : ""}@` : "";
    const params = new URLSearchParams();
    // A Unix socket directory: sqlx takes it as ?host=.
    const socketDir = host.startsWith("/");
    if (socketDir) params.set("host", host);
    if (typeof c.schema === "string" && c.schema !== "" && c.schema !== "public") {
      params.set("options", `-c search_path=${c.schema}`);
    }
    const query = params.toString();
    const where = socketDir ? "localhost" : host.includes(":") ? `[${host}]` : host;
    const url = `postgres://${auth}${where}:${port}/${encodeURIComponent(database)}${query ? `?${query}` : ""}`;
    const label = `postgres://${user ? `${user}@` : ""}${socketDir ? host : where}:${port}/${database}`;
    return { ok: true, value: { url, label } };
  }
  if (client === "mysql" || client === "mysql2") {
    return { ok: false, problem: "Strapi's database is MySQL, which the gateway cannot read (SQLite and PostgreSQL only)" };
  }
  return { ok: false, problem: `database.connection.client ${JSON.stringify(d.client)} is not one the gateway reads (sqlite, better-sqlite3, postgres)` };
}

/**
 * Where the gateway binary is: `gateway.binary`, else `STRAPI_IO_BIN`, else the
 * `@strapi-io/gateway` package's `binaryPath()` (looked up from the app's root, then from
 * this package; optional: a missing package is a message, not a crash).
 */
export function resolveBinary(gateway: ResolvedGateway, appRoot: string, env: Record<string, string | undefined>): Result<string> {
  if (gateway.binary) return { ok: true, value: resolve(appRoot, gateway.binary) };
  if (env.STRAPI_IO_BIN && env.STRAPI_IO_BIN.trim() !== "") return { ok: true, value: resolve(appRoot, env.STRAPI_IO_BIN.trim()) };
  const requires: NodeRequire[] = [createRequire(join(appRoot, "package.json"))];
  if (typeof require === "function") requires.push(require);
  let found: { binaryPath?: unknown } | undefined;
  for (const req of requires) {
    try {
      found = req("@strapi-io/gateway") as { binaryPath?: unknown };
      break;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== "MODULE_NOT_FOUND") {
        return { ok: false, problem: `@strapi-io/gateway could not be loaded: ${(error as Error).message}` };
      }
    }
  }
  if (!found) {
    return {
      ok: false,
      problem:
        "the gateway binary is not installed: npm install @strapi-io/gateway (it brings the binary of this platform), " +
        "or set gateway.binary in config/plugins.js or STRAPI_IO_BIN to a strapi-io binary",
    };
  }
  if (typeof found.binaryPath !== "function") {
    return { ok: false, problem: "@strapi-io/gateway has no binaryPath(): install a version that matches @strapi-io/client" };
  }
  try {
    return { ok: true, value: String((found.binaryPath as () => unknown)()) };
  } catch (error) {
    return { ok: false, problem: `@strapi-io/gateway: ${(error as Error).message}` };
  }
}

/** What {@link planGateway} reads of `strapi`. */
export interface PlanHost {
  config: { get(path: string, defaultValue?: unknown): unknown };
  dirs?: { app?: { root?: string } };
}

/**
 * Everything the gateway needs, derived from Strapi; the problems that prevent running it
 * (each one a sentence for Strapi's log) otherwise.
 */
export function planGateway(
  strapi: PlanHost,
  config: ResolvedPluginConfig,
  options: { adminToken: string; strapi: StrapiAddress; env: Record<string, string | undefined> },
): { ok: true; plan: GatewayPlan } | { ok: false; problems: string[] } {
  const gateway = config.gateway!;
  const problems: string[] = [];
  const appRoot = resolve(strapi.dirs?.app?.root ?? process.cwd());
  const db = databaseUrl(strapi.config.get("database.connection"), appRoot);
  if (!db.ok) problems.push(db.problem);
  const jwtSecret = strapi.config.get("plugin::users-permissions.jwtSecret");
  if (typeof jwtSecret !== "string" || jwtSecret === "") {
    problems.push("users-permissions' JWT secret is missing (plugin::users-permissions.jwtSecret, JWT_SECRET in .env): the gateway could not check users' tokens");
  }
  const salt = strapi.config.get("admin.apiToken.salt");
  if (typeof salt !== "string" || salt === "") {
    problems.push("the API token salt is missing (admin.apiToken.salt, API_TOKEN_SALT in .env): the gateway could not check API tokens");
  }
  const binary = resolveBinary(gateway, appRoot, options.env);
  if (!binary.ok) problems.push(binary.problem);
  const port = gatewayPort(gateway, options.strapi.port);
  if (options.strapi.port !== null && port === options.strapi.port) {
    problems.push(`gateway.port ${port} is Strapi's own port: give the gateway another one`);
  }
  if (problems.length || !db.ok || !binary.ok) return { ok: false, problems };

  const dataDir = join(appRoot, ".strapi-io");
  const configFile = join(dataDir, "gateway.json");
  const fileConfig: Record<string, unknown> = { ...config.gatewayConfig };
  if (config.proxy) {
    // The proxy on Strapi's server is a trusted hop: the gateway takes the client's address
    // from its X-Forwarded-For (the user's own trusted proxies kept).
    const settings = { ...((fileConfig.settings as Record<string, unknown> | undefined) ?? {}) };
    const security = { ...((settings.security as Record<string, unknown> | undefined) ?? {}) };
    const trusted = Array.isArray(security.trustedProxies) ? [...security.trustedProxies] : [];
    for (const loopback of ["127.0.0.1", "::1"]) if (!trusted.includes(loopback)) trusted.push(loopback);
    fileConfig.settings = { ...settings, security: { ...security, trustedProxies: trusted } };
  }
  const strapiHost = options.strapi.host && !["0.0.0.0", "::", ""].includes(options.strapi.host) ? options.strapi.host : "127.0.0.1";
  const strapiUrl = options.strapi.port !== null ? `http://${urlHost(strapiHost)}:${options.strapi.port}` : null;

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.env)) {
    if (value === undefined) continue;
    if (PASSED_ENV.includes(key) || (key.startsWith("STRAPI_IO_") && !PLUGIN_ENV.includes(key))) env[key] = value;
  }
  Object.assign(env, {
    NO_COLOR: "1",
    RUST_LOG: gateway.logLevel,
    STRAPI_IO_DIRECTORY: "strapi",
    STRAPI_IO_DATABASE_URL: db.value.url,
    STRAPI_IO_STRAPI_PROJECT_DIR: appRoot,
    STRAPI_IO_JWT_SECRET: jwtSecret as string,
    STRAPI_IO_API_TOKEN_SALT: salt as string,
    STRAPI_IO_ADMIN_TOKEN: options.adminToken,
    STRAPI_IO_HOST: gateway.host,
    STRAPI_IO_PORT: String(port),
    STRAPI_IO_DATA_DIR: dataDir,
    STRAPI_IO_STOP_ON_STDIN_EOF: "1",
  });
  if (strapiUrl) env.STRAPI_IO_STRAPI_URL = strapiUrl;
  else delete env.STRAPI_IO_STRAPI_URL;
  if (gateway.populateToken) env.STRAPI_IO_STRAPI_TOKEN = gateway.populateToken;
  return {
    ok: true,
    plan: {
      binary: binary.value,
      args: ["serve", "--config", configFile],
      env,
      url: `http://${urlHost(gateway.host)}:${port}`,
      dataDir,
      configFile,
      config: fileConfig,
      databaseLabel: db.value.label,
      strapiUrl,
    },
  };
}

/** Calls `onLine` with each line of `stream` (bounded in length). */
function eachLine(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let rest = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
    if (rest.length > MAX_LINE) {
      onLine(rest);
      rest = "";
    }
  });
  stream.on("end", () => {
    if (rest) onLine(rest);
    rest = "";
  });
  stream.on("error", () => {});
}

const TRACING_LINE = /^\d{4}-\d\d-\d\dT\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+(.*)$/;

/** Runs one gateway: see the module docs. */
export class GatewaySupervisor {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private delay: number;
  private startedAt = 0;
  private starts = 0;
  private readonly killOnExit = () => {
    // Strapi's process is ending: the gateway stops too (SIGTERM: it flushes what it accepted;
    // its stdin closes with this process).
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      this.child.stdin?.destroy();
    }
  };

  constructor(
    private readonly plan: GatewayPlan,
    private readonly log: Log,
    private readonly options: {
      restart: { firstDelayMs: number; maxDelayMs: number };
      stopGraceMs: number;
      /** How clients reach the gateway (for the ready line). */
      clients: string;
    },
  ) {
    this.delay = options.restart.firstDelayMs;
  }

  /** The running gateway's process id, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Writes the config file and starts the gateway. */
  start(): void {
    try {
      mkdirSync(this.plan.dataDir, { recursive: true });
      writeFileSync(this.plan.configFile, `${JSON.stringify(this.plan.config, null, 2)}\n`);
    } catch (error) {
      this.log.error(`${PREFIX} the gateway is not started: cannot write its config file ${this.plan.configFile}: ${(error as Error).message}`);
      return;
    }
    process.on("exit", this.killOnExit);
    this.spawnOnce();
  }

  private spawnOnce(): void {
    this.timer = null;
    if (this.stopping) return;
    let child: ChildProcess;
    try {
      child = spawn(this.plan.binary, this.plan.args, {
        env: this.plan.env,
        cwd: this.plan.dataDir,
        stdio: ["pipe", "pipe", "pipe"],
        windowsHide: true,
      });
    } catch (error) {
      this.log.error(`${PREFIX} the gateway could not be started (${this.plan.binary}): ${(error as Error).message}; not retried`);
      return;
    }
    this.child = child;
    this.startedAt = Date.now();
    this.starts += 1;
    let resolveExit!: () => void;
    this.exited = new Promise<void>((r) => (resolveExit = r));
    // Held open (never written): its end tells the gateway that Strapi is gone.
    child.stdin?.on("error", () => {});
    eachLine(child.stdout, (line) => this.stdoutLine(line));
    eachLine(child.stderr, (line) => this.stderrLine(line));
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (done) return;
      done = true;
      if (this.child === child) this.child = null;
      child.stdin?.destroy();
      resolveExit();
      this.onExit(code, signal, error);
    };
    child.once("error", (error) => {
      // No process at all (not found, not executable): nothing will change by retrying.
      if (child.pid === undefined) finish(null, null, error);
      else this.log.error(`${PREFIX} gateway process error: ${error.message}`);
    });
    // 'close' comes after the last line of its output: a refusal is logged before the exit.
    child.once("close", (code, signal) => finish(code, signal));
    if (child.pid !== undefined) {
      this.log.info(
        `${PREFIX} starting the gateway (pid ${child.pid}${this.starts > 1 ? `, start ${this.starts}` : ""}): ${this.plan.binary} ${this.plan.args.join(" ")}; ` +
          `database ${this.plan.databaseLabel}; listening on ${this.plan.url}`,
      );
    }
  }

  private stdoutLine(line: string): void {
    const text = clean(line);
    if (text === "") return;
    this.log.info(`${PREFIX} ${text}`);
    const m = /^strapi-io listening on (http:\/\/\S+)/.exec(text);
    if (m) void this.checkHealth(m[1]);
  }

  private stderrLine(line: string): void {
    const text = clean(line);
    if (text === "") return;
    const m = TRACING_LINE.exec(text);
    if (!m) {
      // Not a log record: what the gateway says before it exits (an invalid config, a port in use).
      this.log.error(`${PREFIX} ${text}`);
      return;
    }
    const message = `${PREFIX} ${m[2]}`;
    if (m[1] === "ERROR") this.log.error(message);
    else if (m[1] === "WARN") this.log.warn(message);
    else if (m[1] === "INFO") this.log.info(message);
    else (this.log.debug ?? this.log.info).call(this.log, message);
  }

  private async checkHealth(url: string): Promise<void> {
    const health = `${url.replace(/\/+$/, "")}/health`;
    try {
      const res = await fetch(health, { signal: AbortSignal.timeout(3000) });
      const body = (await res.json().catch(() => null)) as { status?: string; reason?: string; directory?: { reason?: string } } | null;
      if (res.ok && body?.status === "ok") {
        this.log.info(`${PREFIX} strapi-io gateway ready on ${url}; ${this.options.clients}`);
      } else {
        const reason = body?.directory?.reason ?? body?.reason ?? JSON.stringify(body);
        this.log.warn(`${PREFIX} strapi-io gateway on ${url} is ${body?.status ?? `answering ${res.status}`}: ${reason}`);
      }
    } catch (error) {
      this.log.warn(`${PREFIX} strapi-io gateway on ${url}: GET /health failed: ${(error as Error).message}`);
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    const how = error ? error.message : signal ? `signal ${signal}` : `code ${code}`;
    if (this.stopping) {
      this.log.info(`${PREFIX} gateway stopped (${how})`);
      return;
    }
    if (error) {
      this.log.error(`${PREFIX} the gateway could not be started (${this.plan.binary}): ${how}; not retried`);
      process.removeListener("exit", this.killOnExit);
      return;
    }
    if (code === EXIT_CONFIG) {
      this.log.error(
        `${PREFIX} the gateway refused its configuration (see the lines above; ${this.plan.configFile} comes from config/plugins.js "strapi-io".config): not restarted. Strapi goes on; fix the config and restart Strapi`,
      );
      process.removeListener("exit", this.killOnExit);
      return;
    }
    const upMs = Date.now() - this.startedAt;
    if (upMs >= RESTART_RESET_MS) this.delay = this.options.restart.firstDelayMs;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, this.options.restart.maxDelayMs);
    this.log.error(
      `${PREFIX} the gateway exited unexpectedly (${how}) after ${(upMs / 1000).toFixed(1)} s: restarting in ${delay} ms`,
    );
    this.timer = setTimeout(() => this.spawnOnce(), delay);
    this.timer.unref?.();
  }

  /** Stops the gateway (SIGTERM, then SIGKILL after `stopGraceMs`) and waits for its exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      this.log.info(`${PREFIX} stopping the gateway (pid ${child.pid})`);
      child.kill("SIGTERM");
      // Its end of input as well (the gateway stops on either).
      child.stdin?.end();
      if (!(await within(this.exited, this.options.stopGraceMs))) {
        this.log.warn(`${PREFIX} the gateway did not stop within ${this.options.stopGraceMs} ms of SIGTERM: SIGKILL`);
        child.kill("SIGKILL");
        await within(this.exited, 5000);
      }
    }
    process.removeListener("exit", this.killOnExit);
  }
}

/** Whether `p` settled within `ms`. */
function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

/** A line without colour codes, trailing CR or excess length. */
function clean(line: string): string {
  // eslint-disable-next-line no-control-regex
  const text = line.replace(/\x1b\[[0-9;]*m/g, "").replace(/\r$/, "").trimEnd();
  return text.length > MAX_LINE ? `${text.slice(0, MAX_LINE)}…` : text;
}

/** How clients reach the gateway, for the ready line. */
export function clientsLine(config: ResolvedPluginConfig, strapiUrl: string | null, url: string): string {
  return config.proxy && strapiUrl
    ? `clients connect to Strapi's origin (${strapiUrl}, ${socketPath(config)}/ proxied to the gateway)`
    : `clients connect to ${url} (the proxy on Strapi's origin is off)`;
}
