/**
 * Error classes shared by every refreshkit package.
 *
 * Each class has a stable `code`, a `name` taken from the class, and an
 * optional `cause`. `instanceof` works across duplicate copies of the package
 * (two versions in one `node_modules` tree) because it checks a brand
 * registered with `Symbol.for`, not the prototype chain.
 *
 * No message ever contains a token or a client secret: callers build messages
 * from codes, option names and redacted upstream text only.
 */

/** Stable codes carried by refreshkit errors. */
export type RefreshkitErrorCode =
  | 'ERR_REAUTHENTICATION_REQUIRED'
  | 'ERR_TOKEN_ENDPOINT_CONFIGURATION'
  | 'ERR_TOKEN_ENDPOINT_UNAVAILABLE'
  | 'ERR_INVALID_TOKEN_RESPONSE'
  | 'ERR_ORIGIN_NOT_ALLOWED'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_CORRUPT_RECORD'
  | 'ERR_TOKENS_UNAVAILABLE'
  | 'ERR_DISCOVERY'
  | 'ERR_DPOP_KEY_MISMATCH'
  | 'ERR_DPOP_PROOF_REQUIRED';

const BRAND = Symbol.for('refreshkit.error');

interface Branded {
  readonly [BRAND]?: ReadonlySet<string>;
}

function hasBrand(value: unknown, brand: string): boolean {
  return typeof value === 'object' && value !== null && (value as Branded)[BRAND]?.has(brand) === true;
}

/** Options common to every refreshkit error. */
export interface RefreshkitErrorOptions {
  /** The underlying failure, if any. Never holds a secret. */
  readonly cause?: unknown;
}

/** Base class of every error refreshkit throws on purpose (except option `TypeError`s). */
export class RefreshkitError extends Error {
  /** Stable, machine-readable code. */
  readonly code: RefreshkitErrorCode;

