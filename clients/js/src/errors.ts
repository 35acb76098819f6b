/**
 * The errors a remote `$io` call can end with. Every one carries Strapi's error fields
 * (`status`, `name`, `message`, `details`) plus the `$io` method that failed, so that code
 * written for Strapi's error objects (`err.status`, `err.name`) reads them the same way.
 *
 * - {@link RemoteIoGatewayError}: the gateway (or a proxy in front of it) answered with an error.
 * - {@link RemoteIoNetworkError}: no answer could be read (connection refused, DNS, reset).
 * - {@link RemoteIoTimeoutError}: no answer within `timeoutMs`.
 * - {@link RemoteIoArgumentError}: the call was refused before anything was sent.
 */

/** Strapi's error body: `{ data: null, error: { status, name, message, details } }`. */
export interface StrapiErrorBody {
  status: number;
  name: string;
  message: string;
  details?: Record<string, unknown>;
}

/** The base class of every error a remote `$io` call rejects with. */
export class RemoteIoError extends Error {
  /** HTTP-style status: the gateway's, or 503/504/400 for failures found on this side. */
  readonly status: number;
  /** Strapi's error name (`ValidationError`, `UnauthorizedError`, …) or ours (`NetworkError`, `TimeoutError`). */
  override name: string;
  /** Strapi's `error.details` (`{}` when there are none). */
  readonly details: Record<string, unknown>;
  /** The `$io` method that failed (`emit`, `joinRoom`, …). */
  readonly method: string;
  /**
   * Whether the gateway may have received (and acted on) the request. `false` means it
   * provably did not: calling again cannot deliver anything twice.
   */
  readonly maybeSent: boolean;

  constructor(
    fields: StrapiErrorBody & { method: string; maybeSent: boolean },
    options?: { cause?: unknown },
  ) {
    super(fields.message, options);
    this.status = fields.status;
    this.name = fields.name;
    this.details = fields.details ?? {};
    this.method = fields.method;
    this.maybeSent = fields.maybeSent;
  }

  /** Strapi's error shape, e.g. for a controller to answer with. */
  toJSON(): StrapiErrorBody {
    return { status: this.status, name: this.name, message: this.message, details: this.details };
  }
}

/**
 * The gateway answered with an error: Strapi's `{status, name, message, details}` as it sent
 * them (400 `ValidationError` for a bad argument, 401 `UnauthorizedError` for a wrong admin
 * token, 413 `PayloadTooLargeError`, 503 `ServiceUnavailableError`, …). An answer that is not
 * in Strapi's shape (a proxy's error page) gets `name: "HttpError"`, or, for a success status
 * without `{data}`, status 502 and `name: "InvalidResponseError"`. Never retried.
 */
export class RemoteIoGatewayError extends RemoteIoError {
  /** The HTTP status of the answer (differs from `status` only for `InvalidResponseError`). */
  readonly httpStatus: number;

  constructor(fields: StrapiErrorBody & { method: string; httpStatus: number }) {
    super({ ...fields, maybeSent: true });
    this.httpStatus = fields.httpStatus;
  }
}

/**
 * The gateway could not be reached, or the connection broke before its answer was read.
 * `status` 503, `name` `"NetworkError"`, `code` the system error (`ECONNREFUSED`,
 * `ENOTFOUND`, `ECONNRESET`, …). Retried (up to `retries` times) only when the request
 * provably was not sent (`maybeSent: false`); `attempts` says how many were made.
 */
export class RemoteIoNetworkError extends RemoteIoError {
  /** The system error code, when one is known. */
  readonly code: string | undefined;
  /** How many connection attempts were made. */
  readonly attempts: number;

  constructor(
    fields: { message: string; method: string; code: string | undefined; attempts: number; maybeSent: boolean },
    options?: { cause?: unknown },
  ) {
    super({ status: 503, name: "NetworkError", message: fields.message, method: fields.method, maybeSent: fields.maybeSent }, options);
    this.code = fields.code;
    this.attempts = fields.attempts;
  }
}

/**
 * No answer within `timeoutMs` (the whole call: every attempt and the waits between them).
 * `status` 504, `name` `"TimeoutError"`. Never retried once the request may have been sent.
 */
export class RemoteIoTimeoutError extends RemoteIoError {
  /** The bound that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  /** How many attempts were made. */
  readonly attempts: number;

  constructor(
    fields: { message: string; method: string; timeoutMs: number; attempts: number; maybeSent: boolean },
    options?: { cause?: unknown },
  ) {
    super({ status: 504, name: "TimeoutError", message: fields.message, method: fields.method, maybeSent: fields.maybeSent }, options);
    this.timeoutMs = fields.timeoutMs;
    this.attempts = fields.attempts;
  }
}

/**
 * The call was refused on this side, before anything was sent: an argument that cannot be
 * sent (a value JSON cannot carry, a schema object without `uid`/`singularName`).
 * `status` 400, `name` `"ValidationError"`, `maybeSent: false`.
 */
export class RemoteIoArgumentError extends RemoteIoError {
  constructor(fields: { message: string; method: string }, options?: { cause?: unknown }) {
    super({ status: 400, name: "ValidationError", message: fields.message, method: fields.method, maybeSent: false }, options);
  }
}
