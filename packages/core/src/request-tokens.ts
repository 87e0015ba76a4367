import { ReauthenticationRequiredError, RefreshkitError, TokenEndpointUnavailableError } from './errors.js';
import type { TokenCache } from './token-cache.js';

/** Resolves the cache key of the current request; `undefined` when the request has none (not signed in). */
export type KeyResolver = () => string | undefined | Promise<string | undefined>;

/**
 * The error middleware hands to the app when a request cannot get a token.
 * `status` is what the app should answer (401: sign in again; 503: try
 * later; 500: anything else); the upstream token endpoint's own status, if
 * any, stays on the `cause` as `upstreamStatus`, and the `cause` has the
 * specific code. Messages carry no secrets, so `expose` is true for 401 and 503.
 */
export class TokensUnavailableError extends RefreshkitError {
  /** HTTP status for the app's answer. */
  readonly status: 401 | 503 | 500;
  /** Whether the message is safe to show the client (always, for 401 and 503). */
  readonly expose: boolean;
  /** Headers the app's error handler should set (`Retry-After` on 503). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: 401 | 503 | 500, message: string, cause: unknown, headers: Record<string, string> = {}) {
    super('ERR_TOKENS_UNAVAILABLE', message, { cause });
    this.status = status;
    this.expose = status !== 500;
    this.headers = headers;
  }
}

/** Fallback `Retry-After` (seconds) when the token endpoint did not say. */
const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** Translates a cache failure into what the app should answer. */
export function toTokensUnavailable(error: unknown): TokensUnavailableError {
  if (error instanceof TokensUnavailableError) return error;
  if (error instanceof ReauthenticationRequiredError) {
    return new TokensUnavailableError(401, 'Sign-in required: no usable token for this request', error);
  }
  if (error instanceof TokenEndpointUnavailableError) {
    const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? DEFAULT_RETRY_AFTER_SECONDS * 1000) / 1000));
    return new TokensUnavailableError(503, 'Token service temporarily unavailable', error, {
      'Retry-After': String(seconds),
    });
  }
  return new TokensUnavailableError(500, 'Could not obtain an access token', error);
}

/**
 * The per-request handle that `@refreshkit/express` puts on `req.tokens` and
 * `@refreshkit/koa` on `ctx.state.tokens`. It does nothing until a handler
 * asks for a token: the key is resolved on first use and remembered.
 */
export class RequestTokens {
  readonly #cache: TokenCache;
  readonly #resolveKey: KeyResolver;
  #key: Promise<string> | undefined;

  constructor(cache: TokenCache, resolveKey: KeyResolver) {
    this.#cache = cache;
    this.#resolveKey = resolveKey;
  }

  /** A fresh access token for this request's key. Rejects with {@link TokensUnavailableError}. */
  async getAccessToken(): Promise<string> {
    try {
      return await this.#cache.getAccessToken(await this.key());
    } catch (error) {
      throw toTokensUnavailable(error);
    }
  }

  /** `Bearer <token>` for another HTTP client. Rejects with {@link TokensUnavailableError}. */
  async authorizationHeader(): Promise<string> {
    return `Bearer ${await this.getAccessToken()}`;
  }

  /**
   * `cache.fetch` for this request's key. Token failures reject with
   * {@link TokensUnavailableError}; an origin outside `allowedOrigins`
   * rejects with `OriginNotAllowedError`; network errors pass through.
   */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const key = await this.key();
    try {
      return await this.#cache.fetch(key, input, init);
    } catch (error) {
      if (error instanceof ReauthenticationRequiredError || error instanceof TokenEndpointUnavailableError) {
        throw toTokensUnavailable(error);
      }
      throw error;
    }
  }

  /** This request's key. Rejects with a 401 {@link TokensUnavailableError} when there is none. */
  key(): Promise<string> {
    this.#key ??= Promise.resolve(this.#resolveKey()).then((key) => {
      if (key === undefined || key === null || key === '') {
        throw new TokensUnavailableError(401, 'Sign-in required: this request has no token key', undefined);
      }
      return key;
    });
    return this.#key;
  }
}