  constructor(code: RefreshkitErrorCode, message: string, options?: RefreshkitErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    // The brand lists every class in the chain so `instanceof Base` and
    // `instanceof Derived` both hold for copies loaded from another path.
    const brands = new Set<string>();
    for (let c: unknown = new.target; c !== Error && typeof c === 'function';) {
      brands.add((c as { name: string }).name);
      c = Object.getPrototypeOf(c);
    }
    Object.defineProperty(this, BRAND, { value: brands, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return hasBrand(value, this.name);
  }
}

/** Why a key needs the user to sign in again. */
export type ReauthenticationReason =
  /** The cache holds no tokens for the key and `load` found none. */
  | 'no_tokens'
  /** The stored token set has expired and carries no refresh token. */
  | 'no_refresh_token'
  /** The authorization server rejected the refresh token (`invalid_grant`): the grant is dead. */
  | 'invalid_grant'
  /**
   * The refresh token is past its known expiry (`refreshTokenExpiresAt`):
   * the grant is dead, and the endpoint is not called to learn it.
   */
  | 'refresh_token_expired';

/**
 * No usable grant for this key: the user (or connected account) must
 * authenticate again. Terminal; refreshkit will not call the token endpoint
 * for the key again until new tokens are `set`.
 */
export class ReauthenticationRequiredError extends RefreshkitError {
  /** The key whose grant is missing or dead. Keys are identifiers, not secrets. */
  readonly key: string | undefined;
  /** Why re-authentication is needed. */
  readonly reason: ReauthenticationReason;
  /** HTTP status the token endpoint answered with, when it answered. */
  readonly upstreamStatus: number | undefined;

  constructor(
    reason: ReauthenticationReason,
    options?: RefreshkitErrorOptions & { key?: string; upstreamStatus?: number; detail?: string },
  ) {
    const subject = options?.key === undefined ? 'this key' : `key \`${options.key}\``;
    const detail = options?.detail ? `: ${options.detail}` : '';
    super('ERR_REAUTHENTICATION_REQUIRED', `Re-authentication required for ${subject} (${reason})${detail}`, options);
    this.key = options?.key;
    this.reason = reason;
    this.upstreamStatus = options?.upstreamStatus;
  }
}

/** Fields describing a token-endpoint answer that refreshkit rejected. */
export interface UpstreamErrorOptions extends RefreshkitErrorOptions {
  /** HTTP status of the token endpoint's answer. */
  readonly upstreamStatus?: number;
  /** The OAuth `error` code from the answer, if it had one. */
  readonly oauthError?: string;
  /** Redacted, length-capped copy of the answer, for diagnosis. Non-enumerable. */
  readonly response?: UpstreamResponseSummary;
}

/** A redacted summary of a token-endpoint answer, attached non-enumerably to errors. */
export interface UpstreamResponseSummary {
  readonly status: number;
  readonly contentType: string | undefined;
  /** Error answers: body text with every known secret replaced by `[REDACTED]`, at most 2 KiB. 2xx answers: omitted. */
  readonly body: string;
}

abstract class UpstreamError extends RefreshkitError {
  /** HTTP status the token endpoint answered with; never copied into `status`. */
  readonly upstreamStatus: number | undefined;
  /** The OAuth `error` code, when the answer had one. */
  readonly oauthError: string | undefined;
  /** Redacted summary of the answer (non-enumerable, so it stays out of JSON and logs). */
  declare readonly response: UpstreamResponseSummary | undefined;

  constructor(code: RefreshkitErrorCode, message: string, options?: UpstreamErrorOptions) {
    super(code, message, options);
    this.upstreamStatus = options?.upstreamStatus;
    this.oauthError = options?.oauthError;
    Object.defineProperty(this, 'response', { value: options?.response, enumerable: false });
  }
}

/**
 * The token endpoint refused the client itself (`invalid_client`,
 * `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`, or another
 * 4xx). Terminal: retrying cannot help until the configuration changes.
 */
export class TokenEndpointConfigurationError extends UpstreamError {
  constructor(message: string, options?: UpstreamErrorOptions) {
    super('ERR_TOKEN_ENDPOINT_CONFIGURATION', message, options);
  }
}

/**
 * The token endpoint could not be reached or kept failing transiently
 * (network error, timeout, 5xx, 429) after the retries allowed.
 */
export class TokenEndpointUnavailableError extends UpstreamError {
  /**
   * How long to wait before trying again, in ms from when the error was made,
   * when the server said (`Retry-After`): on the call that got the answer, the
   * server's own figure; on a call refused while the endpoint is holding off
   * (see `retryAt`), what is left of the hold.
   */
  readonly retryAfterMs: number | undefined;
  /**
   * When (ms since the epoch) the endpoint will be called again: until then
   * every call of this `OAuth2Endpoint`, for any key, fails fast with this
   * error instead of calling it. The server's `Retry-After`, capped by
   * `retry.maxHoldMs`. Undefined when the server asked for no wait.
   */
  readonly retryAt: number | undefined;

  constructor(message: string, options?: UpstreamErrorOptions & { retryAfterMs?: number; retryAt?: number }) {
    super('ERR_TOKEN_ENDPOINT_UNAVAILABLE', message, options);
    this.retryAfterMs = options?.retryAfterMs;
    this.retryAt = options?.retryAt;
  }
}

/**
 * The token endpoint answered 2xx but the body is not a valid token response.
 * Never retried: the server may already have consumed the refresh token.
 */
export class InvalidTokenResponseError extends UpstreamError {
  // A private field, read through a method: unlike any property or getter,
  // neither `util.inspect` (even with `showHidden` and `getters`), nor
  // `JSON.stringify`, nor error serializers that walk own properties see it.
  readonly #rotatedRefreshToken: string | undefined;

  constructor(message: string, options?: UpstreamErrorOptions & { rotatedRefreshToken?: string }) {
    super('ERR_INVALID_TOKEN_RESPONSE', message, options);
    this.#rotatedRefreshToken = options?.rotatedRefreshToken;
  }

  /**
   * The new refresh token of a 2xx answer whose access token was unusable
   * (missing, malformed, or of a scheme other than bearer). The server has
   * probably rotated the grant already, so the refresh token that was sent is
   * consumed: keep this one (store it as the grant's refresh token, without an
   * access token) or the user must sign in again. Undefined when the answer
   * carried no usable refresh token. A secret: never log it.
   */
  rotatedRefreshToken(): string | undefined {
    return this.#rotatedRefreshToken;
  }
}

/** `cache.fetch` was asked to send the bearer to an origin not in `allowedOrigins`. */
export class OriginNotAllowedError extends RefreshkitError {
  /** The origin that was refused. */
  readonly origin: string;

  constructor(origin: string) {
    super(
      'ERR_ORIGIN_NOT_ALLOWED',
      `Refusing to send a bearer token to \`${origin}\`: it is not in \`allowedOrigins\``,
    );
    this.origin = origin;
  }
}

/** The token store (e.g. Redis) cannot be reached, so a refresh cannot be coordinated. */
export class StoreUnavailableError extends RefreshkitError {
  constructor(message: string, options?: RefreshkitErrorOptions) {
    super('ERR_STORE_UNAVAILABLE', message, options);
  }
}

/** A stored record could not be read back (corrupt, wrong shape, or wrong encryption key). */
export class CorruptRecordError extends RefreshkitError {
  /** The key whose record is unreadable. */
  readonly key: string;
  /**
   * The version stored beside the unreadable record, when that version is a
   * canonical integer: a `set` overwrites the record with compare-and-set
   * on it. Undefined when the version is unreadable too.
   */
  readonly storedVersion: number | undefined;

  constructor(key: string, message: string, options?: RefreshkitErrorOptions & { storedVersion?: number }) {
    super('ERR_CORRUPT_RECORD', `Stored record for key \`${key}\` is unreadable: ${message}`, options);
    this.key = key;
    this.storedVersion = options?.storedVersion;
  }
}

/** What went wrong in a discovery. */
export type DiscoveryFailure =
  /** No metadata could be fetched (network error, timeout, 5xx): transient, the next `discover` tries again. */
  | 'unreachable'
  /** Neither well-known location has metadata (404 or another refusal): is the issuer right? */
  | 'not_found'
  /** The metadata is not a JSON object, or a member it needs is missing or malformed. */
  | 'invalid_metadata'
  /** The metadata names another issuer than the one asked for; it must not be used (RFC 8414 §3.3). */
  | 'issuer_mismatch'
  /** The provider does not support the client authentication configured (or any the credentials allow). */
  | 'unsupported_auth_method'
  /** DPoP is configured but the provider does not advertise it, or not for the DPoP key's algorithm. */
  | 'unsupported_dpop';

/**
 * `OAuth2Endpoint.discover` could not build an endpoint from the issuer's
 * metadata. `reason` says why; only `unreachable` is worth retrying as is.
 */
export class DiscoveryError extends RefreshkitError {
  /** The issuer asked for. Issuers are public identifiers, not secrets. */
  readonly issuer: string;
  /** Why discovery failed. */
  readonly reason: DiscoveryFailure;
  /** HTTP status of the last metadata answer, when there was one. */
  readonly upstreamStatus: number | undefined;

  constructor(
    reason: DiscoveryFailure,
    issuer: string,
    message: string,
    options?: RefreshkitErrorOptions & { upstreamStatus?: number },
  ) {
    super('ERR_DISCOVERY', `Discovery of \`${issuer}\` failed (${reason}): ${message}`, options);
    this.issuer = issuer;
    this.reason = reason;
    this.upstreamStatus = options?.upstreamStatus;
  }
}

/**
 * A DPoP-bound token (RFC 9449) is bound to another key than the one this
 * process signs proofs with, or the cache has no DPoP key at all: no proof
 * it can make would match, so nothing is sent. It happens when processes
 * sharing a store were given different keys (or each generated its own):
 * give every process the same `dpop.key`. The token is left as it is, since
 * the process holding the right key can still use it.
 */
export class DpopKeyMismatchError extends RefreshkitError {
  /** The cache key whose token is bound to another key. */
  readonly key: string;
  /** The thumbprint the token is bound to (public: a hash of a public key), when recorded. */
  readonly boundJkt: string | undefined;
  /** The thumbprint of this process's DPoP key; undefined when DPoP is not configured. */
  readonly ownJkt: string | undefined;

  constructor(key: string, boundJkt: string | undefined, ownJkt: string | undefined) {
    const why =
      ownJkt === undefined
        ? 'this cache has no DPoP key: configure `dpop` on its endpoint'
        : `it is bound to key \`${boundJkt ?? 'unknown'}\`, this process signs with \`${ownJkt}\`: give every process that shares the store the same \`dpop.key\``;
    super('ERR_DPOP_KEY_MISMATCH', `DPoP-bound token of key \`${key}\` not sent: ${why}`);
    this.key = key;
    this.boundJkt = boundJkt;
    this.ownJkt = ownJkt;
  }
}

/**
 * A DPoP-bound token was asked for as a header string
 * (`cache.authorizationHeader`, and so the middleware's `forward`): its
 * proof names the method and URL of one request, which a header string made
 * ahead of the request cannot know. Nothing is sent; send the call through
 * `cache.fetch`, the middleware's `tokens.fetch` or a client adapter
 * (`@refreshkit/undici`, `/axios`, `/got`), which sign each request.
 */
export class DpopProofRequiredError extends RefreshkitError {
  /** The cache key whose token is DPoP-bound. */
  readonly key: string;

  constructor(key: string) {
    super(
      'ERR_DPOP_PROOF_REQUIRED',
      `The token of key \`${key}\` is DPoP-bound: a header string cannot carry its per-request proof; ` +
        'send the call through `cache.fetch`, `tokens.fetch` or a client adapter instead of `authorizationHeader` or `forward`',
    );
    this.key = key;
  }
}
