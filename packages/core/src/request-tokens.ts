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
  /** The key, or a promise of it from an asynchronous resolver; resolved on first use, then remembered. */
  #key: string | Promise<string> | undefined;

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
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // Not an async function: this call waits on the upstream, and a promise
    // chain keeps less alive meanwhile than a suspended async frame.
    const key = (this.#key ??= this.#resolve());
    const response =
      typeof key === 'string'
        ? this.#cache.fetch(key, input, init)
        : key.then((resolved) => this.#cache.fetch(resolved, input, init));
    return response.catch(asTokensUnavailable);
  }

  /** This request's key. Rejects with a 401 {@link TokensUnavailableError} when there is none. */
  key(): Promise<string> {
    const key = (this.#key ??= this.#resolve());
    return typeof key === 'string' ? Promise.resolve(key) : key;
  }

  /**
   * Runs the resolver: a key it returns at once is used at once, without a
   * promise. A resolver that throws makes every call reject, never throw.
   */
  #resolve(): string | Promise<string> {
    let key: ReturnType<KeyResolver>;
    try {
      key = this.#resolveKey();
    } catch (error) {
      return Promise.reject(error);
    }
    if (typeof key === 'string' && key !== '') return key;
    return Promise.resolve(key).then(presentKey);
  }
}

/** The resolved key, or a 401 when the request has none. */
function presentKey(key: string | undefined): string {
  if (key === undefined || key === null || key === '') {
    throw new TokensUnavailableError(401, 'Sign-in required: this request has no token key', undefined);
  }
  return key;
}

/** Rethrows a token failure as what the app should answer; other errors (network, origin) as they are. */
function asTokensUnavailable(error: unknown): never {
  if (error instanceof ReauthenticationRequiredError || error instanceof TokenEndpointUnavailableError) {
    throw toTokensUnavailable(error);
  }
  throw error;
}
